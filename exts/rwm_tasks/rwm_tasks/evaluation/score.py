"""The tracking score: one number per policy that says "it walks and follows the commanded velocity".

    tracking score = mean over envs and control steps of exp(-|v_xy - c_xy|^2 / std^2) x alive

with ``v_xy`` the base-frame planar velocity after the step, ``c_xy`` the command during the step, ``std``
the task's own ``track_lin_vel_xy_exp`` std, and ``alive`` 0 from an env's first termination (base contact)
to the end of its evaluation (the terminating step included). The yaw score is the same with the yaw rate
and the task's ``track_ang_vel_z_exp`` std. Pure torch, no executor.
"""

from __future__ import annotations

import torch


def tracking_kernel(velocity: torch.Tensor, command: torch.Tensor, std: float) -> torch.Tensor:
    """exp(-|velocity - command|^2 / std^2) over the last dimension."""
    return torch.exp(-torch.sum(torch.square(velocity - command), dim=-1) / std**2)


def alive_mask(terminated: torch.Tensor) -> torch.Tensor:
    """[T, E] bool: True until an env's first termination (its terminating step is already False)."""
    return torch.cumsum(terminated.long(), dim=0) == 0


def tracking_score(velocity: torch.Tensor, command: torch.Tensor, terminated: torch.Tensor, std: float) -> float:
    """Mean of :func:`tracking_kernel` x :func:`alive_mask` over [T, E] steps (velocity/command [T, E, D])."""
    kernel = tracking_kernel(velocity, command, std)
    return float((kernel * alive_mask(terminated)).mean())
