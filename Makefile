# ccwal: `make demo` builds everything and runs the demo; `make test` runs
# every test (Rust, then the C tests with ctest: plain + valgrind, and under
# ASan+UBSan). See README.md.
CARGO ?= cargo
PREFIX ?= /usr/local
LIB_DIR := $(CURDIR)/target/release
CTEST_DIR := target/ctest
CTEST_ASAN_DIR := target/ctest-asan
DEMO_DIR ?= target/demo

.PHONY: help build lib header test test-rust test-c test-go crash-test bench demo demo-files install clean fmt lint doc msrv
help:
	@echo "targets: build lib header test test-rust test-c test-go crash-test bench demo demo-files install clean fmt lint doc msrv"

build:
	$(CARGO) build --release --all-targets

# The static and shared libraries (target/release/libccwal.{a,so}).
# libccwal.so.MAJOR, its SONAME, links to libccwal.so so that programs
# linked against target/release find it at run time.
lib:
	$(CARGO) build --release --lib
	ln -sf libccwal.so $(LIB_DIR)/libccwal.so.$$(sed -n 's/^version = "\([0-9]*\)\..*/\1/p' Cargo.toml | head -n 1)

# Regenerates include/ccwal.h from src/ffi (tests/header.rs checks it).
header:
	CCWAL_UPDATE_HEADER=1 $(CARGO) test --test header

test: lint msrv test-rust test-c test-go

# Benchmarks are compiled here, run by `make bench`.
test-rust:
	$(CARGO) test --lib --bins --tests --examples
	$(CARGO) test --doc
	$(CARGO) build --benches

test-c: lib
	cmake -S tests/c -B $(CTEST_DIR) -DCCWAL_LIB_DIR=$(LIB_DIR)
	cmake --build $(CTEST_DIR) -j 2
	cd $(CTEST_DIR) && ctest --output-on-failure
	cmake -S tests/c -B $(CTEST_ASAN_DIR) -DCCWAL_LIB_DIR=$(LIB_DIR) -DCCWAL_SANITIZE=ON
	cmake --build $(CTEST_ASAN_DIR) -j 2
	cd $(CTEST_ASAN_DIR) && ctest --output-on-failure

# The Go bindings link libccwal.a; also under the race detector and the
# strict cgo pointer checks.
test-go: lib
	cd examples-go && go vet ./... && go test -race -short -count=1 ./...
	cd examples-go && GOEXPERIMENT=cgocheck2 go test -short -count=1 ./...
	cd examples-go/interop && go vet . && go test -race -count=1 .

# The SIGKILL crash test (tests/crash.rs, also part of test-rust with 100
# children per test) with N children per test, optimised: `make crash-test
# N=1000`. CCWAL_CRASH_SEED=... repeats a run.
N ?= 100
crash-test:
	CCWAL_CRASH_ITERATIONS=$(N) $(CARGO) test --release --test crash -- --nocapture

bench:
	$(CARGO) bench

# The main demo: a metric store persisting only through ccwal is killed with
# SIGKILL mid-stream, restarts, restores and verifies every acknowledged
# sample; then the ccwal tool looks at what it left.
demo: lib
	$(CARGO) build --release --bin ccwal
	rm -rf $(DEMO_DIR)
	cd examples-go && go run ./cmd/metricstore-demo -root $(abspath $(DEMO_DIR))
	target/release/ccwal stat $(DEMO_DIR)
	target/release/ccwal verify $(DEMO_DIR)

# A small hand-made directory (one WAL with a torn tail) for the tool.
demo-files:
	$(CARGO) build --release --bin ccwal
	rm -rf $(DEMO_DIR)-files
	$(CARGO) run --release --quiet --example gen_sample -- $(DEMO_DIR)-files
	target/release/ccwal stat $(DEMO_DIR)-files || test $$? -eq 1
	target/release/ccwal verify $(DEMO_DIR)-files || test $$? -eq 1
	target/release/ccwal dump $(DEMO_DIR)-files/demo/node02/current.wal | tail -n 3

# Header, libraries (libccwal.so.VERSION with the links libccwal.so.MAJOR,
# its SONAME, and libccwal.so), a pkg-config file, a CMake package
# (lib/cmake/ccwal) and the ccwal tool under $(DESTDIR)$(PREFIX); stripped
# unless DEBUG_SYMBOLS=1. See scripts/install.sh.
DEBUG_SYMBOLS ?= 0
install: lib
	$(CARGO) build --release --bin ccwal
	DEBUG_SYMBOLS=$(DEBUG_SYMBOLS) DESTDIR=$(DESTDIR) sh scripts/install.sh $(LIB_DIR) $(PREFIX)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 target/release/ccwal $(DESTDIR)$(PREFIX)/bin/
	if [ "$(DEBUG_SYMBOLS)" != 1 ]; then strip --strip-unneeded $(DESTDIR)$(PREFIX)/bin/ccwal; fi

clean:
	$(CARGO) clean

fmt:
	$(CARGO) fmt --all

# Formatting, clippy and the API documentation, all with warnings as errors
# (part of `make test`, so CI runs them).
lint: doc
	$(CARGO) fmt --all --check
	$(CARGO) clippy --all-targets -- -D warnings

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps

# The library and the tool built with the minimum supported Rust version,
# rust-version in Cargo.toml (installed with rustup when missing), in a
# target directory of its own.
MSRV := $(shell sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
msrv:
	rustup run $(MSRV) rustc --version >/dev/null 2>&1 || rustup toolchain install $(MSRV) --profile minimal
	cargo +$(MSRV) build --locked --lib --bins --target-dir target/msrv
