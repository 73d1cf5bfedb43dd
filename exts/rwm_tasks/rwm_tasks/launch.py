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

from . import overrides
from .tasks import all_task_ids, layout_of, stage_of

MUJOCO_TRAIN_ENVS = 1024
"""Real envs of model-free stages on the MuJoCo executor (it steps ~10k env-steps/s on 2 cores)."""


RUN_INFO_FILE = "rwm_run.json"
"""Per-run facts a stage writes beside its checkpoints (stage, inputs, resumes); ``real_transitions_before``,
``real_transitions_per_iteration`` and ``iteration_offset`` (the loaded policy's iteration) give the real
transitions behind each checkpoint (:func:`real_transitions_at`), overriding the Init-style count (envs x
steps per iteration) for stages that start from data or use few real envs."""


class UserError(Exception):
    """Bad input from the command line: printed without a traceback, exit code 2."""


def checkpoint_iteration(path: str) -> int | None:
    """The iteration of a runner checkpoint ``model_<it>.pt`` (None for any other file name)."""
    m = re.fullmatch(r"model_(\d+)\.pt", os.path.basename(path))
    return int(m.group(1)) if m else None


def real_transitions_at(facts: dict, iteration: int) -> int:
    """Real transitions behind a run's checkpoint of ``iteration``, from its run facts."""
    return facts["real_transitions_before"] + (iteration - facts["iteration_offset"] + 1) * facts[
        "real_transitions_per_iteration"]  # fmt: skip


def check_task(task: str) -> str:
    """The task id, or a :class:`UserError` listing the valid ones."""
    import rwm_tasks  # noqa: F401  (registers the ids)

    valid = all_task_ids()
    if task not in valid:
        raise UserError(f"unknown task '{task}' (--task); valid tasks: {', '.join(valid)}")
    return task


def check_overrides(items: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """(preset selectors, [(key, text)]) of ``key=value`` items, or a :class:`UserError` naming a malformed one."""
    try:
        return overrides.split(list(items))
    except ValueError as err:
        raise UserError(str(err)) from err


def check_args(args: argparse.Namespace) -> None:
    """The shared command-line numbers (:func:`rwm_tasks.cli.common.add_task_args`) in range."""
    if args.num_envs is not None and args.num_envs < 1:
        raise UserError(f"--num_envs must be a positive integer, got {args.num_envs}")
    if args.seed is not None and not 0 <= args.seed < 2**32:
        raise UserError(f"--seed must be an integer in [0, 2**32), got {args.seed}")


def _resolve(task: str, items: list[str]):
    from isaaclab_tasks.utils import resolve_task_config

    try:
        return resolve_task_config(task, "rsl_rl_cfg_entry_point", play_mode=False, overrides=items)
    except (KeyError, AttributeError, ValueError) as err:
        raise UserError(f"could not apply overrides {items[1:]}: {err}") from err


def resolve_configs(args: argparse.Namespace, play: bool = False):
    """Env and agent cfgs of ``args.task`` with runtime choice (assets, device, env counts), overrides and seed
    applied; every stage (also Offline, whose task spec carries e.g. the stand-in's base-height target) sees
    the same robot."""
    from .envs.assets import select_assets
    from .runtime import select_runtime

    task = check_task(args.task)
    check_args(args)
    selectors, pairs = check_overrides(args.overrides)
    stage = stage_of(task)
    if args.sim is None:
        from .runtime import cuda_available

        args.sim = "isaaclab" if cuda_available() else "mujoco"
    if stage != "Offline":
        print(f"[rwm_tasks] real env executor: {args.sim} (--sim)")
    imagined = dict(pairs).get("agent.imagination.num_envs")  # a malformed count: the override check names it
    choice = select_runtime(args.device, stage, args.num_envs, requested_physics=args.physics, executor=args.sim,
                            requested_imagined_envs=int(imagined) if imagined and imagined.strip().isdigit() else None)
    print(choice.describe())
    base = [f"physics={choice.physics}", *selectors]
    env_cfg, agent_cfg = _resolve(task, base)
    picks = overrides.preset_picks({"env": env_cfg, "agent": agent_cfg}, pairs)
    if picks:
        env_cfg, agent_cfg = _resolve(task, base + [f"{key}={text}" for key, text in picks])
    try:
        overrides.apply(overrides.check({"env": env_cfg, "agent": agent_cfg}, pairs, picks))
    except ValueError as err:
        raise UserError(str(err)) from err
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
    if hasattr(agent_cfg, "imagination") and choice.num_imagined_envs and imagined is None:
        agent_cfg.imagination.num_envs = choice.num_imagined_envs
    try:
        overrides.check_ranges({"env": env_cfg, "agent": agent_cfg})
    except ValueError as err:
        raise UserError(str(err)) from err
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


def _natural(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _regex(pattern: str, flag: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as err:
        raise UserError(f"{flag} '{pattern}' is not a valid regular expression ({err})") from err


def _match(pattern: str, names: list[str], flag: str) -> list[str]:
    regex = _regex(pattern, flag)
    return [n for n in names if regex.fullmatch(n) or n == pattern]


def unreadable(path: str) -> str | None:
    """Why ``path`` does not load with ``torch.load`` (truncated, not a torch file, ...), or None if it does."""
    import torch

    try:
        torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001  (any unreadable file is skipped the same way)
        return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    return None


def find_checkpoint(root: str, load_run: str | None, checkpoint: str | None) -> str:
    """Checkpoint file: an explicit path, or the latest (or ``checkpoint``-matching) model of a run that loads.

    A file that does not load (cut short by a crash, a full disk) is skipped with a message, falling back to
    the run's previous checkpoint, then to earlier runs when no ``load_run`` is given."""
    if checkpoint and os.path.isfile(checkpoint):
        return os.path.abspath(checkpoint)
    if checkpoint and os.sep in checkpoint:
        raise UserError(f"checkpoint file '{checkpoint}' does not exist")
    for flag, pattern in (("--load_run", load_run), ("--checkpoint", checkpoint)):
        if pattern:
            _regex(pattern, flag)
    if not os.path.isdir(root):
        raise UserError(f"no runs to load: log folder '{root}' does not exist (train first, or pass --checkpoint FILE)")
    runs = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if load_run:
        runs = _match(load_run, runs, "--load_run")
    if not runs:
        raise UserError(f"no run matching '{load_run or '.*'}' in '{root}'")
    pattern, skipped = checkpoint or r"model_.*\.pt", []
    for run in reversed(runs if not load_run else runs[-1:]):
        run_dir = os.path.join(root, run)
        for name in sorted(_match(pattern, os.listdir(run_dir), "--checkpoint"), key=_natural, reverse=True):
            path = os.path.join(run_dir, name)
            reason = unreadable(path)
            if reason is None:
                return path
            print(f"[rwm_tasks] skipping checkpoint {path}: it cannot be read ({reason})")
            skipped.append(f"{name} cannot be read ({reason})")
    where = os.path.join(root, runs[-1]) if load_run else root
    reasons = f": {'; '.join(skipped)}" if skipped else ""
    raise UserError(f"no readable checkpoint matching '{pattern}' in '{where}'{reasons}")


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
    """Save the resolved configs beside the checkpoints, as Isaac Lab's train script does (atomically)."""
    from isaaclab.utils.io import dump_yaml

    from .world_model.distributed import is_main
    from .world_model.files import atomic_path

    if not is_main():  # under torch.distributed rank 0 writes the run folder
        return
    for name, cfg in (("env.yaml", env_cfg), ("agent.yaml", agent_cfg)):
        with atomic_path(os.path.join(log_dir, "params", name)) as tmp:
            dump_yaml(str(tmp), cfg)


def atomic_saves(runner):
    """Make ``runner.save`` (stock rsl-rl, which writes ``model_<it>.pt`` in place) write a temporary file beside
    the target and move it into place: a crash or a full disk mid-save leaves the previous checkpoint whole,
    and a failed write is a :class:`~rwm_tasks.world_model.data.WriteError` naming the file."""
    from .world_model.files import atomic_write

    save, logger = runner.save, runner.logger

    def atomic_save(path: str, infos: dict | None = None) -> None:
        upload = logger.save_model
        logger.save_model = lambda *_: None  # upload the file under its own name, once it is in place
        try:
            atomic_write(path, lambda f: save(f, infos))
        finally:
            logger.save_model = upload
        upload(path, runner.current_learning_iteration)

    runner.save = atomic_save
    return runner


def make_runner(env, agent_cfg, log_dir: str | None):
    """Stock rsl-rl ``OnPolicyRunner`` of ``agent_cfg`` on ``env`` (the cfg is brought up to rsl-rl's version),
    saving its checkpoints atomically (:func:`atomic_saves`)."""
    from isaaclab_rl.rsl_rl import check_rsl_rl_version, create_rsl_rl_runner, handle_deprecated_rsl_rl_cfg

    agent_cfg = handle_deprecated_rsl_rl_cfg(agent_cfg, check_rsl_rl_version())
    return atomic_saves(create_rsl_rl_runner(env, agent_cfg, log_dir=log_dir))


def load_policy(env, agent_cfg, checkpoint: str, task: str):
    """The actor of an rsl-rl ``checkpoint`` for ``env`` in eval mode (deterministic unless asked to sample), or
    a :class:`UserError` when the checkpoint does not fit the task."""
    runner = make_runner(env, agent_cfg, None)
    try:
        runner.load(checkpoint, load_cfg={"actor": True}, map_location="cpu")
    except (RuntimeError, KeyError, TypeError) as err:
        raise UserError(f"checkpoint '{checkpoint}' does not fit task '{task}': {err}") from err
    return runner.get_inference_policy(device=env.device)
