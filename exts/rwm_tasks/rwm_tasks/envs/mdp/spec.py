"""A task's MDP as plain data: what every executor needs, read from an Isaac Lab env cfg.

:meth:`TaskSpec.from_env_cfg` reads the cfg (:mod:`.extract`); the spec round-trips through a JSON-able
dict (:meth:`TaskSpec.to_dict` / :meth:`TaskSpec.from_dict`), so Offline training and checkpoints work
without Isaac Lab. Terms no executor of this package can run are refused with a ``TaskSpecError`` naming
the term and the task; the supported terms are the registries beside their implementations
(:data:`~.observations.OBSERVATION_TERMS`, :data:`~.rewards.REWARD_TERMS`,
:data:`~.terminations.TERMINATION_TERMS`). Events are recorded as they are; each executor decides which it
applies (imagination only uses velocity pushes and the reset yaw range).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .extract import TaskSpecError, extract_task_spec
from .observations import NOISE_KINDS, OBSERVATION_TERMS
from .rewards import REWARD_TERMS
from .terminations import TERMINATION_TERMS

SPEC_FORMAT = 1


@dataclass
class NoiseSpec:
    """Observation noise: kind 'uniform' (n_min, n_max), 'gaussian' (mean, std) or 'constant' (bias)."""

    kind: str
    operation: str = "add"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ObsTermSpec:
    name: str
    func: str
    params: dict[str, Any] = field(default_factory=dict)
    noise: NoiseSpec | None = None
    clip: list[float] | None = None
    scale: float | list[float] | None = None


@dataclass
class ObsGroupSpec:
    name: str
    terms: list[ObsTermSpec]
    enable_corruption: bool = False
    concatenate_terms: bool = True

    @classmethod
    def from_dict(cls, data: Mapping) -> ObsGroupSpec:
        terms = []
        for t in data["terms"]:
            noise = None if t.get("noise") is None else NoiseSpec(**t["noise"])
            terms.append(ObsTermSpec(**{**t, "noise": noise}))
        return cls(**{**data, "terms": terms})


@dataclass
class RewardTermSpec:
    name: str
    func: str
    weight: float
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class TerminationTermSpec:
    name: str
    func: str
    params: dict[str, Any] = field(default_factory=dict)
    time_out: bool = False


@dataclass
class CommandSpec:
    """Isaac Lab ``UniformVelocityCommandCfg`` settings; ranges are [low, high]."""

    name: str
    lin_vel_x: list[float]
    lin_vel_y: list[float]
    ang_vel_z: list[float]
    resampling_time_range: list[float]
    rel_standing_envs: float = 0.0
    heading_command: bool = False
    rel_heading_envs: float = 1.0
    heading_control_stiffness: float = 1.0
    heading: list[float] | None = None
    vel_xy_success_threshold: float = 0.5
    vel_yaw_success_threshold: float = 0.4


@dataclass
class ActionSpec:
    """Isaac Lab joint-position action: processed = raw * scale + offset (+ default pose), then clip."""

    name: str
    joint_names: list[str]
    scale: float | dict[str, float] = 1.0
    offset: float | dict[str, float] = 0.0
    use_default_offset: bool = True
    clip: dict[str, list[float]] | None = None
    preserve_order: bool = False


@dataclass
class EventSpec:
    name: str
    func: str
    mode: str
    params: dict[str, Any] = field(default_factory=dict)
    interval_range_s: list[float] | None = None
    is_global_time: bool = False
    resample_interval_on_reset: bool = True


@dataclass
class TaskSpec:
    """Everything an executor needs from a task's env cfg, as plain data."""

    task: str
    sim_dt: float
    decimation: int
    episode_length_s: float
    action: ActionSpec
    command: CommandSpec
    observations: dict[str, ObsGroupSpec]
    rewards: list[RewardTermSpec]
    terminations: list[TerminationTermSpec]
    events: list[EventSpec] = field(default_factory=list)
    other_observation_groups: list[str] = field(default_factory=list)

    # --- derived -----------------------------------------------------------------------------------------
    @property
    def step_dt(self) -> float:
        """Policy step: ``sim.dt * decimation``."""
        return self.sim_dt * self.decimation

    @property
    def max_episode_length(self) -> int:
        """Episode length in policy steps, ``ceil(episode_length_s / step_dt)`` as in Isaac Lab."""
        return math.ceil(self.episode_length_s / self.step_dt)

    def reward(self, name: str) -> RewardTermSpec:
        for term in self.rewards:
            if term.name == name:
                return term
        raise KeyError(f"task '{self.task}' has no reward term '{name}'")

    def event(self, func: str, mode: str | None = None) -> EventSpec | None:
        """First event using Isaac Lab function ``func`` (and ``mode``), or None."""
        for ev in self.events:
            if ev.func == func and (mode is None or ev.mode == mode):
                return ev
        return None

    @property
    def push(self) -> EventSpec | None:
        """The interval velocity push (``push_by_setting_velocity``) if the task has one."""
        return self.event("push_by_setting_velocity", "interval")

    # --- construction and serialisation ------------------------------------------------------------------
    @classmethod
    def from_env_cfg(cls, env_cfg: Any, task: str | None = None) -> TaskSpec:
        """Extract the spec from an Isaac Lab env cfg object (duck typed; no Isaac Lab import here)."""
        return cls.from_dict(extract_task_spec(env_cfg, task or type(env_cfg).__name__))

    def to_dict(self) -> dict:
        """JSON-able dict (round-trips with :meth:`from_dict`)."""
        return {"format": SPEC_FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping) -> TaskSpec:
        """Build a spec from :meth:`to_dict` (or :func:`~.extract.extract_task_spec`) output; validates it."""
        data = dict(data)
        fmt = data.pop("format", SPEC_FORMAT)
        if fmt != SPEC_FORMAT:
            raise TaskSpecError(f"task spec format {fmt} is not supported (expected {SPEC_FORMAT})")
        spec = cls(
            task=data["task"],
            sim_dt=data["sim_dt"],
            decimation=data["decimation"],
            episode_length_s=data["episode_length_s"],
            action=ActionSpec(**data["action"]),
            command=CommandSpec(**data["command"]),
            observations={k: ObsGroupSpec.from_dict(g) for k, g in data["observations"].items()},
            rewards=[RewardTermSpec(**t) for t in data["rewards"]],
            terminations=[TerminationTermSpec(**t) for t in data["terminations"]],
            events=[EventSpec(**e) for e in data.get("events", [])],
            other_observation_groups=list(data.get("other_observation_groups", [])),
        )
        spec.validate()
        return spec

    def validate(self) -> None:
        """Refuse terms no executor of this package knows, naming the term and the task."""
        for group in self.observations.values():
            for term in group.terms:
                if term.func not in OBSERVATION_TERMS:
                    raise TaskSpecError(
                        f"task '{self.task}': observation term '{group.name}/{term.name}' uses '{term.func}', "
                        f"which is not supported (known: {list(OBSERVATION_TERMS)})"
                    )
                if term.noise is not None and term.noise.kind not in NOISE_KINDS:
                    raise TaskSpecError(
                        f"task '{self.task}': observation term '{group.name}/{term.name}' has unsupported "
                        f"noise '{term.noise.kind}'"
                    )
        for term in self.rewards:
            if term.func not in REWARD_TERMS:
                raise TaskSpecError(
                    f"task '{self.task}': reward term '{term.name}' uses '{term.func}', which cannot be "
                    f"reconstructed (known: {sorted(REWARD_TERMS)})"
                )
        for term in self.terminations:
            if term.func not in TERMINATION_TERMS:
                raise TaskSpecError(
                    f"task '{self.task}': termination term '{term.name}' uses '{term.func}', which is not "
                    f"supported (known: {list(TERMINATION_TERMS)})"
                )
        if "policy" not in self.observations:
            raise TaskSpecError(f"task '{self.task}': no 'policy' observation group")
