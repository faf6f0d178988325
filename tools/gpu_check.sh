#!/usr/bin/env bash
# The prepared GPU check: everything worth knowing about Lantern's Vulkan backend on a machine with
# a GPU, in one run that fits in 10 minutes (a short loan of a GPU machine is enough).
#
#   tools/gpu_check.sh            # on a GPU machine: full sizes
#   tools/gpu_check.sh --quick    # small sizes, for a software device (lavapipe) or a dry run
#
# Steps, each under its own time limit so that one slow step cannot eat the others' time:
#   1. the Vulkan loader and devices (unpacks .gl/*.deb first when a loader must be brought along);
#   2. the build: `swift build -c release --build-tests` where a toolchain is present, else the
#      carried dist/lantern (then step 3 is skipped);
#   3. the Vulkan test suite (every hook of every family against transformers, ops, quantised
#      weights, batches, traffic counters) on the device the tests pick;
#   4. `lantern bench --backend cpu,vulkan`: the model (prefill, decode and the Vulkan traffic per
#      pass) on the default model when cached, else the random gemma-2-2b-shaped bench model, the
#      matmul shapes (with the opt-in f16 tile arithmetic where the device has f16), and the
#      interpretability workloads where the model is cached;
#   5. llama.cpp's Vulkan build on the same GGUF, when a `llama-bench` is on PATH or in
#      LLAMA_CPP_DIR (it cannot be built on a machine without network).
# Everything goes to $OUT (or gpu_check_out/): log.txt, one JSON per bench, summary.txt. Figures
# from a software device are marked as such in summary.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
OUT=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT"
LOG="$OUT/log.txt"
: >"$LOG"
START=$(date +%s)
say() { echo "== $(( $(date +%s) - START )) s: $*" | tee -a "$LOG"; }
# step NAME SECONDS COMMAND...: runs it with a limit, output to the log; its status is returned.
step() {
  local name=$1 limit=$2; shift 2
  say "$name (limit ${limit} s)"
  timeout --kill-after=10 "$limit" "$@" >>"$LOG" 2>&1
  local rc=$?
  [ $rc = 124 ] && say "$name: stopped at its limit"
  [ $rc != 0 ] && [ $rc != 124 ] && say "$name: exit $rc (see log.txt)"
  return $rc
}

# 1. Loader and devices.
if ls .gl/*.deb >/dev/null 2>&1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] && [ -z "${VK_DRIVER_FILES:-}" ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >>"$LOG" 2>&1

# 2. Build, or the carried binary.
BIN=.build/release/lantern
TESTS=1
if command -v swift >/dev/null; then
  step "build (release, with tests)" 300 swift build -c release -Xswiftc -enable-testing --build-tests || exit 1
elif [ -x dist/lantern ]; then
  BIN=dist/lantern
  TESTS=0
  say "no Swift toolchain: using the carried dist/lantern, no test suite"
else
  say "no Swift toolchain and no dist/lantern: nothing to run"
  exit 1
fi
"$BIN" devices >>"$LOG" 2>&1
DEVICE=$("$BIN" devices 2>/dev/null | grep -m1 -iE "gpu|vulkan|llvmpipe|nvidia|amd|intel" || echo "unknown")
SOFTWARE=0
echo "$DEVICE" | grep -qi llvmpipe && SOFTWARE=1

# 3. The Vulkan test suite.
if [ $TESTS = 1 ]; then
  step "Vulkan tests" 240 swift test -c release -Xswiftc -enable-testing --skip-build --disable-swift-testing \
    --filter VulkanBackendTests
  grep -E "Executed [0-9]+ tests" "$LOG" | tail -1 | tee -a "$OUT/summary.txt"
fi

# 4. Benches. The default model when it is cached (no network on a loaned machine), else the random
# 2B-shaped bench model (written on first use, ~5 GB).
if [ $QUICK = 1 ]; then SIZES=(--prefill 64 --decode 8 --analysis-tokens 4); MATMUL=(--tokens 16 --shapes attn); else SIZES=(--prefill 512 --decode 32); MATMUL=(); fi
MODEL=()
ls "${LANTERN_HOME:-$HOME/.cache/lantern}"/models/gemma-3-270m*.gguf >/dev/null 2>&1 && MODEL=(--model gemma3-270m)
step "bench model" 180 sh -c "\"$BIN\" bench --only model --backend cpu,vulkan ${MODEL[*]} ${SIZES[*]} --no-reference --json >\"$OUT/bench_model.json\""
# The opt-in f16 tile arithmetic beside f32 where the device has f16 shader arithmetic.
MATMUL_BACKENDS=cpu,vulkan
echo "$DEVICE" | grep -q "fp16" && MATMUL_BACKENDS=cpu,vulkan,vulkan-f16
step "bench matmul" 120 sh -c "\"$BIN\" bench --only matmul --backend $MATMUL_BACKENDS ${MATMUL[*]} --no-reference --json >\"$OUT/bench_matmul.json\""
if [ ${#MODEL[@]} -gt 0 ] && [ $QUICK = 0 ]; then
  step "bench workloads" 150 sh -c "\"$BIN\" bench --only workloads --backend cpu,vulkan ${MODEL[*]} --json >\"$OUT/bench_workloads.json\""
fi

# 5. llama.cpp's Vulkan build on the same GGUF.
LLAMA=$(command -v llama-bench || ls "${LLAMA_CPP_DIR:-/nonexistent}"/llama-bench 2>/dev/null || true)
GGUF=$(ls "${LANTERN_HOME:-$HOME/.cache/lantern}"/models/gemma-3-270m*.gguf 2>/dev/null | head -1)
if [ -n "$LLAMA" ] && [ -n "$GGUF" ]; then
  step "llama.cpp (Vulkan)" 90 sh -c "\"$LLAMA\" -m \"$GGUF\" -p ${SIZES[1]} -n ${SIZES[3]} -ngl 99 -o json >\"$OUT/llamacpp.json\""
else
  say "llama.cpp: no llama-bench or no cached GGUF here; skipped"
fi

# Summary: the device, then each bench's headline figures.
{
  echo "device: $DEVICE$([ $SOFTWARE = 1 ] && echo ' (software rasteriser: figures are lavapipe on the CPU, not a GPU)')"
  python3 - "$OUT" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
def load(name):
    try:
        return json.loads((out / name).read_text())
    except Exception:
        return None
model = load("bench_model.json")
for m in (model or {}).get("model", []):
    line = f"{m['backend']}: prefill {m['prefill_tokens_per_second']:.1f} tok/s, decode {m['decode_tokens_per_second']:.2f} tok/s ({m['model']})"
    for key in ("prefill_traffic", "decode_token_traffic", "lens_traffic", "next_token_losses_traffic", "sae_latents_traffic"):
        if key in m:
            t = m[key]
            line += f"; {key.replace('_traffic', '').replace('_', ' ')}: {t['dispatches']} dispatches, {t['submits']} submits, {t['bytes_from_device']} B back"
    print(line)
for row in (load("bench_matmul.json") or {}).get("matmul", []):
    figures = [row[k] for k in sorted(row, key=lambda k: (k != "first", k)) if k == "first" or k.startswith("backend")]
    print(f"matmul {row['shape']} n={row['tokens']}: " + ", ".join(
        f"{f['backend']} {f['gflops']:.1f} GFLOP/s" + (f" (kernel {f['kernel_gflops']:.1f})" if "kernel_gflops" in f else "") for f in figures))
PY
  echo "took $(( $(date +%s) - START )) s"
} | tee -a "$OUT/summary.txt"
