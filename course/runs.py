"""Training runs in the background while a web page watches them.

A Run trains in a process of its own (course/worker.py: the pages never wait for training's
hold on the GIL, and a crashed run cannot take the server down), forked from a warm forkserver on
Linux so it starts at once (course/launch.py), and a daemon thread of the server
collects what it reports into a thread-safe record. A race advances the bigram's and the GPT's
generators one step each in turn (same batches, same seed, same wall clock), so neither model gets
more time than the other; a run whose spec sets `in_turn` (the ladder's, course/ladder.py) trains
its models one after another instead. A RunRegistry finds runs by id (so a reloaded page can
reattach), caps how many run at once on the server ($TINYGPT_MAX_RUNS, by default one per training
core, as many as the memory holds) and shares the cores among them. Any viewer may watch a run; only
its owner (the opaque token it was started with) may stop it or delete its files. Every run saves
each model at each evaluation into its folder, marked "running" until it ends, so the runs a server
restart cut short can be listed with their last saved step (`interrupted_runs`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

from course.launch import Worker, configured_launcher, warm_up
from course.plan import RunSpec, TrainingData
from course.saved_runs import (
    FAILED,
    FINISHED,
    RUNNING,
    STOPPED,  # noqa: F401 - the outcomes are read as runs.STOPPED, runs.FINISHED, ...
    STOPPING,
    NotYourRun,
    SavedRun,
    interrupted_runs,
    owner_tag,
)
from course.worker import End, Report, Stop, Threads, Training, crash_message, failure_message
from tinygpt.device import available_memory_mb, env_int, training_cores, training_threads
from tinygpt.train import CheckpointEvent, EvalEvent, SampleEvent, StepEvent

log = logging.getLogger(__name__)
MOST_RUNS_BY_DEFAULT = 4  # beyond this, runs would get a thread each and still wait on memory
SERVER_MB = 1024  # the server itself under a class (the rehearsal's peak: 0.7-0.8 GB, docs/deploy.md)
RUN_MB = 512  # one run's worker process: about 0.4 GB for a `cpu`-preset race (230 MB of it torch)
ACTIVE = (RUNNING, STOPPING)


class TooManyRuns(RuntimeError):
    """The server already runs as many training runs as it allows."""


def default_max_runs(cores: int | None = None, memory_mb: int | None = None) -> int:
    """One run per core that training may take (`training_cores`), as many as fit in the memory
    beside the server (`available_memory_mb`: each run trains in a worker process of its own), at
    least 1 and at most MOST_RUNS_BY_DEFAULT: 1 on a 1-core box, 2 on 2 cores and 2.7 GB (a
    Community Cloud app), 1 on 2 cores and 1.5 GB, 3 on 4 cores and 8 GB."""
    memory_mb = memory_mb or available_memory_mb()
    fit = (memory_mb - SERVER_MB) // RUN_MB if memory_mb else MOST_RUNS_BY_DEFAULT
    return max(1, min(MOST_RUNS_BY_DEFAULT, training_cores(cores), fit))


def configured_max_runs() -> int:
    """The server-wide cap on running runs: $TINYGPT_MAX_RUNS, else `default_max_runs()`."""
    return env_int("TINYGPT_MAX_RUNS") or default_max_runs()


@dataclass
class ModelTrace:
    """What one model of a run has done so far (only ever touched under the record's lock)."""

    kind: str
    n_params: int
    checkpoint: str
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # seconds since the run started, per step
    rates: list[float] = field(default_factory=list)  # tokens per second of its own steps, per step
    evals: list[dict] = field(default_factory=list)  # step, train_loss, val_loss, train_bpc, val_bpc, elapsed
    samples: list[tuple[int, str]] = field(default_factory=list)
    saved: bool = False
    saved_step: int = 0  # the step of the last checkpoint that reached the disk
    save_error: str | None = None  # why the last save failed (None once a save succeeds again)

    def copy(self) -> ModelTrace:
        """A snapshot: the lists copied, so the running run's appends do not reach it."""
        lists = ("steps", "losses", "times", "rates", "evals", "samples")
        return replace(self, **{name: list(getattr(self, name)) for name in lists})


@dataclass(frozen=True)
class RunView:
    """A consistent copy of a run's state for drawing; nothing in it changes afterwards."""

    id: str
    name: str
    status: str
    error: str | None
    spec: RunSpec
    models: dict[str, ModelTrace]
    elapsed: float
    folder: str = ""
    threads: int = 0  # torch threads the run trains with now (0 before it starts)
    in_turn: bool = False  # the models train one after another, not in lockstep
    # the text it trains on: its TrainingData.summary (name, characters, sha256)
    text: dict = field(default_factory=dict)

    @property
    def total_steps(self) -> int | None:
        """Steps the whole run takes when it ends by steps: each model's, in turn or side by side."""
        steps = self.spec.train.max_steps
        return steps * len(self.models) if steps and self.in_turn else steps

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def save_problem(self) -> str | None:
        """A sentence for the page when the run cannot save (disk full, read-only folder): training
        goes on in memory, but what it learns is lost with the server. None while saves succeed."""
        errors = {t.save_error for t in self.models.values() if t.save_error}
        if not errors:
            return None
        kept = "; what it learns is lost when it ends" if self.status in ACTIVE else ""
        return (
            f"Could not save this run to {self.folder}: {'; '.join(sorted(errors))}. It keeps training in "
            f"memory{kept}. Free some disk space or set TINYGPT_RUNS_DIR to a writable folder."
        )

    @property
    def step(self) -> int:
        """Steps taken: by all the models together when they train in turn, else by each of them."""
        counts = [len(t.steps) for t in self.models.values()]
        return sum(counts) if self.in_turn else min(counts, default=0)

    @property
    def progress(self) -> float:
        """Fraction done, by steps or by the time budget, whichever ends the run first."""
        cfg, parts = self.spec.train, [0.0]
        if cfg.max_steps:
            parts.append(self.step / self.total_steps)
        if cfg.max_seconds:
            parts.append(self.elapsed / cfg.max_seconds)
        return 1.0 if self.status == FINISHED else min(1.0, max(parts))

    @property
    def steps_per_sec(self) -> float:
        return self.step / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def tokens_per_sec(self) -> float:
        """Characters of text read per second (each model of a race reads the same ones)."""
        return self.steps_per_sec * self.spec.train.batch_size * self.spec.block_size

    @property
    def eta(self) -> float | None:
        p = self.progress
        return self.elapsed * (1 - p) / p if self.active and p > 0 else None


class Run:
    """One training run: a worker process trains (course.worker) and a daemon thread of the server
    records what it reports. Read it with `view()`; end it early with `stop()`. `owner` is the
    token of whoever started it; `threads()` says how many torch threads the run may use now (it
    follows how many runs share the machine, and the worker takes it up at its next round)."""

    def __init__(
        self,
        spec: RunSpec,
        data: TrainingData,
        folder,
        name: str | None = None,
        owner: str | None = None,
        threads=training_threads,
    ):
        self.id = uuid.uuid4().hex[:12]
        self.name = name or spec.run_name(self.id)
        self.spec, self.data, self.folder = spec, data, Path(folder)
        self.text = dict(data.summary)  # kept when the run ends and lets go of `data`
        self.owner, self._threads = owner, threads
        self.created = time.time()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._worker: Worker | None = None
        self.launcher = configured_launcher()  # read here, in the thread that starts the run
        self._threads_told = self._threads_now = 0
        self._status, self._error, self._ended = RUNNING, None, None
        self._start = time.perf_counter()
        self._traces = {  # there from the start, so a view always shows every model of the run
            kind: ModelTrace(kind, self._count_parameters(kind), str(self._path(kind)))
            for kind in spec.models
        }
        self._thread = threading.Thread(target=self._run, name=f"tinygpt-run-{self.id}", daemon=True)

    def start(self) -> Run:
        self._start = time.perf_counter()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the run to end: it finishes its current step, evaluates and saves what it learned."""
        self._stop.set()
        with self._lock:
            if self._status == RUNNING:
                self._status = STOPPING
        if self._worker is not None:
            self._worker.tell(Stop())

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run has ended (or `timeout` passed); True when it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def status(self) -> str:
        with self._lock:
            return self._status

    @property
    def worker_pid(self) -> int | None:
        """The process id of the run's worker (None before it started, or when it trains in a thread here)."""
        return self._worker.pid if self._worker else None

    def checkpoints(self) -> list[Path]:
        with self._lock:
            return [Path(t.checkpoint) for t in self._traces.values()]

    def view(self) -> RunView:
        with self._lock:
            end = self._ended or time.perf_counter()
            traces = {k: t.copy() for k, t in self._traces.items()}
            return RunView(
                self.id,
                self.name,
                self._status,
                self._error,
                self.spec,
                traces,
                end - self._start,
                str(self.folder),
                self._threads_now,
                self.spec.in_turn,
                self.text,
            )

    def _run(self) -> None:
        try:
            outcome, error = self._train_in_worker()
        except Exception as e:  # noqa: BLE001 - any failure must end in a readable status, not a dead thread
            log.exception("training run %s failed", self.id)
            outcome, error = FAILED, failure_message(e)
        finally:
            self.data = None  # an ended run keeps its record, not the (possibly large) encoded text
        with self._lock:
            self._status, self._error, self._ended = outcome, error, time.perf_counter()

    def _train_in_worker(self) -> tuple[str, str | None]:
        """Start the worker, record what it reports until it ends; the run's outcome and error."""
        self._threads_told = self._threads()
        self._worker = Worker(self._training(), self._threads_told, self.launcher)
        if self._stop.is_set():  # stopped while the worker was starting
            self._worker.tell(Stop())
        end, ready = None, False
        try:
            for message in self._worker.messages():
                if not ready:  # its first word: torch is imported, training begins; the clock starts now
                    ready = True
                    with self._lock:
                        self._start = time.perf_counter()
                if isinstance(message, Report):
                    self._record(message.kind, message.event)
                elif isinstance(message, Threads):
                    self._threads_now = message.n
                elif isinstance(message, End):
                    end = message.status, message.error
                self._share_cores()
        finally:
            exit_status = self._worker.close()
        if end is None:
            log.error("training run %s: its worker ended with status %s", self.id, exit_status)
        return end or (FAILED, crash_message(exit_status))

    def _share_cores(self) -> None:
        """Tell the worker its share of the cores when it changed (a run started or ended)."""
        threads = self._threads()
        if threads != self._threads_told:
            self._threads_told = threads
            self._worker.tell(Threads(threads))

    def _training(self) -> Training:
        """What the worker trains: this run's spec and text, and where each model saves."""
        paths = {kind: str(self._path(kind)) for kind in self.spec.models}
        return Training(self.id, self.name, self.spec, self.data, paths, owner_tag(self.owner))

    def _path(self, kind: str) -> Path:
        return self.spec.path(self.folder, self.name, kind)

    def _count_parameters(self, kind: str) -> int:
        return self.spec.parameters(kind)

    def _record(self, kind: str, event) -> None:
        with self._lock:
            trace = self._traces[kind]
            if isinstance(event, StepEvent):
                trace.steps.append(event.step)
                trace.losses.append(event.loss)
                trace.times.append(time.perf_counter() - self._start)
                trace.rates.append(event.tokens_per_sec)
            elif isinstance(event, EvalEvent):
                elapsed = time.perf_counter() - self._start
                trace.evals.append(
                    {
                        "step": event.step,
                        "train_loss": event.train_loss,
                        "val_loss": event.val_loss,
                        "train_bpc": event.train_bpc,
                        "val_bpc": event.val_bpc,
                        "elapsed": elapsed,
                    }
                )
            elif isinstance(event, SampleEvent):
                trace.samples.append((event.step, event.text))
            elif isinstance(event, CheckpointEvent):
                # `error`: set by train() when the save failed and training went on (OSError)
                trace.save_error = event.error
                if trace.save_error is None:
                    trace.saved, trace.saved_step = True, event.step


class RunRegistry:
    """Every run this server has started, by id; at most `max_runs` run at once. Keeps the last
    `keep` ended runs so a page can still show their whole history."""

    def __init__(self, max_runs: int | None = None, keep: int = 20):
        self.max_runs = max_runs or configured_max_runs()
        self.keep = keep
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()
        warm_up()  # in the background: the first Start then finds torch imported

    def start(self, spec: RunSpec, data: TrainingData, folder, name=None, owner=None, run_class=Run) -> Run:
        """Start a run of `spec` (a RunSpec, ContinuedSpec or the ladder's LadderSpec) that saves into
        `folder`, named `name` (or after its spec) and stoppable by `owner` only; raises TooManyRuns
        when the server is full. `run_class` is for measuring (bench/bench_start.py)."""
        with self._lock:
            running = [j for j in self._runs.values() if j.status in ACTIVE]
            if len(running) >= self.max_runs:
                raise TooManyRuns(
                    f"This server is already training {len(running)} model run(s), its limit "
                    f"(TINYGPT_MAX_RUNS={self.max_runs}) so that it stays responsive. Try again when one ends."
                )
            run = run_class(spec, data, folder, name, owner, self.threads_per_run)
            self._runs[run.id] = run
            self._forget_old()
        return run.start()

    def get(self, run_id: str | None) -> Run | None:
        with self._lock:
            return self._runs.get(run_id) if run_id else None

    def runs(self) -> list[Run]:
        """All kept runs, newest first."""
        with self._lock:
            return sorted(self._runs.values(), key=lambda j: j.created, reverse=True)

    def running(self) -> list[Run]:
        return [j for j in self.runs() if j.status in ACTIVE]

    def threads_per_run(self) -> int:
        """Each running run's share of the training cores (or $TINYGPT_THREADS)."""
        return training_threads(runs=len(self.running()))

    def can_control(self, run_id: str | None, owner: str | None) -> bool:
        """Whether `owner` may stop this run: only the one who started it (watching is for all)."""
        run = self.get(run_id)
        return run is not None and owner is not None and run.owner == owner

    def stop(self, run_id: str, owner: str | None) -> None:
        """Stop a run on behalf of `owner`; raises NotYourRun for a run someone else started."""
        if not self.can_control(run_id, owner):
            raise NotYourRun("Only the viewer who started this run can stop it; you can watch it.")
        self.get(run_id).stop()

    def interrupted(self, folder) -> list[SavedRun]:
        """The runs saved in `folder` mid-way that no run of this server is still writing: cut short
        by a restart (or a crash) after their last saved evaluation."""
        return interrupted_runs(folder, {run.id for run in self.runs()})

    def busy_paths(self) -> set[Path]:
        """Checkpoint files that a running run is still writing."""
        return {p.resolve() for j in self.running() for p in j.checkpoints()}

    def stop_all(self, timeout: float = 30) -> None:
        for run in self.runs():
            run.stop()
        for run in self.runs():
            run.wait(timeout)

    def _forget_old(self) -> None:
        ended = sorted((j for j in self._runs.values() if j.status not in ACTIVE), key=lambda j: j.created)
        for run in ended[: max(0, len(ended) - self.keep)]:
            del self._runs[run.id]


_shared: RunRegistry | None = None
_shared_lock = threading.Lock()


def shared_registry() -> RunRegistry:
    """The registry of this process (one per server, like `st.cache_resource`), created on first use
    with the cap from $TINYGPT_MAX_RUNS; pages, the benchmark and the tests all reach the same one."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = RunRegistry()
        return _shared
