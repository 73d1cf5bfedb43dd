"""Building tiny kit-less Isaac Lab envs of the RWM tasks on CPU, for tests."""

from __future__ import annotations

import argparse
import contextlib
import sys


@contextlib.contextmanager
def isaaclab_env(task: str, num_envs: int = 2, *, quiet_events: bool = True, seed: int = 0):
    """Yield the unwrapped ``ManagerBasedRLEnv`` of ``task`` with ``num_envs`` envs on CPU.

    ``quiet_events`` removes startup randomisation, pushes and randomised resets, so the robot starts on
    its default pose at rest (what the standing and parity checks need).
    """
    import gymnasium as gym
    from isaaclab.app import add_launcher_args, launch_simulation
    from isaaclab_tasks.utils import resolve_task_config

    import rwm_tasks  # noqa: F401
    from rwm_tasks.envs.assets import launch_assets, select_assets
    from rwm_tasks.tasks import layout_of

    argv, sys.argv = sys.argv, sys.argv[:1]
    try:
        env_cfg, agent_cfg = resolve_task_config(task, "rsl_rl_cfg_entry_point", overrides=[])
    finally:
        sys.argv = argv
    robot = layout_of(task).robot
    select_assets(env_cfg, robot, official=False)  # tests run the project's stand-in robots
    env_cfg.scene.num_envs = num_envs
    env_cfg.sim.device = "cpu"
    env_cfg.seed = seed
    if quiet_events:
        events = env_cfg.events
        events.add_base_mass = None
        events.base_com = None
        events.push_robot = None
        events.base_external_force_torque = None
        events.reset_base.params["pose_range"] = {}
        events.reset_base.params["velocity_range"] = {}
        events.reset_robot_joints.params["position_range"] = (1.0, 1.0)
    parser = argparse.ArgumentParser()
    add_launcher_args(parser)
    args = parser.parse_args(["--device", "cpu"])
    launch_assets(env_cfg, robot)
    with launch_simulation(env_cfg, args):
        env = gym.make(task, cfg=env_cfg)
        try:
            yield env.unwrapped, agent_cfg
        finally:
            env.close()
