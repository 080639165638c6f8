"""Server time of every widget change: runs the widget-limits test (tests/test_widget_limits.py: every
number input and slider of every lesson at its lowest and highest value, every text box empty and
10,000 characters long, every choice) under AppTest, which runs each page's script as the server
would, and reports how long each change kept the page busy: the slowest per lesson, and whether any
took more than --limit seconds (issue 21: 2 s on either kind of CPU). Buttons pressed after a change
(Generate: text the viewer asked for, streamed as it comes) are reported apart. Names the machine.

  python bench/bench_widgets.py [--limit 2.0] [-k 4_training]
Prints one JSON line per lesson and a summary line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.machine import machine

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=float, default=2.0)
    parser.add_argument("-k", default=None, help="pytest -k expression to choose lessons")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        times = Path(folder) / "times.jsonl"
        command = [
            sys.executable,
            "-m",
            "pytest",
            "tests/test_widget_limits.py",
            "-q",
            "-p",
            "no:cacheprovider",
        ]
        command += ["-k", args.k] if args.k else []
        done = subprocess.run(command, cwd=ROOT, env={**os.environ, "TINYGPT_WIDGET_TIMES": str(times)})
        rows = [json.loads(line) for line in times.read_text().splitlines()] if times.exists() else []
    # "…, then generate_go": a button pressed after the change (generating text the viewer asked for,
    # streamed as it comes), reported apart from the widget changes themselves
    actions = [r for r in rows if ", then " in r["change"]]
    rows = [r for r in rows if ", then " not in r["change"]]
    by_lesson: dict[str, list[dict]] = {}
    for row in rows:
        by_lesson.setdefault(row["change"].split(":")[0].split(" ")[0], []).append(row)
    for lesson, changes in by_lesson.items():
        slowest = max(changes, key=lambda r: r["seconds"])
        print(
            json.dumps(
                {
                    "lesson": lesson,
                    "changes": len(changes),
                    "slowest_s": round(slowest["seconds"], 3),
                    "slowest_change": slowest["change"][:200],
                    "over_limit": sum(r["seconds"] > args.limit for r in changes),
                }
            ),
            flush=True,
        )
    worst = max((r["seconds"] for r in rows), default=None)
    print(
        json.dumps(
            {
                "bench": "widgets",
                "limit_s": args.limit,
                "changes": len(rows),
                "slowest_s": None if worst is None else round(worst, 3),
                "all_within_limit": worst is not None and worst <= args.limit,
                "tests_passed": done.returncode == 0,
                "actions": len(actions),
                "slowest_action_s": round(max((r["seconds"] for r in actions), default=0.0), 3),
                "slowest_action": max(actions, key=lambda r: r["seconds"])["change"][:200]
                if actions
                else None,
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
