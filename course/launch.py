"""How a run's worker (course.worker) starts, and the server's handle on it.

On Linux a worker is forked from a forkserver: a process started once per server that has already
imported torch, torch._dynamo (the first optimizer step imports it: about a second) and the course,
so a run takes its first step a fraction of a second after Start instead of after a cold
`import torch` (bench/bench_start.py). A fork inherits nothing from the server's heap: the Training
still crosses as a pickle. macOS and Windows start a fresh interpreter instead ("spawn"); tests may
train in a thread of their own process ("inprocess"), still over pickling pipes. $TINYGPT_RUN_LAUNCHER
picks one of LAUNCHERS.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
from collections.abc import Iterator
from multiprocessing import spawn

from course import worker

LAUNCHERS = ("forkserver", "spawn", "inprocess")
PLATFORM_LAUNCHER = "forkserver" if sys.platform == "linux" else "spawn"  # forkserver needs fork
PRELOAD = ["torch", "torch._dynamo", "torch.optim", "course.worker", "course.ladder"]  # all a worker needs
WORKER = "tinygpt-worker"  # the name of every process started here


def configured_launcher() -> str:
    """$TINYGPT_RUN_LAUNCHER when it names one of LAUNCHERS, else this platform's."""
    chosen = os.environ.get("TINYGPT_RUN_LAUNCHER", "").strip()
    return chosen if chosen in LAUNCHERS else PLATFORM_LAUNCHER


def _context(launcher: str):
    context = multiprocessing.get_context(launcher)
    if launcher == "forkserver":
        context.set_forkserver_preload(PRELOAD)  # read once, when the forkserver starts
    return context


def warm_up(launcher: str | None = None) -> threading.Thread:
    """In the background (the page does not wait): import here what a Start needs (building a
    model on the meta device to count its parameters imports torch._dynamo: seconds) and start
    the forkserver, which imports what workers need; so the first Start is fast too."""
    thread = threading.Thread(target=_warm, args=(launcher or configured_launcher(),), daemon=True)
    thread.start()
    return thread


def _warm(launcher: str) -> None:
    import torch._dynamo  # noqa: F401

    if launcher == "forkserver":
        process = _context(launcher).Process(target=int, name=WORKER, daemon=True)  # a fork that does nothing
        process.start()  # returns once the forkserver has imported PRELOAD
        process.join()


def _preparation_data(name: str) -> dict:
    """What multiprocessing tells a new process to set up first, less the main module for a worker,
    which would otherwise run __main__ again to "restore" it: Streamlit runs each page as __main__
    (and leaves the last one there), so a worker would first run a lesson page. A worker needs no
    main module: its target is course.worker.serve. Other processes get multiprocessing's own."""
    data = _multiprocessing_preparation_data(name)
    if name.startswith(WORKER):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


_multiprocessing_preparation_data = spawn.get_preparation_data
spawn.get_preparation_data = _preparation_data  # popen_forkserver and popen_spawn call it by this name


class Worker:
    """A worker that trains `training` on `threads` torch threads, started by `launcher` (one of
    LAUNCHERS); read what it reports with `messages()`, send it `worker.Stop()` or
    `worker.Threads(n)` with `tell()`. Two one-way pipes, so each end has one reader or one writer, who also closes it."""

    def __init__(self, training: worker.Training, threads: int, launcher: str | None = None):
        launcher = launcher or configured_launcher()
        inbox, self._outbox = multiprocessing.Pipe(duplex=False)  # server to worker
        self._inbox, outbox = multiprocessing.Pipe(duplex=False)  # worker to server
        self._lock = threading.Lock()  # tell() is called from the run's thread and the pages'
        self.process = self._thread = None
        if launcher == "inprocess":
            self._thread = threading.Thread(target=worker.serve, args=(inbox, outbox), daemon=True)
            self._thread.start()
        else:
            self.process = _context(launcher).Process(
                target=worker.serve, args=(inbox, outbox), name=WORKER, daemon=True
            )
            self.process.start()
            inbox.close()  # the worker's ends are the worker's now: it alone may hold them open
            outbox.close()
        self.tell(worker.Start(training, threads))

    @property
    def pid(self) -> int | None:
        """Its process id; None for a worker in a thread of this process."""
        return self.process.pid if self.process else None

    def tell(self, message) -> None:
        with self._lock:
            try:
                self._outbox.send(message)
            except (OSError, ValueError):
                pass  # it has ended; messages() ends too and close() says how

    def messages(self) -> Iterator[tuple]:
        while True:
            try:
                yield self._inbox.recv()
            except (EOFError, OSError):  # it ended, perhaps mid-message
                return

    def close(self, timeout: float = 30) -> int | None:
        """Close our ends (a worker still training ends at its next event) and wait for it; its exit status."""
        with self._lock:
            for end in (self._outbox, self._inbox):
                with contextlib.suppress(OSError):
                    end.close()
        if self.process is None:
            self._thread.join(timeout)
            return None if self._thread.is_alive() else 0
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join()
        return self.process.exitcode
