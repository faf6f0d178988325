"""A harvest split over a Ray cluster: part I of N is `lantern harvest --shard I/N` run as one Ray
task with the in-process engine, and the parts are merged into the folder one unsplit harvest
writes, byte for byte.

Exactly once: a part writes each shard file under a temporary name and renames it, then rewrites
its manifest (atomically), as the engine always does; a part killed midway is retried by Ray and
continues after its last recorded shard file. A part whose manifest says complete is not run
again, and an output whose merged manifest says complete is returned as it is.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .._lib import InvalidArgumentError
from . import cluster, harvest_merge

# Where the parts wait for the merge, inside the output (readers of a harvest folder look only at
# manifest.json and part-*: this folder is invisible to them).
STAGING = ".parts"


def _harvest_part(request: dict, key: str, board, cwd: str):
    """Runs on a worker: one part, resuming whatever an earlier attempt recorded."""
    from .. import cli
    if os.path.isdir(cwd):
        os.chdir(cwd)   # relative corpus and model paths mean what they meant to the driver
    report = cluster.Reporter(board, key)
    result = cli.job("harvest", progress=report, **request)
    report(result["rows"], result["rows"])
    report.finish()
    return result


def _settings_differ(manifest: dict, request: dict) -> str | None:
    """The first setting a finished harvest in the output disagrees with, or None."""
    hooks = manifest.get("hooks") or [manifest.get("hook")]
    wanted = {"hook": [request["hook"]], "tokens": request["tokens"], "context": request.get("context", 128),
              "include_bos": bool(request.get("include_bos", False)), "corpus": [str(c) for c in request.get("corpus", []) or []]}
    found = {"hook": hooks, "tokens": manifest.get("tokens"), "context": manifest.get("context"),
             "include_bos": manifest.get("include_bos"), "corpus": manifest.get("corpus")}
    for key, value in wanted.items():
        if key == "corpus" and not value:
            continue   # the default corpus: its files are the engine's to name
        if found[key] != value:
            return f"{key} {found[key]!r}, not {value!r}"
    return None


def harvest(out, hook: str, tokens: int, shards: int | None = None, model=None, layout: str = "single",
            keep_parts: bool = False, address=None, progress=None, cpus_per_task: float = 1, max_retries: int = 3,
            **options) -> dict:
    """`lantern harvest` over a Ray cluster: `tokens` rows of `hook` over the corpus into `out`,
    split into `shards` parts (default: as many as an earlier run of it left, else the cluster's
    CPUs) that run as Ray tasks.

    layout="single" (default) merges the parts into the files one unsplit `lantern harvest` writes
    (byte for byte: the same shards and manifest.json); layout="parts" leaves `out/part-I-of-N` as
    N runs of `lantern harvest --shard I/N` leave them (every reader of a harvest takes either).
    Other keyword arguments are the harvest's fields (corpus=[files], context=, batch=,
    byte_tokens=, backend=, ...). Every path must mean the same on every node (a shared
    filesystem). `progress(state)` replaces the progress lines. Returns the merged manifest
    (layout="single") or each part's result (layout="parts")."""
    if layout not in ("single", "parts"):
        raise InvalidArgumentError(f"'layout' must be 'single' or 'parts', not {layout!r}")
    out = Path(out).resolve()
    request = {key: cluster_value(value) for key, value in dict(options, hook=hook, tokens=tokens, model=model).items()
               if value is not None}
    if "shard" in request:
        raise InvalidArgumentError("'shard' is chosen by lantern.distributed: give shards=N instead")
    ray = cluster.connect(address)
    if shards is None:
        shards = _earlier_split(out / STAGING) or _earlier_split(out) or cluster.cluster_cpus()
    shards = int(shards)
    if shards < 1:
        raise InvalidArgumentError(f"'shards' must be at least 1, not {shards}")
    single = layout == "single" and shards > 1
    merged = harvest_merge.read_manifest(out)
    split = sorted(p.name for p in out.glob("part-*-of-*")) if out.is_dir() else []
    if layout == "parts" and merged is not None and shards > 1:
        raise InvalidArgumentError(f"{out} holds an unsplit harvest (manifest.json): parts beside it would be read twice; "
                                   "use another out")
    if layout == "single" and split:
        raise InvalidArgumentError(f"{out} holds the parts of a split harvest ({split[0]}, ...): a merged harvest beside "
                                   "them would be read twice; use another out, or layout='parts'")
    if single and merged is not None:
        if merged.get("workers") != 1:
            raise InvalidArgumentError(f"{out / 'manifest.json'}: holds part {merged.get('worker')} of a split harvest, "
                                       "not a merged one: use another out")
        differs = _settings_differ(merged, request)
        if differs:
            raise InvalidArgumentError(f"{out} holds a harvest with other settings ({differs}): use another out")
        if merged.get("complete"):
            return merged   # finished and recorded: nothing to run again
        raise InvalidArgumentError(f"{out} holds an unfinished unsplit harvest: continue it with `lantern harvest` "
                                   "(or shards=1) or use another out")
    root = out / STAGING if single else out
    board = cluster.new_board()
    report = cluster.Progress(f"harvest {hook}", shards, "tokens", progress)
    task = ray.remote(_harvest_part).options(num_cpus=cpus_per_task, max_retries=max_retries, retry_exceptions=False)
    submissions, results = {}, {}
    for worker in range(shards):
        part = harvest_merge.read_manifest(harvest_merge.part_folder(root, worker, shards))
        if part is not None and part.get("complete"):
            report.skipped += 1   # recorded as finished by an earlier run
            continue
        shard_request = dict(request, shard=f"{worker}/{shards}", out=str(root))
        submissions[task.remote(shard_request, f"{worker}/{shards}", board, os.getcwd())] = worker
    try:
        cluster.run_tasks(submissions, lambda worker, result: results.__setitem__(worker, result), report, board)
    finally:
        ray.kill(board)
    if not single:
        return {"parts": [results.get(w) for w in range(shards)], "progress": report.state}
    merged = harvest_merge.merge(out, shards, int(request.get("batch", 64)), parts_root=root)
    if not keep_parts:
        shutil.rmtree(root)
    return merged


def _earlier_split(folder: Path) -> int | None:
    """N of the parts an earlier run left in `folder` (so that a rerun without shards= continues
    them on a cluster of another size), or None when there are none or several splits."""
    counts = {int(p.name.rsplit("-", 1)[1]) for p in folder.glob("part-*-of-*") if p.name.rsplit("-", 1)[1].isdigit()}
    return counts.pop() if len(counts) == 1 else None


def cluster_value(value):
    """A keyword argument as the job's JSON takes it (paths as strings)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        return [cluster_value(v) for v in value]
    return value
