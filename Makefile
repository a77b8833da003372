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
	cc-backend cc-backend-stock test-cc-backend e2e-harness e2e e2e-short e2e-stock e2e-ccwal e2e-large test-e2e soak \
	chromium test-ui test-ui-short cc-backend-demo \
	nightly cargo-fuzz fuzz test-fuzz miri
help:
	@echo "targets: build lib header test test-rust test-duckdb test-c test-go test-go-consumer go-prefix crash-test bench demo demo-files install clean fmt lint doc msrv"
	@echo "         cc-backend cc-backend-stock test-cc-backend e2e SERVER=... e2e-short SERVER=... e2e-stock e2e-ccwal e2e-large test-e2e soak MINUTES=60"
	@echo "         test-ui test-ui-short cc-backend-demo"
	@echo "         fuzz FUZZ_SECONDS=... test-fuzz miri"

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

test: lint msrv test-rust test-duckdb test-c test-go test-cc-backend test-e2e test-ui-short test-fuzz miri

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

# A large site, stock and swapped on one machine in one run: LARGE_HOSTS
# hosts with 20 hwthreads each (65 series a host) written through the API
# until the checkpoint directory holds LARGE_MB MiB, then SIGKILL and a
# restart: ingest time, exec to first 2xx, peak RSS at that point, and
# every acknowledged sample read back (lost, wrong). A day at 60 s for
# 10,000 such hosts would be about 30 GiB of WAL per server; the default
# size is what this machine's disk and time allow (see e2e/README.md).
LARGE_HOSTS ?= 10000
LARGE_MB ?= 4096
LARGE_FLAGS = -only restart -restart-hosts $(LARGE_HOSTS) -hwthreads 20 -restart-mb $(LARGE_MB)
e2e-large: cc-backend cc-backend-stock e2e-harness
	rm -rf target/e2e/large-stock target/e2e/large-ccwal
	$(E2E_BIN) $(LARGE_FLAGS) -name large-stock -workdir target/e2e/large-stock -server $(CCB_STOCK)
	rm -rf target/e2e/large-stock/restart/var
	$(E2E_BIN) $(LARGE_FLAGS) -name large-ccwal -workdir target/e2e/large-ccwal -expect-no-loss -server $(CCB_CCWAL)
	rm -rf target/e2e/large-ccwal/restart/var

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

# The browser test (`e2e ui`, see e2e/README.md): a few hours of data ending
# now, SIGKILL right after the last acknowledged write, restart, then in
# headless chromium log in and open node pages; every plot must show every
# acknowledged sample (asserted for the server with ccwal inside; the stock
# server's table shows what it lost). Screenshots go to target/ui/*/.
# Debian's chromium is installed when missing (as root); the test is
# skipped, loudly, only when that fails. test-ui-short (part of `make
# test`) opens the first and the last of 4 nodes, test-ui all of 16.
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || true

test-ui test-ui-short: cc-backend cc-backend-stock e2e-harness chromium
	@if command -v chromium >/dev/null; then \
		$(E2E_BIN) ui $(if $(filter test-ui,$@),-nodes 16 -all-pages) -expect-no-loss -server $(CCB_CCWAL) && \
		$(E2E_BIN) ui $(if $(filter test-ui,$@),-nodes 16 -all-pages) -server $(CCB_STOCK); \
	else echo; echo "*** $@ SKIPPED: chromium is not installed and could not be (apt-get install chromium, as root) ***"; echo; fi

# The server with ccwal inside and its web UI on a demo cluster, in the
# foreground until Ctrl-C (`e2e demo`; DEMO_ADDR=HOST:PORT to move it).
DEMO_ADDR ?= 127.0.0.1:8080
cc-backend-demo: cc-backend e2e-harness
	$(E2E_BIN) demo -addr $(DEMO_ADDR) -server $(CCB_CCWAL)

# A nightly toolchain (fuzzing and Miri need one), installed with rustup
# when missing. NIGHTLY=nightly-YYYY-MM-DD pins one.
NIGHTLY ?= nightly
nightly:
	rustup run $(NIGHTLY) rustc --version >/dev/null 2>&1 || rustup toolchain install $(NIGHTLY) --profile minimal

# cargo-fuzz, built once into target/fuzz-tools (kept until `make clean`).
CARGO_FUZZ_VERSION := 0.13.2
FUZZ_TOOLS := $(CURDIR)/target/fuzz-tools
CARGO_FUZZ := $(FUZZ_TOOLS)/bin/cargo-fuzz
cargo-fuzz: $(CARGO_FUZZ)
$(CARGO_FUZZ):
	$(CARGO) install --locked cargo-fuzz --version $(CARGO_FUZZ_VERSION) --root $(FUZZ_TOOLS)

# `make fuzz FUZZ_SECONDS=N` runs every target of fuzz/ for N seconds
# (README, "Fuzzing and Miri"): seeds from tests/fixtures/go (the Go-written
# files), fuzz/seeds/TARGET and tests/fuzz-regressions/TARGET (inputs that
# once failed, each also a test in tests/fuzz_regressions.rs), the corpus it grows in target/fuzz/corpus (the build goes to fuzz/target),
# a failing input in target/fuzz/artifacts/TARGET/. Fails at the first
# target that finds a crash or a broken invariant.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := wal_reader snapshot_decode json_decode lineproto_decode batch_buffer restore_mutated archive_rows
# The targets that read files as they are take the fixtures as seeds; the
# structure-aware ones (batch_buffer, restore_mutated) start from their own.
FUZZ_FIXTURE_SEEDS := wal_reader snapshot_decode json_decode archive_rows
FUZZ_RUN = cd fuzz && RUSTUP_TOOLCHAIN=$(NIGHTLY) $(CARGO_FUZZ) fuzz run -O
fuzz: nightly $(CARGO_FUZZ)
	cd fuzz && RUSTUP_TOOLCHAIN=$(NIGHTLY) $(CARGO_FUZZ) fuzz build -O
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p target/fuzz/corpus/$$t target/fuzz/artifacts/$$t fuzz/seeds/$$t; \
		seeds=$(CURDIR)/fuzz/seeds/$$t; \
		case " $(FUZZ_FIXTURE_SEEDS) " in *" $$t "*) seeds="$$seeds $(CURDIR)/tests/fixtures/go";; esac; \
		[ ! -d tests/fuzz-regressions/$$t ] || seeds="$$seeds $(CURDIR)/tests/fuzz-regressions/$$t"; \
		echo "== fuzz $$t: $(FUZZ_SECONDS) s"; \
		( $(FUZZ_RUN) $$t $(CURDIR)/target/fuzz/corpus/$$t $$seeds -- \
			-max_total_time=$(FUZZ_SECONDS) -timeout=20 -print_final_stats=1 \
			-artifact_prefix=$(CURDIR)/target/fuzz/artifacts/$$t/ ) || exit 1; \
	done
	@# The scratch roots of batch_buffer and restore_mutated (ccwal-fuzz-NAME-PID)
	@# whose process is gone.
	@for d in /dev/shm/ccwal-fuzz-* $${TMPDIR:-/tmp}/ccwal-fuzz-*; do \
		[ ! -e "$$d" ] || kill -0 "$${d##*-}" 2>/dev/null || rm -rf "$$d"; \
	done

# Part of `make test`: every target for a short time.
test-fuzz:
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10

# Miri (undefined behaviour in unsafe code, out-of-bounds or dangling
# reads) over a chosen set, to stay within a few minutes: the library's
# unit tests of the codecs, names, layout, the batch buffer's parser, the
# restore buffer rule, the archive's rows and the C ABI (options, error
# objects, enumerations, result codes); the codecs' known answers, the
# fuzz regressions and the C ABI's restore report read through every
# accessor (tests/ffi_reports.rs), with file access for the fixture root it
# restores. Without the default features: the archive's Parquet writer
# calls zstd's C code, which Miri cannot run. A test of that set Miri
# cannot run in reasonable time is marked #[cfg_attr(miri, ignore = "why")].
# The store (writer threads, fdatasync, syncfs) is left to the C tests
# under ASan, UBSan and valgrind. Bounded by MIRI_SECONDS.
MIRI_SECONDS ?= 1200
MIRI_LIB_TESTS := codec:: names:: layout:: engine::batch:: restore::buffer:: archive::rows:: ffi::
MIRI = MIRIFLAGS=-Zmiri-disable-isolation timeout $(MIRI_SECONDS) $(CARGO) +$(NIGHTLY) miri test --no-default-features
miri: nightly
	@rustup component list --toolchain $(NIGHTLY) --installed | grep -q '^miri' && \
		rustup component list --toolchain $(NIGHTLY) --installed | grep -q '^rust-src' || \
		rustup component add --toolchain $(NIGHTLY) miri rust-src
	$(MIRI) --lib -- $(MIRI_LIB_TESTS)
	$(MIRI) --test ffi_reports --test fuzz_regressions --test codec_known_answers
