"""Checkpoints: safetensors for tensors, JSON for metadata, `.npz` for arrays.

A checkpoint is a directory. Every file in it is listed in `manifest.json`
with its size and SHA-256, next to the `env_steps` and `train_steps` it holds.
Reading verifies the manifest first and parses each file from the verified
bytes, so a truncated, bit-flipped, swapped or planted file is caught before
anything is interpreted, and nothing is ever unpickled.

Writing is atomic: the files go to a new hidden directory, each flushed and
fsynced, the manifest last; the directory is then renamed into place. An
existing checkpoint of the same name is first renamed to `.NAME.old` and only
removed once the new one is in place, so at every instant one complete
checkpoint exists under `NAME` or `.NAME.old` (`resolve` finds it).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors_bytes
from safetensors.torch import save as save_tensors_bytes

from zeroplan.shipped import is_pretrained, path_of

FORMAT = 2
MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"
META = "meta.json"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read; the message names the file and the problem."""


class CheckpointWriteError(RuntimeError):
    """A checkpoint that could not be written (a full disk, say); the previous one is whole."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, indent=1).encode()


def tensor_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    return save_tensors_bytes({k: v.detach().contiguous().cpu() for k, v in tensors.items()})


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any],
                    files: dict[str, bytes] | None = None) -> Path:
    """Write a checkpoint directory atomically: the network's tensors, the
    metadata, any further files (already serialised), and the manifest."""
    path = Path(path)
    contents = {WEIGHTS: tensor_bytes(tensors), META: json_bytes({"format": FORMAT, **meta}), **(files or {})}
    if MANIFEST in contents:
        raise ValueError(f"{MANIFEST} is written by save_checkpoint itself")
    manifest = {"format": FORMAT, "env_steps": int(meta.get("env_steps", 0)),
                "train_steps": int(meta.get("train_steps", 0)),
                "files": {name: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                          for name, data in contents.items()}}
    tmp = path.parent / f".{path.name}.tmp.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()  # unlike mkdtemp, honours the umask (a checkpoint others may read)
        for name, data in contents.items():
            _write(tmp / name, data)
        _write(tmp / MANIFEST, json_bytes(manifest))
        _fsync_dir(tmp)
        old = path.with_name(f".{path.name}.old")
        if path.exists():
            if old.exists():  # left by an earlier write killed after its final rename
                shutil.rmtree(old)
            path.rename(old)
        tmp.rename(path)
        _fsync_dir(path.parent)
        if old.exists():
            shutil.rmtree(old)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointWriteError(f"{path}: cannot write the checkpoint ({err.strerror or err}); the one written "
                                   f"before it is whole (as {path.name} or .{path.name}.old)") from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def resolve(path: str | Path) -> Path:
    """The checkpoint directory for `path`: itself, or `.NAME.old` when a write
    was killed between its two renames."""
    path = Path(path)
    if path.is_dir():
        return path
    old = path.with_name(f".{path.name}.old")
    if old.is_dir():
        return old
    raise CheckpointError(f"{path}: no checkpoint directory there")


def find_checkpoint(path: str | Path, name: str | None = None) -> Path:
    """The one place that picks a checkpoint: `path` itself when it is a
    checkpoint directory (and no `name` is given), else `path/checkpoints/NAME`,
    by default `best` and then `last`; `.NAME.old` stands in for a checkpoint
    whose write was killed between its two renames (`resolve`).
    `pretrained:NAME` is an agent shipped with the package (`zeroplan.pretrained`)."""
    if is_pretrained(path):
        if name not in (None, "best"):
            raise CheckpointError(f"{path}: a shipped agent has one checkpoint (best), not {name!r}")
        try:
            return path_of(path)
        except KeyError as err:
            raise CheckpointError(err.args[0]) from None
    path = Path(path)
    if name is None:
        try:
            direct = resolve(path)
        except CheckpointError:
            direct = None
        if direct is not None and (direct / MANIFEST).is_file():
            return direct
    if not path.exists():
        raise CheckpointError(f"{path}: no such run or checkpoint directory (it does not exist)")
    ckpts = path / "checkpoints"
    if name is None and not ckpts.is_dir():
        raise CheckpointError(f"{path}: neither a run directory (no checkpoints/) nor a checkpoint (no {MANIFEST})")
    for candidate in ([name] if name else ["best", "last"]):
        try:
            return resolve(ckpts / candidate)
        except CheckpointError:
            continue
    available = ", ".join(sorted(p.name for p in ckpts.glob("[!.]*"))) if ckpts.is_dir() else ""
    if name:
        raise CheckpointError(f"no checkpoint {name!r} in {path} (available: {available or 'none'})")
    raise CheckpointError(f"{path}: the run has no best or last checkpoint (available: {available or 'none'})")


def load_weights(net: torch.nn.Module, tensors: dict[str, torch.Tensor], ckpt: Checkpoint) -> None:
    """Load a network's weights, naming any missing tensor or shape mismatch."""
    expected = net.state_dict()
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise ckpt.error(WEIGHTS, f"missing tensors {missing[:5]}")
    for k, v in tensors.items():
        if k not in expected or expected[k].shape != v.shape:
            want = tuple(expected[k].shape) if k in expected else "no such tensor"
            raise ckpt.error(WEIGHTS, f"tensor {k!r} has shape {tuple(v.shape)}, the config's network "
                             f"expects {want} (config mismatch?)")
    with torch.no_grad():
        net.load_state_dict(tensors)


class Checkpoint:
    """A checkpoint whose manifest has been verified; files are parsed from the verified bytes."""

    def __init__(self, path: str | Path):
        self.path = resolve(path)
        self.manifest = self._read_manifest()
        self._data: dict[str, bytes] = {}
        for name, entry in self.manifest["files"].items():
            self._data[name] = self._verified(name, entry)
        listed = set(self.manifest["files"]) | {MANIFEST}
        extra = sorted(p.name for p in self.path.iterdir() if p.name not in listed)
        if extra:
            raise CheckpointError(f"{self.path / extra[0]}: file not listed in {MANIFEST} "
                                  f"(a checkpoint holds only the files its manifest names)")
        self.meta = self.json(META)
        if self.meta.get("format") != FORMAT:
            raise CheckpointError(f"{self.path / META}: format {self.meta.get('format')!r}, expected {FORMAT}")
        for key in ("env_steps", "train_steps"):
            if int(self.meta.get(key, 0)) != self.manifest[key]:
                raise CheckpointError(f"{self.path / MANIFEST}: {key} {self.manifest[key]} disagrees with "
                                      f"{META} ({self.meta.get(key)!r})")

    def _read_manifest(self) -> dict[str, Any]:
        file = self.path / MANIFEST
        if not file.is_file():
            raise CheckpointError(f"{file}: missing (not a zeroplan checkpoint, or one written before manifests)")
        try:
            manifest = json.loads(file.read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise CheckpointError(f"{file}: not valid JSON ({err})") from None
        ok = (isinstance(manifest, dict) and manifest.get("format") == FORMAT
              and isinstance(manifest.get("files"), dict) and WEIGHTS in manifest["files"] and META in manifest["files"]
              and all(type(manifest.get(k)) is int and manifest[k] >= 0 for k in ("env_steps", "train_steps")))
        if not ok:
            raise CheckpointError(f"{file}: not a zeroplan checkpoint manifest of format {FORMAT} "
                                  f"(needs format, env_steps, train_steps and files naming {WEIGHTS} and {META})")
        for name, entry in manifest["files"].items():
            if (not isinstance(entry, dict) or set(entry) != {"size", "sha256"} or type(entry["size"]) is not int
                    or not isinstance(entry["sha256"], str) or "/" in name or name in (".", "..", MANIFEST)):
                raise CheckpointError(f"{file}: malformed entry for {name!r}")
        return manifest

    def _verified(self, name: str, entry: dict[str, Any]) -> bytes:
        file = self.path / name
        if not file.is_file():
            raise CheckpointError(f"{file}: missing (listed in {MANIFEST})")
        data = file.read_bytes()
        if len(data) != entry["size"]:
            raise CheckpointError(f"{file}: {len(data)} bytes, the manifest says {entry['size']} (truncated?)")
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise CheckpointError(f"{file}: SHA-256 checksum does not match the manifest (corrupt or replaced)")
        return data

    def has(self, name: str) -> bool:
        return name in self._data

    def _get(self, name: str) -> bytes:
        if name not in self._data:
            raise CheckpointError(f"{self.path / name}: missing from this checkpoint")
        return self._data[name]

    def json(self, name: str) -> dict[str, Any]:
        try:
            out = json.loads(self._get(name))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise CheckpointError(f"{self.path / name}: not valid JSON ({err})") from None
        if not isinstance(out, dict):
            raise CheckpointError(f"{self.path / name}: expected a JSON object")
        return out

    def tensors(self, name: str = WEIGHTS) -> dict[str, torch.Tensor]:
        try:
            return load_tensors_bytes(self._get(name))
        except (SafetensorError, OSError, ValueError, RuntimeError) as err:
            raise CheckpointError(f"{self.path / name}: unreadable safetensors ({err})") from None

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        try:
            with np.load(io.BytesIO(self._get(name)), allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except (ValueError, OSError, KeyError, EOFError) as err:
            raise CheckpointError(f"{self.path / name}: unreadable .npz ({err})") from None

    def error(self, name: str, problem: str) -> CheckpointError:
        """An error about one of this checkpoint's files, for callers interpreting its contents."""
        return CheckpointError(f"{self.path / name}: {problem}")


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The network tensors and metadata of a verified checkpoint."""
    ckpt = Checkpoint(path)
    return ckpt.tensors(), ckpt.meta
