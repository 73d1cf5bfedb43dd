"""Reward terms of the velocity task, each once, as plain functions on tensors, and their registry.

Every function reproduces the Isaac Lab 3.0 term of the same name (``isaaclab.envs.mdp.rewards`` and
``isaaclab_tasks.core.velocity.mdp.rewards``) on quantities a world model predicts: base-frame velocities,
projected gravity, joint state relative to the default pose, joint efforts, binary contacts and the
extension outputs (e.g. base height). :data:`REWARD_TERMS` maps the Isaac Lab function name
(``RewardTermCfg.func.__name__``) to our function and a binder that resolves the term's parameters
(body/joint regexes, thresholds) once; :class:`~.reward_computer.RewardComputer` evaluates a task's terms.

Differences to the simulator that are inherent to a policy-rate world model:

* ``joint_acc_l2``: Isaac Lab finite-differences joint velocity over the last *physics* step; here it is
  the joint-velocity difference over the policy step (never the joint positions). Pass ``joint_acc``
  explicitly to compare against the simulator exactly.
* contact terms use the binary contacts of the data layout (net force > ``CONTACT_THRESHOLD_N``) at the
  policy step, where Isaac Lab takes the max over the sensor's force history; thresholds in the task must
  equal the layout's contact threshold or binding fails.
* air-time timers advance in policy steps, so ``last_air_time`` is quantised to the policy dt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from ...layout import CONTACT_THRESHOLD_N, RobotLayout
from .names import columns, joint_ids, resolve_names, scene_entity

__all__ = [
    "REWARD_TERMS",
    "BindContext",
    "RewardBindError",
    "RewardTermDef",
    "action_rate_l2",
    "ang_vel_xy_l2",
    "base_height_l2",
    "feet_air_time",
    "flat_orientation_l2",
    "is_terminated",
    "joint_acc",
    "joint_acc_l2",
    "joint_pos_limits",
    "joint_torques_l2",
    "lin_vel_z_l2",
    "stand_still_joint_deviation_l1",
    "track_ang_vel_z_exp",
    "track_lin_vel_xy_exp",
    "undesired_contacts",
]

# --- term functions (unweighted, Isaac Lab semantics) --------------------------------------------------------


def track_lin_vel_xy_exp(base_lin_vel: torch.Tensor, command: torch.Tensor, std: float) -> torch.Tensor:
    """exp(-|cmd_xy - v_xy|^2 / std^2) with v the base-frame linear velocity."""
    error = torch.sum(torch.square(command[:, :2] - base_lin_vel[:, :2]), dim=1)
    return torch.exp(-error / std**2)


def track_ang_vel_z_exp(base_ang_vel: torch.Tensor, command: torch.Tensor, std: float) -> torch.Tensor:
    """exp(-(cmd_yaw - w_z)^2 / std^2) with w the base-frame angular velocity."""
    error = torch.square(command[:, 2] - base_ang_vel[:, 2])
    return torch.exp(-error / std**2)


def lin_vel_z_l2(base_lin_vel: torch.Tensor) -> torch.Tensor:
    """Squared vertical base velocity."""
    return torch.square(base_lin_vel[:, 2])


def ang_vel_xy_l2(base_ang_vel: torch.Tensor) -> torch.Tensor:
    """Squared roll and pitch rates."""
    return torch.sum(torch.square(base_ang_vel[:, :2]), dim=1)


def joint_torques_l2(joint_effort: torch.Tensor) -> torch.Tensor:
    """Sum of squared applied joint efforts (Isaac Lab's ``dof_torques_l2`` term)."""
    return torch.sum(torch.square(joint_effort), dim=1)


def joint_acc(joint_vel: torch.Tensor, prev_joint_vel: torch.Tensor, dt: float) -> torch.Tensor:
    """Joint acceleration by finite difference of joint *velocity* over ``dt``."""
    return (joint_vel - prev_joint_vel) / dt


def joint_acc_l2(joint_acc: torch.Tensor) -> torch.Tensor:
    """Sum of squared joint accelerations (see :func:`joint_acc` for how to get them from velocities)."""
    return torch.sum(torch.square(joint_acc), dim=1)


def action_rate_l2(action: torch.Tensor, prev_action: torch.Tensor) -> torch.Tensor:
    """Sum of squared changes of the raw policy action."""
    return torch.sum(torch.square(action - prev_action), dim=1)


def feet_air_time(
    last_air_time: torch.Tensor, first_contact: torch.Tensor, command: torch.Tensor, threshold: float
) -> torch.Tensor:
    """Reward (air time - threshold) of each foot at touchdown; zero when |cmd_xy| <= 0.1.

    ``last_air_time`` and ``first_contact`` are the feet columns of an :class:`AirTimeTracker` (or of an
    Isaac Lab contact sensor), shape [E, F].
    """
    reward = torch.sum((last_air_time - threshold) * first_contact.float(), dim=1)
    return reward * (torch.linalg.norm(command[:, :2], dim=1) > 0.1)


def undesired_contacts(contacts: torch.Tensor) -> torch.Tensor:
    """Number of selected bodies in contact (binary contacts, [E, B])."""
    return torch.sum(contacts.float(), dim=1)


def flat_orientation_l2(projected_gravity: torch.Tensor) -> torch.Tensor:
    """Squared xy components of gravity in the base frame."""
    return torch.sum(torch.square(projected_gravity[:, :2]), dim=1)


def base_height_l2(base_height: torch.Tensor, target_height: float) -> torch.Tensor:
    """Squared deviation of the base height from its target (flat ground: height above the plane)."""
    return torch.square(base_height.reshape(-1) - target_height)


def stand_still_joint_deviation_l1(
    joint_pos_rel: torch.Tensor, command: torch.Tensor, command_threshold: float
) -> torch.Tensor:
    """L1 deviation from the default pose, only while |cmd_xy| < ``command_threshold``."""
    deviation = torch.sum(torch.abs(joint_pos_rel), dim=1)
    return deviation * (torch.linalg.norm(command[:, :2], dim=1) < command_threshold)


def is_terminated(terminated: torch.Tensor) -> torch.Tensor:
    """1 where the episode ended by a termination term this step (time-outs excluded), else 0."""
    return terminated.float()


def joint_pos_limits(joint_pos: torch.Tensor, soft_limits: torch.Tensor) -> torch.Tensor:
    """Sum of distances by which absolute joint positions leave their soft limits ([J, 2] or [E, J, 2])."""
    below = -(joint_pos - soft_limits[..., 0]).clip(max=0.0)
    above = (joint_pos - soft_limits[..., 1]).clip(min=0.0)
    return torch.sum(below + above, dim=1)


# --- binding: resolve a term's parameters once, return an evaluator of RewardInputs -------------------------


@dataclass
class BindContext:
    """What a binder needs to resolve a term: the robot layout, the task's command name and the step dt."""

    layout: RobotLayout
    command_name: str | None
    dt: float
    task: str = "task"
    soft_joint_pos_limits: torch.Tensor | None = None


class RewardBindError(ValueError):
    """A reward term cannot be reconstructed for this layout or parameterisation."""


Evaluator = Callable[..., torch.Tensor]
"""``evaluator(RewardInputs) -> [E]``: a term bound to its parameters."""


def _joint_ids(params: Mapping, ctx: BindContext) -> list[int]:
    return joint_ids(params, ctx.layout.joint_names)


def _contact_ids(params: Mapping, ctx: BindContext, key: str = "sensor_cfg") -> list[int]:
    ent = scene_entity(params, key)
    if ent.get("body_names") is None:
        raise RewardBindError(f"'{key}' selects no bodies; contact terms need body_names")
    try:
        return resolve_names(ent["body_names"], ctx.layout.contact_bodies, ent.get("preserve_order", False))
    except ValueError as err:
        raise RewardBindError(
            f"'{key}.body_names'={ent['body_names']!r} is not among the contact channels "
            f"{list(ctx.layout.contact_bodies)} of robot '{ctx.layout.robot}': {err}"
        ) from None


def _check_command(params: Mapping, ctx: BindContext) -> None:
    name = params.get("command_name")
    if name is not None and ctx.command_name is not None and name != ctx.command_name:
        raise RewardBindError(f"command_name '{name}' is not the task's velocity command '{ctx.command_name}'")


def _check_contact_threshold(params: Mapping) -> None:
    threshold = params.get("threshold", CONTACT_THRESHOLD_N)
    if abs(float(threshold) - CONTACT_THRESHOLD_N) > 1e-9:
        raise RewardBindError(
            f"contact threshold {threshold} N differs from the data layout's binary contact threshold "
            f"{CONTACT_THRESHOLD_N} N"
        )


def _bind_track_lin(params, ctx):
    _check_command(params, ctx)
    std = float(params["std"])
    return lambda x: track_lin_vel_xy_exp(x.base_lin_vel, x.command, std)


def _bind_track_ang(params, ctx):
    _check_command(params, ctx)
    std = float(params["std"])
    return lambda x: track_ang_vel_z_exp(x.base_ang_vel, x.command, std)


def _bind_lin_vel_z(params, ctx):
    return lambda x: lin_vel_z_l2(x.base_lin_vel)


def _bind_ang_vel_xy(params, ctx):
    return lambda x: ang_vel_xy_l2(x.base_ang_vel)


def _bind_torques(params, ctx):
    ids = _joint_ids(params, ctx)
    return lambda x: joint_torques_l2(columns(x.joint_effort, ids))


def _bind_joint_acc(params, ctx):
    ids = _joint_ids(params, ctx)

    def evaluate(x) -> torch.Tensor:
        acc = x.joint_acc
        if acc is None:
            if x.prev_joint_vel is None:
                raise ValueError("joint_acc_l2 needs prev_joint_vel (or joint_acc) in the reward inputs")
            acc = joint_acc(x.joint_vel, x.prev_joint_vel, x.dt)
        return joint_acc_l2(columns(acc, ids))

    return evaluate


def _bind_action_rate(params, ctx):
    return lambda x: action_rate_l2(x.action, x.prev_action)


def _bind_feet_air_time(params, ctx):
    _check_command(params, ctx)
    ids = _contact_ids(params, ctx)
    threshold = float(params["threshold"])

    def evaluate(x) -> torch.Tensor:
        if x.last_air_time is None or x.first_contact is None:
            raise ValueError("feet_air_time needs last_air_time and first_contact in the reward inputs")
        return feet_air_time(x.last_air_time[:, ids], x.first_contact[:, ids], x.command, threshold)

    return evaluate


def _bind_undesired_contacts(params, ctx):
    _check_contact_threshold(params)
    ids = _contact_ids(params, ctx)

    def evaluate(x) -> torch.Tensor:
        if x.contacts is None:
            raise ValueError("undesired_contacts needs binary contacts in the reward inputs")
        return undesired_contacts(x.contacts[:, ids])

    return evaluate


def _bind_flat_orientation(params, ctx):
    return lambda x: flat_orientation_l2(x.projected_gravity)


def _bind_base_height(params, ctx):
    if params.get("sensor_cfg") is not None:
        raise RewardBindError("base_height_l2 with a height sensor (rough terrain) cannot be reconstructed")
    if "base_height" not in ctx.layout.extension_slices:
        raise RewardBindError(
            f"base_height_l2 needs a 'base_height' extension output, but robot '{ctx.layout.robot}' has "
            f"extension groups {list(ctx.layout.extension_groups)}"
        )
    target = float(params["target_height"])
    return lambda x: base_height_l2(x.extension["base_height"], target)


def _bind_stand_still(params, ctx):
    _check_command(params, ctx)
    ids = _joint_ids(params, ctx)
    threshold = float(params["command_threshold"])
    return lambda x: stand_still_joint_deviation_l1(columns(x.joint_pos_rel, ids), x.command, threshold)


def _bind_is_terminated(params, ctx):
    def evaluate(x) -> torch.Tensor:
        if x.terminated is None:
            raise ValueError("is_terminated needs the step's termination flags (RewardInputs.terminated)")
        return is_terminated(x.terminated)

    return evaluate


def _bind_joint_pos_limits(params, ctx):
    if ctx.soft_joint_pos_limits is None:
        raise RewardBindError("joint_pos_limits needs the robot's soft joint position limits, which are unknown")
    ids, n = _joint_ids(params, ctx), ctx.layout.num_joints
    default = torch.tensor(ctx.layout.default_joint_pos)
    limits = torch.as_tensor(ctx.soft_joint_pos_limits, dtype=torch.float32)
    if limits.shape != (n, 2):
        raise RewardBindError(f"soft joint limits must have shape ({n}, 2), got {tuple(limits.shape)}")

    def evaluate(x) -> torch.Tensor:
        q = x.joint_pos_rel + default.to(x.joint_pos_rel.device)
        return joint_pos_limits(columns(q, ids), limits.to(q.device)[ids])

    return evaluate


@dataclass(frozen=True)
class RewardTermDef:
    """Registry entry: our plain function and a binder ``(params, BindContext) -> evaluator``."""

    func: Callable[..., torch.Tensor]
    bind: Callable[[Mapping, BindContext], Evaluator]


REWARD_TERMS: dict[str, RewardTermDef] = {
    "track_lin_vel_xy_exp": RewardTermDef(track_lin_vel_xy_exp, _bind_track_lin),
    "track_ang_vel_z_exp": RewardTermDef(track_ang_vel_z_exp, _bind_track_ang),
    "lin_vel_z_l2": RewardTermDef(lin_vel_z_l2, _bind_lin_vel_z),
    "ang_vel_xy_l2": RewardTermDef(ang_vel_xy_l2, _bind_ang_vel_xy),
    "joint_torques_l2": RewardTermDef(joint_torques_l2, _bind_torques),
    "joint_acc_l2": RewardTermDef(joint_acc_l2, _bind_joint_acc),
    "action_rate_l2": RewardTermDef(action_rate_l2, _bind_action_rate),
    "feet_air_time": RewardTermDef(feet_air_time, _bind_feet_air_time),
    "undesired_contacts": RewardTermDef(undesired_contacts, _bind_undesired_contacts),
    "flat_orientation_l2": RewardTermDef(flat_orientation_l2, _bind_flat_orientation),
    "base_height_l2": RewardTermDef(base_height_l2, _bind_base_height),
    "stand_still_joint_deviation_l1": RewardTermDef(stand_still_joint_deviation_l1, _bind_stand_still),
    "joint_pos_limits": RewardTermDef(joint_pos_limits, _bind_joint_pos_limits),
    "is_terminated": RewardTermDef(is_terminated, _bind_is_terminated),
}
"""Isaac Lab reward function name (``RewardTermCfg.func.__name__``) -> our implementation."""
