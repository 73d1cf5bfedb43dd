"""Per-dimension normalisation with statistics computed from training data.

The reference hand-writes its normalisation constants per robot; computing them from data lets the same
model serve any layout. Statistics live in buffers, so they travel inside checkpoints.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Normalizer(nn.Module):
    """Affine map ``x_n = (x - mean) / std`` per dimension, with ``std`` floored at ``floor``.

    The floor keeps (almost) constant dimensions, e.g. projected gravity z or never-touching thigh contacts,
    from being blown up into noise. ``dim`` may be 0 (empty groups such as ANYmal D's extension).
    """

    def __init__(self, dim: int, floor: float = 1e-2):
        super().__init__()
        self.floor = float(floor)
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @property
    def dim(self) -> int:
        return self.mean.numel()

    @torch.no_grad()
    def fit(self, x: Tensor) -> Normalizer:
        """Set mean/std from samples ``x`` [..., dim] (population std, floored). Returns self."""
        if self.dim == 0:
            return self
        x = x.reshape(-1, self.dim).to(self.mean)
        if x.shape[0] == 0:
            raise ValueError("cannot fit a normaliser on zero samples")
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0, correction=0).clamp_min(self.floor))
        return self

    def normalize(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std

    def denormalize(self, x: Tensor) -> Tensor:
        return x * self.std + self.mean

    def scale(self, x: Tensor) -> Tensor:
        """Map a normalised *difference or std* to raw units (no offset)."""
        return x * self.std

    def extra_repr(self) -> str:
        return f"dim={self.dim}, floor={self.floor}"
