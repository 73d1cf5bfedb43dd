"""Unitree Go2 stand-in: link offsets, masses, inertias, joint axes and limits from the MuJoCo Menagerie
description of Go2 (BSD-3-Clause, Copyright Unitree Robotics; see ``LICENSE-go2-Unitree``), with our own
reduced set of collision primitives (base box, thigh boxes, calf capsules, foot spheres) and explicit foot
bodies so contact sensors can find the feet. Actuator numbers follow Isaac Lab's ``UNITREE_GO2_CFG``.
"""

from __future__ import annotations

from .description import ActuatorParams, Body, Geom, Joint, RobotDescription, mirror_inertia

# Front-left leg; the other legs mirror it. Go2's thigh and calf are the same front and back (all knees
# point backwards), so only the hip mirrors front/back.
_HIP_OFFSET = (0.1934, 0.0465, 0.0)
_HIP = dict(mass=0.678, com=(-0.0054, 0.00194, -0.000105), inertia=(4.8e-4, 8.84e-4, 5.96e-4, -3.01e-6, 1.11e-6, -1.42e-6))
_THIGH_OFFSET = (0.0, 0.0955, 0.0)
_THIGH = dict(mass=1.152, com=(-0.00374, -0.0223, -0.0327), inertia=(5.84e-3, 5.8e-3, 1.03e-3, 8.72e-5, -2.89e-4, 8.08e-4))
_CALF_OFFSET = (0.0, 0.0, -0.213)
_FOOT_MASS = 0.04  # taken out of the calf mass: the source description has the foot fused into the calf
_CALF = dict(mass=0.241352 - _FOOT_MASS, com=(0.0063, -0.00062, -0.1414), inertia=(1.4635e-3, 1.49e-3, 5.327e-5, 2.2e-7, 5.97e-6, 1.22e-5))
_FOOT_OFFSET = (-0.002, 0.0, -0.213)
_FOOT_RADIUS = 0.022
_LIMITS = {"hip": (-1.0472, 1.0472), "front_thigh": (-1.5708, 3.4907), "rear_thigh": (-0.5236, 4.5379), "calf": (-2.7227, -0.83776)}

DEFAULT_JOINT_POS = {
    ".*L_hip_joint": 0.1,
    ".*R_hip_joint": -0.1,
    "F[LR]_thigh_joint": 0.8,
    "R[LR]_thigh_joint": 1.0,
    ".*_calf_joint": -1.5,
}

ACTUATOR = ActuatorParams(
    stiffness=25.0,
    damping=0.5,
    effort_limit={".*_hip_joint": 23.7, ".*_thigh_joint": 23.7, ".*_calf_joint": 45.43},
    saturation_effort={".*_hip_joint": 23.7, ".*_thigh_joint": 23.7, ".*_calf_joint": 45.43},
    velocity_limit={".*_hip_joint": 30.1, ".*_thigh_joint": 30.1, ".*_calf_joint": 15.70},
)


def _leg(prefix: str, sx: float, sy: float) -> Body:
    def m(v, fx=1.0):  # mirror a point
        return (v[0] * fx, v[1] * sy, v[2])

    foot = Body(f"{prefix}_foot", _FOOT_OFFSET, _FOOT_MASS, (0.0, 0.0, 0.0), (1e-5, 1e-5, 1e-5, 0, 0, 0),
                geoms=[Geom("sphere", (_FOOT_RADIUS,), friction=0.8)])  # fmt: skip
    calf = Body(
        f"{prefix}_calf", _CALF_OFFSET, _CALF["mass"], m(_CALF["com"]), mirror_inertia(_CALF["inertia"], 1, sy),
        joint=Joint(f"{prefix}_calf_joint", (0, 1, 0), _LIMITS["calf"]),
        geoms=[Geom("capsule", (0.013,), pos=(0.006, 0.0, -0.02), to=(0.02, 0.0, -0.17))],
        children=[foot],
    )  # fmt: skip
    thigh = Body(
        f"{prefix}_thigh", m(_THIGH_OFFSET), _THIGH["mass"], m(_THIGH["com"]), mirror_inertia(_THIGH["inertia"], 1, sy),
        joint=Joint(f"{prefix}_thigh_joint", (0, 1, 0), _LIMITS["front_thigh" if sx > 0 else "rear_thigh"]),
        geoms=[Geom("box", (0.017, 0.01225, 0.1065), pos=(0.0, 0.0, -0.1065))],
        children=[calf],
    )  # fmt: skip
    return Body(
        f"{prefix}_hip", m(_HIP_OFFSET, sx), _HIP["mass"], m(_HIP["com"], sx), mirror_inertia(_HIP["inertia"], sx, sy),
        joint=Joint(f"{prefix}_hip_joint", (1, 0, 0), _LIMITS["hip"]),
        children=[thigh],
    )  # fmt: skip


def description() -> RobotDescription:
    base = Body(
        "base", (0.0, 0.0, 0.0), 6.921, (0.021112, 0.0, -0.005366),
        (0.02448, 0.098077, 0.1070002, 1.2166e-4, 1.484809e-3, -3.12e-5),
        geoms=[Geom("box", (0.1881, 0.04675, 0.057))],
        children=[_leg("FL", 1, 1), _leg("FR", 1, -1), _leg("RL", -1, 1), _leg("RR", -1, -1)],
    )  # fmt: skip
    return RobotDescription(
        name="go2",
        base=base,
        spawn_height=0.4,
        default_joint_pos=DEFAULT_JOINT_POS,
        actuator=ACTUATOR,
        geom_friction=0.6,
        licence_file="LICENSE-go2-Unitree",
    )
