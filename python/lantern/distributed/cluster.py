"""Ray underneath lantern.distributed: connecting, running a job's shards as Ray tasks (each
retried by Ray when its worker dies), and the progress board every shard reports to, so that the
driver shows shards and tokens per second across the cluster.

Ray is imported only here and only when a distributed job runs: `import lantern` never needs it.
"""
from __future__ import annotations

import os
import sys
import time

from .._lib import LanternError

# How often a shard reports to the board (seconds): often enough for a live rate, rarely enough
# that reporting costs nothing next to the forward passes.
REPORT_EVERY = 0.2


def ray_module():
    """Ray, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ImportError("lantern.distributed needs Ray: pip install 'lantern[ray]' (or pip install ray)") from None
    return ray


def connect(address=None):
    """Joins the cluster at `address` ("auto", "ray://host:10001", ...; default $RAY_ADDRESS, else a
    cluster started on this machine for this process) unless this process has joined one already."""
    ray = ray_module()
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=True, configure_logging=False)
    return ray


def cluster_cpus() -> int:
    ray = ray_module()
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


class Board:
    """What each shard has done: the actor every running shard reports to (kept in one process,
    so the driver reads one consistent picture)."""

    def __init__(self):
        self.shards = {}

    def start(self, key, pid, node):
        entry = self.shards.setdefault(key, {"starts": 0, "done": 0, "total": 0, "tokens": 0, "first_tokens": None,
                                             "finished": False})
        entry.update(starts=entry["starts"] + 1, pid=pid, node=node, running=True)

    def report(self, key, done, total, tokens):
        entry = self.shards[key]
        if entry["first_tokens"] is None:
            entry["first_tokens"] = tokens   # what an earlier run had finished: not this run's work
        entry.update(done=done, total=total, tokens=tokens)

    def finish(self, key, done, total, tokens):
        self.report(key, done, total, tokens)
        self.shards[key].update(running=False, finished=True)

    def snapshot(self):
        return self.shards


_board_class = None


def new_board():
    global _board_class
    ray = ray_module()
    if _board_class is None:
        _board_class = ray.remote(num_cpus=0, max_restarts=-1)(Board)
    return _board_class.remote()


class Reporter:
    """The shard's side of the board, at most every REPORT_EVERY seconds: (done, total) of the
    shard's units (a harvest's rows, a list's requests) and the tokens they hold (a harvest's rows
    are tokens: `tokens` left out means `done`). Its signature is a job's progress callback's."""

    def __init__(self, board, key):
        import socket
        self.board, self.key, self.last = board, key, 0.0
        self.done = self.total = self.tokens = 0
        board.start.remote(key, os.getpid(), socket.gethostname())

    def __call__(self, done, total, _label="", tokens=None):
        self.done, self.total = int(done), int(total)
        self.tokens = self.done if tokens is None else int(tokens)
        now = time.monotonic()
        if now - self.last >= REPORT_EVERY:
            self.last = now
            self.board.report.remote(self.key, self.done, self.total, self.tokens)

    def finish(self):
        ray = ray_module()
        # Waited for, so that the board says "finished" before the driver hears the result.
        ray.get(self.board.finish.remote(self.key, self.done, self.total, self.tokens))


class Progress:
    """The driver's view: shards finished and running, units done of the total, and the rate
    since this run started across every worker. `unit` names what is counted ("tokens")."""

    def __init__(self, subject: str, shards: int, unit: str, callback=None):
        self.subject, self.count, self.unit, self.callback = subject, shards, unit, callback
        self.start = time.monotonic()
        self.last_line = 0.0
        self.skipped = 0
        self.state = {}

    def update(self, shards: dict, final: bool = False) -> dict:
        fresh = sum(s["tokens"] - (s["first_tokens"] or 0) for s in shards.values())
        elapsed = max(time.monotonic() - self.start, 1e-9)
        self.state = {
            "subject": self.subject, "shards": self.count,
            "finished": self.skipped + sum(1 for s in shards.values() if s["finished"]),
            "running": sum(1 for s in shards.values() if s.get("running")),
            "unit": self.unit, "done": sum(s["done"] for s in shards.values()),
            "total": sum(s["total"] for s in shards.values()),
            "tokens": sum(s["tokens"] for s in shards.values()), "tokens_per_second": fresh / elapsed,
            "seconds": elapsed, "workers": {key: dict(s) for key, s in shards.items()},
        }
        if self.callback is not None:
            self.callback(self.state)
        elif final or time.monotonic() - self.last_line >= 2.0:
            self.last_line = time.monotonic()
            print(self.line(), file=sys.stderr, flush=True)
        return self.state

    def line(self) -> str:
        return progress_line(self.state)


def progress_line(state: dict) -> str:
    """A progress state as the line the driver prints."""
    s = state
    counted = f"{s['done']}/{s['total']} {s['unit']}" + ("" if s["unit"] == "tokens" else f" ({s['tokens']} tokens)")
    return (f"{s['subject']}: {s['finished']}/{s['shards']} shards done, {s['running']} running; {counted}, "
            f"{s['tokens_per_second']:.0f} tokens/s across the cluster")


def run_tasks(submissions: dict, on_result, progress: Progress, board) -> None:
    """Waits for every task in `submissions` ({ObjectRef: key}), calling on_result(key, value) as
    each finishes and refreshing `progress`. A failing shard stops the job with its own one-line
    error; the others are cancelled."""
    ray = ray_module()
    pending = dict(submissions)
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.25)
            for ref in ready:
                key = pending.pop(ref)
                on_result(key, _result(ray, ref, key))
            progress.update(ray.get(board.snapshot.remote()))
        progress.update(ray.get(board.snapshot.remote()), final=True)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)


def _result(ray, ref, key):
    """A task's value, or its failure as one line naming the shard."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:
        cause = getattr(error, "cause", None)
        if isinstance(cause, LanternError):
            raise type(cause)(str(cause)) from None
        raise LanternError(f"shard {key}: {type(cause).__name__ if cause else 'task'} failed: "
                           f"{str(cause or error).strip().splitlines()[-1]}") from None
    except ray.exceptions.RayError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise LanternError(f"shard {key}: Ray gave up on it ({type(error).__name__}: {first})") from None
