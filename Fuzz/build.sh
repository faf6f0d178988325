#!/usr/bin/env bash
# Builds the libFuzzer harnesses (Fuzz/Harnesses) against the library sources with swiftc:
# each library module is compiled once, instrumented (-sanitize=fuzzer,address), as a static
# library; each harness links the modules it needs. Kept out of Package.swift so that neither
# `swift build` nor the test build pays for it. Usage: Fuzz/build.sh [harness ...]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=.build/fuzz
mkdir -p "$OUT/lib"
# LanternCore imports CIntrinsics for a few static inline functions (no C objects to link): a
# module map for its header stands in for the one SwiftPM makes.
mkdir -p "$OUT/cintrinsics"
printf 'module CIntrinsics {\n    header "%s/Sources/CIntrinsics/include/cintrinsics.h"\n    header "%s/Sources/CIntrinsics/include/cpu_features.h"\n    export *\n}\n' "$PWD" "$PWD" \
  > "$OUT/cintrinsics/module.modulemap"
FLAGS=(-O -swift-version 6 -parse-as-library -enable-testing -sanitize=fuzzer,address -I "$OUT/lib" -L "$OUT/lib"
       -I .build/checkouts/ZIPFoundation/Sources/CZLib -I "$OUT/cintrinsics")
[ -d .build/checkouts/ZIPFoundation ] || swift package resolve >/dev/null

# module name → its sources (rebuilt only when a source is newer than the library, or the set of
# sources changed: a file moved in from another module keeps its old time).
module() {
  local name=$1; shift
  local lib="$OUT/lib/lib$name.a" sources
  sources=$(find "$@" -name '*.swift' | sort)
  if [ -f "$lib" ] && [ "$sources" = "$(cat "$lib.sources" 2>/dev/null)" ] \
     && [ -z "$(find "$@" -newer "$lib" -name '*.swift' 2>/dev/null | head -1)" ]; then return; fi
  echo "fuzz: building module $name"
  rm -f "$lib"  # so that a failed compile cannot leave the old library looking built
  local mode=()
  [ "$name" = ZIPFoundation ] && mode=(-swift-version 5 -Xcc -D_GNU_SOURCE=1)  # as its own package builds it
  swiftc "${FLAGS[@]}" "${mode[@]}" -module-name "$name" -emit-library -static -emit-module \
    -emit-module-path "$OUT/lib/$name.swiftmodule" -o "$lib" $(find "$@" -name '*.swift' | sort) 2>&1 \
    | grep -v "Cannot export local symbol" || true
  [ -f "$lib" ] && echo "$sources" > "$lib.sources"
}
ALL=(safetensors gguf npz tokenizer config lens transcoder checkpoint)
module LanternCore Sources/LanternCore
module ZIPFoundation .build/checkouts/ZIPFoundation/Sources/ZIPFoundation
module Formats Sources/Formats
module Tokenizers Sources/Tokenizers
module Models Sources/Models
# The dictionary and lens readers, and the trainer's checkpoints, for their harnesses only.
needs_dictionaries() { for h in "${@:-${ALL[@]}}"; do case $h in lens|transcoder|checkpoint) return 0 ;; esac; done; return 1; }

harness() {
  local name=$1; shift
  echo "fuzz: linking $name"
  rm -f "$OUT/$name"
  swiftc "${FLAGS[@]}" -module-name "$(echo "$name" | tr -d -)" -o "$OUT/$name" Fuzz/Harnesses/FuzzSupport.swift "$@" 2>&1 \
    | grep -v "Cannot export local symbol" || true
  [ -x "$OUT/$name" ]
}
if needs_dictionaries "$@"; then
  module Interpretability Sources/Interpretability
  # Training's sparse products run on the CPU kernels: the baseline build is enough here.
  module CPUKernels Sources/CPUKernels
  module CPUKernelChoice Sources/CPUKernelChoice
  module Training Sources/Training
fi
for h in "${@:-${ALL[@]}}"; do
  case $h in
    safetensors) harness fuzz-safetensors Fuzz/Harnesses/FuzzSafetensors.swift -lFormats -lZIPFoundation -lLanternCore -lz ;;
    gguf) harness fuzz-gguf Fuzz/Harnesses/FuzzGGUF.swift -lModels -lTokenizers -lFormats -lZIPFoundation -lLanternCore -lz ;;
    npz) harness fuzz-npz Fuzz/Harnesses/FuzzNPZ.swift -lFormats -lZIPFoundation -lLanternCore -lz ;;
    tokenizer) harness fuzz-tokenizer Fuzz/Harnesses/FuzzTokenizer.swift -lTokenizers -lFormats -lZIPFoundation -lLanternCore -lz ;;
    config) harness fuzz-config Fuzz/Harnesses/FuzzConfig.swift -lModels -lFormats -lZIPFoundation -lLanternCore -lz ;;
    lens) harness fuzz-lens Fuzz/Harnesses/FuzzTunedLens.swift -lInterpretability -lModels -lTokenizers -lFormats -lZIPFoundation -lLanternCore -lz ;;
    transcoder) harness fuzz-transcoder Fuzz/Harnesses/FuzzTranscoder.swift -lInterpretability -lModels -lTokenizers -lFormats -lZIPFoundation -lLanternCore -lz ;;
    checkpoint) harness fuzz-checkpoint Fuzz/Harnesses/FuzzCheckpoint.swift -lTraining -lCPUKernelChoice -lCPUKernels -lInterpretability -lModels -lTokenizers -lFormats -lZIPFoundation -lLanternCore -lz ;;
    *) echo "unknown harness $h (${ALL[*]})" >&2; exit 2 ;;
  esac
done
