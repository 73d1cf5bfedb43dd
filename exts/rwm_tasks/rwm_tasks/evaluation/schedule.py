"""A seeded velocity-command schedule drawn from a task's own command ranges.

Every policy evaluated with the same task and seed sees the same commands: each env holds a command for a
resampling time drawn from the task's ``resampling_time_range``; a command is zero with the task's
standing probability (``rel_standing_envs``), otherwise uniform in ``lin_vel_x``, ``lin_vel_y`` and
``ang_vel_z``. Heading control is not used: its yaw command would depend on the policy's own heading, so
the yaw-rate range is sampled directly.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch


def command_schedule(command_spec, num_envs: int, num_steps: int, step_dt: float, seed: int) -> torch.Tensor:
    """[num_steps, num_envs, 3] base-frame commands (vx, vy, wz), piecewise constant per env."""
    gen = torch.Generator().manual_seed(int(seed))

    def uniform(shape, low: float, high: float) -> torch.Tensor:
        return torch.rand(shape, generator=gen) * (high - low) + low

    low_t, high_t = command_spec.resampling_time_range
    max_segments = int(np.ceil(num_steps * step_dt / max(low_t, step_dt))) + 1
    shape = (num_envs, max_segments)
    durations = torch.clamp((uniform(shape, low_t, high_t) / step_dt).round().long(), min=1)
    values = torch.stack(
        (uniform(shape, *command_spec.lin_vel_x), uniform(shape, *command_spec.lin_vel_y),
         uniform(shape, *command_spec.ang_vel_z)), dim=-1,
    )  # fmt: skip
    standing = torch.rand(shape, generator=gen) <= command_spec.rel_standing_envs
    values[standing] = 0.0
    ends = torch.cumsum(durations, dim=1)  # [E, S] step index at which each segment ends
    steps = torch.arange(num_steps)
    segment = torch.searchsorted(ends, steps.expand(num_envs, -1).contiguous(), right=True)  # [E, T]
    schedule = torch.gather(values, 1, segment.unsqueeze(-1).expand(-1, -1, 3))
    return schedule.transpose(0, 1).contiguous()


def schedule_hash(schedule: torch.Tensor) -> str:
    """sha256 (first 16 hex digits) of the schedule's float32 bytes: equal hashes, equal commands."""
    return hashlib.sha256(schedule.to(torch.float32).numpy().tobytes()).hexdigest()[:16]
