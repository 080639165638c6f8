"""The only module that reads or writes model weights.

A checkpoint is one `.safetensors` file: the weights as tensors (no pickle, so loading a stranger's
file cannot run code) and, in its metadata, a format version, the model type and config, the
tokenizer (its JSON, with its kind: char, bpe or word) and a training summary, all as JSON. A tensor
that two names share (tied embeddings) is stored once and shared again on load. Writes are atomic (temporary file,
then `os.replace`), so a crash never leaves half a checkpoint under the real name. Reading goes
through `safetensors.safe_open`, which checks the header and lets the weights' shapes be compared
with the config before a single tensor is loaded. A checkpoint saved during training also holds
what a resumed run needs (`TrainState`: the optimizer's state and the random states as tensors named
`train_state.*`, the step, clock and settings as JSON), still without pickle.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .data import TokenizerError
from .files import atomic_path
from .models import MODELS, build_model, config_for, model_type_of
from .tokenizers import Tokenizer, tokenizer_from_json

FORMAT = "tinygpt"
FORMAT_VERSION = 1
SUFFIX = ".safetensors"
TRAIN_STATE = "train_state."  # the prefix of the tensors that only a resumed run reads


class CheckpointError(ValueError):
    """A file is missing, truncated, not a TinyGPT checkpoint, or does not match its own metadata."""


@dataclass
class TrainState:
    """What resuming a run needs beyond the weights: `info` (plain JSON: step, elapsed seconds,
    the run's TrainConfig and history) and `tensors` (the optimizer's moments, RNG states)."""

    info: dict
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class Checkpoint:
    model: nn.Module
    model_type: str
    config: object
    tokenizer: Tokenizer
    summary: dict = field(default_factory=dict)
    path: Path | None = None


def save_checkpoint(
    path,
    model: nn.Module,
    tokenizer: Tokenizer,
    summary: dict | None = None,
    train_state: TrainState | None = None,
) -> Path:
    """Write `model` with its config, tokenizer and `summary` (steps, losses, ...) to `path`, and
    `train_state` when given. Raises OSError when the file cannot be written (a full disk, a
    read-only folder); the file already at `path`, if any, is then left as it was."""
    tied = getattr(model, "tied_weights", {})
    # safetensors refuses two names for one tensor: the tied copy is left out, and re-tied on load
    tensors = {k: v for k, v in clean_state_dict(model.state_dict()).items() if k not in tied}
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "model_type": model_type_of(model),
        "config": json.dumps(asdict(model.config)),
        "tokenizer": tokenizer.to_json(),
        # the character vocabulary where older TinyGPTs look for it ("" for other tokenizers)
        "vocab": json.dumps(getattr(tokenizer, "chars", "")),
        "summary": json.dumps({"saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **(summary or {})}),
    }
    if train_state is not None:
        metadata["train_state"] = json.dumps(train_state.info)
        tensors |= {TRAIN_STATE + k: v.detach().cpu().contiguous() for k, v in train_state.tensors.items()}
    with atomic_path(path) as tmp:
        try:
            save_file(tensors, tmp, metadata=metadata)
        except SafetensorError as e:  # safetensors reports a failed write (ENOSPC, EIO) as its own error
            raise _as_os_error(str(e), path) from e
    return Path(path)


def _as_os_error(message: str, path) -> OSError:
    """An OSError from safetensors' 'Error while serializing: I/O error: ... (os error 28)'."""
    code = message.rsplit("(os error ", 1)[-1].rstrip(")")
    number = int(code) if code.isdigit() else errno.EIO
    return OSError(number, os.strerror(number), str(path))


def load_train_state(source) -> TrainState:
    """The training state saved with a checkpoint (a path or the file's bytes), to resume its run;
    raises CheckpointError when the file has none (a checkpoint saved outside training)."""
    with _open(source) as f:
        _parse_metadata(f.metadata(), _name(source))
        raw = f.metadata().get("train_state")
        if raw is None:
            raise CheckpointError(
                f"{_name(source)} holds no training state to resume from (it was not saved by a "
                "training run of this TinyGPT version)"
            )
        try:
            info = json.loads(raw)
            if not isinstance(info, dict) or not {"step", "elapsed", "train_config"} <= set(info):
                raise ValueError("incomplete")
        except ValueError as e:
            raise CheckpointError(f"{_name(source)}: its training state is malformed ({e})") from e
        tensors = {
            k.removeprefix(TRAIN_STATE): f.get_tensor(k) for k in f.keys() if k.startswith(TRAIN_STATE)
        }
    return TrainState(info, tensors)


def clean_state_dict(state_dict: dict) -> dict:
    """fp32 CPU tensors without the '_orig_mod.' prefix that torch.compile puts before every name."""
    return {
        k.removeprefix("_orig_mod."): v.detach().to("cpu", torch.float32).contiguous()
        for k, v in state_dict.items()
    }


def read_metadata(source) -> dict:
    """The checkpoint's metadata, decoded and validated, without loading the weights.

    `source` is a path or the file's bytes. Returns model_type, config (dict), tokenizer (a
    tokenizer of tinygpt.tokenizers), tokenizer_kind, vocab_size, vocab (the characters of a char
    tokenizer, else ""), summary and resumable (whether it holds a TrainState).
    """
    with _open(source) as f:
        return _parse_metadata(f.metadata(), _name(source))


def load_checkpoint(source, map_location="cpu") -> Checkpoint:
    """Load and check a checkpoint (a path or the file's bytes); raises CheckpointError."""
    name = _name(source)
    with _open(source) as f:
        meta = _parse_metadata(f.metadata(), name)
        try:
            config = config_for(meta["model_type"], {**meta["config"], "vocab_size": meta["vocab_size"]})
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{name}: its config is invalid ({e})") from e
        weights = [k for k in f.keys() if not k.startswith(TRAIN_STATE)]
        _check_shapes(
            meta["model_type"], config, {k: tuple(f.get_slice(k).get_shape()) for k in weights}, name
        )
        tensors = {k: f.get_tensor(k) for k in weights}
    model = build_model(meta["model_type"], config)
    tensors |= {alias: tensors[source] for alias, source in getattr(model, "tied_weights", {}).items()}
    model.load_state_dict(tensors, strict=True)
    model.to(map_location).eval()
    path = Path(source) if isinstance(source, (str, os.PathLike)) else None
    return Checkpoint(model, meta["model_type"], config, meta["tokenizer"], meta["summary"], path)


def _check_shapes(model_type: str, config, found: dict, name: str) -> None:
    """Compare the weights' shapes with the config on the meta device (no memory used), so a small
    file that claims a huge config is refused before anything is allocated."""
    with torch.device("meta"):
        model = build_model(model_type, config)
        tied = getattr(model, "tied_weights", {})
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items() if k not in tied}
    if found == expected:
        return
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


@contextlib.contextmanager
def _open(source):
    """safe_open on a path, or on the bytes of an upload (through a temporary file), with every
    failure turned into a CheckpointError that says what is wrong with the file."""
    name = _name(source)
    with contextlib.ExitStack() as stack:
        path = source
        if isinstance(source, (bytes, bytearray, memoryview)):
            tmp = stack.enter_context(tempfile.NamedTemporaryFile(suffix=SUFFIX))
            tmp.write(source)
            tmp.flush()
            path = tmp.name
        try:
            f = stack.enter_context(safe_open(path, framework="pt"))
        except FileNotFoundError as e:
            raise CheckpointError(f"no checkpoint at {source}") from e
        except OSError as e:
            raise CheckpointError(f"cannot read {source}: {e.strerror or e}") from e
        except SafetensorError as e:
            raise CheckpointError(_unreadable(name, str(e))) from e
        yield f


def _unreadable(name: str, reason: str) -> str:
    if "too small" in reason:
        return f"{name} is too short to be a checkpoint"
    if "invalid header length" in reason or "not fully covered" in reason:
        return f"{name} is not a safetensors file, or it is truncated"
    return f"{name} is not a safetensors file ({reason.removeprefix('Error while deserializing header: ')})"


def _parse_metadata(meta: dict | None, name: str) -> dict:
    meta = meta or {}
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
            "resumable": "train_state" in meta,  # load_train_state(path) can continue its run
        }
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{name}: its metadata is incomplete or malformed ({e})") from e
    if parsed["model_type"] not in MODELS:
        raise CheckpointError(f"{name}: unknown model type {parsed['model_type']!r}")
    if not isinstance(parsed["config"], dict) or not isinstance(parsed["vocab"], str):
        raise CheckpointError(f"{name}: its metadata is malformed")
    # checkpoints from before the tokenizer was recorded hold only the characters, under "vocab"
    doc = meta.get("tokenizer") or json.dumps({"chars": parsed["vocab"]})
    try:
        tokenizer = tokenizer_from_json(doc)
    except TokenizerError as e:
        raise CheckpointError(f"{name}: its tokenizer is invalid ({e})") from e
    return parsed | {
        "tokenizer": tokenizer,
        "tokenizer_kind": tokenizer.kind,
        "vocab_size": tokenizer.vocab_size,
    }
