"""Training runs in the background while a web page watches them.

A Run is a daemon thread that consumes `tinygpt.train.train()` into a thread-safe record; a race
advances the bigram's and the GPT's generators one step each in turn (same batches, same seed,
same wall clock), so neither model gets more time than the other; a run whose class sets `in_turn`
(the ladder's, course/ladder.py) trains its models one after another instead. A RunRegistry finds runs by id
(so a reloaded page can reattach), caps how many run at once on the server ($TINYGPT_MAX_RUNS,
by default one per training core) and shares the cores among them. Any viewer may watch a run;
only its owner (the opaque token it was started with) may stop it or delete its files. Every run
saves each model at each evaluation into its folder, marked "running" until it ends, so the runs a
server restart cut short can be listed with their last saved step (`interrupted_runs`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from course.plan import RunSpec, TrainingData, count_parameters_of
from course.priority import RUN_NICENESS, give_way_to_pages
from course.saved_runs import (
    FAILED,
    FINISHED,
    RUNNING,
    STOPPED,
    STOPPING,
    NotYourRun,
    SavedRun,
    interrupted_runs,
    owner_tag,
)
from tinygpt.checkpoint import SUFFIX, load_checkpoint, read_metadata
from tinygpt.device import configure_threads, env_int, training_cores, training_threads
from tinygpt.models import build_model
from tinygpt.train import (
    CheckpointEvent,
    DoneEvent,
    EvalEvent,
    SampleEvent,
    StepEvent,
    TrainingDiverged,
    train,
)

log = logging.getLogger(__name__)
MOST_RUNS_BY_DEFAULT = 4  # beyond this, runs would get a thread each and still wait on memory
ACTIVE = (RUNNING, STOPPING)


class TooManyRuns(RuntimeError):
    """The server already runs as many training runs as it allows."""


def default_max_runs(cores: int | None = None) -> int:
    """One run per core that training may take (`training_cores`), at most MOST_RUNS_BY_DEFAULT:
    1 on a 1-core box, 2 on 2 cores (a thread each when both run), 3 on 4 cores."""
    return max(1, min(MOST_RUNS_BY_DEFAULT, training_cores(cores)))


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
    evals: list[dict] = field(default_factory=list)  # step, train_loss, val_loss, elapsed
    samples: list[tuple[int, str]] = field(default_factory=list)
    saved: bool = False
    saved_step: int = 0  # the step of the last checkpoint that reached the disk
    save_error: str | None = None  # why the last save failed (None once a save succeeds again)

    def copy(self) -> ModelTrace:
        """A snapshot: the lists copied, so the running run's appends do not reach it."""
        lists = ("steps", "losses", "times", "evals", "samples")
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
    """One training run in a daemon thread. Read it with `view()`; end it early with `stop()`.
    `owner` is the token of whoever started it; `threads()` says, each round, how many torch
    threads the run may use now (it follows how many runs share the machine)."""

    in_turn = False  # True in subclasses whose models train one after another

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
        self.name = name or _run_name(spec, self.id)
        self.spec, self.data, self.folder = spec, data, Path(folder)
        self.owner, self._threads = owner, threads
        self.created = time.time()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._latched = False  # the stop request as seen at the start of the current lockstep round
        self._threads_now = 0
        self._status, self._error, self._ended = RUNNING, None, None
        self._start = time.perf_counter()
        self._traces = {  # there from the start, so a view always shows every model of the run
            kind: ModelTrace(kind, self._count_parameters(kind), str(self._path(kind)))
            for kind in spec.models
        }
        self._summaries: dict[str, dict] = {}  # per model: what train() writes into each checkpoint
        self._step_elapsed: dict[str, float] = {}  # per model: train()'s clock at its last step
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

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run has ended (or `timeout` passed); True when it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def status(self) -> str:
        with self._lock:
            return self._status

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
                self.in_turn,
            )

    def _run(self) -> None:
        give_way_to_pages(RUN_NICENESS)
        try:
            self._threads_now = configure_threads(self._threads())
            if self.in_turn:
                _in_turn(self._generators(), self._record, self._new_round, self._stop.is_set)
            else:
                _lockstep(self._generators(), self._record, self._new_round)
            outcome, error = (STOPPED if self._stop.is_set() else FINISHED), None
        except Exception as e:  # noqa: BLE001 - any failure must end in a readable status, not a dead thread
            log.exception("training run %s failed", self.id)
            outcome, error = FAILED, failure_message(e)
        finally:
            self.data = None  # an ended run keeps its record, not the (possibly large) encoded text
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        with self._lock:
            self._status, self._error, self._ended = outcome, error, time.perf_counter()

    def _new_round(self) -> None:
        self._latched = self._stop.is_set()
        self._threads_now = configure_threads(self._threads())  # another run may have started or ended

    def _stopping(self) -> bool:
        """What `train()` asks after each step: every model of a race sees the same answer in a
        round, so a stopped race ends with both models at the same step."""
        return self._latched

    def _path(self, kind: str) -> Path:
        stem = f"{self.name}-{kind}" if len(self.spec.models) > 1 else self.name
        return self.folder / f"{stem}{SUFFIX}"

    def _generators(self) -> dict[str, Iterator]:
        gens = {}
        for kind in self.spec.models:
            model, cfg = self._build(kind), self.spec.train_config(kind, str(self._path(kind)))
            summary = self._summary(kind)
            gens[kind] = train(model, self.data.splits, cfg, self.data.tokenizer, self._stopping, summary)
        return gens

    def _summary(self, kind: str) -> dict:
        """What train() adds to each checkpoint of `kind`; it reads it at every save, so `status` can change."""
        self._summaries[kind] = {
            **self.data.summary,
            "run_id": self.id,
            "run_name": self.name,
            "race": list(self.spec.models),
            "owner": owner_tag(self.owner),
            "status": RUNNING,
        }
        return self._summaries[kind]

    def _build(self, kind: str) -> torch.nn.Module:
        torch.manual_seed(self.spec.train.seed)  # the same initial weights for the same settings
        return build_model(kind, self.spec.model_config(kind))

    def _count_parameters(self, kind: str) -> int:
        return count_parameters_of(kind, self.spec)

    def _record(self, kind: str, event) -> None:
        with self._lock:
            trace = self._traces[kind]
            if isinstance(event, StepEvent):
                trace.steps.append(event.step)
                trace.losses.append(event.loss)
                trace.times.append(time.perf_counter() - self._start)
                self._step_elapsed[kind] = event.elapsed
            elif isinstance(event, EvalEvent):
                self._summaries[kind]["status"] = self._outcome_if_last(kind, event.step)
                elapsed = time.perf_counter() - self._start
                trace.evals.append(
                    {
                        "step": event.step,
                        "train_loss": event.train_loss,
                        "val_loss": event.val_loss,
                        "elapsed": elapsed,
                    }
                )
            elif isinstance(event, SampleEvent):
                trace.samples.append((event.step, event.text))
            elif isinstance(event, CheckpointEvent):
                # `error`: set by train() when the save failed and training went on (OSError)
                trace.save_error = getattr(event, "error", None)
                if trace.save_error is None:
                    trace.saved, trace.saved_step = True, event.step

    def _outcome_if_last(self, kind: str, step: int) -> str:
        """The status the checkpoint about to be saved should carry: train() evaluates and saves at
        the end, for the same reasons it checks here (`train._stop_reason`), so the last save says
        how the run ended and every earlier one says "running"."""
        cfg = self.spec.train
        if self._latched:
            return STOPPED
        if (cfg.max_steps is not None and step >= cfg.max_steps) or (
            cfg.max_seconds is not None and self._step_elapsed.get(kind, 0.0) >= cfg.max_seconds
        ):
            return FINISHED
        return RUNNING


class ContinuedRun(Run):
    """A saved run trained on from where it stopped: `train(..., resume=path)` restores its weights,
    optimizer state, schedule, random state and clock, and it saves into the same file. Its spec
    (`plan.continued_spec`) counts the budget from now, so the page's progress bar starts at zero;
    train() is given the same budget counted from the run's first step."""

    def __init__(self, spec, data, folder, name=None, owner=None, threads=training_threads, *, resume):
        self.resume, self.before = Path(resume), read_metadata(resume)["summary"]
        super().__init__(spec, data, folder, name or self.resume.stem, owner, threads)

    def _path(self, kind: str) -> Path:
        return self.resume

    def _generators(self) -> dict[str, Iterator]:
        kind, cfg = self.spec.models[0], self.spec.train
        extra = dict(
            max_steps=cfg.max_steps and self.before["steps"] + cfg.max_steps,
            max_seconds=cfg.max_seconds and self.before["elapsed_seconds"] + cfg.max_seconds,
        )
        cfg = replace(cfg, **extra, checkpoint_path=str(self.resume))
        model = load_checkpoint(self.resume).model.train()
        gen = train(
            model,
            self.data.splits,
            cfg,
            self.data.tokenizer,
            self._stopping,
            self._summary(kind),
            self.resume,
        )
        return {kind: gen}


def _run_name(spec: RunSpec, run_id: str) -> str:
    """e.g. race-cpu-20250102-153000-1a2b, gpt-lecture-..., bigram-...: unique and sortable."""
    what = "race" if len(spec.models) > 1 else spec.models[0]
    shape = "" if spec.models == ("bigram",) else f"-{spec.preset}"
    return f"{what}{shape}-{time.strftime('%Y%m%d-%H%M%S')}-{run_id[:4]}"


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


class RunRegistry:
    """Every run this server has started, by id; at most `max_runs` run at once. Keeps the last
    `keep` ended runs so a page can still show their whole history."""

    def __init__(self, max_runs: int | None = None, keep: int = 20):
        self.max_runs = max_runs or configured_max_runs()
        self.keep = keep
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()

    def start(self, spec: RunSpec, data: TrainingData, folder, name=None, owner=None, run_class=Run) -> Run:
        """Start a `run_class` (Run, or a subclass such as the ladder's) that saves into `folder`,
        named `name` (or after its spec) and stoppable by `owner` only; raises TooManyRuns when the
        server is full."""
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
