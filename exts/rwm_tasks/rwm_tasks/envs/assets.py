"""Robot and ground assets: Isaac Lab's official cloud assets, or the project's local stand-ins.

Env configs name Isaac Lab's official assets, as Isaac Lab's own tasks do, and building one touches
neither the network nor the disk. The command line chooses (:func:`select_assets`, from the run-time
choice): the MuJoCo executor always simulates the project's robot descriptions (:mod:`rwm_tasks.robots`);
Isaac Lab uses stand-in USDs authored from them and a local ground plane when NVIDIA's cloud assets cannot
be reached. The USD files are written, under ``$RWM_CACHE_DIR`` (default ``~/.cache/rwm_tasks``), and the
choice printed only when an Isaac Lab env is launched (:func:`launch_assets`).
"""

from __future__ import annotations

import os
import pathlib

from ..robots import get_description
from ..robots import usd as robot_usd

_announced: set[str] = set()

# The simple DC-motor models of Isaac Lab (Go2 kp 25, ANYmal D kp 40) cannot hold the default pose of a
# stand-in with zero action: measured kit-less, base height 14 % (Go2) and 29 % (ANYmal D) below the
# default-pose height. The drives they stand in for are stiffer (ANYmal D's official actuator is an LSTM
# net; the ANYmal description's own position actuators use kp 80), so the stand-ins use these stiffnesses;
# all other actuator numbers are Isaac Lab's.
STANDIN_STIFFNESS = {"go2": 40.0, "anymal_d": 80.0}


def cache_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("RWM_CACHE_DIR", pathlib.Path.home() / ".cache" / "rwm_tasks"))


def standin_usd(robot: str) -> pathlib.Path:
    """Path of the robot's stand-in USD (versioned by the USD writer's format); not written here."""
    return cache_dir() / "usd" / f"{robot}_v{robot_usd.FORMAT_VERSION}.usda"


def ground_usd() -> pathlib.Path:
    """Path of the local ground-plane USD; not written here."""
    return cache_dir() / "usd" / f"ground_plane_v{robot_usd.FORMAT_VERSION}.usda"


def select_assets(env_cfg, robot: str, official: bool, executor: str = "isaaclab") -> None:
    """Keep the official assets in ``env_cfg`` or swap in the stand-ins (always for the MuJoCo executor,
    which simulates the project's descriptions). Changes the cfg only."""
    if executor == "mujoco" or not official:
        apply_standin(env_cfg, robot)


def launch_assets(env_cfg, robot: str) -> None:
    """Before an Isaac Lab env is launched: author the stand-in USDs ``env_cfg`` names that do not exist yet,
    and print which assets the env uses (once per process and robot)."""
    standin = str(getattr(env_cfg.scene.robot.spawn, "usd_path", "")) == str(standin_usd(robot))
    if standin and not standin_usd(robot).exists():
        robot_usd.write_robot_usd(get_description(robot), standin_usd(robot))
    if str(getattr(env_cfg.scene.terrain, "usd_path", "")) == str(ground_usd()) and not ground_usd().exists():
        robot_usd.write_ground_plane_usd(ground_usd())
    if robot in _announced:
        return
    _announced.add(robot)
    if standin:
        print(f"[rwm_tasks] {robot}: the project's stand-in robot {standin_usd(robot)} and a local ground plane.")
    else:
        print(f"[rwm_tasks] {robot}: Isaac Lab's official robot and ground assets.")


def apply_standin(env_cfg, robot: str) -> None:
    """Swap the robot and ground of an Isaac Lab velocity env cfg for the local stand-ins (cfg only: the USD
    files are authored at launch, :func:`launch_assets`)."""
    from isaaclab.actuators import DCMotorCfg
    from isaaclab.utils import replace
    from isaaclab_newton.sim.schemas import NewtonArticulationCfg
    from isaaclab_physx.sim.schemas import PhysxArticulationCfg

    desc = get_description(robot)
    act = desc.actuator
    robot_cfg = env_cfg.scene.robot
    spawn = replace(
        robot_cfg.spawn,
        usd_path=str(standin_usd(robot)),
        articulation_props=[
            PhysxArticulationCfg(enabled_self_collisions=False, solver_position_iteration_count=4,
                                 solver_velocity_iteration_count=0),
            NewtonArticulationCfg(self_collision_enabled=False),
        ],
    )  # fmt: skip
    actuator = DCMotorCfg(
        joint_names_expr=[".*"],
        stiffness=STANDIN_STIFFNESS[desc.name],
        damping=act.damping,
        actuator_effort_limit=act.effort_limit,
        saturation_effort=act.saturation_effort,
        actuator_velocity_limit=act.velocity_limit,
        friction=0.0,
        armature=desc.joint_armature,  # the USD authors none; the MuJoCo executor uses the description's
    )
    init_state = replace(robot_cfg.init_state, pos=(0.0, 0.0, desc.spawn_height), joint_pos=dict(desc.default_joint_pos))
    env_cfg.scene.robot = replace(robot_cfg, spawn=spawn, actuators={"legs": actuator}, init_state=init_state)
    base_height = getattr(env_cfg.rewards, "base_height_l2", None)
    if base_height is not None:
        # Isaac Lab's target is the official asset's authored standing height (Go2: 0.4 m, not reachable by
        # the stand-in's legs); the stand-in's equivalent is the height of its default pose.
        base_height.params["target_height"] = desc.standing_height()
    terrain = env_cfg.scene.terrain
    terrain.terrain_type = "usd"
    terrain.usd_path = str(ground_usd())
    terrain.terrain_generator = None
    terrain.visual_material = None
    env_cfg.scene.sky_light = None
