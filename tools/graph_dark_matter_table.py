#!/usr/bin/env python3
"""How much of a circuit is dark matter, over prompts the transcoders never saw.

    python3 tools/graph_dark_matter_table.py --transcoders transcoders/gemma3-270m [--transcoders OTHER ...] \
        [--prompts 20] [--words 12] [--binary .build/release/lantern]

Prompts: the first `--words` words of each of the first `--prompts` held-out Lee news articles of
the default corpus (`heldout/0NN-lee-news-test.txt`; no source of these is in any training set).
For each transcoder set and both node conventions (`--conventions complete`, Lantern's: every
node's incoming edges sum to its input; `--conventions circuit-tracer`: b_dec outside the error
nodes, BOS zeroed), `lantern graph --json` is run on every prompt and the table gives the means of
its `metadata.lantern` figures: the dark-matter share (the share of the logits' influence that
starts in error nodes), the replacement score and the completeness score, with the range of the
dark-matter share. Prints a Markdown table (and, with --json, every prompt's figures).
With --cache FILE every graph's figures are kept there as they come, and a rerun skips those
already in it: the 40 graphs of a run take tens of minutes on two cores, so it resumes.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def prompts(count, words):
    home = Path(os.environ.get("LANTERN_HOME", Path.home() / ".cache" / "lantern"))
    folder = home / "corpora" / "modern-english-v1" / "heldout"
    files = sorted(folder.glob("0[0-4][0-9]-lee-news-test.txt"))[:count]
    if len(files) < count:
        sys.exit(f"graph_dark_matter_table: {folder} has {len(files)} held-out news articles, not {count} (run `make corpus`)")
    return [" ".join(f.read_text().split()[:words]) for f in files]


def graph(binary, transcoders, prompt, conventions, model):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        args = [binary, "graph", "--transcoders", *transcoders, "--prompt", prompt, "--conventions", conventions, "--out", out.name]
        if model:
            args += ["--model", model]
        run = subprocess.run(args, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"graph_dark_matter_table: lantern graph failed on {prompt!r}: {run.stderr.strip().splitlines()[-1:]}")
        return json.loads(Path(out.name).read_text())["metadata"]["lantern"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=".build/release/lantern")
    ap.add_argument("--model", default=None)
    ap.add_argument("--transcoders", action="append", nargs="+", required=True,
                    help="One transcoder set (folders, as `lantern graph --transcoders` takes); repeat for more sets")
    ap.add_argument("--prompts", type=int, default=20)
    ap.add_argument("--words", type=int, default=12)
    ap.add_argument("--json", action="store_true", help="Also print every prompt's figures as JSON")
    ap.add_argument("--cache", type=Path, help="Keep each graph's figures in this JSON file; a rerun skips those already there")
    args = ap.parse_args()
    texts = prompts(args.prompts, args.words)
    cache = json.loads(args.cache.read_text()) if args.cache and args.cache.exists() else {}
    rows, every = [], {}
    for folders in args.transcoders:
        name = " ".join(folders)
        for conventions in ["circuit-tracer", "complete"]:
            figures = []
            for i, text in enumerate(texts):
                key = json.dumps([folders, conventions, text, args.model])
                if key not in cache:
                    cache[key] = graph(args.binary, folders, text, conventions, args.model)
                    if args.cache:
                        args.cache.write_text(json.dumps(cache))
                figures.append(cache[key])
                print(f"{name} ({conventions}): {i + 1}/{len(texts)}", file=sys.stderr)
            every[f"{name} ({conventions})"] = figures
            share = [f["error_share"] for f in figures]
            rows.append((name, conventions, statistics.mean(share), min(share), max(share),
                         statistics.mean(f["replacement_score"] for f in figures),
                         statistics.mean(f["completeness_score"] for f in figures)))
    print(f"{len(texts)} held-out prompts ({args.words} words each)\n")
    print("| transcoders | conventions | dark-matter share (mean) | range | replacement score | completeness score |")
    print("|---|---|---|---|---|---|")
    for name, conventions, mean, low, high, replacement, completeness in rows:
        print(f"| {name} | {conventions} | {100 * mean:.1f}% | {100 * low:.1f}–{100 * high:.1f}% | {replacement:.3f} | {completeness:.3f} |")
    if args.json:
        print(json.dumps({"prompts": texts, "graphs": every}, indent=1))


if __name__ == "__main__":
    main()
