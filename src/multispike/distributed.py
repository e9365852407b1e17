"""Data-parallel training with ``torch.distributed``: each process takes its shard of every
batch, the gradients are combined so that the update equals the one-process update of the
whole batch, and only rank 0 writes files.

The training losses are means over the batch. With B samples in a batch split into shards of
n_r samples, the batch loss is L = sum_r (n_r / B) L_r, where L_r is the mean over shard r,
so the gradient of the whole batch is

    dL/dw = sum_r (n_r / B) dL_r/dw

Each process scales its shard's gradient by n_r / B and an all-reduce sums them: every
process then holds the same gradient and takes the same optimiser step (the weights start
equal: rank 0's are broadcast). Uneven shards (a last batch not divisible by the number of
processes) are handled by the weights n_r / B; a process whose shard is empty contributes 0.

Launch with ``torchrun --nproc-per-node N -m multispike train ...``: torchrun sets RANK,
WORLD_SIZE, MASTER_ADDR and MASTER_PORT, and :func:`init_from_env` joins the group (gloo
backend, CPU).
"""
from __future__ import annotations

import os

import torch

__all__ = ["ProcessGroup", "init_from_env", "close", "current_group", "threads_per_process", "quiet"]


def quiet(*_args, **_kwargs) -> None:
    """A ``print`` / ``log`` for the processes that do not write (ranks other than 0)."""


class ProcessGroup:
    """The processes training one network (one process, when torch.distributed is not
    initialised: then every method is the identity)."""

    def __init__(self):
        import torch.distributed as dist

        self.active = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        self.rank = dist.get_rank() if self.active else 0
        self.size = dist.get_world_size() if self.active else 1

    @property
    def writes_files(self) -> bool:
        """Only rank 0 writes checkpoints, metrics and log lines."""
        return self.rank == 0

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This process's contiguous part of a batch of sample indices."""
        return torch.tensor_split(batch, self.size)[self.rank] if self.active else batch

    def average_gradients(self, parameters, shard_size: int, batch_size: int) -> None:
        """Replace each parameter's gradient by the gradient of the whole batch's mean loss
        (module docstring); parameters without a gradient count as zero."""
        if not self.active:
            return
        import torch.distributed as dist

        parameters = list(parameters)
        for p in parameters:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            elif shard_size == 0:  # the loss of an empty shard is NaN; it contributes nothing
                p.grad.zero_()
            else:
                p.grad.mul_(shard_size / batch_size)
        # one collective per step: every exchange is a point where the processes wait for
        # each other
        flat = torch.cat([p.grad.reshape(-1) for p in parameters])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        for p, part in zip(parameters, flat.split([p.numel() for p in parameters])):
            p.grad.copy_(part.view_as(p.grad))

    def sum(self, *values: float) -> tuple:
        """Each value summed over the processes (epoch totals: loss, correct, seen)."""
        if not self.active:
            return values
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return tuple(t.tolist())

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        """Every process starts from rank 0's weights."""
        if not self.active:
            return
        import torch.distributed as dist

        with torch.no_grad():
            for p in module.parameters():
                dist.broadcast(p.data, src=0)

    def broadcast(self, value):
        """Rank 0's ``value`` (any picklable object, e.g. a checkpoint) on every process."""
        if not self.active:
            return value
        import torch.distributed as dist

        box = [value if self.rank == 0 else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def current_group() -> ProcessGroup:
    return ProcessGroup()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env() -> ProcessGroup:
    """Join the process group described by torchrun's environment (gloo backend); without
    it (WORLD_SIZE unset or 1) nothing happens and a one-process group is returned."""
    import torch.distributed as dist

    if launched_by_torchrun() and not dist.is_initialized():
        if not dist.is_available():
            raise RuntimeError("this torch build has no torch.distributed support")
        dist.init_process_group("gloo")
    return ProcessGroup()


def close() -> None:
    """Leave the process group if :func:`init_from_env` joined one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def threads_per_process() -> int | None:
    """Kernel threads for one of torchrun's processes on this machine: the cores divided by
    the processes on it (LOCAL_WORLD_SIZE); None outside torchrun (keep the default)."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if not launched_by_torchrun() or local <= 1:
        return None
    return max((os.cpu_count() or 1) // local, 1)
