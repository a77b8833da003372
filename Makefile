# ccwal: `make demo` builds everything and runs the demo; `make test` runs
# every test. See README.md.
CARGO ?= cargo

.PHONY: help build test bench demo clean fmt lint
help:
	@echo "targets: build test bench demo clean fmt lint"

build:
	$(CARGO) build --release --all-targets

test:
	$(CARGO) test --all-targets
	$(CARGO) test --doc

bench:
	$(CARGO) bench

demo: build
	@echo "the demo arrives with the CLI"

clean:
	$(CARGO) clean

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) clippy --all-targets -- -D warnings
