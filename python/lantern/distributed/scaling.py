"""Measures how a distributed job scales: the same job run in process (no Ray), then over the
cluster in 1, 2, ... shards, then in process again, each timed end to end (workers starting,
models loading, the merge) and checked against the first in-process run — the harvest byte for
byte, the graphs JSON for JSON (but for their creation time).

    python3 -m lantern.distributed.scaling --model gemma3-270m --tokens 8192 --shards 1 2
    python3 -m lantern.distributed.scaling --job graphs --transcoders transcoders/gemma3-270m --shards 1 2
"""
from __future__ import annotations

import argparse
import re
import shutil
import tempfile
import time
from pathlib import Path

PROMPTS = ["The capital of France is", "1, 2, 3,"]


def folder_bytes(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def timeless(text: str) -> str:
    return re.sub(r'"create_time_ms":[0-9]+', '"create_time_ms":0', text)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python3 -m lantern.distributed.scaling", description=__doc__.splitlines()[0])
    parser.add_argument("--job", choices=["harvest", "graphs"], default="harvest")
    parser.add_argument("--model", default=None, help="model name, folder or .gguf (default: Lantern's default model)")
    parser.add_argument("--hook", default="blocks.6.hook_resid_post", help="harvest: the hook")
    parser.add_argument("--tokens", type=int, default=8192, help="harvest: the rows")
    parser.add_argument("--context", type=int, default=128, help="harvest: tokens per context")
    parser.add_argument("--transcoders", default="transcoders/gemma3-270m", help="graphs: the transcoder folder")
    parser.add_argument("--prompts", nargs="+", default=PROMPTS, help="graphs: one graph per prompt")
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--backend", default="cpu")
    parser.add_argument("--address", default=None, help="a Ray cluster to join (default: $RAY_ADDRESS, else a local one)")
    parser.add_argument("--cpus", type=int, default=None, help="CPUs of the local cluster started when none is joined")
    args = parser.parse_args(argv)

    import lantern
    from . import cluster, graphs, harvest
    if args.job == "harvest":
        options = dict(hook=args.hook, tokens=args.tokens, context=args.context, model=args.model, backend=args.backend)
        unit, amount = "tokens", args.tokens

        def single(out: Path):
            lantern.harvest(out, progress=lambda *report: None, **options)
            return folder_bytes(out)

        def distributed(out: Path, shards: int):
            harvest(out, shards=shards, progress=lambda state: None, **options)
            return folder_bytes(out)
    else:
        unit, amount = "graphs", len(args.prompts)

        def single(out: Path):
            model = lantern.Model.load(args.model, backend=args.backend)
            return [timeless(model.analyze_json("graph", transcoders=args.transcoders, prompt=p)) for p in args.prompts]

        def distributed(out: Path, shards: int):
            graphs(out, args.prompts, args.transcoders, model=args.model, backend=args.backend, shards=shards,
                   progress=lambda state: None)
            return [timeless(line) for line in (out / "results.jsonl").read_text().splitlines()]

    def timed(what: str, run, *arguments):
        start = time.perf_counter()
        result = run(*arguments)
        seconds = time.perf_counter() - start
        print(f"{what}: {seconds:.1f} s, {amount / seconds:.{0 if unit == 'tokens' else 3}f} {unit}/s", end="", flush=True)
        return result

    work = Path(tempfile.mkdtemp(prefix="lantern-scaling-"))
    try:
        reference = timed("in process, no Ray", single, work / "in-process")
        print(flush=True)
        ray = cluster.ray_module()
        if not ray.is_initialized():
            ray.init(address=args.address, num_cpus=args.cpus if args.address is None else None,
                     include_dashboard=False, log_to_driver=False, configure_logging=False)
        print(f"cluster: {cluster.cluster_cpus()} CPUs on {len(ray.nodes())} node(s)", flush=True)
        for shards in args.shards:
            same = timed(f"{shards} shard(s) over Ray", distributed, work / f"shards-{shards}", shards) == reference
            print(", the in-process run's result" if same else ", a DIFFERENT result from the in-process run", flush=True)
        # Again at the end, so that the order the runs came in (a cold page cache, the other
        # processes on the machine) shows as the spread of the two in-process runs.
        same = timed("in process again", single, work / "in-process-again") == reference
        print("" if same else ", a DIFFERENT result from the first", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
