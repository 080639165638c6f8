"""Which device to train on (CUDA, then Apple MPS, then CPU), how to describe it, which precision
to use there, and how many CPU threads: the cores this process may really use (affinity and the
container's quota) shared among the training runs. Every device-specific branch of the project
lives in this module: bf16 and TF32 on GPUs, bf16 on CPUs that multiply it natively, and
torch.compile where a compiler exists."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import warnings
from pathlib import Path

import torch

log = logging.getLogger(__name__)


def best_device() -> str:
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_device(name: str = "auto") -> str:
    """'auto' -> the best device; otherwise check that the named one exists."""
    if name == "auto":
        return best_device()
    kind = name.split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but no CUDA GPU is available")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("MPS was asked for but Apple's Metal backend is not available")
    if kind not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or mps")
    return name


def describe_device(device: str | None = None, threads: int | None = None) -> str:
    """A one-line human description: GPU name and memory, Apple MPS, or CPU threads (`threads`, by
    default this thread's torch threads)."""
    device = device or best_device()
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(torch.device(device))
        return f"CUDA GPU: {props.name} ({props.total_memory / 2**30:.0f} GiB)"
    if device == "mps":
        return "Apple GPU (MPS)"
    n = threads or torch.get_num_threads()
    return f"CPU ({n} thread{'s' if n > 1 else ''}{', bf16' if cpu_has_fast_bf16() else ''})"


def cpu_has_fast_bf16() -> bool:
    """True when this CPU multiplies bf16 natively (AVX-512 BF16 or AMX)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def has_fast_bf16(device: str) -> bool:
    """Whether `device` multiplies bf16 natively: CUDA GPUs that support it, CPUs with AVX-512 BF16 or
    AMX. Elsewhere a bf16 matrix product is emulated (40x slower than fp32 on an AVX2 CPU) or untested
    (MPS), so nothing may run in bf16 there unless the user asks for it."""
    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    return device == "cpu" and cpu_has_fast_bf16()


def fast_matmul_dtype(device: str) -> torch.dtype:
    """The cheapest precision for internal matrix products that tolerate bf16's 8-bit mantissa (Muon's
    orthogonalization): bf16 where the device multiplies it natively, fp32 elsewhere."""
    return torch.bfloat16 if has_fast_bf16(device) else torch.float32


def resolve_dtype(dtype: str, device: str, n_embd: int = 0) -> torch.dtype:
    """'auto' -> bf16 where it pays (CUDA with bf16; a CPU with native bf16 and a model wide enough
    for the matmuls to dominate, see docs/benchmarks.md), else fp32."""
    if dtype == "float32":
        return torch.float32
    if dtype == "bfloat16":
        return torch.bfloat16
    if dtype != "auto":
        raise ValueError(f"unknown dtype {dtype!r}; use auto, float32 or bfloat16")
    if not has_fast_bf16(device):
        return torch.float32
    if device == "cpu" and n_embd < BF16_MIN_EMBD_CPU:
        return torch.float32
    return torch.bfloat16


BF16_MIN_EMBD_CPU = 128


def autocast(device: str, dtype: torch.dtype):
    """Mixed precision for the forward pass; a no-op in fp32. Weights and optimizer stay fp32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.split(":")[0], dtype=dtype)


def to_device(t: torch.Tensor, device: str) -> torch.Tensor:
    """Move a batch; on CUDA through pinned memory so the copy can overlap compute."""
    if device.startswith("cuda"):
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


CGROUP = Path("/sys/fs/cgroup")


def available_cores(cgroup: Path = CGROUP) -> int:
    """The CPU cores this process may really use: the CPUs it may run on (its affinity), capped by
    the container's CPU quota, rounded down, at least 1. `os.cpu_count()` reports the host's cores
    inside a container (Streamlit Community Cloud, Docker), often many more than the app's share;
    threads beyond the quota are throttled, and OpenMP threads spinning for a throttled one stall."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup)
    if quota is not None:
        cores = min(cores, int(quota))
    return max(1, cores)


def cgroup_cpu_quota(cgroup: Path = CGROUP) -> float | None:
    """The cgroup's CPU quota in cores ("200000 100000" in cgroup v2's cpu.max is 2.0), or None
    when there is none or it cannot be read (not Linux, no cgroup filesystem)."""
    try:
        if (cgroup / "cpu.max").is_file():  # cgroup v2: "quota period" or "max period"
            quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        else:  # cgroup v1: cfs_quota_us is -1 when unlimited
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        if quota in ("max", "-1") or int(period) <= 0:
            return None
        return int(quota) / int(period)
    except (OSError, ValueError):
        return None


def available_memory_mb(cgroup: Path = CGROUP) -> int | None:
    """The memory this process may use, in MiB: the container's limit (cgroup v2's memory.max, v1's
    memory.limit_in_bytes) or, without one, the machine's; None where neither can be read."""
    found = [m for m in (_cgroup_memory(cgroup)[0], _machine_memory()) if m]
    return min(found) // 2**20 if found else None


def free_memory(device: str, cgroup: Path = CGROUP) -> int | None:
    """Bytes free for new work on `device` now: the GPU's free memory; on the CPU the smaller of what
    the machine has available and what the container's limit leaves (a container's /proc/meminfo
    describes the host). None when unknown."""
    if device.startswith("cuda"):
        return torch.cuda.mem_get_info(torch.device(device))[0]
    if device == "mps" and hasattr(torch.mps, "recommended_max_memory"):
        return torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory()
    limit, used = _cgroup_memory(cgroup)
    found = [m for m in (_machine_available(), limit - used if limit and used is not None else None) if m]
    return min(found) if found else None


def _cgroup_memory(cgroup: Path) -> tuple[int | None, int | None]:
    """(limit, current use) in bytes from cgroup v2 or v1; None for what is unlimited or unreadable."""
    for limit_file, used_file in (
        ("memory.max", "memory.current"),
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),
    ):
        try:
            text = (cgroup / limit_file).read_text().strip()
        except OSError:
            continue
        limit = int(text) if text.isdigit() and int(text) < 2**60 else None  # v1: "no limit" is huge
        try:
            used = int((cgroup / used_file).read_text().strip())
        except (OSError, ValueError):
            used = None
        return limit, used
    return None, None


def _machine_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # Windows has no sysconf
        return None


def _machine_available() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), else the free pages sysconf reports."""
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None


def env_int(name: str) -> int | None:
    """A whole number of at least 1 from the environment variable `name`; None when it is unset,
    or set to anything else (with a warning in the log, so a typo in a deploy's settings falls back
    to the default instead of breaking every page)."""
    value = os.environ.get(name, "").strip()
    if value.isdigit() and int(value) >= 1:
        return int(value)
    if value:
        log.warning("ignoring %s=%r: it must be a whole number of at least 1", name, value)
    return None


def training_cores(cores: int | None = None) -> int:
    """The cores training may take: all of them on a 1-2 core machine (leaving one idle would halve
    training), all but one on a bigger one, so the web server always has a core to answer on."""
    cores = cores or available_cores()
    return cores if cores <= 2 else cores - 1


def training_threads(cores: int | None = None, runs: int = 1) -> int:
    """Torch threads for one training run while `runs` runs train at once: $TINYGPT_THREADS if set;
    else an equal share of `training_cores()`, at least 1. Two runs on 2 cores get a thread each
    rather than 2 threads each fighting for the same cores."""
    return env_int("TINYGPT_THREADS") or max(1, training_cores(cores) // max(1, runs))


class use_threads:  # noqa: N801 - used as a function: use_threads(2), or `with use_threads(1):`
    """Give the calling thread `n` torch intra-op threads (default: `training_threads()`); `.n` is the
    count set. As a context manager it restores the thread's previous count when the block ends.
    With PyTorch's OpenMP backend the count belongs to the calling thread (a training run in another
    thread keeps its own), but a thread's first torch call resets it to the process-wide default:
    `get_num_threads()` makes that first call before the count is set."""

    def __init__(self, n: int | None = None):
        self.before = torch.get_num_threads()
        self.n = n or training_threads()
        if self.before != self.n:
            torch.set_num_threads(self.n)

    def __enter__(self) -> int:
        return self.n

    def __exit__(self, *exc) -> None:
        torch.set_num_threads(self.before)


def configure_device(device: str) -> None:
    """On CUDA, let float32 matmuls and convolutions use TF32 tensor cores (about 8x the fp32 rate on
    Ampere and later, with a 10-bit mantissa that training does not notice). Untested here: no GPU."""
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def compiler_available(device: str) -> bool:
    """torch.compile's CPU code (and its CUDA launchers) is C++ built at run time by a C++ compiler;
    MPS and a missing compiler mean eager mode."""
    if device == "mps":
        return False
    return any(shutil.which(c) for c in (os.environ.get("CXX", ""), "g++", "c++", "clang++") if c)


def compile_model(model, device: str):
    """`torch.compile(model)` where it can work, else `model` with a warning. Errors in compiling
    fall back to eager mode too (suppress_errors), so --compile never breaks a run."""
    if not compiler_available(device):
        warnings.warn("no C++ compiler found for torch.compile: training without compiling", stacklevel=2)
        return model
    import torch._dynamo

    torch._dynamo.config.suppress_errors = True
    return torch.compile(model)
