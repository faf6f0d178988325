"""The TransformerLens-style notebook in python/examples runs to the end on Lantern, with its checks."""
import os
import subprocess
import sys

from conftest import ROOT, real_model_or_skip, torch_or_skip


def test_transformer_lens_notebook_runs(lantern):
    torch_or_skip()
    real_model_or_skip(lantern)
    notebook = ROOT / "python" / "examples" / "transformer_lens_notebook.py"
    # The same package as these tests import (an installed one, or the source tree on PYTHONPATH).
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(lantern.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([package_parent] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    done = subprocess.run([sys.executable, str(notebook), "--check"], capture_output=True, text=True,
                          cwd=str(ROOT), env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "prediction: ' Paris'" in done.stdout
    assert "steered:" in done.stdout
