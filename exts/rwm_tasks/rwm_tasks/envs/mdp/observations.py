"""Observation terms of the velocity task on tensors, and a bound observation group.

Each Isaac Lab observation function the tasks' ``policy``/``critic`` groups use maps to a reader of
:class:`ObsInputs` (the quantities both executors know: base velocities, gravity, joint state relative and
absolute, efforts, command, last action). :class:`ObsGroup` evaluates a group term by term in Isaac Lab's
order compute -> noise -> clip -> scale and concatenates. An executor may add its own terms (the MuJoCo
executor's ``system_*`` contact and height terms) through ``extra_terms``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from ...layout import RobotLayout
from .names import columns, joint_ids


@dataclass
class ObsInputs:
    """What observation terms read, [E, ...] each, joints in layout order."""

    base_lin_vel: torch.Tensor
    base_ang_vel: torch.Tensor
    projected_gravity: torch.Tensor
    joint_pos: torch.Tensor
    joint_pos_rel: torch.Tensor
    joint_vel: torch.Tensor
    joint_vel_rel: torch.Tensor
    joint_effort: torch.Tensor
    command: torch.Tensor
    last_action: torch.Tensor

    @classmethod
    def from_state(cls, layout: RobotLayout, state: torch.Tensor, default_joint_pos: torch.Tensor,
                   command: torch.Tensor, last_action: torch.Tensor) -> ObsInputs:  # fmt: skip
        """Slice a world-model state vector (joint positions relative to the default pose, default joint
        velocity zero)."""
        sl = layout.state_slices
        joint_pos_rel, joint_vel = state[:, sl["joint_pos"]], state[:, sl["joint_vel"]]
        return cls(
            base_lin_vel=state[:, sl["base_lin_vel"]],
            base_ang_vel=state[:, sl["base_ang_vel"]],
            projected_gravity=state[:, sl["projected_gravity"]],
            joint_pos=joint_pos_rel + default_joint_pos,
            joint_pos_rel=joint_pos_rel,
            joint_vel=joint_vel,
            joint_vel_rel=joint_vel,
            joint_effort=state[:, sl["joint_effort"]],
            command=command,
            last_action=last_action,
        )


@dataclass(frozen=True)
class ObsContext:
    """What binding a term needs: the layout's joint names and the task's command and action term names."""

    joint_names: Sequence[str]
    command_name: str
    action_name: str
    task: str = "task"


Reader = Callable[[ObsInputs], torch.Tensor]
Binder = Callable[[Mapping, ObsContext], Reader]


def _field(name: str) -> Binder:
    return lambda params, ctx: (lambda x: getattr(x, name))


def _joint_field(name: str) -> Binder:
    def bind(params, ctx):
        ids = joint_ids(params, ctx.joint_names)
        return lambda x: columns(getattr(x, name), ids)

    return bind


def _bind_generated_commands(params, ctx):
    if params.get("command_name") not in (None, ctx.command_name):
        raise ValueError(f"unknown command '{params.get('command_name')}'")
    return lambda x: x.command


def _bind_last_action(params, ctx):
    if params.get("action_name") not in (None, ctx.action_name):
        raise ValueError(f"unknown action term '{params.get('action_name')}'")
    return lambda x: x.last_action


OBSERVATION_TERMS: dict[str, Binder] = {
    "base_lin_vel": _field("base_lin_vel"),
    "base_ang_vel": _field("base_ang_vel"),
    "projected_gravity": _field("projected_gravity"),
    "generated_commands": _bind_generated_commands,
    "joint_pos": _joint_field("joint_pos"),
    "joint_pos_rel": _joint_field("joint_pos_rel"),
    "joint_vel": _joint_field("joint_vel"),
    "joint_vel_rel": _joint_field("joint_vel_rel"),
    "joint_effort": _joint_field("joint_effort"),
    "last_action": _bind_last_action,
}
"""Isaac Lab observation function name -> binder ``(params, ObsContext) -> reader of ObsInputs``."""

NOISE_KINDS = ("uniform", "gaussian", "constant")


def noise_function(noise, generator: torch.Generator, device="cpu") -> Callable[[torch.Tensor], torch.Tensor]:
    """Isaac Lab's noise model (uniform / gaussian / constant, applied by add / scale / abs) of a
    ``NoiseSpec`` as a callable on tensors, drawing from ``generator``."""
    p = {key: torch.as_tensor(v, dtype=torch.float32, device=device) for key, v in noise.params.items()}

    def sample(x):
        if noise.kind == "uniform":
            return torch.rand(x.shape, generator=generator, device=x.device) * (p["n_max"] - p["n_min"]) + p["n_min"]
        if noise.kind == "gaussian":
            return p["mean"] + p["std"] * torch.randn(x.shape, generator=generator, device=x.device)
        return p["bias"].expand_as(x)

    ops = {"add": lambda x, n: x + n, "scale": lambda x, n: x * n, "abs": lambda x, n: n}
    if noise.operation not in ops:
        raise ValueError(f"unknown noise operation '{noise.operation}'")
    op = ops[noise.operation]
    return lambda x: op(x, sample(x))


class ObsGroup:
    """One observation group bound to an executor: per term a reader, noise (if the group enables
    corruption), clip and scale. Unknown terms raise ``ValueError`` naming the term and the task."""

    def __init__(self, group, ctx: ObsContext, generator: torch.Generator, device="cpu",
                 extra_terms: Mapping[str, Binder] | None = None):  # fmt: skip
        table = {**OBSERVATION_TERMS, **(extra_terms or {})}
        self.name = group.name
        self.term_names = [t.name for t in group.terms]
        self.terms = []
        for term in group.terms:
            what = f"task '{ctx.task}': observation term '{group.name}/{term.name}' ({term.func})"
            if term.func not in table:
                raise ValueError(f"{what}: not supported by this executor (supported: {sorted(table)})")
            try:
                read = table[term.func](term.params, ctx)
                noise = None
                if group.enable_corruption and term.noise is not None:
                    noise = noise_function(term.noise, generator, device)
            except ValueError as err:
                raise ValueError(f"{what}: {err}") from None
            clip = None if term.clip is None else (float(term.clip[0]), float(term.clip[1]))
            scale = None if term.scale is None else torch.as_tensor(term.scale, dtype=torch.float32, device=device)
            self.terms.append((read, noise, clip, scale))

    def compute(self, inputs, terms: bool = False):
        """Concatenated group tensor [E, D] (or the list of per-term tensors with ``terms=True``)."""
        out = []
        for read, noise, clip, scale in self.terms:
            x = read(inputs)
            if noise is not None:
                x = noise(x)
            if clip is not None:
                x = x.clip(min=clip[0], max=clip[1])
            if scale is not None:
                x = x * scale
            out.append(x)
        return out if terms else torch.cat(out, dim=-1)
