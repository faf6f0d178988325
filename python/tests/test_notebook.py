"""The TransformerLens-style notebook in python/examples runs to the end on Lantern, with its checks."""
import os
import subprocess
import sys

from conftest import ROOT, real_model_or_skip, torch_or_skip


def test_transformer_lens_notebook_runs(lantern):
    torch_or_skip()
    real_model_or_skip(lantern)
    notebook = ROOT / "python" / "examples" / "transformer_lens_notebook.py"
    done = subprocess.run([sys.executable, str(notebook), "--check"], capture_output=True, text=True,
                          cwd=str(ROOT / "python"), env=dict(os.environ), timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "prediction: ' Paris'" in done.stdout
    assert "steered:" in done.stdout
