"""The world model as it learns beside the policy: model, trainer, normalisation from replay data, logging."""

from __future__ import annotations

import os

import torch

from ..layout import RobotLayout
from ..world_model import distributed
from ..world_model.data import WindowBatch
from ..world_model.replay_buffer import ReplayBuffer
from ..world_model.model import EnsembleWorldModel
from ..world_model.train import Trainer, TrainConfig, make_model, pos_weight_from_rate
from ..world_model.checkpoint import save_checkpoint


def train_config(wm_cfg, seed: int) -> TrainConfig:
    """The trainer settings of an agent cfg's ``world_model`` group."""
    return TrainConfig(
        history=wm_cfg.history_length, forecast=wm_cfg.forecast_horizon, alpha=wm_cfg.step_weight_decay,
        loss=wm_cfg.loss, batch_size=wm_cfg.batch_size, learning_rate=wm_cfg.learning_rate,
        weight_decay=wm_cfg.weight_decay, grad_clip=wm_cfg.grad_clip, mirror=wm_cfg.mirror, seed=seed,
    )  # fmt: skip


def new_model(layout: RobotLayout, wm_cfg, seed: int) -> EnsembleWorldModel:
    return make_model(
        layout, None, seed, num_heads=wm_cfg.ensemble_size, hidden_dim=wm_cfg.rnn_hidden_dim,
        num_layers=wm_cfg.rnn_num_layers, head_hidden_dims=tuple(wm_cfg.head_hidden_dims),
    )  # fmt: skip


def _normalization_from(batch: WindowBatch) -> dict[str, torch.Tensor]:
    """Normalisation samples from windows (which never cross an episode start)."""
    flat = lambda x: x.flatten(0, -2)  # noqa: E731
    return {
        "states": flat(batch.states),
        "actions": flat(batch.actions),
        "deltas": flat(batch.states[:, 1:] - batch.states[:, :-1]),
        "extension": flat(batch.extension),
    }


class WorldModelLearner:
    """Trains a world model on a :class:`ReplayBuffer` a few gradient steps at a time.

    A new model fits its normalisation on the first data it sees; a pretrained one keeps its own.
    """

    def __init__(self, layout: RobotLayout, model: EnsembleWorldModel, config: TrainConfig, buffer: ReplayBuffer,
                 updates: int, fitted: bool):  # fmt: skip
        self.layout, self.model, self.config, self.buffer, self.updates = layout, model, config, buffer, updates
        self.trainer: Trainer | None = self._trainer_of_fitted() if fitted else None
        self.last_logs: dict[str, float] = {}

    def _trainer_of_fitted(self) -> Trainer:
        """A trainer for a pretrained model, with the flag weights the model was trained with (its buffers): a
        shipped model carries no optimizer state, and unweighted BCE there would pull its rare termination flag
        towards 'never' while the model still divides the odds by the old weight."""
        m = self.model
        return Trainer(m, self.config, m.contact_pos_weight.clone(), m.termination_pos_weight.clone())

    def load_trainer_state(self, state: dict | None) -> None:
        """Continue a saved trainer (optimizer, RNG, step count, flag weights); nothing if none was saved
        (a model saved before its first update, or a shipped model without optimizer state)."""
        if not state or "optimizer" not in state:
            return
        if self.trainer is None:
            self.trainer = self._trainer_of_fitted()
        self.trainer.load_state_dict(state)

    def ready(self) -> bool:
        """A full window in the buffer (of every rank under torch.distributed: all update, or none)."""
        return distributed.all_ranks(self.buffer.num_windows > 0)

    def update(self) -> dict[str, float]:
        """``updates`` gradient steps (none until the buffer holds a full window); mean logs.

        Safe to call inside the runner's rollout (``torch.inference_mode``): everything here runs with
        inference mode off, so the model's tensors stay usable by autograd."""
        if not self.ready():
            return {}
        with torch.inference_mode(False), torch.enable_grad():
            return self._update()

    def _update(self) -> dict[str, float]:
        if self.trainer is None:
            sample = self.buffer.sample(min(4096, 64 * self.buffer.num_envs), torch.Generator().manual_seed(0))
            self.model.fit_normalization(**_normalization_from(sample))
            rates = {"contact": sample.contacts.mean((0, 1)), "termination": sample.terminations.mean((0, 1))}
            self.trainer = Trainer(
                self.model, self.config, pos_weight_from_rate(rates["contact"], self.config.pos_weight_cap),
                pos_weight_from_rate(rates["termination"], self.config.pos_weight_cap),
            )  # fmt: skip
        logs = [self.trainer.update(self.buffer) for _ in range(self.updates)]
        self.model.eval()
        self.last_logs = {k: sum(log[k] for log in logs) / len(logs) for k in logs[0]}
        return self.last_logs

    def log_to(self, writer, iteration: int, prefix: str = "WorldModel") -> None:
        """World-model metrics beside rsl-rl's (TensorBoard or W&B writer)."""
        if writer is None:
            return
        for key, value in self.last_logs.items():
            writer.add_scalar(f"{prefix}/{key}", value, iteration)
        writer.add_scalar(f"{prefix}/replay_steps", len(self.buffer), iteration)

    def save(self, path: str, extra: dict) -> None:
        if self.trainer is None or not distributed.is_main():
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        save_checkpoint(path, self.model, self.layout, self.trainer, extra)
