"""The processes of one launch: their distributed state, the main process, and barriers.

`accelerate launch --config_file accelerate_configs/cpu.yaml --num_processes 2` starts the
processes with torchrun (accelerate's MULTI_CPU launcher needs MPI), and that launcher
does not tell them to use the CPU. Without a GPU, accelerate's `PartialState()` then finds
no device backend and reports a single process (`DistributedType.NO`): every barrier is a
no-op and each `Trainer` runs as its own single-process run on the full data.
`init_processes` sets `ACCELERATE_USE_CPU` for such launches, which transformers'
`TrainingArguments` reads, so the trainers join the processes over gloo (MULTI_CPU) and
shard the data. DeepSpeed on CPU (`DS_ACCELERATOR=cpu`) needs `ddp_backend="gloo"` in the
trainers' arguments (`deepspeed_cpu_processes`, see genrm.training.stages); GPU and FSDP
launches pick their own backend.
"""

from __future__ import annotations

import os
from typing import Callable, TypeVar

T = TypeVar("T")


def world_size() -> int:
    return max(1, int(os.environ.get("WORLD_SIZE", "1")))


def is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _has_accelerator() -> bool:
    import torch

    acc = getattr(torch, "accelerator", None)
    if acc is not None and hasattr(acc, "is_available"):
        return bool(acc.is_available())
    return torch.cuda.is_available()


def cpu_processes() -> bool:
    """True for a multi-process launch on a machine without an accelerator, outside DeepSpeed/FSDP."""
    env = os.environ
    engine = any(env.get(k, "").lower() == "true" for k in ("ACCELERATE_USE_DEEPSPEED", "ACCELERATE_USE_FSDP"))
    return world_size() > 1 and not engine and not _has_accelerator()


def deepspeed_cpu_processes() -> bool:
    """True for a multi-process DeepSpeed launch without an accelerator (`DS_ACCELERATOR=cpu`)."""
    env = os.environ
    return world_size() > 1 and env.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true" and not _has_accelerator()


def init_processes() -> None:
    """Join CPU processes over gloo (before the first barrier and before any trainer is built).
    GPU, DeepSpeed and FSDP launches are left to accelerate and the trainers."""
    if not cpu_processes():
        return
    os.environ["ACCELERATE_USE_CPU"] = "true"  # TrainingArguments._setup_devices reads it
    from accelerate import PartialState

    state = PartialState(cpu=True)
    if state.num_processes != world_size():
        raise RuntimeError(f"{world_size()} processes were launched but accelerate joined {state.num_processes} "
                           f"({state.distributed_type}); check the launcher config")


def barrier() -> None:
    """Wait for every process (a no-op in a single process). Straight on torch.distributed once
    a process group exists: under FSDP on CPU accelerate's state says `DistributedType.NO`,
    and its `wait_for_everyone` (the trainers' too) then waits for nobody."""
    if world_size() > 1:
        import torch.distributed as tdist

        if tdist.is_available() and tdist.is_initialized():
            tdist.barrier()
            return
        from accelerate import PartialState

        PartialState(cpu=cpu_processes()).wait_for_everyone()


def main_first(fn: Callable[[], T]) -> T:
    """`fn()` on the main process, then on the others once it has finished (it writes
    what they then read: a dataset build, a download). The barrier is passed even when
    `fn` raises on the main process, so the others do not hang: they meet the same error."""
    if is_main():
        try:
            return fn()
        finally:
            barrier()
    barrier()
    return fn()
