"""Divergence of imagined rollouts: when a world-model prediction is not trusted.

A prediction with NaN/inf or a state outside per-dimension bounds is diverged; :class:`ImaginationEnv`
resets such envs. Bounds come from the training data (:func:`state_bounds_from_data`) or the model's
state normaliser (:func:`state_bounds_from_stats`).
"""

from __future__ import annotations

import torch


def state_bounds_from_data(states: torch.Tensor, margin: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Divergence bounds: per-dim data min/max widened by ``margin`` times the data range."""
    flat = states.reshape(-1, states.shape[-1])
    lo, hi = flat.min(dim=0).values, flat.max(dim=0).values
    span = (hi - lo).clamp(min=1e-6)
    return lo - margin * span, hi + margin * span


def state_bounds_from_stats(
    mean: torch.Tensor, std: torch.Tensor, k: float = 10.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Divergence bounds ``mean +- k * std`` per state dim."""
    return mean - k * std, mean + k * std


class DivergenceCheck:
    """Flags envs whose prediction is non-finite or leaves ``state_bounds`` ((low [S], high [S]), raw units;
    None: only non-finite predictions are diverged)."""

    def __init__(self, state_bounds: tuple[torch.Tensor, torch.Tensor] | None, state_dim: int, device="cpu"):
        self.bounds = None
        if state_bounds is not None:
            lo, hi = (torch.as_tensor(b, dtype=torch.float32, device=device) for b in state_bounds)
            if lo.shape != (state_dim,) or hi.shape != (state_dim,):
                raise ValueError(f"state_bounds must be two tensors of shape ({state_dim},)")
            self.bounds = (lo, hi)

    def __call__(self, state, contact_prob, term_prob, extension, u) -> torch.Tensor:
        """Diverged envs, bool [E]."""
        bad = ~torch.isfinite(state).all(dim=1)
        bad |= ~torch.isfinite(contact_prob).all(dim=1) | ~torch.isfinite(term_prob) | ~torch.isfinite(u)
        if extension.shape[1] > 0:
            bad |= ~torch.isfinite(extension).all(dim=1)
        if self.bounds is not None:
            lo, hi = self.bounds
            bad |= ((state < lo) | (state > hi)).any(dim=1)
        return bad
