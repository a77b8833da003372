# ccwal: `make demo` builds everything and runs the demo; `make test` runs
# every test. See README.md.
CARGO ?= cargo

.PHONY: help build test bench demo clean fmt lint
help:
	@echo "targets: build test bench demo clean fmt lint"

build:
	$(CARGO) build --release --all-targets

# Benchmarks are compiled here, run by `make bench`.
test:
	$(CARGO) test --lib --bins --tests --examples
	$(CARGO) test --doc
	$(CARGO) build --benches

bench:
	$(CARGO) bench

DEMO_DIR ?= target/demo

# Generates a small checkpoint directory (one WAL with a torn tail, as after
# a crash) and inspects it; verify exits 1 there on purpose.
demo: build
	rm -rf $(DEMO_DIR)
	$(CARGO) run --release --quiet --example gen_sample -- $(DEMO_DIR)
	target/release/ccwal stat $(DEMO_DIR) || test $$? -eq 1
	target/release/ccwal verify $(DEMO_DIR) || test $$? -eq 1
	target/release/ccwal dump $(DEMO_DIR)/demo/node02/current.wal | tail -n 3

clean:
	$(CARGO) clean

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) clippy --all-targets -- -D warnings
