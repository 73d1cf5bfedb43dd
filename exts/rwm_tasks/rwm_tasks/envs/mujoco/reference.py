"""The kit-less Isaac Lab env of a task on CPU, as the reference the MuJoCo executor is checked against.

Used by the cross-engine tests and by ``benchmark.py``. :func:`deterministic` strips the randomisation
(startup mass/CoM/friction, reset offsets, pushes, observation noise) so that both engines start from the
same state; :func:`copy_isaaclab_state` writes an Isaac Lab env's state into a :class:`MujocoVecEnv` so that
observation and reward terms can be compared on identical inputs.
"""

from __future__ import annotations

import argparse
import contextlib

import torch

from ...tasks import layout_of
from ..assets import launch_assets
from .tasks import load_task_cfg


def deterministic(env_cfg) -> None:
    """Remove every random element of an RWM env cfg (in place); resets go to the default state."""
    ev = env_cfg.events
    for name in ("push_robot", "add_base_mass", "base_com"):
        if getattr(ev, name, None) is not None:
            setattr(ev, name, None)
    if getattr(ev, "reset_base", None) is not None:
        ev.reset_base.params = {"pose_range": {}, "velocity_range": {}}
    if getattr(ev, "reset_robot_joints", None) is not None:
        ev.reset_robot_joints.params["position_range"] = (1.0, 1.0)
        ev.reset_robot_joints.params["velocity_range"] = (0.0, 0.0)
    env_cfg.observations.policy.enable_corruption = False


@contextlib.contextmanager
def isaaclab_env(task: str, num_envs: int, seed: int = 0, make_deterministic: bool = False, env_cfg=None):
    """Context manager yielding the unwrapped ``ManagerBasedRLEnv`` of ``task`` (kit-less, CPU)."""
    import gymnasium as gym
    from isaaclab.app import add_launcher_args, launch_simulation

    if env_cfg is None:
        env_cfg, _ = load_task_cfg(task)
        if make_deterministic:
            deterministic(env_cfg)
    env_cfg.scene.num_envs = num_envs
    env_cfg.sim.device = "cpu"
    env_cfg.seed = seed
    launch_assets(env_cfg, layout_of(task).robot)
    parser = argparse.ArgumentParser()
    add_launcher_args(parser)
    args = parser.parse_args([])
    with launch_simulation(env_cfg, args):
        env = gym.make(task, cfg=env_cfg)
        try:
            yield env.unwrapped
        finally:
            env.close()


def copy_isaaclab_state(il_env, env) -> None:
    """Write the Isaac Lab env's robot state, buffers and sensor data into the MuJoCo env ``env``.

    Copies root pose/velocity (Isaac Lab conventions, converted on write), joint state, base CoM, applied
    torques, joint accelerations, actions, commands, contact-force history and air-time timers; both envs
    must have the same number of envs.
    """
    robot, data = il_env.scene["robot"], il_env.scene["robot"].data
    names = list(robot.joint_names)
    order = [names.index(j) for j in env.layout.joint_names]
    ids = torch.arange(env.num_envs)
    base = robot.body_names.index(env.layout.base_body)
    env.base_com_b = data.body_com_pose_b.torch[:, base, :3].clone().float()
    env.write_root_state_isaaclab(ids, data.root_link_pose_w.torch.clone(), data.root_com_vel_w.torch.clone())
    env.write_joint_state(ids, data.joint_pos.torch[:, order].clone(), data.joint_vel.torch[:, order].clone())
    env.applied_effort = data.applied_torque.torch[:, order].clone().float()
    env.joint_acc = data.joint_acc.torch[:, order].clone().float()
    am = il_env.action_manager
    env.action, env.prev_action = am.action.clone().float(), am.prev_action.clone().float()
    cmd = il_env.command_manager.get_term(env.command.name)
    env.command.command = cmd.command.clone().float()
    sensor = il_env.scene["contact_forces"]
    sd = sensor.data
    il_bodies = list(sensor.body_names)
    cols = [il_bodies.index(b) for b in env.index.body_names]
    env.contact_history = sd.net_normal_forces_w_history.torch[:, :, cols].norm(dim=-1).clone().float()
    ch = [il_bodies.index(b) for b in env.layout.contact_bodies]
    tracker = env.air_time
    tracker.current_air_time = sd.current_air_time.torch[:, ch].clone()
    tracker.current_contact_time = sd.current_contact_time.torch[:, ch].clone()
    tracker.last_air_time = sd.last_air_time.torch[:, ch].clone()
    tracker.last_contact_time = sd.last_contact_time.torch[:, ch].clone()
    tracker.update_period = float(sensor.cfg.update_period)
    env.episode_length_buf = il_env.episode_length_buf.clone()
