"""The MuJoCo model of a task's robot: the project's robot description plus what the env cfg says.

The robot comes from :func:`rwm_tasks.robots.get_description` (the same numbers the Isaac Lab
stand-in USD is authored from). On top of it this module sets what the Isaac Lab scene and physics cfg
decide: time step, solver options, floor friction, no self-collision (as the stand-ins), joint armature,
unlimited motor controls (the DC-motor model clips torques itself), and one ``contact`` sensor per body
reporting its net contact force (Isaac Lab's contact sensor covers every body of the robot).

:class:`ModelIndex` maps names to MuJoCo addresses in the *layout's* joint order (Isaac Lab's order).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from ...layout import RobotLayout
from ...robots import get_description
from ..mdp.names import resolve_names

# rendering only (no physical effect): a checker floor and a light, so videos show motion
_VISUALS = """  <asset>
    <texture name="rwm_grid" type="2d" builtin="checker" rgb1=".55 .6 .65" rgb2=".42 .46 .5"
             width="256" height="256"/>
    <material name="rwm_grid" texture="rwm_grid" texrepeat="1 1" texuniform="true"/>
  </asset>
"""
_LIGHT = '    <light name="rwm_sun" pos="0 0 4" dir="0 0 -1" directional="true" diffuse=".8 .8 .8" ambient=".3 .3 .3"/>\n'


@dataclass(frozen=True)
class PhysicsSettings:
    """Solver numbers taken from the env cfg (``sim.dt`` and the MuJoCo-Warp solver cfg when present)."""

    timestep: float = 0.005
    integrator: str = "implicitfast"
    cone: str = "pyramidal"
    impratio: float = 1.0
    solver: str = "newton"
    iterations: int = 100
    ls_iterations: int = 50
    floor_friction: float = 1.0

    @classmethod
    def from_env_cfg(cls, env_cfg) -> PhysicsSettings:
        """Read ``sim.dt``, the Newton/MuJoCo-Warp solver cfg (if that is the preset) and the terrain friction."""
        solver_cfg = getattr(getattr(env_cfg.sim, "physics", None), "solver_cfg", None)
        material = getattr(env_cfg.scene.terrain, "physics_material", None)
        base = cls()
        pick = lambda name: getattr(solver_cfg, name, None) or getattr(base, name)  # noqa: E731
        return cls(
            timestep=float(env_cfg.sim.dt),
            integrator=str(pick("integrator")),
            cone=str(pick("cone")),
            impratio=float(pick("impratio")),
            solver=str(pick("solver")),
            iterations=int(pick("iterations")),
            ls_iterations=int(pick("ls_iterations")),
            floor_friction=float(getattr(material, "static_friction", base.floor_friction)),
        )


@dataclass
class ModelIndex:
    """Addresses of the layout's joints and of every body's contact sensor."""

    joint_names: tuple[str, ...]  # layout order
    qpos_adr: np.ndarray  # [J] into qpos
    qvel_adr: np.ndarray  # [J] into qvel
    actuator_ids: np.ndarray  # [J] into ctrl
    body_names: tuple[str, ...]  # MuJoCo bodies without the world, in MuJoCo order
    body_ids: np.ndarray  # [B] MuJoCo body ids
    sensor_adr: np.ndarray  # [B] start of each body's contact sensor in sensordata
    base_body_id: int
    joint_limits: np.ndarray  # [J, 2]

    def bodies(self, patterns, what: str) -> list[int]:
        """Positions in :attr:`body_names` matched (``re.fullmatch``) by ``patterns``, in ``patterns`` order."""
        try:
            return resolve_names(patterns, self.body_names, preserve_order=True)
        except ValueError as err:
            raise ValueError(f"{what}: body {err}") from None


def _option(kind: str, name: str):
    """MuJoCo enum value of an integrator / cone / solver name as Isaac Lab's solver cfg spells it."""
    enum, prefix = {"integrator": (mujoco.mjtIntegrator, "mjINT_"), "cone": (mujoco.mjtCone, "mjCONE_"),
                    "solver": (mujoco.mjtSolver, "mjSOL_")}[kind]  # fmt: skip
    value = getattr(enum, prefix + name.upper(), None)
    if value is None:
        raise ValueError(f"MuJoCo has no {kind} '{name}'")
    return value


def build_model(layout: RobotLayout, settings: PhysicsSettings, armature: np.ndarray | float = np.nan):
    """Compile the robot of ``layout`` with a floor and contact sensors; returns (MjModel, ModelIndex).

    ``armature`` per layout joint overrides the description's where it is not NaN (the actuator cfg's).
    """
    desc = get_description(layout.robot)
    xml = desc.to_mjcf(floor=True, timestep=settings.timestep)
    bodies = [b.name for b in desc.bodies]
    sensors = "".join(
        f'<contact name="contact_{b}" body1="{b}" data="found force" reduce="netforce"/>' for b in bodies
    )
    xml = xml.replace("</mujoco>", f"  <sensor>{sensors}</sensor>\n</mujoco>")
    xml = xml.replace("  <worldbody>", _VISUALS + "  <worldbody>\n" + _LIGHT, 1)
    xml = xml.replace('<geom name="floor"', '<geom name="floor" material="rwm_grid"', 1)
    model = mujoco.MjModel.from_xml_string(xml)

    opt = model.opt
    opt.timestep = settings.timestep
    opt.integrator = _option("integrator", settings.integrator)
    opt.cone = _option("cone", settings.cone)
    opt.solver = _option("solver", settings.solver)
    opt.impratio = settings.impratio
    opt.iterations = settings.iterations
    opt.ls_iterations = settings.ls_iterations

    floor = model.geom("floor").id
    robot_geoms = np.arange(model.ngeom) != floor
    # no self-collision (the stand-ins disable it): robot geoms only meet the floor
    model.geom_contype[robot_geoms] = 0
    model.geom_conaffinity[robot_geoms] = 1
    model.geom_contype[floor] = 1
    model.geom_conaffinity[floor] = 0
    model.geom_friction[floor, 0] = settings.floor_friction
    model.geom_rgba[robot_geoms] = (0.9, 0.55, 0.2, 1.0)  # rendering only
    model.actuator_ctrllimited[:] = 0

    qpos_adr, qvel_adr, act_ids, limits = [], [], [], []
    for name in layout.joint_names:
        j = model.joint(name)
        qpos_adr.append(int(j.qposadr[0]))
        qvel_adr.append(int(j.dofadr[0]))
        act_ids.append(model.actuator(name).id)
        limits.append(model.jnt_range[j.id])
    qvel_adr = np.asarray(qvel_adr)
    armature = np.broadcast_to(np.asarray(armature, dtype=float), qvel_adr.shape)
    model.dof_armature[qvel_adr] = np.where(np.isnan(armature), model.dof_armature[qvel_adr], armature)
    body_ids = np.arange(1, model.nbody)
    sensor_adr = np.asarray([model.sensor(f"contact_{model.body(int(b)).name}").adr[0] for b in body_ids])
    index = ModelIndex(
        joint_names=tuple(layout.joint_names),
        qpos_adr=np.asarray(qpos_adr),
        qvel_adr=qvel_adr,
        actuator_ids=np.asarray(act_ids),
        body_names=tuple(model.body(int(b)).name for b in body_ids),
        body_ids=body_ids,
        sensor_adr=sensor_adr,
        base_body_id=model.body(layout.base_body).id,
        joint_limits=np.asarray(limits),
    )
    return model, index
