"""Turns the N folders of a split harvest (`part-I-of-N`, what `lantern harvest --shard I/N`
writes) into the folder one unsplit `lantern harvest` writes, byte for byte: the same shard files,
each holding the same contexts in corpus order, and the same manifest.json.

Why this is exact: context c (in corpus order) belongs to part c mod N, where it is that part's
context c div N; every context gives the same number of rows (all but the very last, which stops at
`tokens`), so a context's rows are found by arithmetic. The forward pass gives each context the same
rows whichever contexts share its pass, so a row read in part I is the row the unsplit run reads.

The files are written as the engine writes them: the safetensors header is compact JSON with sorted
keys and '/' escaped, padded with spaces to 8 bytes; manifest.json is pretty-printed with sorted keys
(`"key" : value`, two spaces). Both encodings are checked against a part's own files before anything
is written, so a change in the engine's writers is refused here instead of producing other bytes.
"""
from __future__ import annotations

import bisect
import json
import os
import struct
from pathlib import Path

import numpy as np

from .._lib import BadFileError, InvalidArgumentError


def part_folder(out, worker: int, workers: int) -> Path:
    """Where `lantern harvest --shard I/N --out out` writes (the output itself when N is 1)."""
    return Path(out) if workers == 1 else Path(out) / f"part-{worker}-of-{workers}"


def read_manifest(folder) -> dict | None:
    """A harvest folder's manifest.json, or None when there is none yet."""
    path = Path(folder) / "manifest.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise BadFileError(f"{path}: not a harvest manifest ({error})") from None


def _escaped(text: str) -> str:
    # Foundation's JSON writers escape '/' ("\/"); json.dumps does not.
    return text.replace("/", "\\/")


def manifest_bytes(manifest: dict) -> bytes:
    """manifest.json as the engine's JSONEncoder (pretty-printed, sorted keys) writes it."""
    return _escaped(json.dumps(manifest, indent=2, sort_keys=True, separators=(",", " : "), ensure_ascii=False)).encode()


def safetensors_header(header: dict) -> bytes:
    """A shard's header as the engine writes it: length, compact sorted JSON, spaces to 8 bytes."""
    text = _escaped(json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False)).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    return struct.pack("<Q", len(text)) + text


class _Shard:
    """One shard file of a part: its header and its tensors, read through a memory map."""

    def __init__(self, path: Path):
        self.path = path
        with open(path, "rb") as file:
            prefix = file.read(8)
            if len(prefix) < 8:
                raise BadFileError(f"{path}: shorter than a safetensors header")
            (length,) = struct.unpack("<Q", prefix)
            self.raw_header = prefix + file.read(length)
        try:
            self.header = json.loads(self.raw_header[8:])
        except ValueError as error:
            raise BadFileError(f"{path}: safetensors header is not JSON ({error})") from None
        self.data_start = 8 + length

    def tensor(self, name: str) -> np.ndarray:
        info = self.header.get(name)
        if info is None:
            raise BadFileError(f"{self.path}: no tensor '{name}'")
        dtype = {"F32": np.float32, "I32": np.int32}.get(info["dtype"])
        if dtype is None:
            raise BadFileError(f"{self.path}: tensor '{name}' is {info['dtype']}, expected F32 or I32")
        start, stop = info["data_offsets"]
        count = (stop - start) // 4
        return np.memmap(self.path, dtype=dtype, mode="r", offset=self.data_start + start, shape=(count,)).reshape(info["shape"])


class _Part:
    """One worker's rows, all its shard files end to end."""

    def __init__(self, folder: Path, manifest: dict):
        self.folder = folder
        self.manifest = manifest
        self.shards = [_Shard(folder / entry["file"]) for entry in manifest["shards"]]
        self.starts = [0]
        for entry in manifest["shards"]:
            self.starts.append(self.starts[-1] + entry["rows"])

    def rows(self, tensor: str, first: int, count: int) -> np.ndarray:
        """Rows first..<first+count, which lie in one shard (a shard holds whole contexts)."""
        k = bisect.bisect_right(self.starts, first) - 1
        local = first - self.starts[k]
        if k >= len(self.shards) or local + count > self.starts[k + 1] - self.starts[k]:
            raise BadFileError(f"{self.folder}: rows {first}..<{first + count} are not within one shard file; "
                               "the part is not as `lantern harvest` writes it")
        return self.shards[k].tensor(tensor)[local:local + count]


def _check_encoders(part: _Part) -> None:
    """Refuses to merge if this module's encodings do not reproduce a part's own bytes."""
    written = (part.folder / "manifest.json").read_bytes()
    if manifest_bytes(json.loads(written)) != written:
        raise BadFileError(f"{part.folder / 'manifest.json'}: the engine writes manifests differently from what the merge "
                           "would write; refusing to merge rather than write other bytes")
    shard = part.shards[0]
    if safetensors_header(json.loads(shard.raw_header[8:])) != shard.raw_header:
        raise BadFileError(f"{shard.path}: the engine writes safetensors headers differently from what the merge would "
                           "write; refusing to merge rather than write other bytes")


def _write_atomically(path: Path, chunks) -> None:
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as file:
        for chunk in chunks:
            file.write(chunk)
    os.replace(partial, path)


def merge(out, workers: int, contexts_per_shard: int, parts_root=None) -> dict:
    """Writes into `out` the shards and manifest an unsplit harvest writes, from the `workers`
    complete parts under `parts_root` (default `out`). Returns the merged manifest.
    `contexts_per_shard` is the harvest's `batch`."""
    out = Path(out)
    root = Path(parts_root) if parts_root is not None else out
    parts = []
    for worker in range(workers):
        folder = part_folder(root, worker, workers)
        manifest = read_manifest(folder)
        if manifest is None or not manifest.get("complete"):
            raise InvalidArgumentError(f"{folder}: part {worker} of {workers} is not complete: run the harvest again to finish it")
        parts.append(_Part(folder, manifest))
    written = [part for part in parts if part.shards]
    if not written:
        raise BadFileError(f"{root}: no part holds a shard file: nothing to merge")
    reference = written[0]
    first = reference.manifest
    for part in parts:
        # A part with no contexts (more parts than contexts) never learnt the width: 0.
        keys = ("model", "hook", "hooks", "context", "include_bos", "tokens", "corpus", "workers") + (("width",) if part.shards else ())
        for key in keys:
            if part.manifest.get(key) != first.get(key):
                raise BadFileError(f"{part.folder / 'manifest.json'}: '{key}' is {part.manifest.get(key)!r} but "
                                   f"{reference.folder.name} has {first.get(key)!r}: these parts are not one harvest")
    _check_encoders(reference)

    hooks = first.get("hooks") or [first["hook"]]
    names = ["activations"] if len(hooks) == 1 else hooks
    rows_per_context = first["context"] if first["include_bos"] else first["context"] - 1
    total_contexts = -(-first["tokens"] // rows_per_context)
    held = sum(sum(s["contexts"] for s in part.manifest["shards"]) for part in parts)
    if held != total_contexts:
        raise BadFileError(f"{root}: the parts hold {held} contexts, not the {total_contexts} contexts of "
                           f"{first['tokens']} tokens")
    width = first["width"]
    metadata = None
    shards = []
    out.mkdir(parents=True, exist_ok=True)
    for number, start in enumerate(range(0, total_contexts, contexts_per_shard)):
        contexts = range(start, min(start + contexts_per_shard, total_contexts))
        pieces = {name: [] for name in names + ["tokens"]}
        for c in contexts:
            part = parts[c % workers]
            count = rows_per_context if c < total_contexts - 1 else first["tokens"] - (total_contexts - 1) * rows_per_context
            for name in pieces:
                pieces[name].append(part.rows(name, (c // workers) * rows_per_context, count))
        if metadata is None:
            metadata = reference.shards[0].header["__metadata__"]
        arrays = [np.ascontiguousarray(np.concatenate(pieces[name]), dtype=np.float32) for name in names]
        tokens = np.ascontiguousarray(np.concatenate(pieces["tokens"]), dtype=np.int32)
        rows = len(tokens)
        header, offset = {"__metadata__": metadata}, 0
        for name, array in zip(names, arrays):
            header[name] = {"dtype": "F32", "shape": [rows, width], "data_offsets": [offset, offset + array.nbytes]}
            offset += array.nbytes
        header["tokens"] = {"dtype": "I32", "shape": [rows], "data_offsets": [offset, offset + tokens.nbytes]}
        file = f"shard-{number:05d}.safetensors"
        _write_atomically(out / file, [safetensors_header(header)] + [a.astype("<f4").tobytes() for a in arrays]
                          + [tokens.astype("<i4").tobytes()])
        shards.append({"file": file, "rows": rows, "contexts": len(contexts)})

    merged = {key: value for key, value in first.items() if key not in ("shards", "worker", "workers", "complete")}
    merged.update(worker=0, workers=1, shards=shards, complete=True)
    _write_atomically(out / "manifest.json", [manifest_bytes(merged)])
    return merged
