"""Measures how a distributed harvest scales: the same harvest run in process (no Ray), then over
the cluster in 1, 2, ... shards, then in process again, each timed end to end (workers starting,
models loading, the merge) and checked byte for byte against the first in-process run.

    python3 -m lantern.distributed.scaling --model gemma3-270m --tokens 8192 --shards 1 2
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path


def folder_bytes(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python3 -m lantern.distributed.scaling", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model name, folder or .gguf (default: Lantern's default model)")
    parser.add_argument("--hook", default="blocks.6.hook_resid_post")
    parser.add_argument("--tokens", type=int, default=8192)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--backend", default="cpu")
    parser.add_argument("--address", default=None, help="a Ray cluster to join (default: $RAY_ADDRESS, else a local one)")
    parser.add_argument("--cpus", type=int, default=None, help="CPUs of the local cluster started when none is joined")
    args = parser.parse_args(argv)

    import lantern
    from . import cluster, harvest
    options = dict(hook=args.hook, tokens=args.tokens, context=args.context, model=args.model, backend=args.backend)
    work = Path(tempfile.mkdtemp(prefix="lantern-scaling-"))
    try:
        def in_process(out: Path) -> dict:
            start = time.perf_counter()
            lantern.harvest(out, progress=lambda *report: None, **options)
            seconds = time.perf_counter() - start
            print(f"in process, no Ray: {seconds:.1f} s, {args.tokens / seconds:.0f} tokens/s", flush=True)
            return folder_bytes(out)

        reference = in_process(work / "in-process")
        ray = cluster.ray_module()
        if not ray.is_initialized():
            ray.init(address=args.address, num_cpus=args.cpus if args.address is None else None,
                     include_dashboard=False, log_to_driver=False, configure_logging=False)
        print(f"cluster: {cluster.cluster_cpus()} CPUs on {len(ray.nodes())} node(s)", flush=True)
        for shards in args.shards:
            out = work / f"shards-{shards}"
            start = time.perf_counter()
            harvest(out, shards=shards, progress=lambda state: None, **options)
            seconds = time.perf_counter() - start
            same = "the in-process run's bytes" if folder_bytes(out) == reference else "DIFFERENT bytes from the in-process run"
            print(f"{shards} shard(s) over Ray: {seconds:.1f} s, {args.tokens / seconds:.0f} tokens/s, {same}", flush=True)
        # Again at the end, so that the order the runs came in (a cold page cache, the other
        # processes on the machine) shows as the spread of the two in-process runs.
        if in_process(work / "in-process-again") != reference:
            print("the second in-process run wrote DIFFERENT bytes", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
