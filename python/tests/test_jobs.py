"""Harvesting and training in process (`lantern.harvest`, `lantern.train_sae`, ... through the C
ABI's `lantern_job`): the same shards as the CLI, progress through a callback, and Ctrl-C
stopping a run that `resume=True` then finishes exactly as an uninterrupted one."""
import json
import os
import signal

import pytest

from conftest import FIXTURES, run_cli

MODEL = FIXTURES / "gemma2_tiny"
HOOK = "blocks.1.hook_resid_post"


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("".join(f"Line {i} of a small corpus for the job tests.\n\n" for i in range(40)))
    return path


def folder_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_in_process_harvest_writes_the_clis_bytes(lantern, tmp_path, corpus):
    options = dict(model=MODEL, backend="cpu", corpus=[corpus], byte_tokens=True, context=32, batch=3)
    lantern.harvest(tmp_path / "mine", hook=HOOK, tokens=500, **options)
    run_cli("harvest", "--model", MODEL, "--backend", "cpu", "--corpus", corpus, "--byte-tokens", "--context", "32",
            "--batch", "3", "--hook", HOOK, "--tokens", "500", "--out", tmp_path / "cli")
    mine, cli = folder_bytes(tmp_path / "mine"), folder_bytes(tmp_path / "cli")
    assert len([name for name in mine if name.startswith("shard-")]) == 6
    assert mine.keys() == cli.keys()
    for name in cli:
        assert mine[name] == cli[name], name


def test_in_process_transcoder_harvest_writes_the_clis_bytes(lantern, tmp_path, corpus):
    model = FIXTURES / "gemma3_tiny"
    result = lantern.cli.job("transcoder harvest", out=tmp_path / "mine", model=model, backend="cpu", corpus=[corpus],
                             byte_tokens=True, tokens=200, context=32, layers="1-2")
    assert result["layers"] == [1, 2] and result["rows"] == 200 and len(result["hooks"]) == 4
    run_cli("transcoder", "harvest", "--model", model, "--backend", "cpu", "--corpus", corpus, "--byte-tokens",
            "--tokens", "200", "--context", "32", "--layers", "1-2", "--out", tmp_path / "cli")
    assert folder_bytes(tmp_path / "mine") == folder_bytes(tmp_path / "cli")


def test_a_cancelled_harvest_continues_to_the_same_shards(lantern, tmp_path, corpus):
    options = dict(hook=HOOK, tokens=500, model=MODEL, backend="cpu", corpus=[corpus], byte_tokens=True, context=32, batch=3)

    def ctrl_c(done, total, label):
        if done >= 200:
            os.kill(os.getpid(), signal.SIGINT)   # what Ctrl-C does; Python raises it in this callback

    with pytest.raises(KeyboardInterrupt):
        lantern.harvest(tmp_path / "cut", progress=ctrl_c, **options)
    manifest = json.loads((tmp_path / "cut" / "manifest.json").read_text())
    assert 0 < sum(s["rows"] for s in manifest["shards"]) < 500 and not manifest["complete"]
    result = lantern.cli.job("harvest", out=tmp_path / "cut", **options)
    assert result["complete"] and result["rows"] == 500 and 0 < result["new_rows"] < 500
    lantern.harvest(tmp_path / "whole", **options)
    assert folder_bytes(tmp_path / "cut") == folder_bytes(tmp_path / "whole")


def test_a_cancelled_training_resumes_to_the_same_weights(lantern, tmp_path, corpus):
    acts = lantern.harvest(tmp_path / "acts", hook=HOOK, tokens=600, model=MODEL, backend="cpu", corpus=[corpus],
                           byte_tokens=True, context=32)
    training = dict(model=MODEL, backend="cpu", width=32, k=4, tokens=1500, batch=100, lr=1e-2, checkpoint_every=4)
    lantern.train_sae(acts, tmp_path / "whole", **training)

    seen = []

    def interrupt(done, total, label):
        seen.append((done, total, label))
        if label.startswith("train") and done == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        lantern.train_sae(acts, tmp_path / "cut", progress=interrupt, **training)
    assert seen[0][:2] == (0, 15) and seen[-1][0] == 7 and "loss" in seen[-1][2]
    assert (tmp_path / "cut" / "checkpoint.safetensors").exists()
    assert not (tmp_path / "cut" / "sae_weights.safetensors").exists()
    with pytest.raises(lantern.InvalidArgumentError, match="exists: pass 'resume'"):
        lantern.train_sae(acts, tmp_path / "cut", **training)

    result = lantern.cli.job("sae train", activations=acts, out=tmp_path / "cut", hook=HOOK, resume=True, **training)
    assert (result["resumed_at"], result["step"], result["total_steps"]) == (7, 15, 15)
    assert result["trained_tokens"] == 800
    for name in ("sae_weights.safetensors", "training-log.csv", "checkpoint.safetensors"):
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_notices_reach_standard_error(lantern, tmp_path, corpus, capfd):
    lantern.harvest(tmp_path / "acts", hook=HOOK, tokens=100, model=MODEL, backend="cpu", corpus=[corpus], byte_tokens=True,
                    context=32, progress=lambda *report: None)
    err = capfd.readouterr().err
    assert f"100 rows of {HOOK} (width 64) in 1 shards" in err


def test_bad_requests_name_the_field(lantern, tmp_path, corpus):
    with pytest.raises(lantern.InvalidArgumentError, match="'tokns' is not a field"):
        lantern.harvest(tmp_path / "x", hook=HOOK, tokens=10, tokns=5, model=MODEL)
    with pytest.raises(lantern.InvalidArgumentError, match="'tokens' must be between 1 and"):
        lantern.harvest(tmp_path / "x", hook=HOOK, tokens=0, model=MODEL)
    with pytest.raises(lantern.InvalidArgumentError, match="'k' must be between 1 and 32, not 64"):
        lantern.cli.job("sae train", activations=tmp_path, hook=HOOK, out=tmp_path / "s", width=32, k=64, tokens=10)
    with pytest.raises(lantern.InvalidArgumentError, match="'hook' is required"):
        lantern.cli.job("harvest", out=tmp_path / "x", tokens=10)
    with pytest.raises(lantern.InvalidArgumentError, match="no job 'train'"):
        lantern.cli.job("train")
    with pytest.raises(lantern.InvalidArgumentError, match="'layers': 5-9 is outside 0..<7"):
        lantern.harvest_transcoders(tmp_path / "t", model=FIXTURES / "gemma3_tiny", backend="cpu", corpus=[corpus],
                                    byte_tokens=True, tokens=10, layers="5-9")


def _timeless(text):
    """A result's JSON without the seconds it took (the one field two runs need not share)."""
    import re
    return re.sub(r'"seconds":[0-9.e+-]+', '"seconds":0', text)


def test_evaluations_are_the_clis_bytes(lantern, tmp_path, corpus):
    """sae eval over harvested rows, sae sweep, lens train, lens eval and transcoder eval in process:
    the JSON `lantern ... --json` prints for the same request (the seconds they took aside)."""
    common = dict(model=MODEL, backend="cpu")
    acts = lantern.harvest(tmp_path / "acts", hook=HOOK, tokens=800, corpus=[corpus], byte_tokens=True, context=32, **common)
    ids = tmp_path / "ids.txt"
    ids.write_text("2,100,101,102,103,104\n2,50,60,70\n")

    sweep = dict(activations=acts, widths=[16, 32, 48], k=4, tokens=1000, batch=100, linear_rows=300, corpus=[ids])
    mine = lantern.cli.job_json("sae sweep", out=tmp_path / "sweep", **sweep, **common)
    printed = run_cli("sae", "sweep", "--model", MODEL, "--backend", "cpu", "--activations", acts, "--widths", "16", "32", "48",
                      "--k", "4", "--tokens", "1000", "--batch", "100", "--linear-rows", "300", "--corpus", ids,
                      "--out", tmp_path / "sweep", "--json").stdout.rstrip("\n")
    assert mine == printed and '"fit"' in mine
    assert lantern.cli.sweep_saes(out=tmp_path / "sweep", **sweep, **common) == json.loads(mine)

    sae = tmp_path / "sweep" / "width-32"
    mine = lantern.cli.job_json("sae eval", sae=sae, activations=acts, rows=500, backend="cpu")
    printed = run_cli("sae", "eval", "--model", MODEL, "--backend", "cpu", "--sae", sae, "--activations", acts, "--rows", "500",
                      "--json").stdout.rstrip("\n")
    assert mine == printed and json.loads(mine)["rows"] == 500

    lantern.cli.train_lens(tmp_path / "lens", tokens=300, corpus=[corpus], byte_tokens=True, context=32, **common)
    run_cli("lens", "train", "--model", MODEL, "--backend", "cpu", "--corpus", corpus, "--byte-tokens", "--tokens", "300",
            "--context", "32", "--out", tmp_path / "cli-lens")
    assert (tmp_path / "lens" / "params.safetensors").read_bytes() == (tmp_path / "cli-lens" / "params.safetensors").read_bytes()
    mine = lantern.cli.job_json("lens eval", tuned=tmp_path / "lens", tokens=200, corpus=[corpus], byte_tokens=True, context=32,
                                **common)
    printed = run_cli("lens", "eval", "--model", MODEL, "--backend", "cpu", "--corpus", corpus, "--byte-tokens", "--tokens", "200",
                      "--context", "32", "--tuned", tmp_path / "lens", "--json").stdout.rstrip("\n")
    assert mine == printed and json.loads(mine)["tokens"] == 200

    model = FIXTURES / "gemma3_tiny"
    lantern.harvest_transcoders(tmp_path / "tc-acts", model=model, backend="cpu", corpus=[corpus], byte_tokens=True, tokens=300,
                                context=32, layers="1-2")
    lantern.train_transcoders(tmp_path / "tc-acts", tmp_path / "tc", model=model, backend="cpu", width=32, k=4, tokens=600, batch=100)
    options = dict(corpus=[corpus], byte_tokens=True, tokens=62, context=32, each=True)
    mine = lantern.cli.job_json("transcoder eval", transcoders=[tmp_path / "tc"], model=model, backend="cpu", **options)
    printed = run_cli("transcoder", "eval", "--model", model, "--backend", "cpu", "--transcoders", tmp_path / "tc", "--corpus", corpus,
                      "--byte-tokens", "--tokens", "62", "--context", "32", "--each", "--json").stdout.rstrip("\n")
    assert mine == printed and [layer["layer"] for layer in json.loads(mine)["layers"]] == [1, 2]


def test_superposition_is_the_clis_bytes(lantern):
    mine = lantern.cli.job_json("superposition", sparsity=[0, 0.9], steps=300, batch=256, restarts=2)
    printed = run_cli("superposition", "--sparsity", "0,0.9", "--steps", "300", "--batch", "256", "--restarts", "2",
                      "--json").stdout.rstrip("\n")
    assert _timeless(mine) == _timeless(printed)
    assert [m["sparsity"] for m in lantern.cli.superposition([0, 0.9], steps=300, batch=256, restarts=2)["models"]] == [0, 0.9]
    with pytest.raises(lantern.InvalidArgumentError, match="'sparsity' values must be in \\[0, 1\\)"):
        lantern.cli.superposition(1.0)
    with pytest.raises(KeyboardInterrupt):
        def interrupt(done, total, label):
            raise KeyboardInterrupt
        lantern.cli.superposition(0.5, steps=2000, progress=interrupt)


def test_top_units_are_the_clis_bytes(lantern, tmp_path, corpus):
    from conftest import SAE_DIR
    scan = dict(corpus=[corpus], byte_tokens=True, context=32, tokens=128, examples=3)
    flags = ["--model", MODEL, "--backend", "cpu", "--corpus", corpus, "--byte-tokens", "--context", "32", "--tokens", "128",
             "--examples", "3", "--json"]
    mine = lantern.cli.job_json("features top", sae=SAE_DIR, by="max", count=4, max_density=0.5, model=MODEL, backend="cpu", **scan)
    printed = run_cli("features", "top", "--sae", SAE_DIR, "--by", "max", "--count", "4", "--max-density", "0.5", *flags).stdout
    assert mine == printed.rstrip("\n") and len(json.loads(mine)["features"]) == 4
    mine = lantern.cli.job_json("neurons top", layer=2, sae=SAE_DIR, by="polysemantic", max_density=0.5, count=3, model=MODEL,
                                backend="cpu", **scan)
    printed = run_cli("neurons", "top", "--layer", "2", "--sae", SAE_DIR, "--by", "polysemantic", "--max-density", "0.5",
                      "--count", "3", *flags).stdout
    assert mine == printed.rstrip("\n")
    neurons = lantern.cli.neurons_top(2, sae=SAE_DIR, by="polysemantic", max_density=0.5, count=3, model=MODEL, backend="cpu",
                                      **scan)["neurons"]
    assert [n["neuron"] for n in neurons] == [n["neuron"] for n in json.loads(mine)["neurons"]]
    assert all("polysemanticity" in n for n in neurons)
    with pytest.raises(lantern.InvalidArgumentError, match="'by' polysemantic needs 'sae'"):
        lantern.cli.neurons_top(2, by="polysemantic", model=MODEL)
    with pytest.raises(lantern.InvalidArgumentError, match="'hook' 'blocks.1.hook_resid_pots' is not a hook"):
        lantern.cli.features_top(SAE_DIR, hook="blocks.1.hook_resid_pots", model=MODEL, backend="cpu", **scan)
