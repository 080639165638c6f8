"""The only module that reads or writes model weights.

A checkpoint is one `.safetensors` file: the weights as tensors (no pickle, so loading a stranger's
file cannot run code) and, in its metadata, a format version, the model type and config, the
tokenizer's vocabulary and a training summary, all as JSON. Writes are atomic (temporary file,
then `os.replace`), so a crash never leaves half a checkpoint under the real name.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save_file

from .data import CharTokenizer, TokenizerError
from .models import build_model, config_for, model_type_of

FORMAT = "tinygpt"
FORMAT_VERSION = 1
SUFFIX = ".safetensors"
MAX_HEADER_BYTES = 10_000_000


class CheckpointError(ValueError):
    """A file is missing, truncated, not a TinyGPT checkpoint, or does not match its own metadata."""


@dataclass
class Checkpoint:
    model: nn.Module
    model_type: str
    config: object
    tokenizer: CharTokenizer
    summary: dict = field(default_factory=dict)
    path: Path | None = None


def save_checkpoint(path, model: nn.Module, tokenizer: CharTokenizer, summary: dict | None = None) -> Path:
    """Write `model` with its config, vocabulary and `summary` (steps, losses, ...) to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "model_type": model_type_of(model),
        "config": json.dumps(asdict(model.config)),
        "vocab": json.dumps(tokenizer.chars),
        "summary": json.dumps({"saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **(summary or {})}),
    }
    tensors = clean_state_dict(model.state_dict())
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, 0o644)  # mkstemp makes files private; a checkpoint is an ordinary file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def clean_state_dict(state_dict: dict) -> dict:
    """fp32 CPU tensors without the '_orig_mod.' prefix that torch.compile puts before every name."""
    return {
        k.removeprefix("_orig_mod."): v.detach().to("cpu", torch.float32).contiguous()
        for k, v in state_dict.items()
    }


def read_metadata(source) -> dict:
    """The checkpoint's metadata, decoded and validated, without building the model.

    `source` is a path or the file's bytes. Returns model_type, config (dict), vocab (str), summary.
    """
    raw = _read_bytes(source, header_only=True)
    return _parse_metadata(_header(raw, _name(source), check_size=False), _name(source))


def load_checkpoint(source, map_location="cpu") -> Checkpoint:
    """Load and check a checkpoint (a path or the file's bytes); raises CheckpointError."""
    name = _name(source)
    raw = _read_bytes(source)
    meta = _parse_metadata(_header(raw, name), name)
    try:
        tensors = load_safetensors_bytes(raw)
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{name}: the weights cannot be read ({e})") from e
    try:
        config = config_for(meta["model_type"], {**meta["config"], "vocab_size": len(meta["vocab"])})
        tokenizer = CharTokenizer(meta["vocab"])
    except (TypeError, ValueError, TokenizerError) as e:
        raise CheckpointError(f"{name}: its config is invalid ({e})") from e
    _check_shapes(meta["model_type"], config, tensors, name)
    model = build_model(meta["model_type"], config)
    model.load_state_dict(tensors, strict=True)
    model.to(map_location).eval()
    path = Path(source) if isinstance(source, (str, os.PathLike)) else None
    return Checkpoint(model, meta["model_type"], config, tokenizer, meta["summary"], path)


def _check_shapes(model_type: str, config, tensors: dict, name: str) -> None:
    """Compare the weights with the config on the meta device (no memory used), so a small file that
    claims a huge config is refused before anything is allocated."""
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in build_model(model_type, config).state_dict().items()}
    found = {k: tuple(v.shape) for k, v in tensors.items()}
    if found != expected:
        missing = sorted(set(expected) - set(found))[:3]
        wrong = [k for k in expected if k in found and found[k] != expected[k]][:3]
        if missing:
            detail = f"missing {missing}"
        elif wrong:
            detail = f"wrong shapes for {wrong}"
        else:
            detail = "unexpected tensors"
        raise CheckpointError(f"{name}: the weights do not match the config ({detail})")


def list_checkpoints(*folders) -> list[tuple[Path, dict]]:
    """(path, metadata) for every readable checkpoint in `folders`, newest first; bad files are skipped."""
    found = []
    for folder in folders:
        for path in sorted(Path(folder).glob(f"*{SUFFIX}")):
            try:
                found.append((path, read_metadata(path)))
            except CheckpointError:
                continue
    return sorted(found, key=lambda item: item[0].stat().st_mtime, reverse=True)


def _name(source) -> str:
    return str(source) if isinstance(source, (str, os.PathLike)) else "the uploaded file"


def _read_bytes(source, header_only: bool = False) -> bytes:
    """The file's bytes; with header_only, just the length prefix and JSON header (for listings)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    try:
        if not header_only:
            return Path(source).read_bytes()
        with open(source, "rb") as f:
            prefix = f.read(8)
            n = struct.unpack("<Q", prefix)[0] if len(prefix) == 8 else 0
            return prefix + f.read(min(n, MAX_HEADER_BYTES))
    except FileNotFoundError as e:
        raise CheckpointError(f"no checkpoint at {source}") from e
    except OSError as e:
        raise CheckpointError(f"cannot read {source}: {e.strerror or e}") from e


def _header(raw: bytes, name: str, check_size: bool = True) -> dict:
    """The safetensors JSON header: 8 bytes of little-endian length, then that much JSON."""
    if len(raw) < 8:
        raise CheckpointError(f"{name} is too short to be a checkpoint ({len(raw)} bytes)")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > MAX_HEADER_BYTES or 8 + n > len(raw):
        raise CheckpointError(f"{name} is not a safetensors file, or it is truncated")
    try:
        header = json.loads(raw[8 : 8 + n])
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"{name} is not a safetensors file (unreadable header)") from e
    if not isinstance(header, dict):
        raise CheckpointError(f"{name} is not a safetensors file")
    ends = [
        v.get("data_offsets", [0, 0])[1]
        for k, v in header.items()
        if k != "__metadata__" and isinstance(v, dict)
    ]
    if check_size and 8 + n + max(ends, default=0) > len(raw):
        raise CheckpointError(f"{name} is truncated: its weights end early")
    return header


def _parse_metadata(header: dict, name: str) -> dict:
    meta = header.get("__metadata__") or {}
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{name} is a safetensors file but not a TinyGPT checkpoint")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise CheckpointError(
            f"{name} has checkpoint format version {meta.get('format_version')}; "
            f"this TinyGPT reads version {FORMAT_VERSION}"
        )
    try:
        parsed = {
            "model_type": meta["model_type"],
            "config": json.loads(meta["config"]),
            "vocab": json.loads(meta["vocab"]),
            "summary": json.loads(meta.get("summary") or "{}"),
        }
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{name}: its metadata is incomplete or malformed ({e})") from e
    if parsed["model_type"] not in ("gpt", "bigram"):
        raise CheckpointError(f"{name}: unknown model type {parsed['model_type']!r}")
    if not isinstance(parsed["config"], dict) or not isinstance(parsed["vocab"], str):
        raise CheckpointError(f"{name}: its metadata is malformed")
    return parsed
