#!/usr/bin/env bash
# Runs the libFuzzer harnesses: Fuzz/run.sh RUNS [harness ...] (default all eight). Each starts
# from the seeds (tools/malformed_corpus.py seeds: the malformed corpus plus structure-aware inputs
# for deep nesting and huge sizes) and the committed fixtures, keeps what it learns in
# .build/fuzz/corpus/<harness>, and stops at RUNS executions or the first crash (the crashing input
# is saved as .build/fuzz/crash-<harness>-*). Prints one line per harness: executions, crashes, time.
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:?usage: Fuzz/run.sh RUNS [harness ...]}; shift
# FUZZ_SECONDS=N also stops each harness after N seconds (libFuzzer's -max_total_time), for runs
# that must fit a time budget; the line printed says how many executions that was.
LIMIT=(); [ -n "${FUZZ_SECONDS:-}" ] && LIMIT=(-max_total_time="$FUZZ_SECONDS")
HARNESSES=("${@:-safetensors gguf npz tokenizer config lens transcoder checkpoint}")
HARNESSES=(${HARNESSES[*]})
OUT=.build/fuzz
Fuzz/build.sh "${HARNESSES[@]}" || exit 1
rm -rf "$OUT/seeds" && python3 tools/malformed_corpus.py seeds "$OUT/seeds" || exit 1
status=0
for h in "${HARNESSES[@]}"; do
  corpus="$OUT/corpus/$h"; mkdir -p "$corpus"
  case $h in
    safetensors) for f in $(find Tests/Fixtures -name '*.safetensors' -size -64k | head -20); do
                   { printf '\0'; cat "$f"; } > "$corpus/fixture-$(basename "$(dirname "$f")")-$(basename "$f")"; done
                 for f in $(find Tests/Fixtures -name '*.index.json'); do { printf '\1'; cat "$f"; } > "$corpus/fixture-index"; done ;;
    config) for f in $(find Tests/Fixtures -name 'config.json' | head -20); do cp "$f" "$corpus/fixture-$(echo "$f" | tr / _)"; done ;;
    npz) for f in $(find Tests/Fixtures -name '*.npz' -size -64k | head -10); do
           { printf '\1'; cat "$f"; } > "$corpus/fixture-$(echo "$f" | tr / _)"; done ;;
  esac
  start=$(date +%s)
  log="$OUT/$h.log"
  touch "$OUT/$h.started"  # crashes counted are this run's (files newer than this)
  ASAN_OPTIONS=detect_leaks=0 "$OUT/fuzz-$h" -runs="$RUNS" -detect_leaks=0 -max_len=65536 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    "${LIMIT[@]}" -artifact_prefix="$OUT/crash-$h-" -print_final_stats=1 "$corpus" "$OUT/seeds/$h" >"$log" 2>&1
  rc=$?
  runs=$(grep -E "stat::number_of_executed_units" "$log" | tail -1 | awk '{print $2}')
  crashes=$(find "$OUT" -maxdepth 1 -name "crash-$h-*" -newer "$OUT/$h.started" | wc -l)
  seconds=$(( $(date +%s) - start ))
  echo "fuzz $h: ${runs:-?} executions, $crashes crash(es), $seconds s, $(( ${runs:-0} / (seconds > 0 ? seconds : 1) )) per second (exit $rc; log $log)"
  [ $rc -eq 0 ] || { status=1; grep -m3 -E "ERROR|Fatal error|==ERROR" "$log"; }
done
exit $status
