"""Task configs for the MuJoCo executor, resolved through Isaac Lab's registry (no simulator started).

The MuJoCo executor always simulates the project's robot descriptions, so :func:`load_task_cfg` swaps in
the stand-in robot config (:func:`rwm_tasks.envs.assets.apply_standin`): the actuator numbers then are the
ones the Isaac Lab stand-in env uses with the same robot.
"""

from __future__ import annotations

import sys

from ...tasks import layout_of
from ..assets import apply_standin


def load_task_cfg(task: str):
    """(env_cfg, agent_cfg) of a registered task id, as Isaac Lab's train script resolves them, with the
    stand-in robot config applied."""
    argv, sys.argv = sys.argv, sys.argv[:1]  # Isaac Lab's resolver reads Hydra overrides from argv
    try:
        import rwm_tasks  # noqa: F401  (registers the tasks)
        from isaaclab_tasks.utils import resolve_task_config

        env_cfg, agent_cfg = resolve_task_config(task, "rsl_rl_cfg_entry_point")
    finally:
        sys.argv = argv
    apply_standin(env_cfg, layout_of(task).robot)
    return env_cfg, agent_cfg


def make_env(task: str, num_envs: int | None = None, seed: int | None = None, num_threads: int = 2, **kwargs):
    """A :class:`~rwm_tasks.envs.mujoco.env.MujocoVecEnv` of ``task``."""
    from .env import MujocoVecEnv

    env_cfg, _ = load_task_cfg(task)
    return MujocoVecEnv(env_cfg, task=task, num_envs=num_envs, seed=seed, num_threads=num_threads, **kwargs)
