"""lantern.distributed on a local Ray cluster (a head and two worker processes on this machine): each
job split into shards equals the single run — the merged harvest byte for byte, the graphs, scans
and evaluations JSON for JSON — a rerun skips what is recorded as finished, and a worker killed
midway is retried by Ray without changing the result."""
import json
import os
import re
import signal
import time

import pytest

import lantern

from conftest import FIXTURES, SAE_DIR, run_cli

MODEL = FIXTURES / "gemma2_tiny"
HOOK = "blocks.1.hook_resid_post"


@pytest.fixture(scope="module")
def ray_cluster():
    try:
        import ray
    except ImportError:
        pytest.fail("ray is not installed (pip install 'lantern[ray]'): the distributed tests need it")
    # Two CPUs: the head runs two worker processes at a time, as two machines would.
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def distributed(ray_cluster):
    import lantern.distributed
    return lantern.distributed


def write_corpus(folder, lines):
    path = folder / "corpus.txt"
    path.write_text("".join(f"Paragraph {i}: the {i % 7}th of many lines of a corpus for the distributed tests.\n\n"
                            for i in range(lines)))
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus"), 2500)


@pytest.fixture(scope="module")
def long_corpus(tmp_path_factory):
    # 2.4 MB: room for the kill test's harvest however fast the machine.
    return write_corpus(tmp_path_factory.mktemp("long-corpus"), 30000)


def folder_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_merged_harvest_is_the_single_runs_bytes(distributed, tmp_path, corpus):
    options = dict(model=MODEL, backend="cpu", corpus=[corpus], byte_tokens=True, context=32, batch=5, hook=HOOK, tokens=4000)
    merged = distributed.harvest(tmp_path / "merged", shards=3, progress=lambda state: None, **options)
    run_cli("harvest", "--model", MODEL, "--backend", "cpu", "--corpus", corpus, "--byte-tokens", "--context", "32",
            "--batch", "5", "--hook", HOOK, "--tokens", "4000", "--out", tmp_path / "single")
    single = folder_bytes(tmp_path / "single")
    assert merged["complete"] and merged["workers"] == 1 and sum(s["rows"] for s in merged["shards"]) == 4000
    assert len([name for name in single if name.startswith("shard-")]) == 26
    assert sorted(p.name for p in (tmp_path / "merged").iterdir()) == sorted(single)   # the parts are gone
    assert folder_bytes(tmp_path / "merged") == single

    # layout="parts": the folders `lantern harvest --shard I/N` writes, file for file.
    distributed.harvest(tmp_path / "parts", shards=2, layout="parts", progress=lambda state: None, **options)
    for worker in range(2):
        run_cli("harvest", "--model", MODEL, "--backend", "cpu", "--corpus", corpus, "--byte-tokens", "--context", "32",
                "--batch", "5", "--hook", HOOK, "--tokens", "4000", "--shard", f"{worker}/2", "--out", tmp_path / "cli-parts")
        name = f"part-{worker}-of-2"
        assert folder_bytes(tmp_path / "parts" / name) == folder_bytes(tmp_path / "cli-parts" / name)


def test_more_shards_than_contexts_still_merge_to_the_single_run(distributed, tmp_path, corpus):
    # 100 tokens are 4 contexts of 31 rows: parts 4 and 5 of 6 have nothing to do.
    distributed.harvest(tmp_path / "few", shards=6, hook=HOOK, tokens=100, model=MODEL, backend="cpu", corpus=[corpus],
                        byte_tokens=True, context=32, progress=lambda state: None)
    run_cli("harvest", "--model", MODEL, "--backend", "cpu", "--corpus", corpus, "--byte-tokens", "--context", "32",
            "--hook", HOOK, "--tokens", "100", "--out", tmp_path / "single")
    assert folder_bytes(tmp_path / "few") == folder_bytes(tmp_path / "single")
    # A merged harvest and parts in one folder would be read twice: refused both ways.
    with pytest.raises(distributed.InvalidArgumentError, match="holds an unsplit harvest"):
        distributed.harvest(tmp_path / "few", shards=2, layout="parts", hook=HOOK, tokens=100, model=MODEL)
    run_cli("harvest", "--model", MODEL, "--backend", "cpu", "--corpus", corpus, "--byte-tokens", "--context", "32",
            "--hook", HOOK, "--tokens", "100", "--shard", "0/2", "--out", tmp_path / "parts")
    with pytest.raises(distributed.InvalidArgumentError, match="holds the parts of a split harvest \\(part-0-of-2"):
        distributed.harvest(tmp_path / "parts", shards=2, hook=HOOK, tokens=100, model=MODEL)


def test_a_rerun_skips_finished_shards(distributed, tmp_path, corpus):
    options = dict(model=MODEL, backend="cpu", corpus=[corpus], byte_tokens=True, context=32, hook=HOOK, tokens=3000)
    # Part 0 of 3 already finished (by the CLI, as on another machine): only parts 1 and 2 run, and
    # without shards= the split is the one found (3, on a cluster of 2 CPUs).
    run_cli("harvest", "--model", MODEL, "--backend", "cpu", "--corpus", corpus, "--byte-tokens", "--context", "32",
            "--hook", HOOK, "--tokens", "3000", "--shard", "0/3", "--out", tmp_path / "out" / ".parts")
    states = []
    distributed.harvest(tmp_path / "out", progress=states.append, **options)
    assert sorted(states[-1]["workers"]) == ["1/3", "2/3"] and states[-1]["finished"] == 3
    assert "3/3 shards done" in distributed.progress_line(states[-1])
    before = folder_bytes(tmp_path / "out")
    again = []
    assert distributed.harvest(tmp_path / "out", shards=3, progress=again.append, **options)["complete"]
    assert again == [] and folder_bytes(tmp_path / "out") == before   # recorded as finished: nothing ran
    with pytest.raises(distributed.InvalidArgumentError, match="holds a harvest with other settings \\(tokens 3000, not 2000\\)"):
        distributed.harvest(tmp_path / "out", **dict(options, tokens=2000))

    # Requests: a shard whose file is there is not run again; a rerun with other requests is refused.
    requests = [{"token_ids": [2, 5 + i, 9, 11]} for i in range(4)]
    first = distributed.analyze("next", tmp_path / "next", requests, model=MODEL, backend="cpu", shards=2, progress=states.append)
    (tmp_path / "next" / "shards" / "shard-00001-of-00002.jsonl").unlink()
    (tmp_path / "next" / "results.jsonl").unlink()
    rerun = []
    # No shards=: the rerun continues the earlier split (two shards), whatever the cluster's size.
    assert distributed.analyze("next", tmp_path / "next", requests, model=MODEL, backend="cpu", progress=rerun.append) == first
    assert list(rerun[-1]["workers"]) == ["1/2"]
    with pytest.raises(distributed.InvalidArgumentError, match="holds a run with other 'requests'"):
        distributed.analyze("next", tmp_path / "next", requests[:3], model=MODEL, backend="cpu", shards=2)


def test_a_killed_worker_is_retried_and_the_harvest_unchanged(lantern, distributed, tmp_path, long_corpus):
    corpus = long_corpus
    options = dict(model=MODEL, backend="cpu", corpus=[corpus], byte_tokens=True, context=32, batch=16, hook=HOOK)
    # Long enough that each part runs for seconds on this machine, so that the kill lands mid-part:
    # the tokens are sized from this machine's rate.
    start = time.perf_counter()
    lantern.harvest(tmp_path / "rate", tokens=20_000, progress=lambda *report: None, **options)
    rate = 20_000 / (time.perf_counter() - start)
    tokens = int(min(max(rate * 2.5, 100_000), 2_000_000)) // 1000 * 1000
    options["tokens"] = tokens
    killed = []

    def kill_one_mid_shard(state):
        for key, shard in state["workers"].items():
            if not killed and shard.get("running") and 0 < shard["done"] < shard["total"] // 2:
                os.kill(shard["pid"], signal.SIGKILL)
                killed.append(key)

    states = []
    distributed.harvest(tmp_path / "killed", shards=2, progress=lambda s: (states.append(s), kill_one_mid_shard(s)), **options)
    assert killed, "no shard was seen running: the harvest was too short to kill a worker in"
    assert states[-1]["workers"][killed[0]]["starts"] >= 2   # Ray ran the killed shard again
    assert states[-1]["tokens_per_second"] > 0 and states[-1]["done"] == states[-1]["tokens"] == tokens
    run_cli("harvest", "--model", MODEL, "--backend", "cpu", "--corpus", corpus, "--byte-tokens", "--context", "32",
            "--batch", "16", "--hook", HOOK, "--tokens", tokens, "--out", tmp_path / "single")
    assert folder_bytes(tmp_path / "killed") == folder_bytes(tmp_path / "single")


def test_graphs_are_the_single_runs_json(distributed, models, tmp_path):
    model = models["gemma3_tiny"]
    transcoders = FIXTURES / "graphs" / "gemma3_tiny" / "transcoders"
    prompts = [[2, 5, 9, 11], [2, 7, 3], [2, 11, 13, 17, 19], [2, 4]]
    got = distributed.graphs(tmp_path / "graphs", prompts, transcoders, model=model.cfg.source, backend="cpu", shards=2,
                             batch_size=8, progress=lambda state: None)
    timeless = lambda text: re.sub(r'"create_time_ms":[0-9]+', '"create_time_ms":0', text)
    lines = (tmp_path / "graphs" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 4 and [json.loads(line) for line in lines] == got
    for prompt, line in zip(prompts, lines):
        single = model.analyze_json("graph", transcoders=transcoders, token_ids=prompt, batch_size=8)
        assert timeless(line) == timeless(single)
    index = json.loads((tmp_path / "graphs" / "index.json").read_text())
    assert index["complete"] and [s["count"] for s in index["shards"]] == [2, 2]


def test_a_killed_worker_is_retried_and_the_graphs_unchanged(distributed, models, tmp_path):
    """The requests' path: the killed shard runs again on a fresh worker (its model loaded anew), and
    only then is its file written."""
    model = models["gemma3_tiny"]
    transcoders = FIXTURES / "graphs" / "gemma3_tiny" / "transcoders"
    timeless = lambda text: re.sub(r'"create_time_ms":[0-9]+', '"create_time_ms":0', text)
    single = lambda prompt: timeless(model.analyze_json("graph", transcoders=transcoders, token_ids=prompt, batch_size=8))
    prompts = [[2, 3 + i % 40, 5 + i % 17, 7 + i % 29] for i in range(400)]
    # Enough prompts that each shard runs for seconds on this machine, so that the kill lands mid-shard.
    start = time.perf_counter()
    expected = [single(p) for p in prompts[:6]]
    count = int(min(max(4.0 / ((time.perf_counter() - start) / 6), 12), len(prompts)))
    prompts = prompts[:count]
    killed = []

    def kill_one_mid_shard(state):
        for key, shard in state["workers"].items():
            if not killed and shard.get("running") and 0 < shard["done"] < shard["total"] // 2:
                os.kill(shard["pid"], signal.SIGKILL)
                killed.append(key)

    states = []
    distributed.graphs(tmp_path / "graphs", prompts, transcoders, model=model.cfg.source, backend="cpu", shards=2,
                       batch_size=8, progress=lambda s: (states.append(s), kill_one_mid_shard(s)))
    assert killed, "no shard was seen running: too few prompts to kill a worker in"
    assert states[-1]["workers"][killed[0]]["starts"] >= 2 and states[-1]["done"] == count
    assert states[-1]["tokens"] == 4 * count and states[-1]["tokens_per_second"] > 0
    assert re.fullmatch(rf"graph: 2/2 shards done, 0 running; {count}/{count} requests \({4 * count} tokens\), "
                        r"[0-9]+ tokens/s across the cluster", distributed.progress_line(states[-1]))
    lines = (tmp_path / "graphs" / "results.jsonl").read_text().splitlines()
    expected += [single(p) for p in prompts[6:]]
    assert [timeless(line) for line in lines] == expected


def test_scans_and_evaluations_are_the_single_runs_json(distributed, lantern, tmp_path, corpus):
    common = dict(model=MODEL, backend="cpu")
    scan = dict(corpus=[corpus], byte_tokens=True, context=32, tokens=128, examples=3, **common)
    quiet = dict(progress=lambda state: None, shards=2)

    requests = [{"sae": SAE_DIR, "by": by, "count": 4} for by in ("density", "max", "mean")]
    states = []
    got = distributed.jobs("features top", tmp_path / "features", requests, **dict(quiet, progress=states.append), **scan)
    assert states[-1]["tokens"] == sum(result["tokens"] for result in got) > 0   # the tokens each scan read
    lines = (tmp_path / "features" / "results.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == got
    assert lines == [lantern.cli.job_json("features top", **r, **scan) for r in requests]

    lines_of = lambda name: (tmp_path / name / "results.jsonl").read_text().splitlines()
    distributed.neurons_top(tmp_path / "neurons", layers=[0, 1, 2], count=3, **quiet, **scan)
    assert lines_of("neurons") == [lantern.cli.job_json("neurons top", layer=layer, count=3, **scan) for layer in (0, 1, 2)]

    acts = lantern.harvest(tmp_path / "acts", hook=HOOK, tokens=600, corpus=[corpus], byte_tokens=True, context=32,
                           progress=lambda *report: None, **common)
    distributed.jobs("sae eval", tmp_path / "sae-eval", [{"rows": 300}, {"rows": 600}], sae=SAE_DIR, activations=acts,
                     backend="cpu", **quiet)
    assert lines_of("sae-eval") == [lantern.cli.job_json("sae eval", sae=SAE_DIR, activations=acts, rows=rows, backend="cpu")
                                    for rows in (300, 600)]

    tiny3 = FIXTURES / "gemma3_tiny"
    layers = sorted((FIXTURES / "graphs" / "gemma3_tiny" / "transcoders").iterdir())[1:3]
    options = dict(corpus=[corpus], byte_tokens=True, tokens=62, context=32, model=tiny3, backend="cpu")
    distributed.transcoder_eval(tmp_path / "tc-eval", [[layers[0]], [layers[1]], layers], **quiet, **options)
    assert lines_of("tc-eval") == [lantern.cli.job_json("transcoder eval", transcoders=t, **options)
                                   for t in ([layers[0]], [layers[1]], layers)]


def test_failures_are_one_line_naming_the_field(distributed, tmp_path, corpus):
    with pytest.raises(distributed.InvalidArgumentError, match="'hook' 'blocks.9.hook_resid_post' is not a hook|not a hook of this model"):
        distributed.harvest(tmp_path / "bad", shards=2, hook="blocks.9.hook_resid_post", tokens=100, model=MODEL,
                            backend="cpu", corpus=[corpus], byte_tokens=True, context=32, progress=lambda state: None)
    with pytest.raises(distributed.InvalidArgumentError, match="'shard' is chosen by lantern.distributed"):
        distributed.harvest(tmp_path / "bad", shard="0/2", hook=HOOK, tokens=100, model=MODEL)
    with pytest.raises(distributed.InvalidArgumentError, match="'layout' must be 'single' or 'parts'"):
        distributed.harvest(tmp_path / "bad", layout="merged", hook=HOOK, tokens=100, model=MODEL)
    with pytest.raises(distributed.InvalidArgumentError, match="'shards' must be at least 1, not 0"):
        distributed.analyze("next", tmp_path / "bad-shards", [{"token_ids": [2, 5]}], model=MODEL, shards=0)
    with pytest.raises(distributed.InvalidArgumentError, match="'topp' is not a field"):
        distributed.analyze("next", tmp_path / "bad-next", [{"token_ids": [2, 5]}], topp=3, model=MODEL, backend="cpu",
                            progress=lambda state: None)


def test_without_ray_the_error_says_how_to_install_it(tmp_path):
    import subprocess
    import sys
    code = ("import sys; sys.modules['ray'] = None\n"   # as if Ray were not installed
            "import lantern.distributed as ld\n"
            "try:\n    ld.harvest('out', hook='blocks.1.hook_resid_post', tokens=10)\n"
            "except ImportError as error:\n    print(error)\n")
    # The child finds this same package (installed, or on a relative PYTHONPATH from elsewhere).
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(lantern.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.stdout.strip() == "lantern.distributed needs Ray: pip install 'lantern[ray]' (or pip install ray)", done.stderr


def test_the_merge_refuses_parts_that_are_not_one_harvest(tmp_path, corpus):
    """The merge alone (no Ray): parts of other harvests, an unfinished part, or files the engine
    would write differently are refused in one line instead of merged into other bytes."""
    from lantern.distributed import harvest_merge
    for worker in range(2):
        run_cli("harvest", "--model", MODEL, "--backend", "cpu", "--corpus", corpus, "--byte-tokens", "--context", "32",
                "--batch", "4", "--hook", HOOK, "--tokens", "400", "--shard", f"{worker}/2", "--out", tmp_path / "parts")
    part = tmp_path / "parts" / "part-1-of-2" / "manifest.json"
    original = part.read_bytes()
    assert harvest_merge.manifest_bytes(json.loads(original)) == original   # the engine's own encoding

    edited = json.loads(original)
    edited["model"] = "another-model"
    part.write_bytes(harvest_merge.manifest_bytes(edited))
    with pytest.raises(harvest_merge.BadFileError, match="'model' is 'another-model' but part-0-of-2 has .*not one harvest"):
        harvest_merge.merge(tmp_path / "merged", 2, 4, parts_root=tmp_path / "parts")

    edited = json.loads(original)
    edited["complete"] = False
    part.write_bytes(harvest_merge.manifest_bytes(edited))
    with pytest.raises(harvest_merge.InvalidArgumentError, match="part 1 of 2 is not complete"):
        harvest_merge.merge(tmp_path / "merged", 2, 4, parts_root=tmp_path / "parts")

    part.write_bytes(original)
    first = tmp_path / "parts" / "part-0-of-2" / "manifest.json"
    first.write_text(json.dumps(json.loads(first.read_text()), indent=4))   # the same manifest, other bytes
    with pytest.raises(harvest_merge.BadFileError, match="writes manifests differently"):
        harvest_merge.merge(tmp_path / "merged", 2, 4, parts_root=tmp_path / "parts")
    assert not (tmp_path / "merged" / "manifest.json").exists()
