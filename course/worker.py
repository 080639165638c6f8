"""A training run in a process of its own, started by course.runs through course.launch.

Why a process: the server is one Python process for every viewer, and Python runs one thread's
bytecode at a time (the GIL). A run that trains in a thread of the server takes the GIL back
hundreds of times a step, so the pages' reruns queue behind it. In a process of its own, at a
lower priority (course.priority), a run takes only the CPU that the pages leave; and a crash or an
out-of-memory kill ends the run, not the server.

The server and its worker exchange pickles over two one-way pipes (multiprocessing Connections):

- server to worker: `Start(training, threads)` first; then `Threads(n)` when the run's share of
  the cores changes, and `Stop()` when its owner stops it;
- worker to server: `Report(kind, event)` for each event of `tinygpt.train.train`, `Threads(n)`
  when it changed its thread count, and `End(status, error)` last.

What a run trains is its spec (`course.plan.RunSpec`, `ContinuedSpec`, the ladder's `LadderSpec`):
one `Training` asks it to build (or load) each model and for its settings.

When the server goes away (its end of the pipes closes), the worker ends at its next event without
saving again: its run is then listed as interrupted, like one cut short by a restart.

Pickle is safe here because both ends are this program: the pipes are anonymous, held only by the
server and the worker it started. Nothing a user supplies arrives as pickle bytes: an uploaded text
reaches the worker as the tokenizer and tensors the server built from it, and checkpoints are read
with safetensors (`tinygpt.checkpoint`), as everywhere else.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from course.plan import RunSpec, TrainingData
from course.priority import RUN_NICENESS, give_way_to_pages
from course.saved_runs import FAILED, FINISHED, RUNNING, STOPPED
from tinygpt.device import use_threads
from tinygpt.train import (
    DoneEvent,
    EvalEvent,
    Event,
    StepEvent,
    TrainConfig,
    TrainingDiverged,
    budget_spent,
    train,
)

# ---- in the worker: what it trains ------------------------------------------------------------


@dataclass
class Training:
    """What a worker trains and what it writes into each checkpoint: the run's spec and text, each
    model's file (by kind) and the run's identity. It crosses to the worker as a pickle."""

    run_id: str
    name: str
    spec: RunSpec
    data: TrainingData
    paths: dict[str, str]
    owner_tag: str | None

    def run(self, emit: Callable, stop: threading.Event, threads: Callable[[], int]) -> None:
        """Train every model, handing each message to `emit` (`Report`, `Threads`), until the models
        end or `stop` is set; `threads()` says how many torch threads to use from now on."""
        self._emit, self._stop, self._threads = emit, stop, threads
        self._latched, self._threads_now = False, 0  # the stop request as seen at a round's start
        self._summaries: dict[str, dict] = {}  # per model: what train() writes into each checkpoint
        self._configs: dict[str, TrainConfig] = {}  # per model: the settings train() runs with
        self._step_elapsed: dict[str, float] = {}  # per model: train()'s clock at its last step
        self._new_round()
        if self.spec.in_turn:
            _in_turn(self.generators(), self._record, self._new_round, stop.is_set)
        else:
            _lockstep(self.generators(), self._record, self._new_round)

    def generators(self) -> dict[str, Iterator]:
        gens = {}
        for kind in self.spec.models:
            cfg = self._configs[kind] = self.spec.train_config(kind, self.paths[kind])
            model, resume = self.spec.build(kind), self.spec.resume_path(kind)
            data = self.spec.data_for(kind, self.data)
            gens[kind] = train(
                model, data.splits, cfg, data.tokenizer, self._stopping, self._summary(kind), resume
            )
        return gens

    def _summary(self, kind: str) -> dict:
        """What train() adds to each checkpoint of `kind`; it reads it at every save, so `status` can change."""
        self._summaries[kind] = {
            **self.data.summary,
            "run_id": self.run_id,
            "run_name": self.name,
            "race": list(self.spec.models),
            "owner": self.owner_tag,
            "status": RUNNING,
        }
        return self._summaries[kind]

    def _new_round(self) -> None:
        self._latched = self._stop.is_set()
        threads = use_threads(self._threads()).n  # another run may have started or ended
        if threads != self._threads_now:
            self._threads_now = threads
            self._emit(Threads(threads))

    def _stopping(self) -> bool:
        """What `train()` asks after each step: every model of a race sees the same answer in a
        round, so a stopped race ends with both models at the same step."""
        return self._latched

    def _record(self, kind: str, event) -> None:
        if isinstance(event, StepEvent):
            self._step_elapsed[kind] = event.elapsed
        elif isinstance(event, EvalEvent):  # train() saves right after it, with this status
            self._summaries[kind]["status"] = self._outcome_if_last(kind, event.step)
        self._emit(Report(kind, event))

    def _outcome_if_last(self, kind: str, step: int) -> str:
        """The status the checkpoint about to be saved should carry: train() evaluates and saves at
        the end, for the same reasons it checks here (`budget_spent`, as train() asks it), so the last
        save says how the run ended and every earlier one says "running"."""
        if self._latched:
            return STOPPED
        spent = budget_spent(step, self._step_elapsed.get(kind, 0.0), self._configs[kind])
        return FINISHED if spent else RUNNING


# ---- the messages: dataclasses, pickled over the pipes -------------------------------------------


@dataclass(frozen=True)
class Start:
    """Server to worker, first: what to train, on how many torch threads."""

    training: Training
    threads: int


@dataclass(frozen=True)
class Stop:
    """Server to worker: the owner stopped the run (it ends after an evaluation and a save)."""


@dataclass(frozen=True)
class Threads:
    """Either way: the run's share of the cores changed (server), or the count now in use (worker)."""

    n: int


@dataclass(frozen=True)
class Report:
    """Worker to server: one event of `tinygpt.train.train` for the model `kind`."""

    kind: str
    event: Event


@dataclass(frozen=True)
class End:
    """Worker to server, last: how the run ended, and why if it failed."""

    status: str
    error: str | None


def _lockstep(gens: dict[str, Iterator], record, new_round=lambda: None) -> None:
    """Advance each generator to its next StepEvent in turn, recording every event, until all end.
    `new_round()` is called before each round (one step of every model)."""
    active = dict(gens)
    while active:
        new_round()
        for kind, gen in list(active.items()):
            for event in gen:
                record(kind, event)
                if isinstance(event, StepEvent):
                    break
                if isinstance(event, DoneEvent):
                    del active[kind]
                    break
            else:
                active.pop(kind, None)


def _in_turn(gens: dict[str, Iterator], record, new_step, stopped) -> None:
    """Run each generator to its end, one after another, recording every event; `new_step()` is
    called before each step, as `_lockstep` calls it before each round. Once `stopped()`, the
    models not yet started are left untrained."""
    for kind, gen in gens.items():
        if stopped():
            break
        new_step()
        for event in gen:
            record(kind, event)
            if isinstance(event, StepEvent):
                new_step()


def failure_message(e: Exception) -> str:
    """A sentence for the page: out-of-memory gets advice, anything else its type and message."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if isinstance(e, TrainingDiverged):
        return str(e)  # it names the step, the likely cause and what was kept
    if isinstance(e, torch.OutOfMemoryError) or "out of memory" in text.lower():
        return (
            "Training ran out of memory. Lower the batch size, block size, layers or embedding size "
            f"and start again. ({type(e).__name__}: {text[:200]})"
        )
    return f"Training stopped with an error: {type(e).__name__}: {text[:300]}"


def crash_message(exit_status: int | None) -> str:
    """Why a run ended without a word from its worker: killed (the usual cause, out of memory) or crashed."""
    if exit_status == -getattr(signal, "SIGKILL", 9):  # Windows has no SIGKILL
        return (
            "The training process was killed (SIGKILL), most often because the machine ran out of "
            "memory. Lower the batch size, block size, layers or embedding size and start again."
        )
    return f"The training process ended unexpectedly (exit status {exit_status}); the server's log says why."


# ---- in the worker: its main ------------------------------------------------------------------


class ServerGone(Exception):
    """The server's end of the pipes closed: nobody is left to report to."""


def serve(inbox, outbox) -> None:
    """The worker's main: read the Training from `inbox`, train it, report on `outbox` (both
    multiprocessing Connections, so every message is pickled) and close `outbox` at the end."""
    try:
        _serve(inbox, outbox)
    finally:
        outbox.close()  # the server reads an end of file: nothing more comes


def _serve(inbox, outbox) -> None:
    start = inbox.recv()
    training, threads = start.training, start.threads
    give_way_to_pages(RUN_NICENESS)  # in the worker itself, before torch starts its threads, which inherit it
    stop, gone, wanted = threading.Event(), threading.Event(), [threads]
    threading.Thread(target=_listen, args=(inbox, stop, gone, wanted), daemon=True).start()

    def emit(message) -> None:
        if gone.is_set():
            raise ServerGone
        try:
            outbox.send(message)
        except (OSError, ValueError):  # a broken pipe: the server closed its end or died
            raise ServerGone from None

    try:
        training.run(emit, stop, lambda: wanted[0])
        status, error = (STOPPED if stop.is_set() else FINISHED), None
    except ServerGone:
        return
    except Exception as e:  # noqa: BLE001 - any failure must reach the page as a sentence
        traceback.print_exc()
        status, error = FAILED, failure_message(e)
    with contextlib.suppress(ServerGone):
        emit(End(status, error))


def _listen(inbox, stop: threading.Event, gone: threading.Event, wanted: list[int]) -> None:
    """The server's messages, until its end of the pipe closes (it stopped the run or died)."""
    while True:
        try:
            message = inbox.recv()
        except Exception:  # noqa: BLE001 - EOF or a torn pickle: the server is gone
            gone.set()
            inbox.close()
            return
        if isinstance(message, Stop):
            stop.set()
        elif isinstance(message, Threads):
            wanted[0] = message.n
