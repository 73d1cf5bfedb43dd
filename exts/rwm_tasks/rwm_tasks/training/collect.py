"""Collect real transitions with a policy into a dataset file (the data of the offline and model-based stages).

A long collection is kept on disk as it goes: every ``chunk_steps`` steps the new rows are written as a chunk
into ``<out_path>.parts/`` and a progress file (steps done, statistics, RNG states, the list of chunks) is
replaced atomically. A collection killed and run again with the same arguments continues after its last
chunk; the dataset file is written atomically at the end and the parts are then removed. A finished
dataset of the same collection is not collected again.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time

import torch

from ..launch import UserError, check_checkpoint, load_policy, open_real_env, resolve_configs
from ..tasks import layout_of
from ..world_model.data import DatasetError, atomic_write, read_npz, write_npz
from ..world_model.replay_buffer import ReplayBuffer
from .recorder import TransitionRecorder, buffer_to_dataset
from .replay_log import ReplayLog
from .stage_state import real_env_generators, rng_state, set_rng_state

PARTS_SUFFIX = ".parts"
PROGRESS_FILE = "progress.pt"


def collect_dataset(task: str, checkpoint: str, out_path: str, *, sim: str = "mujoco", num_envs: int = 256,
                    steps: int = 500, seed: int = 0, stochastic: bool = True, action_noise: float = 0.0,
                    chunk_steps: int = 50) -> dict:  # fmt: skip
    """Run ``checkpoint``'s policy on ``task`` (a training task: observation noise and pushes as in training)
    for ``steps`` steps of ``num_envs`` envs and write every transition, terminal rows included, to
    ``out_path`` (``.npz``). ``stochastic``: sample the policy's Gaussian (its own action noise) instead of
    the mean. ``action_noise``: each env adds Gaussian noise of its own std, drawn uniformly from
    ``[0, action_noise]``, to every action, so the data hold a range of behaviours from the policy's own to
    falls (a world model learns what a fall is only from data with falls). Rows are saved every
    ``chunk_steps`` steps (module docstring). Returns what was collected."""
    if num_envs <= 0 or steps <= 0 or chunk_steps <= 0:
        raise UserError(f"num_envs, steps and chunk_steps must be positive, got {num_envs}, {steps}, {chunk_steps}")
    if action_noise < 0:
        raise UserError(f"action_noise must be >= 0, got {action_noise}")
    check_checkpoint(checkpoint)
    settings = {"task": task, "policy": os.path.abspath(checkpoint), "executor": sim, "num_envs": num_envs,
                "steps": steps, "seed": seed, "stochastic": stochastic, "action_noise": action_noise}  # fmt: skip
    finished = _finished(out_path, settings)
    if finished is not None:
        print(f"[rwm_tasks] {out_path} holds this collection already", flush=True)
        return finished
    args = argparse.Namespace(task=task, sim=sim, device="cpu", num_envs=num_envs, seed=seed, physics=None,
                              overrides=[], headless=True)  # fmt: skip
    env_cfg, agent_cfg, _ = resolve_configs(args)
    env_cfg.scene.num_envs = num_envs
    env_cfg.compute_final_obs = True
    parts = str(out_path) + PARTS_SUFFIX
    progress = _load_progress(parts, settings)
    torch.manual_seed(seed)
    start = time.time()
    with open_real_env(args, env_cfg, agent_cfg) as env:
        policy = load_policy(env, agent_cfg, checkpoint, task)
        layout = layout_of(task)
        buffer = ReplayBuffer(layout, env.num_envs, steps, 2, "cpu")
        recorder = TransitionRecorder(buffer, layout)  # a continued collection starts new episodes: a new env
        log, generators = ReplayLog(parts, progress and progress["chunks"]), real_env_generators(env)
        noise = torch.Generator().manual_seed(seed + 1)
        noise_std = torch.rand(env.num_envs, 1, generator=noise) * action_noise
        generators["action_noise"] = noise
        done, stats = 0, {"falls": 0, "reward": 0.0, "wall_time_s": 0.0}
        if progress:
            log.restore(buffer)
            set_rng_state(progress["rng"], generators)
            done, stats = progress["done"], progress["stats"]
            print(f"[rwm_tasks] continuing the collection into {out_path} after step {done}/{steps}", flush=True)
        obs = env.get_observations()
        with torch.inference_mode():
            for k in range(done, steps):
                actions = policy(obs, stochastic_output=stochastic)
                if action_noise > 0:
                    actions = actions + noise_std * torch.randn(actions.shape, generator=noise)
                obs, rew, dones, extras = env.step(actions)
                recorder.record(obs, dones, extras)
                stats["falls"] += int((dones.bool() & ~extras["time_outs"].bool()).sum())
                stats["reward"] += float(rew.mean())
                if (k + 1) % max(steps // 5, 1) == 0:
                    print(f"[rwm_tasks] collected {k + 1}/{steps} steps x {env.num_envs} envs", flush=True)
                if (k + 1) % chunk_steps == 0 or k + 1 == steps:
                    elapsed = {**stats, "wall_time_s": stats["wall_time_s"] + time.time() - start}
                    progress = {"settings": settings, "done": k + 1, "stats": elapsed, "chunks": log.append(buffer),
                                "rng": rng_state(generators)}  # fmt: skip
                    atomic_write(os.path.join(parts, PROGRESS_FILE), lambda f: torch.save(progress, f))
                    log.remove_unlisted()
    data = buffer_to_dataset(buffer, task)
    info = {**settings, "rows": len(data), "episodes": len(data.episode_starts), "falls": stats["falls"],
            "mean_step_reward": stats["reward"] / steps,
            "wall_time_s": round(stats["wall_time_s"] + time.time() - start, 1)}  # fmt: skip
    write_npz(out_path, data, info)
    shutil.rmtree(parts, ignore_errors=True)
    return info


def _finished(out_path: str, settings: dict) -> dict | None:
    """The info of a dataset this same collection wrote before (a rerun after a later kill does not repeat it)."""
    if not os.path.isfile(out_path):
        return None
    try:
        info = read_npz(out_path).info
    except DatasetError:
        return None
    return info if {k: info.get(k) for k in settings} == settings else None


def _load_progress(parts: str, settings: dict) -> dict | None:
    """The saved progress of an earlier run of the same collection, or None (nothing saved, or another one)."""
    path = os.path.join(parts, PROGRESS_FILE)
    if not os.path.isfile(path):
        return None
    try:
        progress = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001  (a damaged progress file: start over)
        print(f"[rwm_tasks] collection progress '{path}' cannot be read ({err}); starting over", flush=True)
        return None
    if progress.get("settings") != settings:
        print(f"[rwm_tasks] {parts} holds another collection ({progress.get('settings')}); starting over", flush=True)
        return None
    return progress
