"""A policy played inside a world model: imagined reward, uncertainty and terminations per step.

The pipeline compares these with the same policy's real figures (imagined vs real return), and picks the
uncertainty penalty lambda from them (penalty = a stated share of the data policy's raw reward).
"""

from __future__ import annotations

import argparse

import torch

from ..launch import load_policy, resolve_configs
from ..envs.divergence import state_bounds_from_data
from ..envs.mdp import TaskSpec
from ..world_model.data import TransitionStore, load_dataset
from ..world_model.checkpoint import load_checkpoint
from ..tasks import layout_of, with_stage
from .stages import history_sampler, make_imagination


def probe_imagination(task: str, checkpoint: str, world_model: str, dataset: str, *, num_envs: int = 512,
                      steps: int = 200, seed: int = 0) -> dict:  # fmt: skip
    """Play ``checkpoint`` (deterministic) for ``steps`` steps in ``world_model``, reset from ``dataset``.

    Returns per-step means over valid envs: raw reward (the task's reward, no penalty), epistemic
    uncertainty u, terminations, and the reward per second.
    """
    offline_task = with_stage(task, "Offline")
    args = argparse.Namespace(task=offline_task, sim="mujoco", device="cpu", num_envs=num_envs, seed=seed,
                              physics=None, overrides=[], headless=True)  # fmt: skip
    env_cfg, agent_cfg, _ = resolve_configs(args)
    agent_cfg.imagination.num_envs = num_envs
    agent_cfg.imagination.uncertainty_penalty = 0.0
    layout = layout_of(offline_task)
    ckpt = load_checkpoint(world_model, layout)
    history = ckpt.train_config.history
    store = TransitionStore(load_dataset(dataset, layout, min_window=history + 1), window=history + 1)
    generator = torch.Generator().manual_seed(seed)
    spec = TaskSpec.from_env_cfg(env_cfg, task=offline_task)
    env = make_imagination(spec, layout, ckpt.model, history_sampler(store, history, generator), agent_cfg,
                       state_bounds_from_data(store.normalization_tensors()["states"]), seed)  # fmt: skip
    policy = load_policy(env, agent_cfg, checkpoint, offline_task)
    sums = {"reward_raw": 0.0, "uncertainty": 0.0, "terminated": 0.0}
    obs = env.get_observations()
    with torch.inference_mode():
        for _ in range(steps):
            obs, _, _, extras = env.step(policy(obs))
            log = extras["log"]
            sums["reward_raw"] += float(log["Imagination/reward_raw"])
            sums["uncertainty"] += float(log["Imagination/uncertainty"])
            sums["terminated"] += float(log["Imagination/terminated"])
    out = {k: v / steps for k, v in sums.items()}
    out["reward_per_second"] = out["reward_raw"] / env.dt
    out.update({"num_envs": num_envs, "steps": steps, "max_episode_length": env.max_episode_length, "dt": env.dt})
    return out


def choose_penalty(probe: dict, share: float) -> float:
    """lambda such that the data policy's mean penalty (lambda * u * dt) is ``share`` of |its raw reward|."""
    u = max(probe["uncertainty"], 1e-9)
    return share * abs(probe["reward_raw"]) / (u * probe["dt"])
