"""ctypes bindings to liblanternc (Sources/LanternC): the C ABI over Lantern's Swift library.

Every function ends with `char **error`; on failure the library stores "<kind>\\x1f<message>" there
and this module raises the matching exception with Lantern's own one-line message.
"""
from __future__ import annotations

import ctypes
import os
import sys
from ctypes import POINTER, c_char_p, c_float, c_int32, c_int64, c_uint64, c_void_p
from pathlib import Path


class LanternError(Exception):
    """An error Lantern reported; str(error) is Lantern's one-line message."""


class BadFileError(LanternError):
    """A model, weights, config, SAE or tokenizer file is unreadable or contradicts itself."""


class ShapeError(LanternError, ValueError):
    """Operands (an activation, a hook's return value, an SAE input) do not fit together."""


class InvalidArgumentError(LanternError, ValueError):
    """A request that cannot be met (token out of range, unknown hook, prompt too long, ...)."""


class UnsupportedError(LanternError, NotImplementedError):
    """A dtype, architecture or feature this build does not handle."""


class BackendError(LanternError, RuntimeError):
    """A backend failed (device lost, out of memory, driver missing)."""


class CancelledError(LanternError):
    """An analysis or a job stopped because the caller asked (Ctrl-C during `Model.analyze`, `lantern.harvest`, ...)."""


for _error in (LanternError, BadFileError, ShapeError, InvalidArgumentError, UnsupportedError, BackendError, CancelledError):
    _error.__module__ = "lantern"

_KINDS = {"bad_file": BadFileError, "shape": ShapeError, "invalid_argument": InvalidArgumentError,
          "unsupported": UnsupportedError, "backend": BackendError, "cancelled": CancelledError}

HOOK_CALLBACK = ctypes.CFUNCTYPE(c_int32, c_void_p, c_char_p, POINTER(c_float), POINTER(c_int64), c_int32, c_int32,
                                 c_int64)
TOKEN_CALLBACK = ctypes.CFUNCTYPE(c_int32, c_void_p, c_int32)
PROGRESS_CALLBACK = ctypes.CFUNCTYPE(None, c_void_p, c_int64, c_int64, c_char_p)
CANCEL_CALLBACK = ctypes.CFUNCTYPE(c_int32, c_void_p)

_LIBRARY_NAME = "liblanternc.dylib" if sys.platform == "darwin" else "liblanternc.so"


def _library_path() -> Path:
    """$LANTERN_LIBRARY; else the bundled library or the repository's release build, the newer."""
    if os.environ.get("LANTERN_LIBRARY"):
        return Path(os.environ["LANTERN_LIBRARY"])
    here = Path(__file__).resolve().parent
    found = [p for p in (here / _LIBRARY_NAME, here.parent.parent / ".build" / "release" / _LIBRARY_NAME) if p.exists()]
    if found:
        # In a checkout (pip install -e), a `swift build` newer than the bundled copy wins.
        return max(found, key=lambda p: p.stat().st_mtime)
    raise ImportError(f"lantern: {_LIBRARY_NAME} not found beside the package nor in .build/release; "
                      "install with `pip install ./python` (it runs `swift build`) or set LANTERN_LIBRARY")


def _declare(lib: ctypes.CDLL) -> None:
    err = POINTER(c_char_p)
    signatures = {
        "lantern_free": (None, [c_void_p]),
        "lantern_model_load": (c_void_p, [c_char_p, c_char_p, err]),
        "lantern_model_free": (None, [c_void_p]),
        "lantern_model_widen_weights": (c_int32, [c_void_p, c_int64, err]),
        "lantern_model_widened_bytes": (c_int64, [c_void_p, err]),
        "lantern_model_config": (c_void_p, [c_void_p, err]),
        "lantern_tokenize": (c_int64, [c_void_p, c_char_p, c_int32, POINTER(POINTER(c_int32)), err]),
        "lantern_detokenize": (c_void_p, [c_void_p, POINTER(c_int32), c_int64, c_int32, err]),
        "lantern_hooks_new": (c_void_p, [c_char_p]),
        "lantern_hooks_free": (None, [c_void_p]),
        "lantern_hooks_add_callback": (c_int32, [c_void_p, c_char_p, HOOK_CALLBACK, c_void_p, err]),
        "lantern_hooks_add_steering": (c_int32, [c_void_p, c_void_p, c_void_p, POINTER(c_int64), c_int64,
                                                 POINTER(c_float), c_int64, c_char_p, c_float, c_char_p, err]),
        "lantern_run": (c_void_p, [c_void_p, POINTER(c_int32), c_int64, c_void_p, c_int32, c_int32, err]),
        "lantern_parameter": (c_void_p, [c_void_p, c_char_p, err]),
        "lantern_run_batch": (c_void_p, [c_void_p, POINTER(c_int32), POINTER(c_int64), c_int64, c_void_p, c_int32, err]),
        "lantern_result_count": (c_int64, [c_void_p]),
        "lantern_result_entry": (c_int32, [c_void_p, c_int64, POINTER(c_char_p), POINTER(c_int32), POINTER(c_int64),
                                           POINTER(POINTER(c_float)), err]),
        "lantern_result_free": (None, [c_void_p]),
        "lantern_generate": (c_int64, [c_void_p, POINTER(c_int32), c_int64, c_int64, c_float, c_int32, c_float,
                                       c_uint64, c_int32, c_void_p, TOKEN_CALLBACK, c_void_p,
                                       POINTER(POINTER(c_int32)), err]),
        "lantern_generate_batch": (c_int64, [c_void_p, POINTER(c_int32), POINTER(c_int64), c_int64, c_int64, c_float, c_int32,
                                             c_float, c_uint64, c_int32, c_void_p, POINTER(c_int64),
                                             POINTER(POINTER(c_int32)), err]),
        "lantern_sae_load": (c_void_p, [c_char_p, c_void_p, c_char_p, err]),
        "lantern_sae_free": (None, [c_void_p]),
        "lantern_sae_config": (c_void_p, [c_void_p, err]),
        "lantern_sae_apply": (c_int32, [c_void_p, c_int32, POINTER(c_float), c_int64, POINTER(c_float), err]),
        "lantern_sae_weight": (c_int64, [c_void_p, c_char_p, POINTER(c_float), c_int64, err]),
        "lantern_analyze": (c_void_p, [c_void_p, c_char_p, c_char_p, POINTER(c_void_p), c_int64, c_char_p,
                                       PROGRESS_CALLBACK, CANCEL_CALLBACK, c_void_p, err]),
        "lantern_job": (c_void_p, [c_char_p, c_char_p, PROGRESS_CALLBACK, CANCEL_CALLBACK, c_void_p, err]),
        "lantern_lens_logits": (c_int32, [c_void_p, POINTER(c_float), c_int64, POINTER(c_float), err]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes


lib = ctypes.CDLL(str(_library_path()))
_declare(lib)


def take_string(pointer: int | None) -> str:
    """A malloc'd UTF-8 string from the library, freed here."""
    try:
        return ctypes.string_at(pointer).decode("utf-8")
    finally:
        lib.lantern_free(pointer)


class ErrorSlot:
    """The `char **error` argument; `check` raises what the library stored, or what a Python
    callback raised during the call (kept in `pending`)."""

    def __init__(self) -> None:
        self.value = c_char_p()
        self.pending: BaseException | None = None

    @property
    def ref(self):
        return ctypes.byref(self.value)

    def check(self, failed: bool) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            raise pending
        if not failed and not self.value.value:
            return
        raw = ctypes.cast(self.value, c_void_p).value
        text = take_string(raw) if raw else "unknown error"
        kind, _, message = text.partition("\x1f")
        raise _KINDS.get(kind, LanternError)(message or text)


def call(function, *args, failed=lambda r: r is None, slot: ErrorSlot | None = None):
    """Calls a library function with an error slot appended; raises on failure."""
    slot = slot or ErrorSlot()
    result = function(*args, slot.ref)
    slot.check(failed(result))
    return result
