"""Lantern's long-running jobs from Python, in process: harvesting activations and training SAEs
and transcoders. Each is the job `lantern harvest`, `lantern sae train`, ... runs (the same code,
checkpoints and exact resume with `resume=True`), called through the library, not the command.

    import lantern
    lantern.harvest(out="acts", hook="blocks.6.hook_resid_post", tokens=1_000_000)
    sae = lantern.train_sae(activations="acts", out="my-sae", width=4096, k=64, tokens=2_000_000)
    print(sae.evaluate(lantern.Model.load(), "The reliability of Wikipedia is very")["overall"])

Keyword arguments are the job's fields, named as the command's flags (`checkpoint_every=500` for
`--checkpoint-every 500`, `byte_tokens=True`, `corpus=[files]`; None leaves a field at its
default). Progress shows as a tqdm bar when tqdm is installed, else as lines on standard error;
`progress=f` calls f(done, total, label) instead. The job's notices (a resumed step, a warning, what
was written) go to standard error. Ctrl-C stops the job — a training run saves its checkpoint
first, so the same call with `resume=True` continues it exactly — and raises KeyboardInterrupt.
Failures raise lantern.LanternError with the job's one-line message.
"""
from __future__ import annotations

import json
import numbers
import os
import sys
import time
from pathlib import Path

from . import _lib
from ._lib import LanternError

# What separates a progress label's subject ("train") from its figures ("loss 0.0123 ...").
_SEPARATOR = " | "


def _plain(value):
    """A keyword argument as JSON: paths as strings, tuples as lists, numpy scalars as numbers."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, (int, float)):
        return float(value)
    return value


class _Display:
    """Progress as a tqdm bar per subject when tqdm is importable; else one line per report on
    standard error (at most one a second per subject, and always the last)."""

    def __init__(self) -> None:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        self._tqdm = tqdm
        self._bar = None
        self._subject = None
        self._last = 0.0

    def report(self, done: int, total: int, label: str) -> None:
        subject, _, detail = label.partition(_SEPARATOR)
        if self._tqdm is not None:
            if self._bar is None or subject != self._subject:
                self.close()
                self._bar = self._tqdm(total=total, desc=subject, initial=done, file=sys.stderr)
                self._subject = subject
            if detail:
                self._bar.set_postfix_str(detail, refresh=False)
            self._bar.update(done - self._bar.n)
            return
        now = time.monotonic()
        if subject == self._subject and done < total and now - self._last < 1.0:
            return
        self._subject, self._last = subject, now
        print(f"{subject}: {done}/{total}" + (f", {detail}" if detail else ""), file=sys.stderr, flush=True)

    def notice(self, line: str) -> None:
        # Notices come between a job's loops (as the CLI's do): the bar before one is finished.
        self.close()
        print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def job(name: str, progress=None, **request) -> dict:
    """Runs Lantern's job `name` ("harvest", "sae train", "transcoder harvest", "transcoder train")
    in process with `request`'s fields and returns its result (what it wrote and how far it got).
    `progress(done, total, label)`, when given, replaces the progress display."""
    fields = {key: _plain(value) for key, value in request.items() if value is not None}
    display = _Display()
    # An exception raised in a callback (Ctrl-C arrives there, as the library runs on this
    # thread) cannot cross the C library: it is kept, the job is cancelled, and it is raised here.
    raised: list[BaseException] = []

    def report(_user, done, total, label):
        try:
            text = label.decode("utf-8", "replace") if label else ""
            if total < 0:
                display.notice(text)
            elif progress is not None:
                progress(int(done), int(total), text)
            else:
                display.report(int(done), int(total), text)
        except BaseException as error:
            raised.append(error)

    def cancel(_user):
        try:
            return 1 if raised else 0
        except KeyboardInterrupt as error:
            raised.append(error)
            return 1

    report_thunk, cancel_thunk = _lib.PROGRESS_CALLBACK(report), _lib.CANCEL_CALLBACK(cancel)
    try:
        text = _lib.take_string(_lib.call(_lib.lib.lantern_job, name.encode(), json.dumps(fields).encode(),
                                          report_thunk, cancel_thunk, None))
    except _lib.CancelledError:
        if raised and not isinstance(raised[0], KeyboardInterrupt):
            raise raised[0] from None
        raise KeyboardInterrupt from None
    finally:
        display.close()
    return json.loads(text)


def _layers(value):
    """Layers as the job takes them: "all", "3", "0,4,8" or "2-5" (an int or a list also do)."""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return ",".join(str(int(v)) for v in value)
    return value


def harvest(out, hook: str, tokens: int, model=None, progress=None, **options) -> str:
    """`lantern harvest`: `tokens` activation rows at `hook` over the corpus (the default corpus
    unless corpus=[files]) into folder `out`, in resumable shards. Returns `out`."""
    job("harvest", progress=progress, out=out, hook=hook, tokens=tokens, model=model, **options)
    return str(out)


def train_sae(activations, out, model=None, progress=None, **options):
    """`lantern sae train` on a harvest folder (its hook read from the folder's manifest unless
    hook= is given); returns the trained SAE (lantern.SAE)."""
    from .sae import SAE
    if options.get("hook") is None:
        try:
            options["hook"] = json.loads((Path(activations) / "manifest.json").read_text())["hook"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise LanternError(f"{activations}: manifest.json: no hook to train on ({error}); give hook=") from None
    job("sae train", progress=progress, activations=activations, out=out, model=model, **options)
    return SAE.load(out)


def harvest_transcoders(out, model=None, progress=None, **options) -> str:
    """`lantern transcoder harvest`: every layer's MLP input and output into folder `out`."""
    if "layers" in options:
        options["layers"] = _layers(options["layers"])
    job("transcoder harvest", progress=progress, out=out, model=model, **options)
    return str(out)


def train_transcoders(activations, out, model=None, progress=None, **options) -> str:
    """`lantern transcoder train`: per-layer transcoders (Gemma Scope 2 folders) into `out`."""
    if "layers" in options:
        options["layers"] = _layers(options["layers"])
    job("transcoder train", progress=progress, activations=activations, out=out, model=model, **options)
    return str(out)
