CARGO ?= cargo

.PHONY: build test demo lab bench lint fmt fuzz clean sim

build:
	$(CARGO) build --release

test:
	$(CARGO) test --all-targets

demo: build
	bash scripts/demo.sh

# Five nodes in five Linux network namespaces on a bridge (needs root and
# iproute2): sync, payments, a partition, heal, convergence. tests/lab.rs
# runs the same script on the debug binary.
lab: build
	NODE_BIN=target/release/node bash scripts/lab.sh

bench:
	$(CARGO) build --release --bin node --examples
	$(CARGO) bench --bench micro
	$(CARGO) bench --bench macro
	$(CARGO) bench --bench reorg

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

# Coverage-guided fuzzing with cargo-fuzz (libFuzzer) on the stable toolchain:
# RUSTC_BOOTSTRAP=1 lets stable rustc take the -Z flags cargo-fuzz passes.
# Runs each target in turn for FUZZ_SECONDS, with debug assertions (overflow
# checks) on; crashes land in fuzz/artifacts/.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= frame_decoder message block transaction sig_differential
FUZZ_SANITIZER ?= none
FUZZ_FLAGS ?=

fuzz:
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install --locked cargo-fuzz
	-python3 fuzz/seeds.py
	for t in $(FUZZ_TARGETS); do \
		RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --sanitizer $(FUZZ_SANITIZER) --debug-assertions $$t fuzz/corpus/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(FUZZ_FLAGS) || exit 1; \
	done

clean:
	$(CARGO) clean
	rm -rf data/*/

# A large seeded run of the network simulator (SIM_SEED, SIM_NODES,
# SIM_BLOCKS, SIM_LATENCY_MS, SIM_HOSTILE; see examples/sim.rs).
sim:
	$(CARGO) run --release --example sim
