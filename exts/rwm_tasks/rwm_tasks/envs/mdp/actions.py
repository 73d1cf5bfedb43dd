"""Isaac Lab's ``JointPositionAction`` on tensors: raw policy action -> joint position targets."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .names import resolve_names


class JointPositionAction:
    """``processed = raw * scale + offset (+ default pose)``, then clipped per joint.

    Args:
        spec: the task's ``ActionSpec``; it must drive every joint of ``joint_names`` in that order.
        joint_names: the layout's joint order.
        default_joint_pos: default pose [J] in that order (added when ``spec.use_default_offset``).
        task: names errors.
    """

    def __init__(self, spec, joint_names: Sequence[str], default_joint_pos: torch.Tensor, task: str = "task",
                 device: str | torch.device = "cpu"):  # fmt: skip
        what = f"task '{task}': action term '{spec.name}'"
        n = len(joint_names)
        try:
            covered = resolve_names(spec.joint_names, joint_names, spec.preserve_order)
        except ValueError as err:
            raise ValueError(f"{what}: {err}") from None
        if covered != list(range(n)):
            raise ValueError(f"{what}: must drive all joints of the layout in layout order")

        def per_joint(value, default: float) -> torch.Tensor:
            out = torch.full((n,), default, device=device)
            if isinstance(value, dict):
                for pattern, v in value.items():
                    out[resolve_names(pattern, joint_names)] = float(v)
            else:
                out[:] = float(value)
            return out

        self.scale = per_joint(spec.scale, 1.0)
        self.offset = per_joint(spec.offset, 0.0)
        if spec.use_default_offset:
            self.offset = self.offset + default_joint_pos.to(device)
        self.clip = None
        if spec.clip:
            lo, hi = torch.full((n,), -math.inf, device=device), torch.full((n,), math.inf, device=device)
            for pattern, (low, high) in spec.clip.items():
                ids = resolve_names(pattern, joint_names)
                lo[ids], hi[ids] = float(low), float(high)
            self.clip = (lo, hi)

    def process(self, actions: torch.Tensor) -> torch.Tensor:
        """Joint position targets [E, J] of raw actions [E, J]."""
        processed = actions * self.scale + self.offset
        if self.clip is not None:
            processed = torch.clamp(processed, *self.clip)
        return processed
