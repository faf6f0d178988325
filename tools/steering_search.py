#!/usr/bin/env python3
"""Chooses the demo's steering feature by its controlled curve over several prompts, not by eye.

    python3 tools/steering_search.py --sae saes/gemma3-270m-res6-topk4096 [--candidates 4] [--features 3936,2436]
        [--strengths 20,40,70,120] [--margin 1.0] [--random 2] [--max-new-tokens 12]

1. Candidates: the features given with --features, and --candidates more from `lantern features top
   --by density --max-density 0.05` over the default corpus, neither dense nor rare (density between
   0.3% and 3%), spread evenly over that range.
2. Each candidate runs `lantern steer sweep --json` over the four PROMPTS at --strengths, beside
   --random directions of its decoder norm: per strength the probability the steered model puts on
   the feature's ten most promoted tokens (teacher-forced on the unsteered continuations, mean over
   the prompts) for the feature and for the random directions, and the steered text's mean
   log-likelihood per token under the unsteered model.
3. The rule: a strength is admissible when the feature-steered text's log-likelihood stays within
   --margin nats per token of the unsteered continuations'; a candidate's score is its largest lift
   of the promoted mass over the random directions' (feature − random, in probability) at an
   admissible strength. Candidates are ranked by that score; one with no admissible strength is
   listed last. The winner (and its strength) is what tools/demo.sh steers with.
Prints one row per candidate, then the winner's curve (the table docs/steering-and-neurons.md keeps).
"""
import argparse
import json
import subprocess
import sys
import time

PROMPTS = ["The reliability of Wikipedia is very", "My favourite place to visit is",
           "Yesterday the city council decided", "The best way to learn a language is"]


def lantern(binary, args):
    out = subprocess.run([binary] + args + ["--json"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"steering_search: lantern {' '.join(args[:2])} failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout)


def score(sweep, margin):
    """(lift, strength, row) of the best admissible strength, or None."""
    best = None
    for row in sweep["rows"]:
        if row["strength"] == 0 or row["log_likelihood"] < sweep["baseline_log_likelihood"] - margin:
            continue
        lift = row["promoted_mass"] - (row["promoted_mass_random"] or 0.0)
        if best is None or lift > best[0]:
            best = (lift, row["strength"], row)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=".build/release/lantern")
    ap.add_argument("--sae", required=True)
    ap.add_argument("--features", default="", help="Candidate features (comma-separated), e.g. topical ones seen in dashboards")
    ap.add_argument("--candidates", type=int, default=4, help="More candidates from the corpus scan (0: only --features)")
    ap.add_argument("--count", type=int, default=1200, help="Features listed by the scan (by density) to draw candidates from")
    ap.add_argument("--tokens", type=int, default=4096, help="Corpus tokens the candidate scan reads")
    ap.add_argument("--strengths", default="20,40,70,120")
    ap.add_argument("--margin", type=float, default=1.0, help="Admissible: log-likelihood per token at most this far below the unsteered")
    ap.add_argument("--random", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=12)
    args = ap.parse_args()
    pool = [int(f) for f in args.features.split(",") if f.strip()]
    if args.candidates > 0:
        top = lantern(args.binary, ["features", "top", "--sae", args.sae, "--tokens", str(args.tokens), "--by", "density",
                                    "--max-density", "0.05", "--count", str(args.count), "--examples", "1"])
        eligible = [f["feature"] for f in top["features"] if 0.003 <= f["density"] <= 0.03 and f["feature"] not in pool]
        stride = max(1, len(eligible) // args.candidates)
        pool += eligible[::stride][: args.candidates]
    prompts = [a for p in PROMPTS for a in ("--prompt", p)]
    results = []
    for f in pool:
        start = time.time()
        sweep = lantern(args.binary, ["steer", "sweep", "--sae", args.sae, "--feature", str(f), "--strengths", "0," + args.strengths,
                                      "--random", str(args.random), "--max-new-tokens", str(args.max_new_tokens)] + prompts)
        results.append((score(sweep, args.margin), f, sweep))
        print(f"  feature {f}: {time.time() - start:.0f} s", file=sys.stderr)
    results.sort(key=lambda r: (r[0] is None, -(r[0][0] if r[0] else 0.0)))
    print(f"{len(PROMPTS)} prompts, {args.max_new_tokens} greedy tokens, {args.random} random directions; admissible: log-likelihood "
          f"within {args.margin} of the unsteered")
    print("feature  strength  P(promoted) feature  random  lift      log-lik. feature  random  unsteered  promotes")
    for best, f, sweep in results:
        promotes = " ".join(sweep["promoted_text"][:5])
        if best is None:
            print(f"{f:7d}  (no admissible strength)  {'':50s}  unsteered {sweep['baseline_log_likelihood']:.2f}  {promotes}")
            continue
        lift, strength, row = best
        print(f"{f:7d}  {strength:8.0f}  {row['promoted_mass']:19.4f}  {row['promoted_mass_random']:6.4f}  {lift:+.4f}  "
              f"{row['log_likelihood']:16.2f}  {row['log_likelihood_random']:6.2f}  {sweep['baseline_log_likelihood']:9.2f}  {promotes}")
    best, f, sweep = results[0]
    print(f"\nwinner: feature {f}" + (f" at strength {best[1]:.0f}" if best else " (no candidate had an admissible strength)"))
    print("strength  P(promoted) feature  random  log-lik. feature  random  steered continuation of the first prompt")
    for row in sweep["rows"]:
        print(f"{row['strength']:8.0f}  {row['promoted_mass']:19.4f}  {row['promoted_mass_random']:6.4f}  {row['log_likelihood']:16.2f}  "
              f"{row['log_likelihood_random']:6.2f}  {json.dumps(row['texts'][0])[:60]}")


if __name__ == "__main__":
    main()
