"""Every analysis from Python in process (`Model.analyze`), byte for byte what the CLI prints with
--json for the same request: the C ABI, the CLI and the server adapt one analysis layer."""
import pytest

from conftest import FIXTURES, SAE_DIR, run_cli

TOKENS = [2, 5, 9, 11, 40]
IDS = ",".join(map(str, TOKENS))

CASES = [
    ("next", {"token_ids": TOKENS, "top": 7}, ["next", "--token-ids", IDS, "--top", "7"]),
    ("lens", {"token_ids": TOKENS, "top_k": 2, "target": 9}, ["lens", "--token-ids", IDS, "--top-k", "2", "--target", "9"]),
    ("attention", {"token_ids": TOKENS, "layers": [3, 1]}, ["attention", "--token-ids", IDS, "--layer", "3,1"]),
    ("generate", {"token_ids": TOKENS, "max_new_tokens": 5, "temperature": 0.7, "top_k": 20, "seed": 11},
     ["generate", "--token-ids", IDS, "--max-new-tokens", "5", "--temperature", "0.7", "--top-k", "20", "--seed", "11"]),
    ("features", {"token_ids": TOKENS, "top": 3}, ["features", "--sae", SAE_DIR, "--token-ids", IDS, "--top", "3"]),
    ("steer", {"token_ids": [2, 5, 9], "features": [{"feature": 3, "strength": 30}, {"feature": 4, "strength": 30}],
               "max_new_tokens": 5, "promoted": 3},
     ["steer", "--sae", SAE_DIR, "--feature", "3,4", "--strength", "30", "--token-ids", "2,5,9", "--max-new-tokens", "5",
      "--promoted", "3"]),
    ("patch sweep", {"token_ids": TOKENS, "corrupted_token_ids": [2, 7, 9, 11, 40], "target": 9, "method": "attribution"},
     ["patch", "sweep", "--token-ids", IDS, "--source-token-ids", "2,7,9,11,40", "--target", "9", "--approx"]),
    ("attribute", {"token_ids": TOKENS, "target": 9}, ["attribute", "--token-ids", IDS, "--target", "9"]),
    ("patch", {"token_ids": TOKENS, "hook": "blocks.2.hook_mlp_out", "mode": "mean", "target": 9},
     ["patch", "--token-ids", IDS, "--hook", "blocks.2.hook_mlp_out", "--mode", "mean", "--target", "9"]),
    ("sae eval", {"texts": [{"token_ids": TOKENS}], "dense_threshold": 0.25},
     ["sae", "eval", "--sae", SAE_DIR, "--token-ids", IDS, "--dense-threshold", "0.25"]),
]


@pytest.mark.parametrize("analysis,request_fields,arguments", CASES, ids=[c[0] for c in CASES])
def test_python_writes_the_clis_bytes(lantern, gemma2, analysis, request_fields, arguments):
    saes = [lantern.SAE.load(SAE_DIR, model=gemma2)] if analysis in ("features", "steer", "sae eval") else []
    got = gemma2.analyze_json(analysis, saes=saes, **request_fields)
    printed = run_cli(*arguments, "--model", gemma2.cfg.source, "--backend", "cpu", "--json").stdout.rstrip("\n")
    assert got == printed


def test_a_graph_is_the_clis_bytes_but_for_its_time(models):
    import re
    model = models["gemma3_tiny"]
    transcoders = FIXTURES / "graphs" / "gemma3_tiny" / "transcoders"
    got = model.analyze_json("graph", transcoders=transcoders, token_ids=[2, 5, 9, 11], batch_size=8)
    printed = run_cli("graph", "--model", model.cfg.source, "--backend", "cpu", "--transcoders", transcoders,
                      "--token-ids", "2,5,9,11", "--batch-size", "8", "--json").stdout.rstrip("\n")
    timeless = lambda text: re.sub(r'"create_time_ms":[0-9]+', '"create_time_ms":0', text)
    assert '"nodes"' in got and timeless(got) == timeless(printed)


def test_bad_requests_name_the_field(lantern, gemma2):
    with pytest.raises(lantern.InvalidArgumentError, match="'topk' is not a field"):
        gemma2.analyze("next", token_ids=[2, 5], topk=3)
    with pytest.raises(lantern.InvalidArgumentError, match="'top' 0 is out of range"):
        gemma2.analyze("next", token_ids=[2, 5], top=0)
    with pytest.raises(lantern.InvalidArgumentError, match="no analysis 'nxt'"):
        gemma2.analyze("nxt", token_ids=[2])
    with pytest.raises(lantern.LanternError, match="no SAE was given"):
        gemma2.analyze("features", token_ids=[2, 5])


def test_progress_is_reported_and_a_cancel_stops(lantern, gemma2):
    seen = []
    result = gemma2.analyze("generate", token_ids=[2, 5], max_new_tokens=4, progress=lambda d, t, label: seen.append((d, t)))
    assert len(result["new_ids"]) == len(seen) and seen[-1][0] == len(result["new_ids"]) and seen[0] == (1, 4)

    def interrupt(done, total, label):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        gemma2.analyze("generate", token_ids=[2, 5], max_new_tokens=8, progress=interrupt)


def test_trace_writes_the_clis_tensors(gemma2, tmp_path):
    from conftest import read_safetensors
    ours, theirs = tmp_path / "ours.safetensors", tmp_path / "cli.safetensors"
    result = gemma2.analyze("trace", token_ids=TOKENS, hooks=["blocks.1.*"], grad_target=9, grad_baseline=11, out=str(ours))
    run_cli("trace", "--model", gemma2.cfg.source, "--backend", "cpu", "--token-ids", IDS, "--hooks", "blocks.1.*",
            "--grad-target", "9", "--grad-baseline", "11", "--out", theirs)
    a, b = read_safetensors(ours), read_safetensors(theirs)
    assert sorted(a) == sorted(b) == sorted(result["tensors"]) and "grad:blocks.1.hook_resid_post" in a
    for name in a:
        assert (a[name] == b[name]).all(), name
