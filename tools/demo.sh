#!/usr/bin/env bash
# `make demo`: what Lantern does, on a model a fresh machine has.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/lantern
echo "== next: the default model (Gemma 3 270M GGUF, fetched into \${LANTERN_HOME:-~/.cache/lantern} on first use)"
$bin next --prompt "The reliability of Wikipedia is very" --top 10
echo "== generate: its greedy continuation"
$bin generate --prompt "The reliability of Wikipedia is very" --max-new-tokens 20
echo
model=Tests/Fixtures/gemma2_tiny
echo "== generate: greedy continuation of token ids on the tiny Gemma 2 fixture"
$bin generate --model $model --tokens 2,173,54,249,30 --max-new-tokens 8
echo "== trace: the residual stream after every block and layer 1's attention pattern"
$bin trace --model $model --tokens 2,173,54,249,30 --hooks 'blocks.*.hook_resid_post' blocks.1.attn.hook_pattern --out /tmp/lantern-demo-trace.safetensors
echo "   load it in Python: safetensors.numpy.load_file('/tmp/lantern-demo-trace.safetensors')"
sae=Tests/Fixtures/sae/gemmascope/layer_1/width_96
echo "== lens: every layer's residual read through the unembedding (tiny model: tokens show as #id)"
$bin lens --model $model --tokens 2,165,234,93,146,71,26,29 --target 7 --html /tmp/lantern-demo-lens.html
echo "== features: a (random, test) Gemma Scope-format SAE on layer 1's residual"
$bin features --model $model --sae $sae --tokens 2,165,234,93 --top 3
echo "== sae eval: the dark-matter report"
$bin sae eval --model $model --sae $sae --tokens 2,165,234,93,146,71,26,29
echo "== steer: baseline vs feature 5 added at strength 200"
$bin steer --model $model --sae $sae --feature 5 --strength 200 --tokens 2,173,54,249,30 --max-new-tokens 8
echo "   open /tmp/lantern-demo-lens.html for the lens heatmap"
