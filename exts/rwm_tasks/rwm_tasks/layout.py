"""World-model data layout per robot: one place for names, slices, dims and joint/body order.

Every piece of code that touches a world-model state vector, a dataset column or a ``system_*``
observation group imports this module. The layout is that of the RWM reference datasets:

    state (45) = base_lin_vel (3, base frame) | base_ang_vel (3, base frame) | projected_gravity (3)
                 | joint_pos - default (12) | joint_vel (12) | joint_effort (12)
    action (12) = last applied (policy) action: the action that led to this row's state (zero in the first
                  row of an episode), so the action applied at row t's state is row t + 1's action
    contacts (8) = 4 thighs then 4 feet, 1 where the net contact force exceeds 1 N
    termination (1) = base contact
    extension (robot specific, optional) = extra quantities rewards need, e.g. base height for Go2

Joint and body order is Isaac Lab's order for the official asset of each robot (breadth-first over the
kinematic tree: all hips, then all thighs, then all calves/knees). Assets with another internal order (the
project's stand-ins, MuJoCo models) must map explicitly to this order by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .robots import get_description, robot_name

STATE_GROUPS: tuple[tuple[str, int], ...] = (
    ("base_lin_vel", 3),
    ("base_ang_vel", 3),
    ("projected_gravity", 3),
    ("joint_pos", 12),
    ("joint_vel", 12),
    ("joint_effort", 12),
)
"""Ordered (name, dim) groups of the world-model state."""

MIRROR_SIGNS: dict[str, tuple[float, float, float]] = {
    "base_lin_vel": (1.0, -1.0, 1.0),
    "base_ang_vel": (-1.0, 1.0, -1.0),
    "projected_gravity": (1.0, -1.0, 1.0),
}
"""Sign of each base-frame axis under the left-right mirror (y -> -y): vectors flip y, the angular velocity
(an axial vector) flips x and z."""

CONTACT_THRESHOLD_N = 1.0
"""A body is in contact when the norm of its net contact force exceeds this (newtons)."""

FALL_TILT_RAD = 0.8
"""Base tilt that ends a training episode (``bad_orientation``), so recorded episodes that end in a fall end
at it. Falls of the Go2 policies here are roll-overs: the tilt passed 0.8 rad before every one of 63 recorded
falls, a median 20 steps before the base touched the ground, and in 0.002 % of the other rows."""


def base_tilt(projected_gravity):
    """Angle (rad) between the base's z-axis and the world vertical, from the projected gravity tensor [..., 3]
    as it is (a forecast gravity is not renormalised): what ``bad_orientation`` compares with its limit."""
    return (-projected_gravity[..., 2]).clamp(-1.0, 1.0).acos()


def _slices(groups: tuple[tuple[str, int], ...]) -> dict[str, slice]:
    out, start = {}, 0
    for name, dim in groups:
        out[name] = slice(start, start + dim)
        start += dim
    return out


@dataclass(frozen=True)
class RobotLayout:
    """Names and order of everything a world model sees for one robot."""

    robot: str
    joint_names: tuple[str, ...]
    thigh_bodies: tuple[str, ...]
    foot_bodies: tuple[str, ...]
    base_body: str
    dt: float = 0.02
    state_groups: tuple[tuple[str, int], ...] = field(default=STATE_GROUPS)
    extension_groups: tuple[tuple[str, int], ...] = ()
    """Extra continuous quantities a reward needs beyond the state (e.g. Go2's base height), predicted by
    the world model's extension head and stored after the termination column in data files."""
    mirror_legs: tuple[tuple[str, str], ...] = ()
    """(left, right) leg name prefixes that swap under the left-right mirror."""
    abduction_joint: str = ""
    """Name part of the joints that rotate about the base's x axis: their angle flips sign under the mirror
    (the other joints' angles keep theirs, as the left and right axes point the same way)."""

    @property
    def default_joint_pos(self) -> tuple[float, ...]:
        """Default joint positions in this layout's joint order (from the robot description)."""
        return get_description(self.robot).default_joint_pos_in(self.joint_names)

    # --- dimensions -------------------------------------------------------------------------------------
    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def state_dim(self) -> int:
        return sum(d for _, d in self.state_groups)

    @property
    def action_dim(self) -> int:
        return self.num_joints

    @property
    def contact_bodies(self) -> tuple[str, ...]:
        """Contact channel order: thighs then feet."""
        return self.thigh_bodies + self.foot_bodies

    @property
    def contact_dim(self) -> int:
        return len(self.contact_bodies)

    @property
    def termination_dim(self) -> int:
        return 1

    @property
    def extension_dim(self) -> int:
        return sum(d for _, d in self.extension_groups)

    @property
    def extension_slices(self) -> dict[str, slice]:
        return _slices(self.extension_groups)

    @property
    def state_slices(self) -> dict[str, slice]:
        return _slices(self.state_groups)

    def state_slice(self, name: str) -> slice:
        return self.state_slices[name]

    @property
    def state_names(self) -> tuple[str, ...]:
        """Per-dimension names of the state, e.g. ``joint_vel/FL_calf_joint`` or ``base_lin_vel/x``."""
        names = []
        for group, dim in self.state_groups:
            if dim == self.num_joints:
                names += [f"{group}/{j}" for j in self.joint_names]
            else:
                names += [f"{group}/{a}" for a in "xyz"[:dim]]
        return tuple(names)

    # --- dataset columns (reference CSV: state | action | contacts | termination) -------------------------
    @property
    def column_groups(self) -> tuple[tuple[str, int], ...]:
        return (
            ("state", self.state_dim),
            ("action", self.action_dim),
            ("contact", self.contact_dim),
            ("termination", self.termination_dim),
        ) + ((("extension", self.extension_dim),) if self.extension_dim else ())

    @property
    def column_slices(self) -> dict[str, slice]:
        return _slices(self.column_groups)

    @property
    def num_columns(self) -> int:
        return sum(d for _, d in self.column_groups)

    @property
    def column_names(self) -> tuple[str, ...]:
        return (
            self.state_names
            + tuple(f"action/{j}" for j in self.joint_names)
            + tuple(f"contact/{b}" for b in self.contact_bodies)
            + ("termination/base",)
            + tuple(f"extension/{n}" for n, _ in self.extension_groups)
        )

    def to_dict(self) -> dict:
        """Plain description stored in checkpoints and dataset files."""
        return {
            "robot": self.robot,
            "joint_names": list(self.joint_names),
            "contact_bodies": list(self.contact_bodies),
            "base_body": self.base_body,
            "state_groups": [list(g) for g in self.state_groups],
            "extension_groups": [list(g) for g in self.extension_groups],
            "dt": self.dt,
        }

    # --- left-right mirror ---------------------------------------------------------------------------------
    def mirror_name(self, name: str) -> str:
        """``name`` with its leg prefix swapped for the other side's (names of no leg unchanged)."""
        leg, sep, rest = name.partition("_")
        pairs = {a: b for pair in self.mirror_legs for a, b in (pair, pair[::-1])}
        return pairs[leg] + sep + rest if sep and leg in pairs else name

    def mirror_index(self) -> tuple[list[int], list[float]]:
        """(source column, sign) of every data column of the mirrored row: ``mirrored[:, i] = sign[i] *
        row[:, source[i]]``. A robot walking its mirrored states and actions makes a trajectory of itself."""
        if not self.mirror_legs:
            raise ValueError(f"robot '{self.robot}' has no left-right mirror in its layout")
        names = self.column_names
        where = {n: i for i, n in enumerate(names)}
        source, sign = [], []
        for name in names:
            group, _, part = name.partition("/")
            if group in MIRROR_SIGNS:
                source.append(where[name])
                sign.append(MIRROR_SIGNS[group]["xyz".index(part)])
                continue
            source.append(where[f"{group}/{self.mirror_name(part)}"])
            sign.append(-1.0 if part in self.joint_names and self.abduction_joint in part.split("_") else 1.0)
        return source, sign

    def check_compatible(self, other: dict, what: str = "data") -> None:
        """Raise ``ValueError`` naming the first field where ``other`` (a :meth:`to_dict`) differs."""
        mine = self.to_dict()
        for key, value in mine.items():
            theirs = other.get(key)
            if isinstance(value, float) and isinstance(theirs, (int, float)):
                same = abs(value - theirs) < 1e-9
            else:
                same = theirs == value
            if not same:
                raise ValueError(
                    f"{what} was made for a different layout: '{key}' is {theirs!r} there but {value!r} for "
                    f"robot '{self.robot}'"
                )


GO2 = RobotLayout(
    robot="go2",
    joint_names=(
        "FL_hip_joint", "FR_hip_joint", "RL_hip_joint", "RR_hip_joint",
        "FL_thigh_joint", "FR_thigh_joint", "RL_thigh_joint", "RR_thigh_joint",
        "FL_calf_joint", "FR_calf_joint", "RL_calf_joint", "RR_calf_joint",
    ),  # fmt: skip
    thigh_bodies=("FL_thigh", "FR_thigh", "RL_thigh", "RR_thigh"),
    foot_bodies=("FL_foot", "FR_foot", "RL_foot", "RR_foot"),
    base_body="base",
    extension_groups=(("base_height", 1),),  # Isaac Lab 3.0's Go2 task penalises base height
    mirror_legs=(("FL", "FR"), ("RL", "RR")),
    abduction_joint="hip",
)

ANYMAL_D = RobotLayout(
    robot="anymal_d",
    joint_names=(
        "LF_HAA", "LH_HAA", "RF_HAA", "RH_HAA",
        "LF_HFE", "LH_HFE", "RF_HFE", "RH_HFE",
        "LF_KFE", "LH_KFE", "RF_KFE", "RH_KFE",
    ),  # fmt: skip
    thigh_bodies=("LF_THIGH", "LH_THIGH", "RF_THIGH", "RH_THIGH"),
    foot_bodies=("LF_FOOT", "LH_FOOT", "RF_FOOT", "RH_FOOT"),
    base_body="base",
    mirror_legs=(("LF", "RF"), ("LH", "RH")),
    abduction_joint="HAA",
)

LAYOUTS: dict[str, RobotLayout] = {"go2": GO2, "anymal_d": ANYMAL_D}


def get_layout(robot: str) -> RobotLayout:
    """Layout of ``robot`` ('go2' or 'anymal_d'; Isaac Lab style names 'Go2', 'AnymalD' accepted)."""
    return LAYOUTS[robot_name(robot)]
