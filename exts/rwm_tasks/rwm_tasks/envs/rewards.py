"""Reward terms of the velocity task, each once, as plain functions on tensors.

Every function reproduces the Isaac Lab 3.0 term of the same name (``isaaclab.envs.mdp.rewards`` and
``isaaclab_tasks.core.velocity.mdp.rewards``) on quantities a world model predicts: base-frame velocities,
projected gravity, joint state relative to the default pose, joint efforts, binary contacts and the
extension outputs (e.g. base height). The imagination env and the MuJoCo executor both call them, so a
task's reward is written once.

Pieces:

* plain term functions (``track_lin_vel_xy_exp`` ... ``joint_pos_limits``): unweighted values, shape [E];
* :class:`AirTimeTracker`: the per-env air/contact timers of Isaac Lab's ``ContactSensor`` advanced from
  binary contacts at the policy step;
* :data:`REWARD_TERMS`: registry from the Isaac Lab function name (``RewardTermCfg.func.__name__``) to our
  function plus a binder that resolves the term's parameters (body/joint regexes, thresholds) once;
* :class:`RewardInputs` / :class:`RewardComputer` / :func:`compute_reward_terms`: evaluate all terms of a
  :class:`~rwm_tasks.envs.task_spec.TaskSpec` for a batch, e.g. from recorded Isaac Lab env tensors.

Differences to the simulator that are inherent to a policy-rate world model (documented, not hidden):

* ``joint_acc_l2``: Isaac Lab finite-differences joint velocity over the last *physics* step; here it is
  the joint-velocity difference over the policy step (never the joint positions — the reference
  implementation's bug). Pass ``joint_acc`` explicitly to compare against the simulator exactly.
* contact terms use the binary contacts of the data layout (net force > ``CONTACT_THRESHOLD_N``) at the
  policy step, where Isaac Lab takes the max over the sensor's force history; thresholds in the task must
  equal the layout's contact threshold or binding fails.
* air-time timers advance in policy steps, so ``last_air_time`` is quantised to the policy dt.

No Isaac Lab import: this module is pure PyTorch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from .layout import CONTACT_THRESHOLD_N, RobotLayout

# ----------------------------------------------------------------------------------------------------------
# Term functions (unweighted, Isaac Lab semantics)
# ----------------------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------------------
# Air-time timers
# ----------------------------------------------------------------------------------------------------------


class AirTimeTracker:
    """Per-env air/contact timers advanced from binary contacts, as Isaac Lab's ``ContactSensor`` does.

    Semantics (``track_air_time=True``), applied once per :meth:`update` with elapsed time ``dt``:
    a body touching down after being airborne stores ``last_air_time = current_air_time + dt``; a body
    lifting off stores ``last_contact_time = current_contact_time + dt``; the current timer of the active
    mode grows by ``dt`` and the other is zeroed. :meth:`first_contact` is true while
    ``0 < current_contact_time < dt + tol`` (tol = half an update period), i.e. on the step of touchdown.
    Resets zero all four timers, as the sensor does on episode reset.
    """

    def __init__(self, num_envs: int, num_bodies: int, device: torch.device | str = "cpu"):
        shape = (num_envs, num_bodies)
        self.current_air_time = torch.zeros(shape, device=device)
        self.current_contact_time = torch.zeros(shape, device=device)
        self.last_air_time = torch.zeros(shape, device=device)
        self.last_contact_time = torch.zeros(shape, device=device)
        self._update_period: float | None = None

    def update(self, contacts: torch.Tensor, dt: float) -> None:
        """Advance all envs by ``dt`` with binary ``contacts`` [E, B]."""
        in_contact = contacts.bool()
        touchdown = in_contact & (self.current_air_time > 0.0)
        liftoff = ~in_contact & (self.current_contact_time > 0.0)
        self.last_air_time = torch.where(touchdown, self.current_air_time + dt, self.last_air_time)
        self.last_contact_time = torch.where(liftoff, self.current_contact_time + dt, self.last_contact_time)
        self.current_contact_time = torch.where(in_contact, self.current_contact_time + dt, 0.0)
        self.current_air_time = torch.where(in_contact, 0.0, self.current_air_time + dt)
        self._update_period = dt

    def _tolerance(self, dt: float, abs_tol: float | None) -> float:
        if abs_tol is not None:
            return abs_tol
        return 0.5 * (self._update_period if self._update_period is not None else dt)

    def first_contact(self, dt: float, abs_tol: float | None = None) -> torch.Tensor:
        """Bodies that touched down within the last ``dt`` seconds, bool [E, B]."""
        t = self.current_contact_time
        return (t > 0.0) & (t < dt + self._tolerance(dt, abs_tol))

    def first_air(self, dt: float, abs_tol: float | None = None) -> torch.Tensor:
        """Bodies that lifted off within the last ``dt`` seconds, bool [E, B]."""
        t = self.current_air_time
        return (t > 0.0) & (t < dt + self._tolerance(dt, abs_tol))

    def reset(self, env_ids: torch.Tensor | slice | None = None) -> None:
        """Zero all timers of ``env_ids`` (all envs if None)."""
        ids = slice(None) if env_ids is None else env_ids
        for buf in (self.current_air_time, self.current_contact_time, self.last_air_time, self.last_contact_time):
            buf[ids] = 0.0


# ----------------------------------------------------------------------------------------------------------
# Parameter helpers (term parameters come from a TaskSpec: plain JSON-able values)
# ----------------------------------------------------------------------------------------------------------

SCENE_ENTITY_KEY = "__scene_entity__"
"""Marker of a serialised ``SceneEntityCfg`` inside term parameters (see ``task_spec``)."""


def is_scene_entity(value) -> bool:
    return isinstance(value, Mapping) and bool(value.get(SCENE_ENTITY_KEY))


def resolve_names(
    patterns: str | Sequence[str] | None, names: Sequence[str], preserve_order: bool = False
) -> list[int]:
    """Indices of ``names`` matched (``re.fullmatch``) by ``patterns``, like Isaac Lab's name resolution.

    ``None`` selects everything. Every pattern must match at least one name. Order follows ``names``
    unless ``preserve_order`` (then the order of ``patterns``).
    """
    if patterns is None:
        return list(range(len(names)))
    keys = [patterns] if isinstance(patterns, str) else list(patterns)
    matched: list[tuple[int, int]] = []  # (pattern index, name index)
    for k, key in enumerate(keys):
        hits = [i for i, name in enumerate(names) if re.fullmatch(key, name)]
        if not hits:
            raise ValueError(f"pattern '{key}' matches none of {list(names)}")
        matched += [(k, i) for i in hits]
    ids = sorted({i for _, i in matched}) if not preserve_order else list(dict.fromkeys(i for _, i in matched))
    return ids


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


@dataclass
class RewardInputs:
    """Batch quantities the reward terms read; shapes [E, ...], units as in the world-model layout.

    ``joint_pos_rel`` is joint position minus the default pose; ``contacts`` is binary in
    ``layout.contact_bodies`` order; ``last_air_time``/``first_contact`` are air-time timers in the same
    order (see :class:`AirTimeTracker`); ``joint_acc`` defaults to the velocity difference over ``dt``; ``terminated`` marks envs whose episode
    a termination term (not a time-out) ended this step.
    """

    base_lin_vel: torch.Tensor
    base_ang_vel: torch.Tensor
    projected_gravity: torch.Tensor
    joint_pos_rel: torch.Tensor
    joint_vel: torch.Tensor
    joint_effort: torch.Tensor
    action: torch.Tensor
    prev_action: torch.Tensor
    command: torch.Tensor
    dt: float
    contacts: torch.Tensor | None = None
    last_air_time: torch.Tensor | None = None
    first_contact: torch.Tensor | None = None
    prev_joint_vel: torch.Tensor | None = None
    joint_acc: torch.Tensor | None = None
    extension: Mapping[str, torch.Tensor] = field(default_factory=dict)
    terminated: torch.Tensor | None = None

    @classmethod
    def from_state(
        cls,
        layout: RobotLayout,
        state: torch.Tensor,
        action: torch.Tensor,
        prev_action: torch.Tensor,
        command: torch.Tensor,
        dt: float,
        prev_state: torch.Tensor | None = None,
        contacts: torch.Tensor | None = None,
        air_time: AirTimeTracker | tuple[torch.Tensor, torch.Tensor] | None = None,
        extension: torch.Tensor | None = None,
        joint_acc: torch.Tensor | None = None,
        terminated: torch.Tensor | None = None,
    ) -> RewardInputs:
        """Slice world-model vectors by ``layout``. ``state`` is the state *after* the step.

        ``air_time`` is an (already updated) :class:`AirTimeTracker` or a tuple
        ``(last_air_time, first_contact)``; ``extension`` is the [E, X] extension output.
        """
        sl = layout.state_slices
        last_air, first = None, None
        if isinstance(air_time, AirTimeTracker):
            last_air, first = air_time.last_air_time, air_time.first_contact(dt)
        elif air_time is not None:
            last_air, first = air_time
        ext = {}
        if extension is not None:
            ext = {name: extension[:, s] for name, s in layout.extension_slices.items()}
        return cls(
            base_lin_vel=state[:, sl["base_lin_vel"]],
            base_ang_vel=state[:, sl["base_ang_vel"]],
            projected_gravity=state[:, sl["projected_gravity"]],
            joint_pos_rel=state[:, sl["joint_pos"]],
            joint_vel=state[:, sl["joint_vel"]],
            joint_effort=state[:, sl["joint_effort"]],
            action=action,
            prev_action=prev_action,
            command=command,
            dt=dt,
            contacts=contacts,
            last_air_time=last_air,
            first_contact=first,
            prev_joint_vel=None if prev_state is None else prev_state[:, sl["joint_vel"]],
            joint_acc=joint_acc,
            extension=ext,
            terminated=terminated,
        )


Evaluator = Callable[[RewardInputs], torch.Tensor]


def _entity(params: Mapping, key: str) -> dict:
    value = params.get(key)
    if value is None:
        return {"name": None, "joint_names": None, "body_names": None, "preserve_order": False}
    if not is_scene_entity(value):
        raise RewardBindError(f"parameter '{key}' is not a scene entity: {value!r}")
    return value


def _joint_ids(params: Mapping, ctx: BindContext, key: str = "asset_cfg") -> list[int]:
    ent = _entity(params, key)
    return resolve_names(ent.get("joint_names"), ctx.layout.joint_names, ent.get("preserve_order", False))


def _contact_ids(params: Mapping, ctx: BindContext, key: str = "sensor_cfg") -> list[int]:
    ent = _entity(params, key)
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


def _cols(x: torch.Tensor, ids: list[int], n: int) -> torch.Tensor:
    return x if ids == list(range(n)) else x[:, ids]


# --- binders: resolve parameters once, return an evaluator on RewardInputs ---------------------------------


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
    ids, n = _joint_ids(params, ctx), ctx.layout.num_joints
    return lambda x: joint_torques_l2(_cols(x.joint_effort, ids, n))


def _bind_joint_acc(params, ctx):
    ids, n = _joint_ids(params, ctx), ctx.layout.num_joints

    def evaluate(x: RewardInputs) -> torch.Tensor:
        acc = x.joint_acc
        if acc is None:
            if x.prev_joint_vel is None:
                raise ValueError("joint_acc_l2 needs prev_joint_vel (or joint_acc) in the reward inputs")
            acc = joint_acc(x.joint_vel, x.prev_joint_vel, x.dt)
        return joint_acc_l2(_cols(acc, ids, n))

    return evaluate


def _bind_action_rate(params, ctx):
    return lambda x: action_rate_l2(x.action, x.prev_action)


def _bind_feet_air_time(params, ctx):
    _check_command(params, ctx)
    ids = _contact_ids(params, ctx)
    threshold = float(params["threshold"])

    def evaluate(x: RewardInputs) -> torch.Tensor:
        if x.last_air_time is None or x.first_contact is None:
            raise ValueError("feet_air_time needs last_air_time and first_contact in the reward inputs")
        return feet_air_time(x.last_air_time[:, ids], x.first_contact[:, ids], x.command, threshold)

    return evaluate


def _bind_undesired_contacts(params, ctx):
    _check_contact_threshold(params)
    ids = _contact_ids(params, ctx)

    def evaluate(x: RewardInputs) -> torch.Tensor:
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
    ids, n = _joint_ids(params, ctx), ctx.layout.num_joints
    threshold = float(params["command_threshold"])
    return lambda x: stand_still_joint_deviation_l1(_cols(x.joint_pos_rel, ids, n), x.command, threshold)


def _bind_is_terminated(params, ctx):
    def evaluate(x: RewardInputs) -> torch.Tensor:
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

    def evaluate(x: RewardInputs) -> torch.Tensor:
        q = x.joint_pos_rel + default.to(x.joint_pos_rel.device)
        return joint_pos_limits(_cols(q, ids, n), limits.to(q.device)[ids])

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


# ----------------------------------------------------------------------------------------------------------
# Evaluating a task's reward terms
# ----------------------------------------------------------------------------------------------------------


class RewardComputer:
    """All reward terms of a task bound to one robot layout; evaluate with :meth:`compute`.

    Terms with weight 0 are skipped and return zeros, exactly as Isaac Lab's ``RewardManager`` does (so
    their inputs, e.g. unknown joint limits, are not required). Any other term that cannot be bound raises
    ``ValueError`` naming the term and the task: a term is never silently dropped.
    """

    def __init__(self, spec, layout: RobotLayout, soft_joint_pos_limits: torch.Tensor | None = None):
        command = getattr(spec, "command", None)
        ctx = BindContext(
            layout=layout,
            command_name=None if command is None else command.name,
            dt=spec.step_dt,
            task=spec.task,
            soft_joint_pos_limits=soft_joint_pos_limits,
        )
        self.names: list[str] = []
        self.weights: list[float] = []
        self._evaluators: list[Evaluator | None] = []
        for term in spec.rewards:
            if term.func not in REWARD_TERMS:
                raise ValueError(
                    f"task '{spec.task}': reward term '{term.name}' uses '{term.func}', which cannot be "
                    f"reconstructed (known: {sorted(REWARD_TERMS)})"
                )
            evaluator = None
            if term.weight != 0.0:
                try:
                    evaluator = REWARD_TERMS[term.func].bind(term.params, ctx)
                except (RewardBindError, KeyError, ValueError) as err:
                    raise ValueError(
                        f"task '{spec.task}': reward term '{term.name}' ({term.func}) cannot be reconstructed "
                        f"for robot '{layout.robot}': {err}"
                    ) from None
            self.names.append(term.name)
            self.weights.append(float(term.weight))
            self._evaluators.append(evaluator)

    def compute(self, inputs: RewardInputs) -> dict[str, torch.Tensor]:
        """Unweighted value of every term, [E] each (zeros for weight-0 terms)."""
        num_envs = inputs.base_lin_vel.shape[0]
        zeros = None
        out = {}
        for name, evaluator in zip(self.names, self._evaluators):
            if evaluator is None:
                if zeros is None:
                    zeros = torch.zeros(num_envs, device=inputs.base_lin_vel.device)
                out[name] = zeros
            else:
                out[name] = evaluator(inputs).float()
        return out

    def weighted(self, terms: Mapping[str, torch.Tensor], dt: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(total, per-term) rewards ``weight * value * dt``, as Isaac Lab's reward manager sums them."""
        per_term = {n: terms[n] * (w * dt) for n, w in zip(self.names, self.weights)}
        total = torch.stack(list(per_term.values()), dim=0).sum(dim=0) if per_term else None
        return total, per_term


def compute_reward_terms(
    spec,
    layout: RobotLayout,
    state: torch.Tensor,
    action: torch.Tensor,
    prev_action: torch.Tensor,
    command: torch.Tensor,
    prev_state: torch.Tensor | None = None,
    contacts: torch.Tensor | None = None,
    air_time: AirTimeTracker | tuple[torch.Tensor, torch.Tensor] | None = None,
    extension: torch.Tensor | None = None,
    joint_acc: torch.Tensor | None = None,
    soft_joint_pos_limits: torch.Tensor | None = None,
    dt: float | None = None,
    terminated: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """One-shot evaluation of all reward terms of ``spec``: name -> unweighted value [E].

    Feed it post-step world-model state vectors (``state``; ``prev_state`` for the joint-velocity
    difference), the raw policy ``action`` and ``prev_action``, the velocity ``command`` used for that
    step, binary ``contacts`` and air-time timers in ``layout.contact_bodies`` order, and the ``extension``
    outputs, and the step's ``terminated`` flags. ``joint_acc`` overrides the finite difference (e.g. the
    simulator's own). ``dt`` defaults to
    ``spec.step_dt``. Multiply by ``weight * dt`` (see :meth:`RewardComputer.weighted`) for the reward.
    """
    dt = spec.step_dt if dt is None else dt
    computer = RewardComputer(spec, layout, soft_joint_pos_limits)
    inputs = RewardInputs.from_state(
        layout, state, action, prev_action, command, dt, prev_state, contacts, air_time, extension, joint_acc,
        terminated,
    )
    return computer.compute(inputs)
