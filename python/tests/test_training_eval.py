"""Evaluation and training from Python: `SAE.evaluate` equals `lantern sae eval --json`, and the
harvest / train entry points run the CLI's own code (a tiny SAE trained on the fixture model)."""
import json

import numpy as np
import pytest

from conftest import FIXTURES, SAE_DIR, run_cli

TOKENS = [2, 173, 54, 249, 30, 99, 17]


def test_sae_evaluate_equals_the_cli(lantern, gemma2):
    sae = lantern.SAE.load(SAE_DIR, model=gemma2)
    mine = sae.evaluate(gemma2, TOKENS)
    cli = json.loads(run_cli("sae", "eval", "--model", gemma2.cfg.source, "--backend", "cpu", "--sae", SAE_DIR,
                             "--token-ids", ",".join(map(str, TOKENS)), "--json").stdout)
    assert mine["hook"] == cli["hook"]
    for key, value in cli["overall"].items():
        assert mine["overall"][key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert [t["id"] for t in mine["texts"][0]] == [t["id"] for t in cli["texts"][0]]
    for a, b in zip(mine["texts"][0], cli["texts"][0]):
        assert a["explained_variance"] == pytest.approx(b["explained_variance"], rel=1e-9, abs=1e-12)


def test_sae_evaluate_refuses_nothing_to_evaluate(lantern, gemma2):
    sae = lantern.SAE.load(SAE_DIR, model=gemma2)
    with pytest.raises(lantern.InvalidArgumentError, match="no tokens to evaluate"):
        sae.evaluate(gemma2, [2])   # only BOS, which is left out


def test_harvest_and_train_run_the_cli(lantern, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"Sentence {i} of a small corpus for the training test.\n\n" for i in range(40)))
    model = FIXTURES / "gemma2_tiny"
    acts = lantern.harvest(tmp_path / "acts", hook="blocks.1.hook_resid_post", tokens=600, model=model,
                           corpus=[corpus], byte_tokens=True, context=32)
    manifest = json.loads((tmp_path / "acts" / "manifest.json").read_text())
    assert sum(s["rows"] for s in manifest["shards"]) == 600 and manifest["complete"]
    sae = lantern.train_sae(acts, tmp_path / "sae", model=model, width=32, k=4, tokens=1200, batch=100, lr=1e-2)
    assert (sae.d_in, sae.d_sae) == (64, 32)
    with pytest.raises(lantern.LanternError, match="'width' 48 \\(checkpoint: 32\\)"):
        lantern.train_sae(acts, tmp_path / "sae", model=model, width=48, k=4, tokens=1200, batch=100, lr=1e-2, resume=True)
    # End-to-end fine-tuning of that SAE, through the same job as `lantern sae finetune`.
    tuned = lantern.finetune_sae(tmp_path / "sae", tmp_path / "tuned", tokens=124, model=model, corpus=[corpus], byte_tokens=True,
                                 context=32, batch=2, lr=1e-3)
    assert (tuned.d_in, tuned.d_sae) == (64, 32)
    record = json.loads((tmp_path / "tuned" / "cfg.json").read_text())["lantern_training"]["kl_finetune"]
    assert (record["tokens"], record["steps"]) == (124, 2)
    with pytest.raises(lantern.LanternError, match="checkpoint.safetensors exists: pass 'resume'"):
        lantern.finetune_sae(tmp_path / "sae", tmp_path / "tuned", tokens=124, model=model, corpus=[corpus], byte_tokens=True, context=32)


def test_sae_evaluate_is_the_sae_eval_analysis(lantern, gemma2, tmp_path):
    """`SAE.evaluate` runs the catalog's "sae eval": the same object as `analyze`, and the bytes of
    the CLI's --corpus over the same texts (one text per line of ids for a model without a tokenizer)."""
    sae = lantern.SAE.load(SAE_DIR, model=gemma2)
    texts = [TOKENS, [2, 5, 9, 11]]
    mine = sae.evaluate(gemma2, texts, dense_threshold=0.2)
    assert [len(t) for t in mine["texts"]] == [len(TOKENS) - 1, 3], "BOS left out"
    request = {"texts": [{"token_ids": t} for t in texts], "dense_threshold": 0.2}
    assert mine == gemma2.analyze("sae eval", saes=[sae], **request)
    corpus = tmp_path / "ids.txt"
    corpus.write_text("".join(",".join(map(str, t)) + "\n" for t in texts))
    printed = run_cli("sae", "eval", "--model", gemma2.cfg.source, "--backend", "cpu", "--sae", SAE_DIR, "--corpus", corpus,
                      "--dense-threshold", "0.2", "--json").stdout.rstrip("\n")
    assert gemma2.analyze_json("sae eval", saes=[sae], **request) == printed
    with pytest.raises(lantern.InvalidArgumentError, match="give 'prompt' or 'token_ids' \\(one text\\) or 'texts', not both"):
        gemma2.analyze("sae eval", saes=[sae], token_ids=TOKENS, texts=[{"token_ids": TOKENS}])
