"""Where the text comes from: Tiny Shakespeare (downloaded once into a cache and verified),
a local file, or text a user uploads.

The download streams with `requests` into a temporary file and only lands in the cache after
its length and sha256 match, so a cut-off download can never be mistaken for the dataset.
Environment: TINYGPT_DATA (a local copy to use instead), TINYGPT_CACHE (the cache folder) and
TINYGPT_DATA_URL (where to download from, e.g. a mirror; tests point it at a loopback address).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import requests

from .files import atomic_path

SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
SHAKESPEARE_CHARS = 1_115_394
SHAKESPEARE_FILE = "tinyshakespeare.txt"
MAX_UPLOAD_BYTES = 20_000_000
MIN_TEXT_CHARS = 100

ProgressFn = Callable[[int, int | None], None]  # (bytes so far, total bytes or None)


class DatasetError(RuntimeError):
    """The text could not be had; the message says what went wrong and what to do."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_dir() -> Path:
    """$TINYGPT_CACHE, else ~/.cache/tinygpt."""
    return Path(os.environ.get("TINYGPT_CACHE") or Path.home() / ".cache" / "tinygpt")


def cached_path() -> Path:
    return cache_dir() / SHAKESPEARE_FILE


def local_data_path(path: str | os.PathLike | None = None) -> Path | None:
    """The local file named by `path` or $TINYGPT_DATA, if any."""
    named = path or os.environ.get("TINYGPT_DATA")
    return Path(named) if named else None


def dataset_ready(path: str | os.PathLike | None = None) -> bool:
    """True when the text can be loaded without a download."""
    local = local_data_path(path)
    return local.is_file() if local else cached_path().is_file()


def load_shakespeare(
    path: str | os.PathLike | None = None,
    *,
    url: str | None = None,
    progress: ProgressFn | None = None,
    timeout: float = 30.0,
    retries: int = 3,
) -> str:
    """The Tiny Shakespeare text. Looks in order at `path`, $TINYGPT_DATA, the cache, and finally
    downloads `url` (default: $TINYGPT_DATA_URL, else SHAKESPEARE_URL) into the cache.
    Raises DatasetError with a remedy when none works."""
    url = url or os.environ.get("TINYGPT_DATA_URL") or SHAKESPEARE_URL
    local = local_data_path(path)
    if local is not None:
        return read_text_file(local)
    target = cached_path()
    if target.is_file() and sha256_hex(target.read_bytes()) != SHAKESPEARE_SHA256:
        target.unlink()  # damaged by something other than us: fetch it again
    if not target.is_file():
        download(url, target, SHAKESPEARE_SHA256, progress=progress, timeout=timeout, retries=retries)
    text = read_text_file(target)
    if len(text) != SHAKESPEARE_CHARS:
        raise DatasetError(f"{target} holds {len(text):,} characters, not {SHAKESPEARE_CHARS:,}")
    return text


def read_text_file(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DatasetError(f"cannot read {path}: {e.strerror or e}") from e
    return text_from_bytes(data, max_bytes=None, name=str(path))


def text_from_bytes(data: bytes, max_bytes: int | None = MAX_UPLOAD_BYTES, name: str = "the file") -> str:
    """Decode user-supplied bytes as UTF-8 text, refusing empty, oversized or binary input."""
    if max_bytes is not None and len(data) > max_bytes:
        raise DatasetError(f"{name} is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetError(
            f"{name} is not UTF-8 text (byte {e.start} is invalid); save it as UTF-8 and try again"
        ) from e
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte-order mark is not part of the text
    if not text.strip():
        raise DatasetError(f"{name} is empty")
    if "\x00" in text:
        raise DatasetError(f"{name} looks binary (it contains NUL bytes), not text")
    return text


def download(
    url: str,
    dest: Path,
    sha256: str | None = None,
    *,
    progress: ProgressFn | None = None,
    timeout: float = 30.0,
    retries: int = 3,
) -> Path:
    """Stream `url` to `dest` atomically, retrying network failures; verify `sha256` if given."""
    last_error: Exception | None = None
    for attempt in range(max(1, retries)):
        if attempt:
            time.sleep(min(2.0**attempt, 8.0) * 0.25)
        try:
            return _download_once(url, dest, sha256, progress, timeout)
        except requests.HTTPError as e:
            status = e.response.status_code if e.response is not None else "?"
            if status not in (429, 500, 502, 503, 504):
                raise DatasetError(_remedy(f"the server answered HTTP {status} for {url}")) from e
            last_error = e
        except requests.RequestException as e:
            last_error = e  # offline, refused, timed out or cut off: worth another try
    kind = "timed out" if isinstance(last_error, requests.Timeout) else "failed"
    raise DatasetError(_remedy(f"downloading {url} {kind} ({last_error})")) from last_error


def _download_once(url, dest: Path, sha256, progress, timeout) -> Path:
    digest, done = hashlib.sha256(), 0
    with requests.get(url, stream=True, timeout=timeout) as response:
        response.raise_for_status()
        total = int(response.headers.get("Content-Length") or 0) or None
        with atomic_path(dest) as tmp, open(tmp, "wb") as f:
            for chunk in response.iter_content(chunk_size=64 * 1024):
                f.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
            if sha256 and digest.hexdigest() != sha256:
                raise DatasetError(
                    _remedy(f"the file from {url} does not match its checksum ({done:,} bytes received)")
                )
    return dest


def _remedy(problem: str) -> str:
    return (
        f"Could not get Tiny Shakespeare: {problem}. Check the internet connection and try again, "
        f"or download input.txt yourself and point TinyGPT at it with the TINYGPT_DATA "
        f"environment variable (or --data on the command line)."
    )
