# ccwal: `make demo` builds everything and runs the demo; `make test` runs
# every test (Rust, then the C tests with ctest: plain + valgrind, and under
# ASan+UBSan). See README.md.
CARGO ?= cargo
PREFIX ?= /usr/local
LIB_DIR := $(CURDIR)/target/release
CTEST_DIR := target/ctest
CTEST_ASAN_DIR := target/ctest-asan
DEMO_DIR ?= target/demo

.PHONY: help build lib header test test-rust test-duckdb test-c test-go crash-test bench demo demo-files install clean fmt lint
help:
	@echo "targets: build lib header test test-rust test-duckdb test-c test-go crash-test bench demo demo-files install clean fmt lint"

build:
	$(CARGO) build --release --all-targets

# The static and shared libraries (target/release/libccwal.{a,so}).
lib:
	$(CARGO) build --release --lib

# Regenerates include/ccwal.h from src/ffi (tests/header.rs checks it).
header:
	CCWAL_UPDATE_HEADER=1 $(CARGO) test --test header

test: lint test-rust test-duckdb test-c test-go

# Benchmarks are compiled here, run by `make bench`.
test-rust:
	$(CARGO) test --lib --bins --tests --examples
	$(CARGO) test --doc
	$(CARGO) build --benches

# DuckDB (from PyPI, into a venv under target/) reads an archive back
# (tests/archive.rs); skipped with a loud message only when it cannot be
# installed.
DUCKDB_VENV := target/duckdb-venv
test-duckdb:
	@if ! $(DUCKDB_VENV)/bin/python -c 'import duckdb' 2>/dev/null; then \
		rm -rf $(DUCKDB_VENV); \
		{ python3 -m venv $(DUCKDB_VENV) && $(DUCKDB_VENV)/bin/pip install -q duckdb; } || \
		{ rm -rf $(DUCKDB_VENV); echo; echo "*** test-duckdb SKIPPED: duckdb could not be installed from PyPI ***"; echo; }; \
	fi
	@if [ -x $(DUCKDB_VENV)/bin/python ]; then \
		CCWAL_DUCKDB_PYTHON=$(abspath $(DUCKDB_VENV))/bin/python $(CARGO) test --test archive duckdb -- --nocapture; \
	fi

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

# Header, libraries, the ccwal tool and a pkg-config file under $(PREFIX).
install: lib
	$(CARGO) build --release --bin ccwal
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/ccwal.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 target/release/libccwal.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 target/release/libccwal.so $(DESTDIR)$(PREFIX)/lib/
	install -m 755 target/release/ccwal $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e "s|@VERSION@|$$(sed -n 's/^version = \"\(.*\)\"/\1/p' Cargo.toml | head -n 1)|" \
		ccwal.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/ccwal.pc

clean:
	$(CARGO) clean

fmt:
	$(CARGO) fmt --all

# Formatting and clippy, both as errors (part of `make test`, so CI runs them).
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --all-targets -- -D warnings
