"""Launching a task from a resolved request: configs with the runtime choice applied, the real env on either
executor, log folders and checkpoints, and the one error type for bad input (:class:`UserError`).

The command lines (``rwm_tasks.cli``), the stages, the evaluation harness and the pipeline all launch through
here, so a task is resolved and opened the same way everywhere.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
from datetime import datetime

from .tasks import all_task_ids, layout_of, stage_of

MUJOCO_TRAIN_ENVS = 1024
"""Real envs of model-free stages on the MuJoCo executor (it steps ~10k env-steps/s on 2 cores)."""


class UserError(Exception):
    """Bad input from the command line: printed without a traceback, exit code 2."""


def check_task(task: str) -> str:
    """The task id, or a :class:`UserError` listing the valid ones."""
    import rwm_tasks  # noqa: F401  (registers the ids)

    valid = all_task_ids()
    if task not in valid:
        raise UserError(f"unknown task '{task}'. Valid tasks:\n  " + "\n  ".join(valid))
    return task


def check_overrides(overrides: list[str]) -> list[str]:
    for item in overrides:
        if not re.fullmatch(r"(env|agent)\.[\w.\[\]]+=.*", item) and not item.startswith(("physics=", "presets=")):
            raise UserError(f"override '{item}' is not of the form env.<path>=<value> or agent.<path>=<value>")
    return overrides


def resolve_configs(args: argparse.Namespace, play: bool = False):
    """Env and agent cfgs of ``args.task`` with runtime choice (assets, device, env counts), overrides and seed
    applied; every stage (also Offline, whose task spec carries e.g. the stand-in's base-height target) sees
    the same robot."""
    from isaaclab_tasks.utils import resolve_task_config

    from .envs.assets import select_assets
    from .runtime import select_runtime

    task = check_task(args.task)
    stage = stage_of(task)
    if args.sim is None:
        from .runtime import cuda_available

        args.sim = "isaaclab" if cuda_available() else "mujoco"
    if stage != "Offline":
        print(f"[rwm_tasks] real env executor: {args.sim} (--sim)")
    choice = select_runtime(args.device, stage, args.num_envs, requested_physics=args.physics, executor=args.sim)
    print(choice.describe())
    overrides = [f"physics={choice.physics}"] + check_overrides(list(args.overrides))
    try:
        env_cfg, agent_cfg = resolve_task_config(task, "rsl_rl_cfg_entry_point", play_mode=False, overrides=overrides)
    except (KeyError, AttributeError, ValueError) as err:
        raise UserError(f"could not apply overrides {args.overrides}: {err}") from err
    select_assets(env_cfg, layout_of(task).robot, choice.use_official_assets, executor=args.sim)
    env_cfg.sim.device = choice.sim_device
    agent_cfg.device = choice.sim_device
    if not any(o.startswith("env.scene.num_envs=") for o in args.overrides) and choice.num_envs:
        env_cfg.scene.num_envs = choice.num_envs
        if args.sim == "mujoco" and args.num_envs is None and stage in ("Init", "Pretrain"):
            env_cfg.scene.num_envs = MUJOCO_TRAIN_ENVS
    if args.seed is not None:
        agent_cfg.seed = args.seed
    env_cfg.seed = agent_cfg.seed
    if hasattr(agent_cfg, "imagination"):
        if choice.num_imagined_envs and not any(o.startswith("agent.imagination.num_envs=") for o in args.overrides):
            agent_cfg.imagination.num_envs = choice.num_imagined_envs
        if agent_cfg.imagination.uncertainty_penalty < 0:
            raise UserError(
                f"uncertainty penalty lambda must be >= 0 (penalised reward = reward - lambda * u), "
                f"got {agent_cfg.imagination.uncertainty_penalty}"
            )
    return env_cfg, agent_cfg, choice


@contextlib.contextmanager
def open_real_env(args, env_cfg, agent_cfg):
    """The real env of ``args.task`` as an rsl-rl VecEnv on the chosen executor; closed on exit. Isaac Lab's
    stand-in USDs are written here, at launch (:func:`rwm_tasks.envs.assets.launch_assets`)."""
    if args.sim == "mujoco":
        import torch

        from .envs.mujoco.env import MujocoVecEnv

        torch.set_num_threads(1)  # the physics threads use the cores; PPO updates were faster this way
        env = MujocoVecEnv(env_cfg, task=args.task, seed=env_cfg.seed, clip_actions=agent_cfg.clip_actions)
        try:
            yield env
        finally:
            env.close()
        return
    import gymnasium as gym
    from isaaclab.app import launch_simulation
    from isaaclab_rl.rsl_rl import RslRlVecEnvWrapper

    from .envs.assets import launch_assets

    launch_assets(env_cfg, layout_of(args.task).robot)
    with launch_simulation(env_cfg, args):
        env = RslRlVecEnvWrapper(gym.make(args.task, cfg=env_cfg), clip_actions=agent_cfg.clip_actions)
        try:
            yield env
        finally:
            env.close()


def log_root(agent_cfg) -> str:
    return os.path.abspath(os.path.join("logs", "rsl_rl", agent_cfg.experiment_name))


def new_log_dir(agent_cfg) -> str:
    name = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    if agent_cfg.run_name:
        name += f"_{agent_cfg.run_name}"
    path = os.path.join(log_root(agent_cfg), name)
    while os.path.exists(path):  # never reuse (and overwrite) an existing run folder
        path += "_1"
    return path


def find_checkpoint(root: str, load_run: str | None, checkpoint: str | None) -> str:
    """Checkpoint file: an explicit path, or the latest (or ``checkpoint``-matching) model of a run."""
    if checkpoint and os.path.isfile(checkpoint):
        return os.path.abspath(checkpoint)
    if checkpoint and os.sep in checkpoint:
        raise UserError(f"checkpoint file '{checkpoint}' does not exist")
    if not os.path.isdir(root):
        raise UserError(f"no runs to load: log folder '{root}' does not exist (train first, or pass --checkpoint FILE)")
    runs = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if load_run:
        runs = [r for r in runs if re.fullmatch(load_run, r) or r == load_run]
    if not runs:
        raise UserError(f"no run matching '{load_run or '.*'}' in '{root}'")
    run_dir = os.path.join(root, runs[-1])
    pattern = checkpoint or r"model_.*\.pt"
    models = [f for f in os.listdir(run_dir) if re.fullmatch(pattern, f)]
    if not models:
        raise UserError(f"no checkpoint matching '{pattern}' in '{run_dir}'")
    models.sort(key=lambda f: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", f)])
    return os.path.join(run_dir, models[-1])


def check_checkpoint(path: str) -> dict:
    """Load a checkpoint on CPU, or a :class:`UserError` saying why it cannot be read."""
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001  (any unreadable file is the same user error)
        raise UserError(f"checkpoint '{path}' cannot be read ({type(err).__name__}: {err})") from err
    if not isinstance(data, dict) or not any(k in data for k in ("actor_state_dict", "model_state_dict")):
        raise UserError(f"'{path}' is not an rsl-rl policy checkpoint (no actor/model state)")
    return data


def dump_configs(log_dir: str, env_cfg, agent_cfg) -> None:
    """Save the resolved configs beside the checkpoints, as Isaac Lab's train script does."""
    from isaaclab.utils.io import dump_yaml

    from .world_model.distributed import is_main

    if not is_main():  # under torch.distributed rank 0 writes the run folder
        return
    dump_yaml(os.path.join(log_dir, "params", "env.yaml"), env_cfg)
    dump_yaml(os.path.join(log_dir, "params", "agent.yaml"), agent_cfg)


def make_runner(env, agent_cfg, log_dir: str | None):
    """Stock rsl-rl ``OnPolicyRunner`` of ``agent_cfg`` on ``env`` (the cfg is brought up to rsl-rl's version)."""
    from isaaclab_rl.rsl_rl import check_rsl_rl_version, create_rsl_rl_runner, handle_deprecated_rsl_rl_cfg

    agent_cfg = handle_deprecated_rsl_rl_cfg(agent_cfg, check_rsl_rl_version())
    return create_rsl_rl_runner(env, agent_cfg, log_dir=log_dir)


def load_policy(env, agent_cfg, checkpoint: str, task: str):
    """The actor of an rsl-rl ``checkpoint`` for ``env`` in eval mode (deterministic unless asked to sample), or
    a :class:`UserError` when the checkpoint does not fit the task."""
    runner = make_runner(env, agent_cfg, None)
    try:
        runner.load(checkpoint, load_cfg={"actor": True}, map_location="cpu")
    except (RuntimeError, KeyError, TypeError) as err:
        raise UserError(f"checkpoint '{checkpoint}' does not fit task '{task}': {err}") from err
    return runner.get_inference_policy(device=env.device)
