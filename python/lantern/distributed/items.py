"""Many analyses or jobs over a Ray cluster: a list of requests (a graph per prompt, a scan per SAE
or layer, an evaluation per SAE or transcoder set) cut into shards of consecutive requests, each
shard one Ray task. Each request's result is the JSON text the engine returns for it alone (the
bytes `lantern <name> --json` prints), so the distributed run and a single run give the same JSON.

Analyses run on a model loaded once per worker process and kept between tasks (with its SAEs);
jobs (features top, neurons top, sae eval, transcoder eval) load their own, as `lantern.cli.job`
always does.

On disk, in `out`: request.json (what the run is: refused if a rerun asks for something else),
shards/shard-I-of-N.jsonl (a finished shard's results, one line per request, written under a
temporary name and renamed: a shard file that exists is finished, and a rerun skips it), and,
once every shard is there, results.jsonl (every result in request order) and index.json.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .._lib import InvalidArgumentError
from . import cluster
from .harvesting import cluster_value

ANALYSIS, JOB = "analysis", "job"

# Models (and SAEs) this worker process has loaded, by what they were loaded from: kept between
# tasks, so a worker loads each model once however many shards it runs.
_loaded = {}


def _model(model, backend):
    from ..model import Model
    key = ("model", model, backend)
    if key not in _loaded:
        _loaded[key] = Model.load(model, backend=backend)
    return _loaded[key]


def _sae(path, model, model_key):
    from ..sae import SAE
    key = ("sae", path, model_key)
    if key not in _loaded:
        _loaded[key] = SAE.load(path, model=model)
    return _loaded[key]


def _run_shard(kind: str, name: str, requests: list, common: dict, key: str, board, cwd: str) -> list:
    """Runs on a worker: the shard's requests in order, each result as the engine's JSON text."""
    from .. import cli
    if os.path.isdir(cwd):
        os.chdir(cwd)
    report = cluster.Reporter(board, key)
    report(0, len(requests), tokens=0)
    texts, tokens = [], 0
    for request in requests:
        if kind == ANALYSIS:
            model = _model(common.get("model"), common.get("backend", "auto"))
            saes = [_sae(path, model, (common.get("model"), common.get("backend"))) for path in common.get("saes", [])]
            texts.append(model.analyze_json(name, saes=saes, tuned=common.get("tuned"), transcoders=common.get("transcoders"),
                                            **request))
        else:
            texts.append(cli.job_json(name, progress=lambda *_: None, **dict(common, **request)))
        tokens += tokens_in(request, texts[-1])
        report(len(texts), len(requests), tokens=tokens)
    report.finish()
    return texts


def tokens_in(request: dict, text: str) -> int:
    """The tokens a request ran over, for the progress's rate: its token ids, or what its result
    says it read (a scan's tokens, an evaluation's rows, a graph's prompt tokens); 0 if neither."""
    if isinstance(request.get("token_ids"), list):
        return len(request["token_ids"])
    try:
        result = json.loads(text)
    except ValueError:
        return 0
    if not isinstance(result, dict):
        return 0
    metadata = result.get("metadata") if isinstance(result.get("metadata"), dict) else {}
    for value in (result.get("tokens"), result.get("rows"), metadata.get("prompt_tokens")):
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            return value
        if isinstance(value, list):
            return len(value)
    return 0


def _shard_bounds(count: int, shards: int) -> list:
    """Consecutive requests per shard, as even as can be: [(first, stop), ...]."""
    return [(count * i // shards, count * (i + 1) // shards) for i in range(shards)]


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def run(kind: str, name: str, out, requests, common: dict, shards=None, address=None, progress=None,
        cpus_per_task: float = 1, max_retries: int = 3) -> list:
    """Runs analysis or job `name` once per request of `requests` (dicts of the request's fields;
    `common` holds the fields they share), spread over the cluster; returns the results (dicts)
    in request order and leaves them in out/results.jsonl."""
    requests = [{k: cluster_value(v) for k, v in r.items() if v is not None} for r in requests]
    common = {k: cluster_value(v) for k, v in common.items() if v is not None}
    if not requests:
        raise InvalidArgumentError("'requests' is empty: give at least one request to run")
    out = Path(out).resolve()
    ray = cluster.connect(address)
    record = out / "request.json"
    earlier = None
    if record.exists():
        try:
            earlier = json.loads(record.read_text())
        except ValueError as error:
            raise InvalidArgumentError(f"{record}: not JSON ({error}): use another out") from None
    # A rerun without shards= continues the earlier split, whatever the cluster's size now.
    if shards is None:
        shards = (earlier or {}).get("shards") or cluster.cluster_cpus()
    shards = int(shards)
    if shards < 1:
        raise InvalidArgumentError(f"'shards' must be at least 1, not {shards}")
    shards = min(shards, len(requests))   # a shard holds one request at least
    described = {"kind": kind, "name": name, "common": common, "requests": requests, "shards": shards}
    (out / "shards").mkdir(parents=True, exist_ok=True)
    if earlier is not None:
        if earlier != described:
            changed = next(k for k in described if earlier.get(k) != described[k])
            raise InvalidArgumentError(f"{out} holds a run with other '{changed}': use another out")
    else:
        _write_atomically(record, json.dumps(described, indent=1, sort_keys=True) + "\n")

    bounds = _shard_bounds(len(requests), shards)
    files = [out / "shards" / f"shard-{i:05d}-of-{shards:05d}.jsonl" for i in range(shards)]
    board = cluster.new_board()
    report = cluster.Progress(name, shards, "requests", progress)
    task = ray.remote(_run_shard).options(num_cpus=cpus_per_task, max_retries=max_retries, retry_exceptions=False)
    submissions = {}
    for i, (first, stop) in enumerate(bounds):
        if files[i].exists():
            report.skipped += 1   # recorded as finished by an earlier run
            continue
        submissions[task.remote(kind, name, requests[first:stop], common, f"{i}/{shards}", board, os.getcwd())] = i

    def record_shard(i, texts):
        if len(texts) != bounds[i][1] - bounds[i][0] or any("\n" in t for t in texts):
            raise InvalidArgumentError(f"shard {i}/{shards}: {len(texts)} results for {bounds[i][1] - bounds[i][0]} requests")
        _write_atomically(files[i], "".join(t + "\n" for t in texts))

    try:
        cluster.run_tasks(submissions, record_shard, report, board)
    finally:
        ray.kill(board)
    lines = []
    for path in files:
        lines += path.read_text().splitlines()
    _write_atomically(out / "results.jsonl", "".join(line + "\n" for line in lines))
    index = {"name": name, "requests": len(requests), "complete": True,
             "shards": [{"file": f"shards/{path.name}", "first": first, "count": stop - first}
                        for path, (first, stop) in zip(files, bounds)]}
    _write_atomically(out / "index.json", json.dumps(index, indent=1) + "\n")
    return [json.loads(line) for line in lines]
