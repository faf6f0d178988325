"""Shared fixtures: the repository's tiny models, the `lantern` CLI the tests compare against, and
a small safetensors reader (so that the tests need only numpy and pytest)."""
import json
import os
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "Tests" / "Fixtures"
TINY_MODELS = ["gemma2_tiny", "gemma3_tiny", "llama_tiny", "qwen2_tiny", "qwen3_tiny", "mistral_tiny", "olmo2_tiny",
               "gpt2_tiny", "pythia_tiny"]
SAE_DIR = FIXTURES / "sae" / "gemmascope" / "layer_1" / "width_96"


def cli_path() -> Path:
    path = Path(os.environ.get("LANTERN_CLI", ROOT / ".build" / "release" / "lantern"))
    if not path.exists():
        pytest.fail(f"the lantern CLI is not at {path}: build it (make build) or set LANTERN_CLI")
    return path


def run_cli(*args, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(cli_path()), *map(str, args)], capture_output=True, text=True)
    if check and done.returncode != 0:
        pytest.fail(f"lantern {' '.join(map(str, args))} failed: {done.stderr}")
    return done


def cli_json(*args) -> dict:
    return json.loads(run_cli(*args).stdout)


def read_safetensors(path) -> dict:
    """float32 tensors of a safetensors file (the format: u64 header length, JSON header, data)."""
    data = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", f"{name}: {info['dtype']}"
        start, stop = info["data_offsets"]
        out[name] = np.frombuffer(data[8 + length + start:8 + length + stop], dtype=np.float32).reshape(info["shape"])
    return out


def sequences(name: str) -> list:
    return json.loads((FIXTURES / name / "reference.json").read_text())["sequences"]


@pytest.fixture(scope="session")
def lantern():
    import lantern as module
    return module


@pytest.fixture(scope="session")
def models(lantern):
    return {name: lantern.Model.load(str(FIXTURES / name), backend="cpu") for name in TINY_MODELS}


@pytest.fixture(scope="session")
def gemma2(models):
    return models["gemma2_tiny"]


def real_model_or_skip(lantern, name="gemma3-270m"):
    """The cached real model; CI (LANTERN_REQUIRE_MODELS=1) fails instead of skipping."""
    cached = [m["name"] for m in cli_json("models", "--json")["cached"]]
    if name not in cached:
        if os.environ.get("LANTERN_REQUIRE_MODELS") == "1":
            pytest.fail(f"{name} is not cached (lantern models --fetch {name})")
        pytest.skip(f"{name} is not cached (lantern models --fetch {name})")
    return lantern.Model.load(name, backend="cpu")


def torch_or_skip():
    """torch, which torch mode and the TransformerLens notebook need; CI (LANTERN_REQUIRE_MODELS=1)
    installs it and fails instead of skipping."""
    try:
        import torch
        return torch
    except ImportError:
        if os.environ.get("LANTERN_REQUIRE_MODELS") == "1":
            pytest.fail("torch is not installed (pip install torch): torch mode and the notebook test need it")
        pytest.skip("torch is not installed (pip install torch)")
