"""Termination terms of the velocity task on tensors, and the bound set of a task's terms.

Each Isaac Lab termination function the tasks use maps to a binder that reads :class:`TerminationInputs`.
Contact sensing differs per executor (the MuJoCo executor has contact forces of every body, imagination
the termination head and the layout's binary contact channels), so :class:`TerminationContext` carries the
executor's contact reader; the term logic itself is here once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from ...layout import CONTACT_THRESHOLD_N, base_tilt
from .names import scene_entity


def time_out(episode_length: torch.Tensor, max_episode_length: int) -> torch.Tensor:
    """Episode length reached."""
    return episode_length >= max_episode_length


def illegal_contact(contacts: torch.Tensor) -> torch.Tensor:
    """Any of the selected bodies in contact (binary contacts [E, B])."""
    return contacts.any(dim=1)


def bad_orientation(projected_gravity: torch.Tensor, limit_angle: float) -> torch.Tensor:
    """Angle between the base's z-axis and the world vertical above ``limit_angle``."""
    return base_tilt(projected_gravity) > limit_angle


def root_height_below_minimum(base_height: torch.Tensor, minimum_height: float) -> torch.Tensor:
    """Base height [E] below ``minimum_height`` (flat ground)."""
    return base_height < minimum_height


@dataclass
class TerminationInputs:
    """What termination terms read: step counters, projected gravity [E, 3], base height [E] (None when the
    executor does not know it)."""

    episode_length: torch.Tensor
    max_episode_length: int
    projected_gravity: torch.Tensor
    base_height: torch.Tensor | None = None


ContactReader = Callable[[Mapping, float], Callable[[], torch.Tensor]]
"""``(sensor_cfg entity, threshold) -> () -> bool [E, B]``: the executor's contacts of the selected bodies."""


@dataclass(frozen=True)
class TerminationContext:
    contacts: ContactReader
    has_base_height: bool
    robot: str = "robot"


def _bind_time_out(params, ctx):
    return lambda x: time_out(x.episode_length, x.max_episode_length)


def _bind_illegal_contact(params, ctx):
    read = ctx.contacts(scene_entity(params, "sensor_cfg"), float(params.get("threshold", CONTACT_THRESHOLD_N)))
    return lambda x: illegal_contact(read())


def _bind_bad_orientation(params, ctx):
    limit = float(params["limit_angle"])
    return lambda x: bad_orientation(x.projected_gravity, limit)


def _bind_root_height(params, ctx):
    if not ctx.has_base_height:
        raise ValueError(f"needs the base height, which robot '{ctx.robot}' does not provide (no 'base_height' output)")
    minimum = float(params["minimum_height"])
    return lambda x: root_height_below_minimum(x.base_height, minimum)


TERMINATION_TERMS: dict[str, Callable] = {
    "time_out": _bind_time_out,
    "illegal_contact": _bind_illegal_contact,
    "bad_orientation": _bind_bad_orientation,
    "root_height_below_minimum": _bind_root_height,
}
"""Isaac Lab termination function name -> binder ``(params, TerminationContext) -> fn(TerminationInputs)``."""


class Terminations:
    """A task's termination terms bound to one executor; :meth:`compute` evaluates all of them."""

    def __init__(self, terms, ctx: TerminationContext, task: str = "task"):
        self.names: list[str] = []
        self.time_out: list[bool] = []
        self.fns = []
        for term in terms:
            what = f"task '{task}': termination term '{term.name}' ({term.func})"
            if term.func not in TERMINATION_TERMS:
                raise ValueError(f"{what}: not supported (supported: {list(TERMINATION_TERMS)})")
            try:
                self.fns.append(TERMINATION_TERMS[term.func](term.params, ctx))
            except (KeyError, ValueError) as err:
                raise ValueError(f"{what}: {err}") from None
            self.names.append(term.name)
            self.time_out.append(bool(term.time_out))

    def compute(self, inputs: TerminationInputs) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """(done flags [E] of every term by name, terminated [E], time_outs [E]): ``terminated`` is the union
        of the non-time-out terms, ``time_outs`` of the time-out terms."""
        dones = {name: fn(inputs) for name, fn in zip(self.names, self.fns)}
        terminated = torch.zeros_like(inputs.episode_length, dtype=torch.bool)
        time_outs = terminated.clone()
        for flag, done in zip(self.time_out, dones.values()):
            if flag:
                time_outs |= done
            else:
                terminated |= done
        return dones, terminated, time_outs
