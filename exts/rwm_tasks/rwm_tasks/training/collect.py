"""Collect real transitions with a policy into a dataset file (the data of the offline and model-based stages)."""

from __future__ import annotations

import argparse
import os
import time

import torch

from ..launch import UserError, check_checkpoint, load_policy, open_real_env, resolve_configs
from ..tasks import layout_of
from ..world_model.data import write_npz
from ..world_model.replay_buffer import ReplayBuffer
from .recorder import TransitionRecorder, buffer_to_dataset


def collect_dataset(task: str, checkpoint: str, out_path: str, *, sim: str = "mujoco", num_envs: int = 256,
                    steps: int = 500, seed: int = 0, stochastic: bool = True) -> dict:  # fmt: skip
    """Run ``checkpoint``'s policy on ``task`` (a training task: observation noise and pushes as in training)
    for ``steps`` steps of ``num_envs`` envs and write every transition, terminal rows included, to
    ``out_path`` (``.npz``). ``stochastic``: sample the policy's Gaussian (its own action noise) instead of
    the mean. Returns what was collected."""
    if num_envs <= 0 or steps <= 0:
        raise UserError(f"num_envs and steps must be positive, got {num_envs} and {steps}")
    check_checkpoint(checkpoint)
    args = argparse.Namespace(task=task, sim=sim, device="cpu", num_envs=num_envs, seed=seed, physics=None,
                              overrides=[], headless=True)  # fmt: skip
    env_cfg, agent_cfg, _ = resolve_configs(args)
    env_cfg.scene.num_envs = num_envs
    env_cfg.compute_final_obs = True
    torch.manual_seed(seed)
    start = time.time()
    with open_real_env(args, env_cfg, agent_cfg) as env:
        policy = load_policy(env, agent_cfg, checkpoint, task)
        layout = layout_of(task)
        buffer = ReplayBuffer(layout, env.num_envs, steps, 2, "cpu")
        recorder = TransitionRecorder(buffer, layout)
        obs, falls, reward = env.get_observations(), 0, 0.0
        with torch.inference_mode():
            for k in range(steps):
                obs, rew, dones, extras = env.step(policy(obs, stochastic_output=stochastic))
                recorder.record(obs, dones, extras)
                falls += int((dones.bool() & ~extras["time_outs"].bool()).sum())
                reward += float(rew.mean())
                if (k + 1) % max(steps // 5, 1) == 0:
                    print(f"[rwm_tasks] collected {k + 1}/{steps} steps x {env.num_envs} envs", flush=True)
    data = buffer_to_dataset(buffer, task)
    info = {"task": task, "executor": sim, "policy": os.path.abspath(checkpoint), "seed": seed, "stochastic": stochastic,
            "num_envs": num_envs, "steps": steps, "rows": len(data), "episodes": len(data.episode_starts),
            "falls": falls, "mean_step_reward": reward / steps, "wall_time_s": round(time.time() - start, 1)}  # fmt: skip
    write_npz(out_path, data, info)
    return info
