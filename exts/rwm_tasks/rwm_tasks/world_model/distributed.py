"""Data-parallel world-model training on ``torch.distributed`` (one process per GPU or per CPU share).

Under ``torchrun`` every rank holds the same model: its parameters and buffers are broadcast from rank 0 before
the first update (and after a resume), and each update averages the gradients of all ranks in one all-reduce,
so the same optimizer steps keep the copies identical. Every rank draws the same total batch of windows and
keeps its strided share (as ``torch.utils.data.DistributedSampler`` splits an epoch). Only rank 0 writes files.

Outside a process group (the default) every helper is a no-op: rank 0 of a world of 1.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import Tensor


def launched_world_size() -> int:
    """Processes started by ``torchrun`` (its ``WORLD_SIZE``; 1 without it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def backend_for(device: str | torch.device) -> str:
    """NCCL for CUDA tensors, Gloo for CPU ones."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def init_from_env(device: str = "cpu") -> str:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_*``)
    with the backend of ``device``; returns the device of this rank (``cuda:<LOCAL_RANK>`` for CUDA). An
    existing group (e.g. rsl-rl's) is kept. Single process: ``device`` unchanged, no group."""
    if launched_world_size() <= 1:
        return device
    if torch.device(device).type == "cuda":
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend_for(device))
    return device


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """Rank in the group; before the group exists, torchrun's ``RANK`` (so writes can be guarded early)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """Rank 0: the one process that writes checkpoints, datasets and logs."""
    return rank() == 0


def local_share(total: int) -> int:
    """This rank's part of ``total`` items split as evenly as possible (e.g. imagined envs)."""
    n, r = world_size(), rank() if is_distributed() else 0
    if total < n:
        raise ValueError(f"cannot split {total} items over {n} processes")
    return total // n + (1 if r < total % n else 0)


def shard_indices(total: int) -> Tensor:
    """This rank's strided share ``rank, rank + world, ...`` of a batch of ``total`` items."""
    return torch.arange(rank() if is_distributed() else 0, total, world_size())


def _comm_device() -> torch.device:
    """Where a tensor must be for a collective: the current CUDA device under NCCL, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def broadcast_tensors(tensors: Iterable[Tensor | None], src: int = 0) -> None:
    """Overwrite every tensor in place with rank ``src``'s (None entries skipped)."""
    if not is_distributed():
        return
    for t in tensors:
        if t is None:
            continue
        buf = t.detach().to(_comm_device()).contiguous()
        dist.broadcast(buf, src=src)
        if buf.data_ptr() != t.data_ptr():
            t.data.copy_(buf)


def broadcast_module(module: torch.nn.Module, src: int = 0) -> None:
    """Rank ``src``'s parameters and buffers (normalisation, flag weights, priors) on every rank."""
    broadcast_tensors(module.state_dict(keep_vars=True).values(), src)


def average_gradients(parameters: Iterable[torch.nn.Parameter], weight: float,
                      values: dict[str, float] | None = None) -> dict[str, float]:  # fmt: skip
    """Replace each gradient by the ``weight``-weighted mean over ranks, in one all-reduce; ``values`` (logs)
    are averaged the same way and returned.

    With ``weight`` the mass of this rank's loss normaliser (windows, or their bootstrap weights) the result
    is the gradient of the loss over the union of all ranks' windows."""
    values = dict(values or {})
    if not is_distributed():
        return values
    grads = [p.grad for p in parameters if p.grad is not None]
    keys = sorted(values)
    dtype = grads[0].dtype if grads else torch.float32
    device = _comm_device()
    parts = [g.detach().reshape(-1).to(device, dtype) for g in grads]
    parts.append(torch.tensor([values[k] for k in keys] + [1.0], dtype=dtype, device=device))
    flat = torch.cat(parts)
    flat.mul_(weight)
    dist.all_reduce(flat)
    flat.div_(flat[-1].clone())
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()
    return {k: float(v) for k, v in zip(keys, flat[offset:-1].tolist())}


def all_ranks(flag: bool) -> bool:
    """True when ``flag`` holds on every rank (a collective: all ranks must call it)."""
    if not is_distributed():
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def any_rank(flag: bool) -> bool:
    """True when ``flag`` holds on some rank (a collective)."""
    return not all_ranks(not flag)


def broadcast_object(obj, src: int = 0):
    """Rank ``src``'s picklable ``obj`` on every rank (e.g. a run folder name)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
