"""Checkpoints: safetensors for tensors, JSON for everything else.

Nothing is unpickled: a checkpoint directory holds `weights.safetensors` and
`meta.json`. Both are written to temporary names, flushed, fsynced and renamed,
so a killed write leaves any previous checkpoint of that name readable.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be read; the message names the file and the problem."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write a checkpoint directory atomically (a new directory renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp / "weights.safetensors"))
        with open(tmp / "meta.json", "w") as f:
            json.dump({"format": FORMAT, **meta}, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        with open(tmp / "weights.safetensors", "rb+") as f:
            os.fsync(f.fileno())
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            path.rename(old)
        tmp.rename(path)
        _fsync_dir(path.parent)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"{path}: no checkpoint directory there")
    meta_file, weights_file = path / "meta.json", path / "weights.safetensors"
    for f in (meta_file, weights_file):
        if not f.is_file():
            raise CheckpointError(f"{f}: missing")
    try:
        meta = json.loads(meta_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{meta_file}: not valid JSON ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{meta_file}: not a zeroplan checkpoint of format {FORMAT}")
    try:
        tensors = load_file(str(weights_file))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights_file}: unreadable ({err})") from None
    return tensors, meta
