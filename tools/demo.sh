#!/usr/bin/env bash
# `make demo`: the seed's walk-through on the default model (Gemma 3 270M, fetched into
# ${LANTERN_HOME:-~/.cache/lantern} on first use), then the SAE tools on a tiny fixture model.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/lantern
prompt="The reliability of Wikipedia is very"
echo "== next: the most likely next tokens after \"$prompt\""
$bin next --prompt "$prompt" --top 10
echo "== generate: the greedy continuation"
$bin generate --prompt "$prompt" --max-new-tokens 20
echo "== lens: every layer's residual stream read through the final norm and unembedding"
$bin lens --prompt "$prompt" --target " important" --html /tmp/lantern-demo-lens.html
echo "   the heatmap: /tmp/lantern-demo-lens.html"
echo "== trace: hook activations to safetensors for Python"
$bin trace --prompt "$prompt" --hooks 'blocks.*.hook_resid_post' blocks.5.attn.hook_pattern --out /tmp/lantern-demo-trace.safetensors
echo "   safetensors.numpy.load_file('/tmp/lantern-demo-trace.safetensors')"

# SAEs: the default model has none yet that a fresh machine can fetch; these run on the tiny
# Gemma 2 fixture with a random Gemma Scope-format SAE, to show the tools (tokens show as #id).
model=Tests/Fixtures/gemma2_tiny
sae=Tests/Fixtures/sae/gemmascope/layer_1/width_96
echo "== features (tiny fixture model, random test SAE): which features fire on which token"
$bin features --model $model --sae $sae --tokens 2,165,234,93 --top 3
echo "== sae eval: the dark-matter report"
$bin sae eval --model $model --sae $sae --tokens 2,165,234,93,146,71,26,29
echo "== steer: baseline vs feature 5 added at strength 200"
$bin steer --model $model --sae $sae --feature 5 --strength 200 --tokens 2,173,54,249,30 --max-new-tokens 8
