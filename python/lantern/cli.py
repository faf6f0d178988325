"""Lantern's long-running commands from Python: harvesting activations and training SAEs and
transcoders, run as the `lantern` command itself, so they are the CLI's code with its checkpoints,
exact resume (`resume=True`) and progress lines, and a kernel restart does not lose a run.

    import lantern
    lantern.harvest(out="acts", hook="blocks.6.hook_resid_post", tokens=1_000_000)
    sae = lantern.train_sae(activations="acts", out="my-sae", width=4096, k=64, tokens=2_000_000)
    print(sae.evaluate(lantern.Model.load(), "The reliability of Wikipedia is very")["overall"])

Keyword arguments become flags (`batch_size=4096` → `--batch-size 4096`; True → the bare flag;
None or False → left out; a list → several values). Failures raise lantern.LanternError with the
command's one-line message.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ._lib import LanternError

_HERE = Path(__file__).resolve().parent


def executable() -> str:
    """The `lantern` command: $LANTERN_BIN, the one bundled by `pip install ./python`, the
    repository's release build, or the PATH."""
    candidates = [os.environ.get("LANTERN_BIN"), _HERE / "bin" / "lantern",
                  _HERE.parent.parent / ".build" / "release" / "lantern", shutil.which("lantern")]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return str(c)
    raise LanternError("no `lantern` command: set LANTERN_BIN, reinstall with `pip install ./python`, or build with `make build`")


def flags(**options) -> list[str]:
    """Keyword arguments as the command's flags."""
    out: list[str] = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        name = "--" + key.replace("_", "-")
        if value is True:
            out.append(name)
        elif isinstance(value, (list, tuple)):
            out += [name] + [str(v) for v in value]
        else:
            out += [name, str(value)]
    return out


def run(*arguments, echo: bool = True, **options) -> str:
    """Runs `lantern ARGUMENTS --flags...`; its output is printed as it comes (echo) and returned.
    A failure raises LanternError with the command's error line."""
    command = [executable()] + [str(a) for a in arguments] + flags(**options)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if echo:
            sys.stdout.write(line)
            sys.stdout.flush()
    errors = process.stderr.read() if process.stderr else ""
    if process.wait() != 0:
        message = [l for l in errors.strip().splitlines() if l.strip()]
        text = message[-1] if message else f"exit status {process.returncode}"
        raise LanternError(text[len("Error: "):] if text.startswith("Error: ") else text)
    if echo and errors:
        sys.stderr.write(errors)
    return "".join(lines)


def harvest(out, hook: str, tokens: int, model=None, **options) -> str:
    """`lantern harvest`: `tokens` activation rows at `hook` over the corpus (the default corpus
    unless corpus=[files]) into folder `out`, in resumable shards. Returns `out`."""
    run("harvest", out=out, hook=hook, tokens=tokens, model=model, **options)
    return str(out)


def train_sae(activations, out, model=None, **options):
    """`lantern sae train` on a harvest folder (its hook read from the folder's manifest unless
    hook= is given); returns the trained SAE (lantern.SAE)."""
    import json
    from .sae import SAE
    if options.get("hook") is None:
        try:
            options["hook"] = json.loads((Path(activations) / "manifest.json").read_text())["hook"]
        except (OSError, ValueError, KeyError) as error:
            raise LanternError(f"{activations}: manifest.json: no hook to train on ({error}); give hook=") from None
    run("sae", "train", activations=activations, out=out, model=model, **options)
    return SAE.load(out)


def harvest_transcoders(out, model=None, **options) -> str:
    """`lantern transcoder harvest`: every layer's MLP input and output into folder `out`."""
    run("transcoder", "harvest", out=out, model=model, **options)
    return str(out)


def train_transcoders(activations, out, model=None, **options) -> str:
    """`lantern transcoder train`: per-layer transcoders (Gemma Scope 2 folders) into `out`."""
    run("transcoder", "train", activations=activations, out=out, model=model, **options)
    return str(out)
