"""Command-line ``key=value`` overrides of the task configs, checked before anything is built or written.

Isaac Lab's resolver (``isaaclab_tasks.utils.hydra.resolve_task_config``) parses a value with
``ast.literal_eval`` (text that does not parse stays a string) and sets it with ``setattr`` along the dotted
path: an unknown last key becomes a new attribute nobody reads, and a value of the wrong type fails late, in
the middle of training. Here every override must name an existing field of the resolved configs and its value
must fit the field's current value (an int where an int is, a number where a float is, ...); the configs then
pass a table of value ranges. Each failure is a one-line :class:`ValueError` naming the key.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import math
import re
from collections.abc import Mapping

LITERALS = {"true": True, "false": False, "none": None, "null": None}
"""Words read as Python literals, in any case (as Isaac Lab reads them)."""

SELECTORS = ("physics", "presets")
"""Isaac Lab's preset selectors (``physics=NAME``), passed to its resolver as they are."""

INT, POSITIVE, NON_NEGATIVE, FRACTION = "an integer >= 1", "> 0", ">= 0", "in [0, 1]"
RANGES = {
    "env.scene.num_envs": INT,
    "env.episode_length_s": POSITIVE,
    "env.decimation": INT,
    "env.sim.dt": POSITIVE,
    "agent.seed": "an integer in [0, 2**32)",
    "agent.max_iterations": INT,
    "agent.num_steps_per_env": INT,
    "agent.save_interval": INT,
    "agent.algorithm.learning_rate": POSITIVE,
    "agent.algorithm.num_learning_epochs": INT,
    "agent.algorithm.num_mini_batches": INT,
    "agent.algorithm.gamma": FRACTION,
    "agent.algorithm.lam": FRACTION,
    "agent.world_model.ensemble_size": INT,
    "agent.world_model.history_length": INT,
    "agent.world_model.forecast_horizon": INT,
    "agent.world_model.rnn_hidden_dim": INT,
    "agent.world_model.rnn_num_layers": INT,
    "agent.world_model.learning_rate": POSITIVE,
    "agent.world_model.batch_size": INT,
    "agent.world_model.updates_per_iteration": INT,
    "agent.world_model.replay_capacity_per_env": INT,
    "agent.world_model.pretraining_data_share": FRACTION,
    "agent.imagination.num_envs": INT,
    "agent.imagination.max_episode_length": INT,
    "agent.imagination.uncertainty_penalty": NON_NEGATIVE,
    "agent.imagination.uncertainty_reference": NON_NEGATIVE,
    "agent.imagination.termination_threshold": FRACTION,
    "agent.imagination.fall_tilt": NON_NEGATIVE,
    "agent.imagination.real_steps_per_iteration": NON_NEGATIVE,
}
"""Allowed values of the settings whose bad values fail late (or silently) in rsl-rl, the simulators or the
stages."""
NAMES = {"agent.imagination.uncertainty_penalty": "penalised reward = reward - lambda * u; lambda"}


def parse_value(text: str):
    """The Python value of an override's text: a literal (number, bool, None, list, ...) or the text itself."""
    if text.lower() in LITERALS:
        return LITERALS[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def split(items: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """(preset selectors, [(key, text)] of ``env.<path>=<value>`` / ``agent.<path>=<value>`` items)."""
    selectors, pairs = [], []
    for item in items:
        if item.split("=", 1)[0] in SELECTORS and "=" in item:
            selectors.append(item)
        elif re.fullmatch(r"(env|agent)(\.\w+)+=.*", item, flags=re.DOTALL):
            pairs.append(tuple(item.split("=", 1)))
        else:
            raise ValueError(f"override '{item}' is not of the form env.<path>=<value> or agent.<path>=<value>")
    return selectors, pairs


def _unset(value) -> bool:
    return value is None or isinstance(value, type(dataclasses.MISSING))  # configs hold copies of MISSING


def _is_group(value) -> bool:
    return dataclasses.is_dataclass(value) or isinstance(value, Mapping)


def _fields(group) -> list[str]:
    return list(group) if isinstance(group, Mapping) else [f.name for f in dataclasses.fields(group)]


def _child(group, name: str):
    return group[name] if isinstance(group, Mapping) else getattr(group, name)


def lookup(cfgs: dict, key: str):
    """(group holding ``key``'s last part, its current value); a ValueError naming the first unknown part."""
    parts = key.split(".")
    node = cfgs[parts[0]]
    for i, name in enumerate(parts[1:], start=1):
        where = ".".join(parts[:i])
        if not _is_group(node):
            what = "unset" if _unset(node) else f"a value ({node!r})"
            raise ValueError(f"unknown config key '{key}': '{where}' is {what}, it has no '{name}'")
        names = _fields(node)
        if name not in names:
            close = difflib.get_close_matches(name, names, n=3)
            hint = f"; did you mean {', '.join(f'{where}.{c}' for c in close)}?" if close else ""
            raise ValueError(f"unknown config key '{key}': '{where}' has no field '{name}'{hint}")
        parent, node = node, _child(node, name)
    return parent, node


def _annotation(group, name: str) -> str:
    field = getattr(group, "__dataclass_fields__", {}).get(name)
    return field.type if field is not None and isinstance(field.type, str) else repr(getattr(field, "type", ""))


KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(value) -> str:
    return KINDS.get(type(value), type(value).__name__)


def fit(key: str, current, value, text: str, group, name: str):
    """``value`` (parsed from ``text``) converted to the type of the field's ``current`` value, or a
    ValueError naming ``key``."""

    def wrong(expected: str):
        return ValueError(f"override {key}={text}: expected {expected}, got {value!r}")

    if value is None:
        if current is None or "None" in _annotation(group, name):
            return None
        raise wrong(_kind(current))
    if isinstance(value, float) and not math.isfinite(value):
        raise wrong("a finite number")
    if _unset(current):
        return value
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise wrong(_kind(current))
        return value
    if isinstance(current, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong(_kind(current))
        return value
    if isinstance(current, float):
        if not _is_number(value):
            raise wrong(_kind(current))
        return float(value)
    if isinstance(current, str):
        return text  # a name that reads like a number (run_name=5) stays the text given
    if isinstance(current, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            raise wrong(f"a list like {list(current)!r}")
        if current and all(map(_is_number, current)) and not all(map(_is_number, value)):
            raise wrong(f"a list of numbers like {list(current)!r}")
        return type(current)(value)
    if _is_group(current):
        raise ValueError(
            f"override {key}={text}: '{key}' is a group of settings, not a value; set one of its fields: "
            f"{', '.join(_fields(current)[:12])}"
        )
    if isinstance(value, type(current)) or (callable(current) and isinstance(value, str)):
        return value
    raise wrong(type(current).__name__)


def preset_picks(cfgs: dict, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The overrides that pick a named preset (a name given for a group of settings, ``env.sim.physics=physx``):
    Isaac Lab's resolver applies those."""
    picks = []
    for key, text in pairs:
        try:
            _, current = lookup(cfgs, key)
        except ValueError:
            continue  # reported by check()
        if _is_group(current) and isinstance(parse_value(text), str):
            picks.append((key, text))
    return picks


def check(cfgs: dict, pairs: list[tuple[str, str]], picks=()) -> list[tuple[object, str, object]]:
    """[(group, field, value)] to set for each (key, text) override, checked against ``cfgs`` (``{"env": ...,
    "agent": ...}`` resolved without them); ``picks`` (:func:`preset_picks`, already resolved into ``cfgs``)
    must have landed on a group."""
    out = []
    for key, text in pairs:
        group, current = lookup(cfgs, key)
        if (key, text) in picks:
            if not _is_group(current):
                raise ValueError(f"override {key}={text}: '{text}' is not a preset of '{key}'")
            continue
        name = key.rsplit(".", 1)[1]
        out.append((group, name, fit(key, current, parse_value(text), text, group, name)))
    return out


def apply(settings: list[tuple[object, str, object]]) -> None:
    for group, name, value in settings:
        if isinstance(group, Mapping):
            group[name] = value
        else:
            setattr(group, name, value)


def _in_range(value, rule: str) -> bool:
    if not _is_number(value) or not math.isfinite(value):
        return False
    if rule == INT:
        return isinstance(value, int) and value >= 1
    if rule == POSITIVE:
        return value > 0
    if rule == NON_NEGATIVE:
        return value >= 0
    if rule == FRACTION:
        return 0 <= value <= 1
    return isinstance(value, int) and 0 <= value < 2**32  # seeds: numpy's range


def check_ranges(cfgs: dict) -> None:
    """A ValueError naming the first setting of :data:`RANGES` (present in ``cfgs``) that is out of range."""
    for key, rule in RANGES.items():
        try:
            _, value = lookup(cfgs, key)
        except ValueError:
            continue  # a setting this stage does not have
        if not _in_range(value, rule):
            what = f"{key}: {NAMES[key]}" if key in NAMES else key
            raise ValueError(f"{what} must be {rule}, got {value!r}")
    wm = getattr(cfgs["agent"], "world_model", None)
    if wm is not None:  # a training window (history + forecast rows, + 1 for the action) lies in one episode
        env = cfgs["env"]
        rows = wm.history_length + wm.forecast_horizon + 1
        steps = int(env.episode_length_s / (env.sim.dt * env.decimation))
        if rows > min(steps, wm.replay_capacity_per_env):
            raise ValueError(
                f"agent.world_model.history_length ({wm.history_length}) + forecast_horizon ({wm.forecast_horizon}) "
                f"+ 1 rows must fit in one episode ({steps} steps) and in agent.world_model.replay_capacity_per_env "
                f"({wm.replay_capacity_per_env})"
            )
