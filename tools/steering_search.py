#!/usr/bin/env python3
"""Chooses the demo's steering feature by measurement, not by eye.

    python3 tools/steering_search.py --sae saes/gemma3-270m-res6-topk4096 [--candidates 24] [--strengths 4,8]

1. `lantern features top --by density --max-density 0.05` over the default corpus lists candidate
   features that are neither dense nor rare (density between 0.3% and 3%), evenly spread over it.
2. For each candidate and strength multiple m, `lantern steer --strength m·(the feature's max
   activation in the scan)` on the demo prompt reports the probability the steered model puts on
   the feature's ten most promoted tokens (W_dec·diag(final-norm gain)·W_U), averaged over the prompt
   and the baseline continuation, without and with steering.
3. Features are ranked by that probability with steering (the lift is printed too), among those
   whose steered continuation differs from the baseline and is not one token repeated.
Prints a table; the winner is what tools/demo.sh steers with.
"""
import argparse
import json
import subprocess
import sys

PROMPT = "The reliability of Wikipedia is very"


def lantern(binary, args):
    out = subprocess.run([binary] + args + ["--json"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"steering_search: lantern {' '.join(args[:2])} failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=".build/release/lantern")
    ap.add_argument("--sae", required=True)
    ap.add_argument("--candidates", type=int, default=24)
    ap.add_argument("--count", type=int, default=1200, help="Features listed by the scan (by density) to draw candidates from")
    ap.add_argument("--strengths", default="4,8")
    ap.add_argument("--tokens", type=int, default=8192)
    ap.add_argument("--features", default="", help="Also try these features (comma-separated), e.g. topical ones seen in dashboards")
    args = ap.parse_args()
    top = lantern(args.binary, ["features", "top", "--sae", args.sae, "--tokens", str(args.tokens), "--by", "density",
                                "--max-density", "0.05", "--count", str(args.count), "--examples", "5"])
    # Neither dense nor rare, spread evenly over that density range.
    eligible = [f for f in top["features"] if 0.003 <= f["density"] <= 0.03]
    stride = max(1, len(eligible) // max(args.candidates, 1))
    pool = eligible[::stride][: args.candidates]
    if args.features:
        wanted = {int(f) for f in args.features.split(",")}
        pool = [f for f in top["features"] if f["feature"] in wanted] + [f for f in pool if f["feature"] not in wanted]
    rows = []
    for f in pool:
        for m in [float(s) for s in args.strengths.split(",")]:
            strength = m * f["max_activation"]
            r = lantern(args.binary, ["steer", "--sae", args.sae, "--feature", str(f["feature"]), "--strength", f"{strength:.2f}",
                                      "--prompt", PROMPT, "--max-new-tokens", "20"])
            text = r["steered_text"]
            words = text.split()
            coherent = r["steered"] != r["baseline"] and len(set(words)) > max(3, len(words) // 3)
            rows.append((r["promoted_mass_steered"], r["promoted_mass_baseline"], f["feature"], m, strength, coherent,
                         f["density"], text.replace("\n", " ")[:70], [t["text"] for t in f["logits"]["positive"][:5]]))
    rows.sort(key=lambda r: (not r[5], -r[0]))
    print("feature  ×max  strength  density  P(promoted) base → steered  coherent  steered continuation")
    for steered, base, feature, m, strength, coherent, density, text, promoted in rows:
        print(f"{feature:7d}  {m:4.0f}  {strength:8.1f}  {density*100:6.2f}%  {base:8.4f} → {steered:7.4f} (×{steered/max(base,1e-12):6.1f})"
              f"  {'yes' if coherent else 'no ':3s}  {text}  | promotes {' '.join(promoted)}")


if __name__ == "__main__":
    main()
