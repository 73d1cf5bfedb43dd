"""ANYmal D stand-in: link offsets, masses, inertias, joint axes and limits from ANYbotics'
``anymal_d_simple_description`` (BSD-3-Clause, Copyright ANYbotics AG; see ``LICENSE-anymal_d-ANYbotics``),
re-expressed with base-aligned body frames, with our own reduced collision set (base box, thigh boxes,
shank capsules, foot spheres: no self-collision needed) and explicit foot bodies. Actuator numbers are
Isaac Lab's ``ANYDRIVE_3_SIMPLE_ACTUATOR_CFG`` (the official LSTM actuator net is a cloud file).
"""

from __future__ import annotations

from .description import ActuatorParams, Body, Geom, Joint, RobotDescription, mirror_inertia

# Left-front leg; the others mirror it front/back and left/right (ANYmal's knees point inwards).
_HIP_OFFSET = (0.304, 0.109, 0.0)
_HIP = dict(mass=0.36586, com=(0.035047, -0.0012268, 0.0), inertia=(2.3852e-4, 5.5825e-4, 4.4332e-4, 3.26e-6, 0, 0))
_THIGH_OFFSET = (0.069, 0.006, 0.0)
_THIGH = dict(mass=5.1322, com=(-8.8e-5, 0.0905113, -0.140188), inertia=(0.107959, 0.10488, 0.0139329, 0.0, 3.2e-4, 0.0200594))
_SHANK_OFFSET = (0.0, 0.1805, -0.285)
_FOOT_MASS = 0.1  # taken out of the shank mass: the source description fuses the foot into the shank
_SHANK = dict(mass=0.79598 - _FOOT_MASS, com=(0.0509335, 0.0080859, -0.0900193), inertia=(0.016665, 0.0189109, 0.00253121, 0.0, 0.00354903, 0.0))
_FOOT_OFFSET = (0.1, 0.014109, -0.362077)
_FOOT_RADIUS = 0.031455
_HAA_LIMITS = (-0.785398, 0.610865)  # left legs; right legs mirror
_FLEX_LIMITS = (-9.42478, 9.42478)

DEFAULT_JOINT_POS = {".*HAA": 0.0, ".*F_HFE": 0.4, ".*H_HFE": -0.4, ".*F_KFE": -0.8, ".*H_KFE": 0.8}

ACTUATOR = ActuatorParams(
    stiffness=40.0,
    damping=5.0,
    effort_limit={".*": 80.0},
    saturation_effort={".*": 120.0},
    velocity_limit={".*": 7.5},
)


def _leg(prefix: str, sx: float, sy: float) -> Body:
    def m(v):  # mirror a point
        return (v[0] * sx, v[1] * sy, v[2])

    foot = Body(f"{prefix}_FOOT", m(_FOOT_OFFSET), _FOOT_MASS, (0.0, 0.0, 0.0), (1e-4, 1e-4, 1e-4, 0, 0, 0),
                geoms=[Geom("sphere", (_FOOT_RADIUS,))])  # fmt: skip
    shank = Body(
        f"{prefix}_SHANK", m(_SHANK_OFFSET), _SHANK["mass"], m(_SHANK["com"]), mirror_inertia(_SHANK["inertia"], sx, sy),
        joint=Joint(f"{prefix}_KFE", (0, 1, 0), _FLEX_LIMITS),
        geoms=[Geom("capsule", (0.02,), pos=m((0.1, 0.004, -0.03)), to=m((0.1, 0.012, -0.32)))],
        children=[foot],
    )  # fmt: skip
    thigh = Body(
        f"{prefix}_THIGH", m(_THIGH_OFFSET), _THIGH["mass"], m(_THIGH["com"]), mirror_inertia(_THIGH["inertia"], sx, sy),
        joint=Joint(f"{prefix}_HFE", (0, 1, 0), _FLEX_LIMITS),
        geoms=[Geom("box", (0.0465, 0.0315, 0.1425), pos=m((0.0, 0.09513, -0.1425)))],
        children=[shank],
    )  # fmt: skip
    haa = _HAA_LIMITS if sy > 0 else (-_HAA_LIMITS[1], -_HAA_LIMITS[0])
    return Body(
        f"{prefix}_HIP", m(_HIP_OFFSET), _HIP["mass"], m(_HIP["com"]), mirror_inertia(_HIP["inertia"], sx, sy),
        joint=Joint(f"{prefix}_HAA", (1, 0, 0), haa),
        children=[thigh],
    )  # fmt: skip


def description() -> RobotDescription:
    base = Body(
        "base", (0.0, 0.0, 0.0), 31.8837, (0.013363, -4.99e-5, 0.0273658),
        (0.53324821, 1.87648664, 1.70272914, 0.00891985, -0.15690837, 0.00593973),
        geoms=[Geom("box", (0.447, 0.08075, 0.128), pos=(0.0, 0.0, 0.016))],
        children=[_leg("LF", 1, 1), _leg("RF", 1, -1), _leg("LH", -1, 1), _leg("RH", -1, -1)],
    )  # fmt: skip
    return RobotDescription(
        name="anymal_d",
        base=base,
        spawn_height=0.6,
        default_joint_pos=DEFAULT_JOINT_POS,
        actuator=ACTUATOR,
        geom_friction=0.8,
        licence_file="LICENSE-anymal_d-ANYbotics",
    )
