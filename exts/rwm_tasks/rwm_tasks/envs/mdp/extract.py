"""Reading a task's MDP out of an Isaac Lab ``ManagerBasedRLEnvCfg``, as plain JSON-able data.

The cfg is walked *by duck typing* (this module never imports Isaac Lab). :func:`extract_task_spec`
returns the dict :meth:`~rwm_tasks.envs.mdp.spec.TaskSpec.from_dict` reads: step dt, episode length, the
joint-position action, the uniform velocity command, the ``policy`` (and ``critic``) observation terms in
order with noise, clip and scale, all reward and termination terms with their parameters, and the events.
Weights and parameters are read from the cfg, never restated; parameters a term leaves at its function's
default are filled in from the function signature so that the spec is complete on its own. Which terms an
executor can run is checked by the spec (:meth:`~rwm_tasks.envs.mdp.spec.TaskSpec.validate`).
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Mapping
from typing import Any

from .names import SCENE_ENTITY_KEY

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


def extract_task_spec(env_cfg: Any, task: str) -> dict:
    """The MDP of ``env_cfg`` as a plain dict in :meth:`TaskSpec.to_dict` format (without validation)."""
    spec = {
        "task": task,
        "sim_dt": float(env_cfg.sim.dt),
        "decimation": int(env_cfg.decimation),
        "episode_length_s": float(env_cfg.episode_length_s),
        "action": _extract_action(env_cfg, task),
        "command": _extract_command(env_cfg, task),
        "observations": {},
        "rewards": [_extract_reward(n, t, task) for n, t in _terms(getattr(env_cfg, "rewards", None))],
        "terminations": [_extract_termination(n, t, task) for n, t in _terms(getattr(env_cfg, "terminations", None))],
        "events": [_extract_event(n, t, task) for n, t in _terms(getattr(env_cfg, "events", None))],
        "other_observation_groups": [],
    }
    for group_name, group in _terms(env_cfg.observations):
        if group_name in EXTRACTED_OBS_GROUPS:
            spec["observations"][group_name] = extract_obs_group(group_name, group, task)
        else:
            spec["other_observation_groups"].append(group_name)
    return spec


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


def class_name(obj: Any) -> str:
    """Class name of a cfg's ``class_type`` (a class or a 'module:Class' string)."""
    return func_name(getattr(obj, "class_type", type(obj)))


def _is_scene_entity_cfg(value: Any) -> bool:
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
    if _is_scene_entity_cfg(value):
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


def _extract_action(env_cfg: Any, task: str) -> dict:
    terms = _terms(env_cfg.actions)
    if len(terms) != 1 or not class_name(terms[0][1]).endswith("JointPositionAction"):
        kinds = [f"{n} ({class_name(t)})" for n, t in terms]
        raise TaskSpecError(f"task '{task}': expected exactly one joint-position action term, got {kinds}")
    name, term = terms[0]
    where = f"task '{task}': action term '{name}'"
    joint_names = term.joint_names
    return {
        "name": name,
        "joint_names": [joint_names] if isinstance(joint_names, str) else list(joint_names),
        "scale": jsonable(term.scale, where),
        "offset": jsonable(term.offset, where),
        "use_default_offset": bool(getattr(term, "use_default_offset", False)),
        "clip": jsonable(getattr(term, "clip", None), where),
        "preserve_order": bool(getattr(term, "preserve_order", False)),
    }


def _extract_command(env_cfg: Any, task: str) -> dict:
    terms = _terms(getattr(env_cfg, "commands", None))
    velocity = [(n, t) for n, t in terms if class_name(t) == "UniformVelocityCommand"]
    if len(velocity) != 1 or len(terms) != 1:
        kinds = [f"{n} ({class_name(t)})" for n, t in terms]
        raise TaskSpecError(f"task '{task}': expected exactly one UniformVelocityCommand term, got {kinds}")
    name, term = velocity[0]
    where = f"task '{task}': command '{name}'"
    ranges = term.ranges
    heading = getattr(ranges, "heading", None)
    return {
        "name": name,
        "lin_vel_x": jsonable(ranges.lin_vel_x, where),
        "lin_vel_y": jsonable(ranges.lin_vel_y, where),
        "ang_vel_z": jsonable(ranges.ang_vel_z, where),
        "resampling_time_range": jsonable(term.resampling_time_range, where),
        "rel_standing_envs": float(getattr(term, "rel_standing_envs", 0.0)),
        "heading_command": bool(getattr(term, "heading_command", False)),
        "rel_heading_envs": float(getattr(term, "rel_heading_envs", 1.0)),
        "heading_control_stiffness": float(getattr(term, "heading_control_stiffness", 1.0)),
        "heading": None if heading is None else jsonable(heading, where),
        "vel_xy_success_threshold": float(getattr(term, "vel_xy_success_threshold", 0.5)),
        "vel_yaw_success_threshold": float(getattr(term, "vel_yaw_success_threshold", 0.4)),
    }


def _extract_noise(noise: Any, where: str) -> dict | None:
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
    return {
        "kind": name,
        "operation": str(getattr(noise, "operation", "add")),
        "params": {k: jsonable(getattr(noise, k), where) for k in keys},
    }


def extract_obs_group(group_name: str, group: Any, task: str) -> dict:
    """One observation group of an env cfg as a plain dict (the format of ``ObsGroupSpec.from_dict``)."""
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
        terms.append({
            "name": name,
            "func": func_name(term.func),
            "params": _params(term, where),
            "noise": _extract_noise(term.noise, where),
            "clip": None if term.clip is None else jsonable(term.clip, where),
            "scale": None if scale is None else jsonable(scale, where),
        })  # fmt: skip
    return {
        "name": group_name,
        "terms": terms,
        "enable_corruption": bool(getattr(group, "enable_corruption", False)),
        "concatenate_terms": True,
    }


def _extract_reward(name: str, term: Any, task: str) -> dict:
    where = f"task '{task}': reward '{name}'"
    return {"name": name, "func": func_name(term.func), "weight": float(term.weight), "params": _params(term, where)}


def _extract_termination(name: str, term: Any, task: str) -> dict:
    return {
        "name": name,
        "func": func_name(term.func),
        "params": _params(term, f"task '{task}': termination '{name}'"),
        "time_out": bool(getattr(term, "time_out", False)),
    }


def _extract_event(name: str, term: Any, task: str) -> dict:
    where = f"task '{task}': event '{name}'"
    interval = getattr(term, "interval_range_s", None)
    return {
        "name": name,
        "func": func_name(term.func),
        "mode": str(term.mode),
        "params": {k: jsonable(v, f"{where} parameter '{k}'") for k, v in dict(term.params or {}).items()},
        "interval_range_s": None if interval is None else jsonable(interval, where),
        "is_global_time": bool(getattr(term, "is_global_time", False)),
        "resample_interval_on_reset": bool(getattr(term, "resample_interval_on_reset", True)),
    }
