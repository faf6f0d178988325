#!/usr/bin/env bash
# `make demo`: the seed's walk-through on the default model (Gemma 3 270M, fetched into
# ${LANTERN_HOME:-~/.cache/lantern} on first use) and the SAE trained for it (saes/, README).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/lantern
prompt="The reliability of Wikipedia is very"
sae=saes/gemma3-270m-res6-topk1536
echo "== next: the most likely next tokens after \"$prompt\""
$bin next --prompt "$prompt" --top 10
echo "== generate: the greedy continuation"
$bin generate --prompt "$prompt" --max-new-tokens 20
echo "== lens: every layer's residual stream read through the final norm and unembedding"
$bin lens --prompt "$prompt" --target " important" --html /tmp/lantern-demo-lens.html
echo "   the heatmap: /tmp/lantern-demo-lens.html"
echo "== trace: hook activations to safetensors for Python"
$bin trace --prompt "$prompt" --hooks 'blocks.*.hook_resid_post' blocks.5.attn.hook_pattern --out /tmp/lantern-demo-trace.safetensors
echo "== features: which SAE features fire on which token (TopK SAE, 1536 latents, layer 6 residual)"
$bin features --sae $sae --prompt "$prompt" --top 4 --html /tmp/lantern-demo-features.html
echo "== sae eval: how much of each activation the features fail to explain (the dark matter)"
$bin sae eval --sae $sae --prompt "$prompt" --html /tmp/lantern-demo-eval.html
echo "== feature 1168, active on \" very\": its dashboard over Shakespeare (the default corpus) — degree words"
$bin feature --sae $sae --id 1168 --tokens 4096 --html /tmp/lantern-demo-feature-1168.html
echo "== feature 613's dashboard over Shakespeare (the default corpus): court and family life: lord, palace, youth, marry, born"
$bin feature --sae $sae --id 613 --tokens 4096 --html /tmp/lantern-demo-feature-613.html
echo "== steer: feature 613 added at strength 300 at every position of every step"
$bin steer --sae $sae --feature 613 --strength 300 --prompt "$prompt" --max-new-tokens 20 --html /tmp/lantern-demo-steer.html
echo "   pages: /tmp/lantern-demo-{lens,features,eval,feature-1168,feature-613,steer}.html"
