"""A small kinematic-tree description of a legged robot and its MJCF writer.

Each robot module (``go2.py``, ``anymal_d.py``) builds one :class:`RobotDescription` from its parameter
tables. That description is the single source of robot parameters: the MuJoCo executor compiles its MJCF
directly, and the Isaac Lab stand-in USD is authored from the same compiled model (``usd.py``).

Conventions: every body frame is aligned with the base frame at the zero joint configuration, so joint
axes are expressed in the base frame (hips about +x, thighs and knees about +y for both robots); inertia is
the full tensor about the centre of mass in the body frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Geom:
    """A collision primitive: 'box' (half extents), 'sphere' (radius) or 'capsule' (radius, from-to)."""

    kind: str
    size: tuple[float, ...]
    pos: Vec3 = (0.0, 0.0, 0.0)
    to: Vec3 | None = None  # capsule end point; ``pos`` is its start
    friction: float | None = None


@dataclass(frozen=True)
class Joint:
    name: str
    axis: Vec3
    limits: tuple[float, float]  # radians


@dataclass
class Body:
    name: str
    pos: Vec3  # relative to the parent body frame
    mass: float
    com: Vec3
    inertia: tuple[float, float, float, float, float, float]  # ixx iyy izz ixy ixz iyz about the com
    joint: Joint | None = None  # None: welded to the parent (e.g. a foot)
    geoms: list[Geom] = field(default_factory=list)
    children: list["Body"] = field(default_factory=list)

    def walk(self):
        """Depth-first over this body and its descendants."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class ActuatorParams:
    """DC-motor actuator parameters (Isaac Lab ``DCMotorCfg`` semantics), per joint-name regex."""

    stiffness: float
    damping: float
    effort_limit: dict[str, float]
    saturation_effort: dict[str, float]
    velocity_limit: dict[str, float]


@dataclass
class RobotDescription:
    name: str
    base: Body
    spawn_height: float
    default_joint_pos: dict[str, float]  # by joint name
    actuator: ActuatorParams
    geom_friction: float = 0.8
    joint_armature: float = 0.01
    """Reflected rotor inertia added to every joint (kg m^2), in both engines."""
    licence_file: str = ""

    @property
    def bodies(self) -> list[Body]:
        return list(self.base.walk())

    @property
    def joints(self) -> list[Joint]:
        return [b.joint for b in self.bodies if b.joint is not None]

    def default_joint_pos_in(self, joint_names) -> tuple[float, ...]:
        """Default joint positions for ``joint_names`` (resolved from the regex table)."""
        return tuple(_match(self.default_joint_pos, name) for name in joint_names)

    def standing_height(self) -> float:
        """Base height with the default pose and the lowest foot touching flat ground (kinematics only)."""
        import mujoco

        model = mujoco.MjModel.from_xml_string(self.to_mjcf(floor=False))
        data = mujoco.MjData(model)
        for j in range(1, model.njnt):
            data.qpos[model.jnt_qposadr[j]] = _match(self.default_joint_pos, model.joint(j).name)
        mujoco.mj_kinematics(model, data)
        mujoco.mj_collision(model, data)
        lowest = min(
            data.geom_xpos[g][2] - model.geom_size[g][0]
            for g in range(model.ngeom)
            if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE
        )
        return float(self.spawn_height - lowest)

    def to_mjcf(self, *, floor: bool = True, timestep: float = 0.005) -> str:
        """MJCF of the robot (free base, torque motors with the effort limits) and optionally a floor."""
        lines = [
            f'<mujoco model="{self.name}">',
            '  <compiler angle="radian" autolimits="true"/>',
            f'  <option timestep="{timestep}" integrator="implicitfast"/>',
            "  <default>",
            f'    <geom friction="{self.geom_friction} 0.005 0.0001" condim="3"/>',
            f'    <joint damping="0" armature="{self.joint_armature}"/>',
            "  </default>",
            "  <worldbody>",
        ]
        if floor:
            lines.append('    <geom name="floor" type="plane" size="0 0 0.05"/>')
        lines += _body_xml(self.base, 2, root_pos=(0.0, 0.0, self.spawn_height))
        lines.append("  </worldbody>")
        lines.append("  <actuator>")
        for joint in self.joints:
            limit = _match(self.actuator.effort_limit, joint.name)
            lines.append(f'    <motor name="{joint.name}" joint="{joint.name}" ctrlrange="{-limit} {limit}"/>')
        lines.append("  </actuator>")
        lines.append("</mujoco>")
        return "\n".join(lines) + "\n"


def _match(table: dict[str, float], name: str) -> float:
    import re

    for pattern, value in table.items():
        if re.fullmatch(pattern, name):
            return value
    raise KeyError(f"no actuator parameter matches joint '{name}' (patterns {list(table)})")


def _fmt(values) -> str:
    return " ".join(f"{v:.9g}" for v in values)


def _body_xml(body: Body, indent: int, root_pos: Vec3 | None = None) -> list[str]:
    pad = "  " * indent
    pos = root_pos if root_pos is not None else body.pos
    out = [f"{pad}<body name={quoteattr(body.name)} pos=\"{_fmt(pos)}\">"]
    out.append(f'{pad}  <inertial pos="{_fmt(body.com)}" mass="{body.mass:.9g}" fullinertia="{_fmt(body.inertia)}"/>')
    if root_pos is not None:
        out.append(f'{pad}  <freejoint name="root"/>')
    elif body.joint is not None:
        j = body.joint
        out.append(f'{pad}  <joint name="{j.name}" axis="{_fmt(j.axis)}" range="{_fmt(j.limits)}"/>')
    for i, g in enumerate(body.geoms):
        attrs = f'name="{body.name}_c{i}" type="{g.kind}" size="{_fmt(g.size)}"'
        attrs += f' fromto="{_fmt(g.pos + g.to)}"' if g.kind == "capsule" else f' pos="{_fmt(g.pos)}"'
        if g.friction is not None:
            attrs += f' friction="{g.friction} 0.005 0.0001"'
        out.append(f"{pad}  <geom {attrs}/>")
    for child in body.children:
        out += _body_xml(child, indent + 1)
    out.append(f"{pad}</body>")
    return out


def mirror_inertia(inertia, sx: float, sy: float):
    """Inertia tensor of a body mirrored front/back (sx = -1) and/or left/right (sy = -1)."""
    ixx, iyy, izz, ixy, ixz, iyz = inertia
    return (ixx, iyy, izz, ixy * sx * sy, ixz * sx, iyz * sy)
