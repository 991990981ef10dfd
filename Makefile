CARGO ?= cargo

.PHONY: build test demo bench lint fmt fuzz clean

build:
	$(CARGO) build --release

test:
	$(CARGO) test --all-targets

demo: build
	bash scripts/demo.sh

bench:
	$(CARGO) build --release --bin node --examples
	$(CARGO) bench --bench micro
	$(CARGO) bench --bench macro

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

clean:
	$(CARGO) clean
	rm -rf data/*/
