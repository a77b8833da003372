# ccwal: `make demo` builds everything and runs the demo; `make test` runs
# every test (Rust, then the C tests with ctest: plain + valgrind, and under
# ASan+UBSan). See README.md.
CARGO ?= cargo
PREFIX ?= /usr/local
LIB_DIR := $(CURDIR)/target/release
CTEST_DIR := target/ctest
CTEST_ASAN_DIR := target/ctest-asan
DEMO_DIR ?= target/demo
# The Go code links the installed library through pkg-config: `make
# go-prefix` installs it here, and every go command below finds it.
GO_PREFIX := $(CURDIR)/target/prefix
GO_ENV := PKG_CONFIG_PATH=$(GO_PREFIX)/lib/pkgconfig

.PHONY: help build lib header test test-rust test-duckdb test-c test-go test-go-consumer go-prefix crash-test bench demo demo-files install clean fmt lint doc msrv \
	cc-backend cc-backend-stock test-cc-backend e2e-harness e2e e2e-short e2e-stock e2e-ccwal test-e2e soak
help:
	@echo "targets: build lib header test test-rust test-duckdb test-c test-go test-go-consumer go-prefix crash-test bench demo demo-files install clean fmt lint doc msrv"
	@echo "         cc-backend cc-backend-stock test-cc-backend e2e SERVER=... e2e-short SERVER=... e2e-stock e2e-ccwal test-e2e soak MINUTES=60"

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

test: lint msrv test-rust test-duckdb test-c test-go test-cc-backend test-e2e

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

# The library installed under target/prefix, for the Go code.
go-prefix:
	$(MAKE) --no-print-directory install PREFIX=$(GO_PREFIX)

# The Go binding (its own module, go/ccwal) links libccwal.a
# through pkg-config, and libccwal.so with -tags ccwal_shared; the shim, the
# demo and the interop module use it. Also under the race detector and the
# strict cgo pointer checks.
test-go: go-prefix
	cd go/ccwal && $(GO_ENV) go vet ./... && $(GO_ENV) go test -race -short -count=1 ./...
	cd go/ccwal && $(GO_ENV) GOEXPERIMENT=cgocheck2 go test -short -count=1 ./...
	cd go/ccwal && $(GO_ENV) go test -tags ccwal_shared -short -count=1 ./...
	cd examples-go && $(GO_ENV) go vet ./... && $(GO_ENV) go test -race -short -count=1 ./...
	cd examples-go && $(GO_ENV) GOEXPERIMENT=cgocheck2 go test -short -count=1 ./...
	cd examples-go/interop && $(GO_ENV) go vet . && $(GO_ENV) go test -race -count=1 .
	$(MAKE) --no-print-directory test-go-consumer

# A Go module outside the repository requires the binding, vendors it and
# builds against a freshly installed prefix (static and shared).
test-go-consumer: lib
	tests/go-consumer.sh

# cc-backend v1.5.4 from the Go module proxy, built in target/ccbackend-build/
# (see scripts/ccbackend-build.sh and cc-backend/README.md): `make
# cc-backend` with its metricstore persistence path swapped for ccwal
# (target/cc-backend/cc-backend), `make cc-backend-stock` as published
# (target/cc-backend-stock/cc-backend). The first build vendors the module
# and compiles SQLite (minutes); later ones reuse both.
cc-backend: go-prefix
	$(GO_ENV) scripts/ccbackend-build.sh ccwal build

cc-backend-stock:
	scripts/ccbackend-build.sh stock build

# cc-backend's own pkg/metricstore tests (its _test.go files, from the module
# cache) and the swapped package's tests (cc-backend/**/ccwal_*_test.go)
# against the swapped package; also builds the swapped server.
test-cc-backend: cc-backend
	$(GO_ENV) scripts/ccbackend-build.sh ccwal test

CCB_STOCK := target/cc-backend-stock/cc-backend
CCB_CCWAL := target/cc-backend/cc-backend

# The end-to-end harness (e2e/, see its README) against a server binary:
# `make e2e SERVER=path/to/cc-backend` runs the full suite and prints the
# loss, throughput and restart tables; E2E_FLAGS=-expect-no-loss makes any
# lost or wrong sample, failed request or dropped WAL message fail the run.
# `make e2e-short SERVER=...` is the short run; `make e2e-stock` builds and
# runs the full suite against the stock server.
E2E_BIN := target/e2e/e2e
E2E_FLAGS ?=
e2e-harness:
	cd e2e && go vet ./... && go test -count=1 ./... && go build -o ../$(E2E_BIN) .

e2e e2e-short: e2e-harness
	@test -n "$(SERVER)" || { echo "usage: make $@ SERVER=path/to/cc-backend [E2E_FLAGS=-expect-no-loss]" >&2; exit 2; }
	$(E2E_BIN) -server $(SERVER) $(if $(filter e2e-short,$@),-short) $(E2E_FLAGS)

e2e-stock: cc-backend-stock
	$(MAKE) e2e SERVER=$(CCB_STOCK)

# The full suite against the server with ccwal inside, which must lose
# nothing and get nothing wrong in every scenario.
e2e-ccwal: cc-backend cc-backend-stock
	$(MAKE) e2e SERVER=$(CCB_CCWAL) E2E_FLAGS="-expect-no-loss -stock $(CCB_STOCK) -ccwal target/release/ccwal"

# Part of `make test`: the short run against the server with ccwal inside
# (asserted: nothing lost or wrong), then against the stock server, which
# loses samples by design (the table shows how many), so it is not asserted.
# The swapped run also switches between the two servers on one directory
# (after SIGTERM; after SIGKILL and `ccwal compact`; from stock to ccwal),
# and both runs fill the checkpoint directory (a tmpfs: needs root, else
# skipped with a loud message).
test-e2e: cc-backend cc-backend-stock e2e-harness
	$(E2E_BIN) -short -expect-no-loss -server $(CCB_CCWAL) -stock $(CCB_STOCK) -ccwal target/release/ccwal
	$(E2E_BIN) -short -server $(CCB_STOCK)

# The soak against the server with ccwal inside: MINUTES of restarts by
# SIGKILL and SIGTERM at random points, disk-full windows (a tmpfs: as
# root), checkpoints and archive cleanup, every acknowledged sample checked
# at each restart, resident memory and descriptors sampled (see e2e/README.md).
MINUTES ?= 60
soak: cc-backend e2e-harness
	$(E2E_BIN) -soak $(MINUTES)m -server $(CCB_CCWAL)

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
demo: go-prefix
	rm -rf $(DEMO_DIR)
	cd examples-go && $(GO_ENV) go run ./cmd/metricstore-demo -root $(abspath $(DEMO_DIR))
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
# its SONAME, and libccwal.so), the pkg-config files (ccwal.pc links the
# static library, ccwal-shared.pc the shared one), a CMake package
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
# (part of `make test`, so CI runs them). Clippy runs once per advertised
# feature combination (none, each alone, all: the defaults), so code that
# only one feature uses cannot rot unseen; the lint levels themselves are in
# Cargo.toml's [lints].
LINT_FEATURE_SETS := none cli archive cli,archive
lint: doc
	$(CARGO) fmt --all --check
	set -e; for features in $(LINT_FEATURE_SETS); do \
		echo "clippy, features: $$features"; \
		$(CARGO) clippy --all-targets --no-default-features \
			$$(test $$features = none || echo --features $$features) -- -D warnings; \
	done

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps

# The library and the tool built with the minimum supported Rust version,
# rust-version in Cargo.toml (installed with rustup when missing), in a
# target directory of its own.
MSRV := $(shell sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
msrv:
	rustup run $(MSRV) rustc --version >/dev/null 2>&1 || rustup toolchain install $(MSRV) --profile minimal
	cargo +$(MSRV) build --locked --lib --bins --target-dir target/msrv
