"""Isaac Lab's ``UniformVelocityCommand`` on tensors: sampling, resampling timers, heading control,
standing envs and the tracking metrics logged at episode end (``Metrics/<name>/...``)."""

from __future__ import annotations

import math

import torch


def wrap_to_pi(angle: torch.Tensor) -> torch.Tensor:
    """Angles wrapped to [-pi, pi)."""
    return torch.remainder(angle + math.pi, 2 * math.pi) - math.pi


class VelocityCommand:
    """Base-frame (vx, vy, wz) commands for ``num_envs`` envs from a ``CommandSpec``.

    Call order per policy step, as Isaac Lab's command manager: :meth:`reset` for finished envs (logs their
    episode metrics, resamples), then :meth:`compute` (metrics, resampling timers, heading and standing).
    """

    def __init__(self, spec, num_envs: int, generator: torch.Generator, device: str | torch.device = "cpu"):
        if spec.heading_command and spec.heading is None:
            raise ValueError(f"command '{spec.name}': heading command active but no heading range")
        self.spec = spec
        self.name = spec.name
        self.gen = generator
        self.device = torch.device(device)
        self.command = torch.zeros(num_envs, 3, device=device)
        self.heading_target = torch.zeros(num_envs, device=device)
        self.is_heading_env = torch.zeros(num_envs, dtype=torch.bool, device=device)
        self.is_standing_env = torch.zeros(num_envs, dtype=torch.bool, device=device)
        self.time_left = torch.zeros(num_envs, device=device)
        self.counter = torch.zeros(num_envs, dtype=torch.long, device=device)
        self.error_sums = torch.zeros(num_envs, 3, device=device)
        """Per env since the episode start: summed xy and yaw velocity errors, number of steps."""

    def uniform(self, n: int, low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=self.gen, device=self.device) * (high - low) + low

    def resample(self, ids: torch.Tensor) -> None:
        """New time left, velocities, heading target and heading / standing flags for ``ids``."""
        n = len(ids)
        if n == 0:
            return
        s = self.spec
        self.time_left[ids] = self.uniform(n, *s.resampling_time_range)
        self.command[ids, 0] = self.uniform(n, *s.lin_vel_x)
        self.command[ids, 1] = self.uniform(n, *s.lin_vel_y)
        self.command[ids, 2] = self.uniform(n, *s.ang_vel_z)
        if s.heading_command:
            self.heading_target[ids] = self.uniform(n, *s.heading)
            self.is_heading_env[ids] = self.uniform(n, 0.0, 1.0) <= s.rel_heading_envs
        self.is_standing_env[ids] = self.uniform(n, 0.0, 1.0) <= s.rel_standing_envs
        self.counter[ids] += 1

    def reset(self, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """Episode-end metrics of ``ids`` (Isaac Lab's keys), then zero the sums and resample."""
        sums = self.error_sums[ids]
        err_xy, err_yaw = sums[:, 0] / sums[:, 2].clamp_min(1.0), sums[:, 1] / sums[:, 2].clamp_min(1.0)
        s = self.spec
        success = ((err_xy < s.vel_xy_success_threshold) & (err_yaw < s.vel_yaw_success_threshold)).float()
        log = {
            f"Metrics/{self.name}/error_vel_xy": err_xy.mean(),
            f"Metrics/{self.name}/error_vel_yaw": err_yaw.mean(),
            "Metrics/success_rate": success.mean(),
        }
        self.error_sums[ids] = 0.0
        self.counter[ids] = 0
        self.resample(ids)
        return log

    def compute(self, dt: float, lin_vel_b: torch.Tensor, ang_vel_b: torch.Tensor, heading: torch.Tensor) -> None:
        """One policy step: accumulate metrics, count down, resample expired, apply heading and standing."""
        err_xy = torch.linalg.norm(self.command[:, :2] - lin_vel_b[:, :2], dim=-1)
        err_yaw = torch.abs(self.command[:, 2] - ang_vel_b[:, 2])
        self.error_sums += torch.stack([err_xy, err_yaw, torch.ones_like(err_xy)], dim=1)
        self.time_left -= dt
        self.resample((self.time_left <= 0.0).nonzero().flatten())
        self.update_command(heading)

    def update_command(self, heading: torch.Tensor) -> None:
        """Heading envs: yaw rate by P-control on the heading error; standing envs: zero command."""
        s = self.spec
        if s.heading_command:
            yaw_rate = (s.heading_control_stiffness * wrap_to_pi(self.heading_target - heading)).clip(*s.ang_vel_z)
            self.command[:, 2] = torch.where(self.is_heading_env, yaw_rate, self.command[:, 2])
        self.command[self.is_standing_env] = 0.0
