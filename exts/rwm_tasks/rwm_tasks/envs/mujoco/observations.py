"""Observation terms of a task evaluated on the MuJoCo executor's state snapshot.

Each Isaac Lab observation function the RWM tasks use maps to a function of :class:`SimState` (and the
env's action/command buffers); groups are evaluated term by term with Isaac Lab's order
compute -> noise -> clip -> scale, then concatenated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..rewards import resolve_names
from ..task_spec import noise_function


@dataclass
class SimState:
    """Robot state of all envs, float32 tensors, joints in layout order (Isaac Lab's conventions)."""

    root_pos: torch.Tensor  # [E, 3] world
    root_quat: torch.Tensor  # [E, 4] (w, x, y, z)
    lin_vel_b: torch.Tensor  # [E, 3] centre-of-mass velocity in the base frame
    ang_vel_b: torch.Tensor  # [E, 3]
    projected_gravity: torch.Tensor  # [E, 3]
    heading: torch.Tensor  # [E]
    joint_pos: torch.Tensor  # [E, J] absolute
    joint_vel: torch.Tensor  # [E, J]


class ObsError(ValueError):
    """An observation term the MuJoCo executor cannot evaluate."""


def _entity(params: dict, key: str) -> dict:
    value = params.get(key) or {}
    return value if isinstance(value, dict) else {}


def bind_term(env, func: str, params: dict, what: str) -> Callable[[SimState], torch.Tensor]:
    """A function of the state for Isaac Lab observation function ``func`` with ``params``."""
    if func in ("base_lin_vel", "base_ang_vel", "projected_gravity"):
        attr = {"base_lin_vel": "lin_vel_b", "base_ang_vel": "ang_vel_b"}.get(func, func)
        return lambda s: getattr(s, attr)
    if func == "generated_commands":
        if params.get("command_name") not in (None, env.command.name):
            raise ObsError(f"{what}: unknown command '{params.get('command_name')}'")
        return lambda s: env.command.command
    if func == "last_action":
        return lambda s: env.action
    if func == "base_height":
        return lambda s: s.root_pos[:, 2:3]
    if func in ("contact_flags", "any_contact"):
        ent = _entity(params, "sensor_cfg")
        ids = env.index.bodies(ent.get("body_names") or ".*", what)
        threshold = float(params.get("threshold", 1.0))
        if func == "contact_flags":
            return lambda s: (env.contact_history[:, :, ids].amax(dim=1) > threshold).float()
        return lambda s: (env.contact_history[:, :, ids].amax(dim=(1, 2)) > threshold).float().unsqueeze(1)
    joint_funcs = ("joint_pos", "joint_pos_rel", "joint_vel", "joint_vel_rel", "joint_effort")
    if func not in joint_funcs:
        raise ObsError(f"{what}: observation function '{func}' is not supported by the MuJoCo executor")
    ent = _entity(params, "asset_cfg")
    try:
        ids = resolve_names(ent.get("joint_names"), env.layout.joint_names, ent.get("preserve_order", False))
    except ValueError as err:
        raise ObsError(f"{what}: {err}") from None
    default_pos, default_vel = env.default_joint_pos[ids], env.default_joint_vel[ids]
    table = {
        "joint_pos": lambda s: s.joint_pos[:, ids],
        "joint_pos_rel": lambda s: s.joint_pos[:, ids] - default_pos,
        "joint_vel": lambda s: s.joint_vel[:, ids],
        "joint_vel_rel": lambda s: s.joint_vel[:, ids] - default_vel,
        "joint_effort": lambda s: env.applied_effort[:, ids],
    }
    return table[func]


def bind_noise(noise, gen: torch.Generator) -> Callable[[torch.Tensor], torch.Tensor]:
    """Isaac Lab noise model from a ``NoiseSpec`` (:func:`rwm_tasks.envs.task_spec.noise_function`)."""
    try:
        return noise_function(noise, gen)
    except ValueError as err:
        raise ObsError(str(err)) from None


class ObsGroup:
    """One observation group: bound terms with noise (if the group enables corruption), clip and scale."""

    def __init__(self, env, group, task: str):
        self.name = group.name
        self.term_names = [t.name for t in group.terms]
        self.terms = []
        for term in group.terms:
            what = f"task '{task}': observation term '{group.name}/{term.name}'"
            fn = bind_term(env, term.func, term.params, what)
            noise = bind_noise(term.noise, env.gen) if group.enable_corruption and term.noise is not None else None
            clip = None if term.clip is None else (float(term.clip[0]), float(term.clip[1]))
            scale = None if term.scale is None else torch.as_tensor(term.scale, dtype=torch.float32)
            self.terms.append((fn, noise, clip, scale))

    def compute(self, state: SimState, terms: bool = False):
        """Concatenated group tensor [E, D] (or the list of per-term tensors with ``terms=True``)."""
        out = []
        for fn, noise, clip, scale in self.terms:
            x = fn(state)
            if noise is not None:
                x = noise(x)
            if clip is not None:
                x = x.clip(*clip)
            if scale is not None:
                x = x * scale
            out.append(x)
        return out if terms else torch.cat(out, dim=-1)
