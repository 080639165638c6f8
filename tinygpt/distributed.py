"""Data-parallel training over several processes, as nanoGPT does it: `torchrun` starts one process
per device, each wraps the model in DistributedDataParallel (gloo on CPU, NCCL on CUDA) and trains on
its share of every batch; DDP averages the gradients. A plain `python` run is a world of one process
and touches none of torch.distributed.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0  # this process among all of them
    local_rank: int = 0  # this process among those on its machine: which GPU it uses
    size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, evaluates and saves."""
        return self.rank == 0


def launched() -> bool:
    """True inside a process that torchrun started for a world of more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def local_processes() -> int:
    """How many processes torchrun started on this machine (1 without torchrun)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def init(device: str) -> World:
    """Join the process group that torchrun's environment describes (RANK, WORLD_SIZE, MASTER_ADDR,
    ...): NCCL between GPUs, gloo between CPUs. Each CUDA process takes the GPU of its local rank."""
    if launched() and not dist.is_initialized():
        cuda = device.startswith("cuda")
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return current()


def current() -> World:
    """This process's place in the process group (a world of one when there is none)."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")), dist.get_world_size())


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def device_for(world: World, device: str) -> str:
    """'cuda' means this process's own GPU in a multi-GPU world."""
    return f"cuda:{world.local_rank}" if world.size > 1 and device == "cuda" else device


def wrap(model, world: World, device: str):
    """`model` inside DistributedDataParallel when there are other processes, else itself."""
    if world.size == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        model, device_ids=[world.local_rank] if device.startswith("cuda") else None
    )


def sync_gradients(net, last: bool):
    """Gradient accumulation: DDP averages gradients only after the last micro-batch's backward."""
    if last or not hasattr(net, "no_sync"):
        return contextlib.nullcontext()
    return net.no_sync()


def mean(value: float, world: World) -> float:
    """The mean of `value` over all processes (e.g. the step's loss, each process's on its rows)."""
    if world.size == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(t)
    return t.item() / world.size


def decision(choice: str | None, choices: tuple[str, ...], world: World) -> str | None:
    """Rank 0's `choice` (one of `choices` or None) in every process: only rank 0 keeps the clock
    and hears stop requests, and all processes must stop at the same step."""
    if world.size == 1:
        return choice
    code = choices.index(choice) + 1 if world.is_main and choice is not None else 0
    t = torch.tensor([code], dtype=torch.int64, device=_collective_device())
    dist.broadcast(t, src=0)
    return choices[t.item() - 1] if t.item() else None


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()


def _collective_device() -> str:
    """NCCL reduces tensors on the GPU only; gloo on the CPU."""
    return f"cuda:{torch.cuda.current_device()}" if dist.get_backend() == "nccl" else "cpu"
