"""Evaluating all reward terms of a task for a batch: :class:`RewardInputs` and :class:`RewardComputer`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from ...layout import RobotLayout
from .air_time import AirTimeTracker
from .rewards import REWARD_TERMS, BindContext, Evaluator, RewardBindError


@dataclass
class RewardInputs:
    """Batch quantities the reward terms read; shapes [E, ...], units as in the world-model layout.

    ``joint_pos_rel`` is joint position minus the default pose; ``contacts`` is binary in
    ``layout.contact_bodies`` order; ``last_air_time``/``first_contact`` are air-time timers in the same
    order (see :class:`AirTimeTracker`); ``joint_acc`` defaults to the velocity difference over ``dt``;
    ``terminated`` marks envs whose episode a termination term (not a time-out) ended this step.
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
