"""The runs a server has left on disk: each checkpoint's summary says which run saved it, who
started it (a digest of their token) and whether the run was still going; from that, the runs a
restart cut short, and who may delete a saved run."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from tinygpt.checkpoint import SUFFIX, CheckpointError, list_checkpoints, read_metadata

# The shipped models and the ladder's results; the learner's runs go to a git-ignored folder inside it.
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "checkpoints"

# A run's status, as the run record and each checkpoint's summary say it.
RUNNING, STOPPING, FINISHED, STOPPED, FAILED = "running", "stopping", "finished", "stopped", "failed"


class NotYourRun(PermissionError):
    """A viewer asked to stop or delete a run that another viewer started."""


def owner_tag(owner: str | None) -> str | None:
    """What a checkpoint records of its owner: a digest, so a downloaded file does not give away the
    token that lets its owner delete it."""
    return hashlib.sha256(owner.encode()).hexdigest()[:16] if owner else None


def saved_runs(folder) -> list[tuple[Path, dict]]:
    """The checkpoints in `folder` with their metadata, newest first."""
    return list_checkpoints(folder) if Path(folder).is_dir() else []


def owns_saved(meta: dict, owner: str | None) -> bool:
    """Whether `owner` may delete this saved run: theirs, or one that records no owner (saved by
    the command line or an older version)."""
    recorded = meta.get("summary", {}).get("owner")
    return recorded is None or recorded == owner_tag(owner)


@dataclass(frozen=True)
class SavedRun:
    """A run found on disk: its id and name, the step of its last save (the lowest of its models'),
    its checkpoint files and when it was last saved (seconds since the epoch)."""

    run_id: str
    name: str
    step: int
    paths: tuple[Path, ...]
    saved_at: float


def interrupted_runs(folder, live: set[str] = frozenset()) -> list[SavedRun]:
    """Runs in `folder` whose last checkpoint still says "running" and that are not among the `live`
    run ids: a server restart ended them between two evaluations. Newest first."""
    found: dict[str, list[tuple[Path, dict]]] = {}
    for path, meta in saved_runs(folder):
        s = meta["summary"]
        if s.get("status") == RUNNING and s.get("run_id") and s["run_id"] not in live:
            found.setdefault(s["run_id"], []).append((path, s))
    return [
        SavedRun(
            run_id,
            files[0][1].get("run_name", run_id),
            min(int(s.get("steps", 0)) for _, s in files),
            tuple(sorted(p for p, _ in files)),
            max(p.stat().st_mtime for p, _ in files),
        )
        for run_id, files in found.items()
    ]


def delete_saved_run(path, folder, busy: set[Path] = frozenset(), owner: str | None = None) -> None:
    """Delete one checkpoint of `folder` on behalf of `owner`; refuses files outside it, files a
    running run writes, and (NotYourRun) another viewer's run."""
    path, folder = Path(path).resolve(), Path(folder).resolve()
    if path.parent != folder or path.suffix != SUFFIX:
        raise ValueError(f"{path.name} is not one of the saved runs")
    if path in busy:
        raise ValueError(f"{path.name} belongs to a run that is still training: stop it first")
    try:
        meta = read_metadata(path)
    except CheckpointError:  # not a checkpoint any more (truncated, replaced): anyone may clear it
        meta = {}
    if not owns_saved(meta, owner):
        raise NotYourRun(f"{path.name} was saved by another viewer: only they can delete it")
    path.unlink(missing_ok=True)
