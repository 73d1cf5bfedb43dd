"""Stateful stepping of the world model for imagination: per-env hidden state and head, one step at a time.

The history is encoded once at :meth:`ModelStepper.reset`; :meth:`ModelStepper.step` advances the GRU by
one step for all envs (the GRU runs once per env, not once per head). All B heads are evaluated on the new
features in one batched matmul because the epistemic uncertainty needs every head's mean; each env then
samples from its own head (one head per imagined episode, redrawn at reset). Works with and without
``torch.inference_mode`` (and when callers switch between them).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .model import EnsembleWorldModel, HeadOutput


@dataclass
class StepOutput:
    """One predicted step; raw units unless stated."""

    next_state: Tensor  # [E, S] sample from each env's head (its mean if deterministic)
    mean: Tensor  # [E, S] chosen head's mean
    ensemble_mean: Tensor  # [E, S] mean over heads
    std: Tensor  # [E, S] chosen head's aleatoric std
    contact_prob: Tensor  # [E, C] chosen head, calibrated (BCE positive weight undone)
    termination_prob: Tensor  # [E] chosen head, calibrated
    extension: Tensor  # [E, X] chosen head (X may be 0)
    epistemic: Tensor  # [E] see EnsembleWorldModel.epistemic (normalised units, summed over dims)
    aleatoric: Tensor  # [E] sum over dims of the own head's std (normalised units)


class ModelStepper:
    """Imagination driver for ``num_envs`` envs.

    Args:
        model: a trained :class:`EnsembleWorldModel` (its device is used; it is not put in eval/train mode).
        num_envs: E.
        deterministic: ``next_state`` is the chosen head's mean instead of a sample.
        generator: RNG for head draws and samples (on the model's device); ``None`` uses torch's global RNG.
    """

    def __init__(
        self,
        model: EnsembleWorldModel,
        num_envs: int,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
    ):
        self.model = model
        self.num_envs = num_envs
        self.deterministic = deterministic
        self.generator = generator
        self.device = model.logstd_min.device
        self.hidden = model.initial_hidden(num_envs).detach()
        self.heads = torch.zeros(num_envs, dtype=torch.long, device=self.device)

    @torch.no_grad()
    def reset(self, env_ids: Tensor, states: Tensor, actions: Tensor, heads: Tensor | None = None) -> StepOutput:
        """Warm up ``env_ids`` on a history window states [n, M, S], actions [n, M, A] (raw units); re-draws
        each env's head (uniform) unless given; returns the prediction for the step after the window for
        those n envs (fields sized n)."""
        env_ids = torch.as_tensor(env_ids, dtype=torch.long, device=self.device).reshape(-1)
        n = env_ids.numel()
        if heads is None:
            heads = torch.randint(self.model.num_heads, (n,), device=self.device, generator=self.generator)
        heads = torch.as_tensor(heads, dtype=torch.long, device=self.device).reshape(-1).expand(n)
        self._make_writable()
        self.heads[env_ids] = heads
        if n == 0:
            empty = self.hidden.new_zeros(0, self.model.config.state_dim)
            empty_a = self.hidden.new_zeros(0, self.model.config.action_dim)
            return self._output(*self.model.predict_for_heads(self.hidden[-1, :0], empty, heads, empty_a))
        states_n, actions_n = self.model.normalize_inputs(states, actions)
        features, hidden = self.model.encode(states_n, actions_n)
        self.hidden[:, env_ids] = hidden
        return self._output(*self.model.predict_for_heads(features[:, -1], states_n[:, -1], heads, actions_n[:, -1]))

    @torch.no_grad()
    def step(self, states: Tensor, actions: Tensor) -> StepOutput:
        """One step for all E envs from current state [E, S] and action [E, A]; advances the hidden state."""
        states_n, actions_n = self.model.normalize_inputs(states, actions)
        features, self.hidden = self.model.step_base(torch.cat([states_n, actions_n], -1), self.hidden)
        return self._output(*self.model.predict_for_heads(features, states_n, self.heads, actions_n))

    def _make_writable(self) -> None:
        """State created under ``torch.inference_mode`` cannot be written in place outside it: copy it."""
        if not torch.is_inference_mode_enabled():
            if self.hidden.is_inference():
                self.hidden = self.hidden.clone()
            if self.heads.is_inference():
                self.heads = self.heads.clone()

    def _output(self, ensemble_mean_n: Tensor, epistemic: Tensor, own: HeadOutput) -> StepOutput:
        """Normalised ensemble mean [n, S], epistemic u [n] and each env's own-head output -> raw units."""
        m = self.model
        std_n = own.std
        if self.deterministic:
            sample_n = own.mean
        else:
            noise = torch.randn(own.mean.shape, device=self.device, generator=self.generator)
            sample_n = own.mean + std_n * noise
        return StepOutput(
            next_state=m.state_norm.denormalize(sample_n),
            mean=m.state_norm.denormalize(own.mean),
            ensemble_mean=m.state_norm.denormalize(ensemble_mean_n),
            std=m.state_norm.scale(std_n),
            contact_prob=m.contact_prob(own.contact_logits),
            termination_prob=m.termination_prob(own.termination_logits).squeeze(-1),
            extension=m.extension_norm.denormalize(own.extension),
            epistemic=epistemic,
            aleatoric=std_n.sum(-1),
        )
