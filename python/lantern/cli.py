"""Lantern's long-running jobs from Python, in process: harvesting activations, training SAEs,
transcoders and tuned lenses, and the evaluations and corpus scans that load their own model
(sae sweep, transcoder eval, lens eval, features top, neurons top, superposition). Each is the job
`lantern harvest`, `lantern sae train`, ... runs (the same code, checkpoints and exact resume with
`resume=True`), called through the library, not the command; its result is the object the command
prints with --json (`job_json`: the same bytes).

    import lantern
    lantern.harvest(out="acts", hook="blocks.6.hook_resid_post", tokens=1_000_000)
    sae = lantern.train_sae(activations="acts", out="my-sae", width=4096, k=64, tokens=2_000_000)
    print(sae.evaluate(lantern.Model.load(), "The reliability of Wikipedia is very")["overall"])
    print(lantern.cli.evaluate_sae_activations("my-sae", "acts")["dead_features"])

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
    """Runs Lantern's job `name` ("harvest", "sae train", "sae eval", "sae sweep", "transcoder
    harvest", "transcoder train", "transcoder eval", "lens train", "lens eval", "superposition", ...)
    in process with `request`'s fields and returns its result (what it wrote, what it measured).
    `progress(done, total, label)`, when given, replaces the progress display."""
    return json.loads(job_json(name, progress=progress, **request))


def job_json(name: str, progress=None, **request) -> str:
    """`job`'s result as the JSON text the library wrote: the bytes `lantern <name> --json` prints."""
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
        return _lib.take_string(_lib.call(_lib.lib.lantern_job, name.encode(), json.dumps(fields).encode(),
                                          report_thunk, cancel_thunk, None))
    except _lib.CancelledError:
        if raised and not isinstance(raised[0], KeyboardInterrupt):
            raise raised[0] from None
        raise KeyboardInterrupt from None
    finally:
        display.close()


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


def finetune_sae(sae, out, tokens: int, model=None, progress=None, **options):
    """`lantern sae finetune`: the TopK SAE at path `sae` fine-tuned end to end (spliced into the
    model, KL(clean ‖ spliced) next-token distributions plus reconstruction_weight × its
    reconstruction error, k fixed) on `tokens` tokens of the corpus; returns it (lantern.SAE).
    Resumable: resume=True continues the checkpoint in `out`."""
    from .sae import SAE
    job("sae finetune", progress=progress, sae=sae, out=out, tokens=tokens, model=model, **options)
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


def evaluate_sae_activations(sae, activations, progress=None, **options) -> dict:
    """`lantern sae eval --activations`: the SAE at path `sae` over a harvest folder's rows, no
    forward pass (L0, explained variance, dead and dense latents, each latent's firing frequency).
    For texts through the model, use `SAE.evaluate`."""
    return job("sae eval", progress=progress, sae=sae, activations=activations, **options)


def sweep_saes(activations, out, widths, tokens: int, model=None, progress=None, **options) -> dict:
    """`lantern sae sweep`: TopK SAEs of each width in `widths` trained on the harvest into
    out/width-W (continued, or kept, when already there), their held-out dark matter and the fit
    FVU ≈ a·width^−b + c."""
    return job("sae sweep", progress=progress, activations=activations, out=out, widths=[int(w) for w in widths],
               tokens=tokens, model=model, **options)


def evaluate_transcoders(transcoders, model=None, progress=None, **options) -> dict:
    """`lantern transcoder eval`: each MLP transcoder's FVU and the next-token CE with the MLPs
    replaced, over the default corpus's held-out documents unless corpus=[files]."""
    folders = [transcoders] if isinstance(transcoders, (str, os.PathLike)) else list(transcoders)
    return job("transcoder eval", progress=progress, transcoders=folders, model=model, **options)


def evaluate_lens(tuned=None, model=None, progress=None, **options) -> dict:
    """`lantern lens eval`: per-layer KL(final ‖ lens) over the corpus, for the logit lens and the
    tuned lens in folder `tuned`."""
    return job("lens eval", progress=progress, tuned=tuned, model=model, **options)


def train_lens(out, tokens: int, model=None, progress=None, **options) -> str:
    """`lantern lens train`: a tuned lens trained on `tokens` positions of the corpus, written to
    folder `out` (load it with `Model.lens(..., tuned=out)`). Returns `out`."""
    job("lens train", progress=progress, out=out, tokens=tokens, model=model, **options)
    return str(out)


def superposition(sparsity=(0, 0.8, 0.9, 0.95, 0.98), progress=None, **options) -> dict:
    """`lantern superposition`: the toy models of superposition (Elhage et al. 2022), the best of
    `restarts` per sparsity, with their W, b, loss curves and per-feature geometry."""
    values = [sparsity] if isinstance(sparsity, numbers.Real) else list(sparsity)
    return job("superposition", progress=progress, sparsity=[float(v) for v in values], **options)


def features_top(sae, model=None, progress=None, **options) -> dict:
    """`lantern features top`: the SAE at path `sae` scanned over the corpus (tokens=, context=,
    examples=), its features ranked by=density|max|mean (count=, max_density=), each with its
    dashboard (density, logit effects, histogram, top contexts)."""
    return job("features top", progress=progress, sae=sae, model=model, **options)


def neurons_top(layer: int, model=None, progress=None, **options) -> dict:
    """`lantern neurons top`: layer `layer`'s MLP neurons scanned over the corpus and ranked
    by=density|max|mean, or polysemantic with sae= (an SAE read on the same tokens), each with
    its dashboard (and its grouping by SAE feature with sae=)."""
    return job("neurons top", progress=progress, layer=layer, model=model, **options)
