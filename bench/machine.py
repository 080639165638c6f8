"""The machine a benchmark ran on, for its record: a speed figure means little without the CPU it
was measured on and whether that CPU multiplies bf16 natively (docs/benchmarks.md)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from tinygpt.device import available_cores, cpu_has_fast_bf16


def cpu_name() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what the platform module says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """CPU name, cores this process may use, torch's CPU capability, native bf16, load average."""
    return {
        "cpu": cpu_name(),
        "cores": available_cores(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "fast_bf16": cpu_has_fast_bf16(),
        "torch": torch.__version__,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        # set to emulate a CPU without native bf16 on one that has it (docs/benchmarks.md)
        "emulated_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
    }
