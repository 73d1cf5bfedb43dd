"""Isaac Lab's ``UniformVelocityCommand`` on tensors: sampling, resampling timers, heading control,
standing envs and the tracking metrics logged at episode end (``Metrics/<name>/...``)."""

from __future__ import annotations

import torch

from .frames import wrap_to_pi


class VelocityCommand:
    """Base-frame (vx, vy, wz) commands for ``num_envs`` envs from a ``TaskSpec.command``."""

    def __init__(self, spec, num_envs: int, generator: torch.Generator, xy_threshold=0.5, yaw_threshold=0.4):
        self.spec = spec
        self.name = spec.name
        self.gen = generator
        self.n = num_envs
        self.command = torch.zeros(num_envs, 3)
        self.heading_target = torch.zeros(num_envs)
        self.is_heading_env = torch.zeros(num_envs, dtype=torch.bool)
        self.is_standing_env = torch.zeros(num_envs, dtype=torch.bool)
        self.time_left = torch.zeros(num_envs)
        self.counter = torch.zeros(num_envs, dtype=torch.long)
        self.xy_threshold, self.yaw_threshold = xy_threshold, yaw_threshold
        self._err_xy = torch.zeros(num_envs)
        self._err_yaw = torch.zeros(num_envs)
        self._steps = torch.zeros(num_envs)

    def _uniform(self, n: int, lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=self.gen) * (hi - lo) + lo

    def resample(self, ids: torch.Tensor) -> None:
        n = len(ids)
        if n == 0:
            return
        s = self.spec
        self.time_left[ids] = self._uniform(n, *s.resampling_time_range)
        self.command[ids, 0] = self._uniform(n, *s.lin_vel_x)
        self.command[ids, 1] = self._uniform(n, *s.lin_vel_y)
        self.command[ids, 2] = self._uniform(n, *s.ang_vel_z)
        if s.heading_command:
            self.heading_target[ids] = self._uniform(n, *s.heading)
            self.is_heading_env[ids] = torch.rand(n, generator=self.gen) <= s.rel_heading_envs
        self.is_standing_env[ids] = torch.rand(n, generator=self.gen) <= s.rel_standing_envs
        self.counter[ids] += 1

    def reset(self, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """Episode-end metrics of ``ids`` (Isaac Lab's keys), then zero the sums and resample."""
        denom = self._steps[ids].clamp_min(1.0)
        err_xy, err_yaw = self._err_xy[ids] / denom, self._err_yaw[ids] / denom
        success = ((err_xy < self.xy_threshold) & (err_yaw < self.yaw_threshold)).float()
        log = {
            f"Metrics/{self.name}/error_vel_xy": err_xy.mean(),
            f"Metrics/{self.name}/error_vel_yaw": err_yaw.mean(),
            "Metrics/success_rate": success.mean(),
        }
        self._err_xy[ids] = 0.0
        self._err_yaw[ids] = 0.0
        self._steps[ids] = 0.0
        self.counter[ids] = 0
        self.resample(ids)
        return log

    def compute(self, dt: float, lin_vel_b: torch.Tensor, ang_vel_b: torch.Tensor, heading: torch.Tensor) -> None:
        """One policy step: accumulate metrics, count down, resample expired, apply heading and standing."""
        self._err_xy += torch.linalg.norm(self.command[:, :2] - lin_vel_b[:, :2], dim=-1)
        self._err_yaw += torch.abs(self.command[:, 2] - ang_vel_b[:, 2])
        self._steps += 1.0
        self.time_left -= dt
        self.resample((self.time_left <= 0.0).nonzero().flatten())
        s = self.spec
        if s.heading_command:
            yaw_rate = (s.heading_control_stiffness * wrap_to_pi(self.heading_target - heading)).clip(*s.ang_vel_z)
            self.command[:, 2] = torch.where(self.is_heading_env, yaw_rate, self.command[:, 2])
        self.command[self.is_standing_env] = 0.0
