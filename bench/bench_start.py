"""How soon a run trains: seconds from `RunRegistry.start(...)` (a click on Start) to the first
StepEvent the run records, for a `cpu`-preset race on the given text (Tiny Shakespeare by default),
each time after one warm-up start. The worker is forked from a warm forkserver (course/launch.py);
the baseline, measured in the same run, is a worker in a fresh interpreter ("spawn": a cold
`import torch`, what every run paid before and what macOS and Windows still pay).

Prints one JSON line: the median and each time per launcher, their ratio, the CPU's name and kind.
  python bench/bench_start.py [--rounds 5] [--launchers forkserver spawn] [--data input.txt]
"""

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from course import plan, runs
from course.launch import PLATFORM_LAUNCHER
from tinygpt import load_shakespeare
from tinygpt.device import cpu_has_fast_bf16
from tinygpt.train import StepEvent


class TimedRun(runs.Run):
    """A Run that notes when it recorded its first step."""

    first_step_at: float | None = None

    def _record(self, kind: str, event) -> None:
        if self.first_step_at is None and isinstance(event, StepEvent):
            self.first_step_at = time.perf_counter()
        super()._record(kind, event)


def start_to_first_step(registry, spec, data, folder) -> float:
    clicked = time.perf_counter()
    run = registry.start(spec, data, folder, run_class=TimedRun)
    assert run.wait(300) and run.status == runs.FINISHED, run.view().error
    return run.first_step_at - clicked


def times(launcher: str, spec, data, rounds: int) -> list[float]:
    """One warm-up start, then `rounds` timed ones, each after the last run ended."""
    os.environ["TINYGPT_RUN_LAUNCHER"] = launcher  # each Run reads it when it is created
    registry = runs.RunRegistry(max_runs=1)  # warms the forkserver up, as the server does
    with tempfile.TemporaryDirectory() as folder:
        start_to_first_step(registry, spec, data, folder)
        return [round(start_to_first_step(registry, spec, data, folder), 3) for _ in range(rounds)]


def cpu_name() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--launchers", nargs="+", default=[PLATFORM_LAUNCHER, "spawn"])
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    data = plan.TrainingData.from_text(load_shakespeare(args.data), "tinyshakespeare")
    # a short real race: two steps, then one small evaluation and save, so each round ends quickly
    spec = plan.make_spec(
        plan.RACE, data.tokenizer.vocab_size, "cpu", max_steps=2, eval_interval=2, eval_iters=1
    )
    row = {"bench": "start", "preset": "cpu", "models": list(spec.models), "rounds": args.rounds}
    for launcher in dict.fromkeys(args.launchers):
        each = times(launcher, spec, data, args.rounds)
        row[f"{launcher}_s"] = each
        row[f"{launcher}_median_s"] = statistics.median(each)
    row["start_to_first_step_s"] = row[f"{args.launchers[0]}_median_s"]
    if "spawn" in args.launchers and args.launchers[0] != "spawn":
        row["spawn_vs_first"] = round(row["spawn_median_s"] / row["start_to_first_step_s"], 1)
    cpu = {"cpu": cpu_name(), "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    row |= cpu | {"cpu_has_fast_bf16": cpu_has_fast_bf16(), "cores": os.cpu_count()}
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
