"""A task's MDP as plain data: what every executor needs, read from an Isaac Lab env cfg.

:meth:`TaskSpec.from_env_cfg` walks an Isaac Lab ``ManagerBasedRLEnvCfg`` *by duck typing* (this module
never imports Isaac Lab) and keeps: step dt, episode length, the joint-position action (scale, offset),
the uniform velocity command, the ``policy`` (and ``critic``) observation terms in order with noise, clip
and scale, all reward terms with weights and parameters, termination terms and events. Weights and
parameters are read from the cfg, never restated; parameters a term leaves at its function's default are
filled in from the function signature so that the spec is complete on its own.

The spec round-trips through a JSON-able dict (:meth:`to_dict` / :meth:`from_dict`), so Offline training
and checkpoints work without Isaac Lab. Unknown observation, reward or termination terms are refused
with a ``ValueError`` naming the term and the task. Events are recorded as they are; each executor decides
which it applies (the imagination env only uses velocity pushes and the reset yaw range).
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .rewards import REWARD_TERMS, SCENE_ENTITY_KEY

SPEC_FORMAT = 1

OBSERVATION_FUNCS = (
    "base_lin_vel",
    "base_ang_vel",
    "projected_gravity",
    "generated_commands",
    "joint_pos",
    "joint_pos_rel",
    "joint_vel",
    "joint_vel_rel",
    "joint_effort",
    "last_action",
)
"""Observation functions an executor can build from the world-model state, command and last action."""

TERMINATION_FUNCS = ("time_out", "illegal_contact", "bad_orientation", "root_height_below_minimum")
"""Termination functions known to the spec."""

EXTRACTED_OBS_GROUPS = ("policy", "critic")
"""Observation groups read term by term; other groups (e.g. ``system_*`` for data) are only named."""

_GROUP_SETTINGS = {
    "enable_corruption",
    "concatenate_terms",
    "concatenate_dim",
    "history_length",
    "flatten_history_dim",
    "history_order",
}


class TaskSpecError(ValueError):
    """The env cfg holds something the spec cannot represent."""


# ----------------------------------------------------------------------------------------------------------
# Dataclasses
# ----------------------------------------------------------------------------------------------------------


@dataclass
class NoiseSpec:
    """Observation noise: kind 'uniform' (n_min, n_max), 'gaussian' (mean, std) or 'constant' (bias)."""

    kind: str
    operation: str = "add"
    params: dict[str, Any] = field(default_factory=dict)


def noise_function(noise: NoiseSpec, generator, device="cpu"):
    """Isaac Lab's noise model (uniform / gaussian / constant, applied by add / scale / abs) as a callable on
    tensors, drawing from ``generator``; the one implementation both executors use."""
    import torch

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

    # --- serialisation -------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-able dict (round-trips with :meth:`from_dict`)."""
        return {"format": SPEC_FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping) -> TaskSpec:
        """Rebuild a spec from :meth:`to_dict` output; validates the terms like :meth:`from_env_cfg`."""
        data = dict(data)
        fmt = data.pop("format", SPEC_FORMAT)
        if fmt != SPEC_FORMAT:
            raise TaskSpecError(f"task spec format {fmt} is not supported (expected {SPEC_FORMAT})")

        def obs_term(d):
            d = dict(d)
            d["noise"] = None if d.get("noise") is None else NoiseSpec(**d["noise"])
            return ObsTermSpec(**d)

        spec = cls(
            task=data["task"],
            sim_dt=data["sim_dt"],
            decimation=data["decimation"],
            episode_length_s=data["episode_length_s"],
            action=ActionSpec(**data["action"]),
            command=CommandSpec(**data["command"]),
            observations={
                k: ObsGroupSpec(**{**g, "terms": [obs_term(t) for t in g["terms"]]})
                for k, g in data["observations"].items()
            },
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
                if term.func not in OBSERVATION_FUNCS:
                    raise TaskSpecError(
                        f"task '{self.task}': observation term '{group.name}/{term.name}' uses '{term.func}', "
                        f"which is not supported (known: {list(OBSERVATION_FUNCS)})"
                    )
                if term.noise is not None and term.noise.kind not in ("uniform", "gaussian", "constant"):
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
            if term.func not in TERMINATION_FUNCS:
                raise TaskSpecError(
                    f"task '{self.task}': termination term '{term.name}' uses '{term.func}', which is not "
                    f"supported (known: {list(TERMINATION_FUNCS)})"
                )
        if "policy" not in self.observations:
            raise TaskSpecError(f"task '{self.task}': no 'policy' observation group")

    # --- extraction from an Isaac Lab env cfg ------------------------------------------------------------
    @classmethod
    def from_env_cfg(cls, env_cfg: Any, task: str | None = None) -> TaskSpec:
        """Extract the spec from an Isaac Lab env cfg object (duck typed; no Isaac Lab import here)."""
        task = task or type(env_cfg).__name__
        spec = cls(
            task=task,
            sim_dt=float(env_cfg.sim.dt),
            decimation=int(env_cfg.decimation),
            episode_length_s=float(env_cfg.episode_length_s),
            action=_extract_action(env_cfg, task),
            command=_extract_command(env_cfg, task),
            observations={},
            rewards=[_extract_reward(n, t, task) for n, t in _terms(getattr(env_cfg, "rewards", None))],
            terminations=[
                _extract_termination(n, t, task) for n, t in _terms(getattr(env_cfg, "terminations", None))
            ],
            events=[_extract_event(n, t, task) for n, t in _terms(getattr(env_cfg, "events", None))],
        )
        for group_name, group in _terms(env_cfg.observations):
            if group_name in EXTRACTED_OBS_GROUPS:
                spec.observations[group_name] = _extract_obs_group(group_name, group, task)
            else:
                spec.other_observation_groups.append(group_name)
        spec.validate()
        return spec


# ----------------------------------------------------------------------------------------------------------
# Extraction helpers
# ----------------------------------------------------------------------------------------------------------


def _terms(container: Any) -> list[tuple[str, Any]]:
    """(name, term) pairs of a manager cfg in declaration order, skipping disabled (None) entries."""
    if container is None:
        return []
    items = container.items() if isinstance(container, Mapping) else vars(container).items()
    return [(k, v) for k, v in items if v is not None and not k.startswith("_")]


def func_name(func: Any) -> str:
    """Name of a term function as Isaac Lab reports it: function/class ``__name__`` or 'module:name' tail."""
    if isinstance(func, str):
        return func.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
    if hasattr(func, "__name__"):
        return func.__name__
    return type(func).__name__


def _class_name(obj: Any) -> str:
    """Class name of a cfg's ``class_type`` (a class or a 'module:Class' string)."""
    return func_name(getattr(obj, "class_type", type(obj)))


def _is_scene_entity(value: Any) -> bool:
    return all(hasattr(value, a) for a in ("name", "joint_names", "body_names", "preserve_order")) and not isinstance(
        value, Mapping
    )


def jsonable(value: Any, where: str) -> Any:
    """Plain JSON-able copy of a cfg parameter; tuples become lists, SceneEntityCfg a marked dict."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if _is_scene_entity(value):
        return {
            SCENE_ENTITY_KEY: True,
            "name": value.name,
            "joint_names": jsonable(value.joint_names, where),
            "body_names": jsonable(value.body_names, where),
            "preserve_order": bool(value.preserve_order),
        }
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "tolist"):  # torch / numpy
        return jsonable(value.tolist(), where)
    raise TaskSpecError(f"{where}: value {value!r} of type {type(value).__name__} cannot be stored in a task spec")


def _signature_defaults(func: Any) -> dict[str, Any]:
    """Default parameters of a term function (or of a class term's ``__call__``), without ``env``."""
    target = func.__call__ if inspect.isclass(func) else func
    if isinstance(func, str) or not callable(target):
        return {}
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return {}
    out = {}
    for name, p in sig.parameters.items():
        if name in ("self", "env", "env_ids") or p.default is inspect.Parameter.empty:
            continue
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        out[name] = p.default
    return out


def _params(term: Any, where: str) -> dict[str, Any]:
    merged = {**_signature_defaults(term.func), **dict(getattr(term, "params", None) or {})}
    return {k: jsonable(v, f"{where} parameter '{k}'") for k, v in merged.items()}


def _extract_action(env_cfg: Any, task: str) -> ActionSpec:
    terms = _terms(env_cfg.actions)
    if len(terms) != 1 or not _class_name(terms[0][1]).endswith("JointPositionAction"):
        kinds = [f"{n} ({_class_name(t)})" for n, t in terms]
        raise TaskSpecError(f"task '{task}': expected exactly one joint-position action term, got {kinds}")
    name, term = terms[0]
    where = f"task '{task}': action term '{name}'"
    joint_names = term.joint_names
    return ActionSpec(
        name=name,
        joint_names=[joint_names] if isinstance(joint_names, str) else list(joint_names),
        scale=jsonable(term.scale, where),
        offset=jsonable(term.offset, where),
        use_default_offset=bool(getattr(term, "use_default_offset", False)),
        clip=jsonable(getattr(term, "clip", None), where),
        preserve_order=bool(getattr(term, "preserve_order", False)),
    )


def _extract_command(env_cfg: Any, task: str) -> CommandSpec:
    terms = _terms(getattr(env_cfg, "commands", None))
    velocity = [(n, t) for n, t in terms if _class_name(t) == "UniformVelocityCommand"]
    if len(velocity) != 1 or len(terms) != 1:
        kinds = [f"{n} ({_class_name(t)})" for n, t in terms]
        raise TaskSpecError(f"task '{task}': expected exactly one UniformVelocityCommand term, got {kinds}")
    name, term = velocity[0]
    where = f"task '{task}': command '{name}'"
    ranges = term.ranges
    heading = getattr(ranges, "heading", None)
    return CommandSpec(
        name=name,
        lin_vel_x=jsonable(ranges.lin_vel_x, where),
        lin_vel_y=jsonable(ranges.lin_vel_y, where),
        ang_vel_z=jsonable(ranges.ang_vel_z, where),
        resampling_time_range=jsonable(term.resampling_time_range, where),
        rel_standing_envs=float(getattr(term, "rel_standing_envs", 0.0)),
        heading_command=bool(getattr(term, "heading_command", False)),
        rel_heading_envs=float(getattr(term, "rel_heading_envs", 1.0)),
        heading_control_stiffness=float(getattr(term, "heading_control_stiffness", 1.0)),
        heading=None if heading is None else jsonable(heading, where),
    )


def _extract_noise(noise: Any, where: str) -> NoiseSpec | None:
    if noise is None:
        return None
    kind = type(noise).__name__
    table = {
        "UniformNoiseCfg": ("uniform", ("n_min", "n_max")),
        "GaussianNoiseCfg": ("gaussian", ("mean", "std")),
        "ConstantNoiseCfg": ("constant", ("bias",)),
    }
    if kind not in table:
        raise TaskSpecError(f"{where}: noise model '{kind}' is not supported")
    name, keys = table[kind]
    return NoiseSpec(
        kind=name,
        operation=str(getattr(noise, "operation", "add")),
        params={k: jsonable(getattr(noise, k), where) for k in keys},
    )


def _extract_obs_group(group_name: str, group: Any, task: str) -> ObsGroupSpec:
    if getattr(group, "history_length", None) not in (None, 0):
        raise TaskSpecError(f"task '{task}': observation group '{group_name}' uses history, which is not supported")
    if not getattr(group, "concatenate_terms", True):
        raise TaskSpecError(f"task '{task}': observation group '{group_name}' must concatenate its terms")
    terms = []
    for name, term in _terms(group):
        if name in _GROUP_SETTINGS or not hasattr(term, "func"):
            continue
        where = f"task '{task}': observation term '{group_name}/{name}'"
        unsupported = [
            attr
            for attr, default in (("modifiers", None), ("history_length", 0), ("delay_max_lag", 0))
            if getattr(term, attr, default) not in (default, [], ())
        ]
        if unsupported:
            raise TaskSpecError(f"{where}: {unsupported} are not supported")
        scale = term.scale
        terms.append(
            ObsTermSpec(
                name=name,
                func=func_name(term.func),
                params=_params(term, where),
                noise=_extract_noise(term.noise, where),
                clip=None if term.clip is None else jsonable(term.clip, where),
                scale=None if scale is None else jsonable(scale, where),
            )
        )
    return ObsGroupSpec(
        name=group_name,
        terms=terms,
        enable_corruption=bool(getattr(group, "enable_corruption", False)),
        concatenate_terms=True,
    )


def _extract_reward(name: str, term: Any, task: str) -> RewardTermSpec:
    fname = func_name(term.func)
    if fname not in REWARD_TERMS:
        raise TaskSpecError(
            f"task '{task}': reward term '{name}' uses '{fname}', which cannot be reconstructed "
            f"(known: {sorted(REWARD_TERMS)})"
        )
    return RewardTermSpec(
        name=name, func=fname, weight=float(term.weight), params=_params(term, f"task '{task}': reward '{name}'")
    )


def _extract_termination(name: str, term: Any, task: str) -> TerminationTermSpec:
    fname = func_name(term.func)
    if fname not in TERMINATION_FUNCS:
        raise TaskSpecError(
            f"task '{task}': termination term '{name}' uses '{fname}', which is not supported "
            f"(known: {list(TERMINATION_FUNCS)})"
        )
    return TerminationTermSpec(
        name=name,
        func=fname,
        params=_params(term, f"task '{task}': termination '{name}'"),
        time_out=bool(getattr(term, "time_out", False)),
    )


def _extract_event(name: str, term: Any, task: str) -> EventSpec:
    where = f"task '{task}': event '{name}'"
    interval = getattr(term, "interval_range_s", None)
    return EventSpec(
        name=name,
        func=func_name(term.func),
        mode=str(term.mode),
        params={k: jsonable(v, f"{where} parameter '{k}'") for k, v in dict(term.params or {}).items()},
        interval_range_s=None if interval is None else jsonable(interval, where),
        is_global_time=bool(getattr(term, "is_global_time", False)),
        resample_interval_on_reset=bool(getattr(term, "resample_interval_on_reset", True)),
    )
