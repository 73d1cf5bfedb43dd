"""Real-env transitions in the world-model layout, taken from the env's ``system_*`` observation groups."""

from __future__ import annotations

import torch

from ..layout import RobotLayout
from ..world_model.replay_buffer import ReplayBuffer


def rows_from_obs(obs, layout: RobotLayout) -> dict[str, torch.Tensor]:
    """The ``system_*`` groups of an observation TensorDict (or dict) as replay-buffer fields."""
    rows = {
        "states": obs["system_state"],
        "actions": obs["system_action"],
        "contacts": obs["system_contact"],
        "terminations": obs["system_termination"],
    }
    if layout.extension_dim:
        rows["extension"] = obs["system_extension"]
    return rows


class TransitionRecorder:
    """Feeds every real step into a :class:`ReplayBuffer`, including the terminal row of finished episodes.

    Isaac Lab resets finished envs inside ``step``; with ``compute_final_obs`` it also reports the
    observations just before the reset (``extras["final_obs"]``), which hold the terminal state and its
    termination flag. Those are recorded for finished envs; their next row starts a new episode.
    """

    def __init__(self, buffer: ReplayBuffer, layout: RobotLayout):
        self.buffer, self.layout = buffer, layout
        self.start = torch.ones(buffer.num_envs, dtype=torch.bool)
        self.steps = 0

    def record(self, obs, dones: torch.Tensor, extras: dict) -> None:
        rows = rows_from_obs(obs, self.layout)
        dones = dones.bool().cpu()
        final = extras.get("final_obs")
        if dones.any():
            if final is None:
                raise RuntimeError("env did not report final observations: set env_cfg.compute_final_obs = True")
            final_rows = rows_from_obs(final, self.layout)
            rows = {k: torch.where(_col(dones, v), final_rows[k].to(v.device), v) for k, v in rows.items()}
        self.buffer.add(**{k: v.float() for k, v in rows.items()}, episode_start=self.start.clone())
        self.start = dones
        self.steps += 1


def _col(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask.to(like.device).reshape(-1, *([1] * (like.dim() - 1)))


def buffer_to_dataset(buffer: ReplayBuffer, source: str = "<replay buffer>"):
    """The replay buffer's rows as a :class:`TransitionData` (env after env, oldest row first), with
    episode starts where an env began an episode or where its stored history begins."""
    from ..world_model.data import TransitionData

    order = (buffer.ptr - buffer.size + torch.arange(buffer.size)) % buffer.capacity
    columns = buffer.columns[:, order].cpu()  # [E, size, C]
    first = buffer.first[:, order].cpu().clone()
    first[:, 0] = True
    starts = torch.nonzero(first.reshape(-1)).squeeze(1)
    return TransitionData(columns.reshape(-1, columns.shape[-1]).numpy(), starts.numpy(), buffer.layout, source)
