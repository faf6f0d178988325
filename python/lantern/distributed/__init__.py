"""Lantern's long jobs over a Ray cluster (a laptop, Slurm, Kubernetes through KubeRay), each equal
to a single run: `pip install 'lantern[ray]'`.

    import lantern.distributed as ld
    ld.harvest("acts", hook="blocks.6.hook_resid_post", tokens=100_000_000)     # merged: one run's bytes
    ld.graphs("graphs", prompts, transcoders="gemma-scope-2-transcoders")       # one graph per prompt
    ld.features_top("scans", saes=[...], tokens=1_000_000)                      # one scan per SAE
    ld.neurons_top("neurons", layers=range(18))                                 # one scan per layer
    ld.sae_eval("evals", saes=[...], activations="acts")                        # one evaluation per SAE
    ld.transcoder_eval("tc-evals", transcoders=[[...], [...]])                  # one evaluation per set

Each job is cut into shards that run as Ray tasks with the in-process engine. A shard's output is
written atomically and recorded on disk, so running the same call again skips the finished shards
and a worker killed midway is retried by Ray with the same result. Progress shows shards done and
the rate across the cluster (`progress=f` gets each update as a dict instead).

The cluster is the one this process joined (`ray.init(...)`), else `address=` or $RAY_ADDRESS,
else one started on this machine. Every path must mean the same on every node (a shared
filesystem); relative paths are read from the driver's working directory.
"""
from __future__ import annotations

from .._lib import InvalidArgumentError, LanternError
from .cluster import progress_line
from .harvesting import harvest
from .items import ANALYSIS, JOB, run as _run

__all__ = ["LanternError", "InvalidArgumentError", "progress_line", "harvest", "analyze", "jobs", "graphs", "features_top", "neurons_top", "sae_eval", "transcoder_eval"]


def analyze(analysis: str, out, requests, model=None, backend=None, saes=(), tuned=None, transcoders=None, shards=None,
            address=None, progress=None, cpus_per_task: float = 1, max_retries: int = 3, **options) -> list:
    """Analysis `analysis` (as `Model.analyze` runs it) once per request in `requests` (dicts of
    its fields, e.g. {"prompt": ...}; `options` are fields every request shares) on a model that
    each worker loads once and keeps; `saes` are SAE paths. Returns the results in order; they are
    also in out/results.jsonl."""
    common = {"model": model, "backend": backend or "auto", "saes": [str(s) for s in saes], "tuned": tuned,
              "transcoders": transcoders}
    return _run(ANALYSIS, analysis, out, [dict(options, **r) for r in requests], common, shards=shards, address=address,
                progress=progress, cpus_per_task=cpus_per_task, max_retries=max_retries)


def jobs(name: str, out, requests, shards=None, address=None, progress=None, cpus_per_task: float = 1, max_retries: int = 3,
         **common) -> list:
    """Job `name` (as `lantern.cli.job` runs it) once per request in `requests` (dicts of its
    fields; `common` holds the fields they share). Returns the results in order. Each shard is a
    Ray task asking for `cpus_per_task` CPUs, run again up to `max_retries` times when its worker
    dies."""
    return _run(JOB, name, out, list(requests), common, shards=shards, address=address, progress=progress,
                cpus_per_task=cpus_per_task, max_retries=max_retries)


def graphs(out, prompts, transcoders, model=None, backend=None, shards=None, address=None, progress=None, **options) -> list:
    """`lantern graph` for each prompt of `prompts` (strings, or lists of token ids) with the
    transcoders in `transcoders` (folders); `options` are the graph's fields (batch_size=, ...)."""
    requests = [{"token_ids": list(p)} if not isinstance(p, str) else {"prompt": p} for p in prompts]
    return analyze("graph", out, requests, model=model, backend=backend, transcoders=_paths(transcoders), shards=shards,
                   address=address, progress=progress, **options)


def features_top(out, saes, shards=None, address=None, progress=None, **common) -> list:
    """`lantern features top` for each SAE path in `saes` (the same scan settings for each)."""
    return jobs("features top", out, [{"sae": str(s)} for s in saes], shards=shards, address=address, progress=progress,
                **common)


def neurons_top(out, layers, shards=None, address=None, progress=None, **common) -> list:
    """`lantern neurons top` for each layer in `layers`."""
    return jobs("neurons top", out, [{"layer": int(layer)} for layer in layers], shards=shards, address=address,
                progress=progress, **common)


def sae_eval(out, saes, activations, shards=None, address=None, progress=None, **common) -> list:
    """`lantern sae eval --activations` for each SAE path in `saes` over the same harvest."""
    return jobs("sae eval", out, [{"sae": str(s)} for s in saes], activations=activations, shards=shards, address=address,
                progress=progress, **common)


def transcoder_eval(out, transcoders, shards=None, address=None, progress=None, **common) -> list:
    """`lantern transcoder eval` for each transcoder set in `transcoders` (a folder, or a list of
    folders, per evaluation)."""
    requests = [{"transcoders": _paths(t)} for t in transcoders]
    return jobs("transcoder eval", out, requests, shards=shards, address=address, progress=progress, **common)


def _paths(value) -> list:
    import os
    return [os.fspath(value)] if isinstance(value, (str, os.PathLike)) else [os.fspath(v) for v in value]
