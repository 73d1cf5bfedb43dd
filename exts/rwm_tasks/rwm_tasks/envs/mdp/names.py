"""Isaac Lab's name resolution on plain data: regex patterns over joint or body names, per-name value
tables, and the scene-entity parameters (``SceneEntityCfg``) of terms as a task spec stores them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

SCENE_ENTITY_KEY = "__scene_entity__"
"""Marker of a serialised ``SceneEntityCfg`` inside term parameters (see :mod:`.extract`)."""


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
    matched: list[int] = []
    for key in keys:
        hits = [i for i, name in enumerate(names) if re.fullmatch(key, name)]
        if not hits:
            raise ValueError(f"pattern '{key}' matches none of {list(names)}")
        matched += hits
    return list(dict.fromkeys(matched)) if preserve_order else sorted(set(matched))


def value_of(table: float | Mapping[str, float], name: str) -> float:
    """Value for ``name`` in an Isaac Lab ``{regex: value}`` table (first matching pattern) or a scalar."""
    if isinstance(table, (int, float)):
        return float(table)
    for pattern, value in table.items():
        if re.fullmatch(pattern, name):
            return float(value)
    raise KeyError(f"no entry of {list(table)} matches '{name}'")


def is_scene_entity(value) -> bool:
    return isinstance(value, Mapping) and bool(value.get(SCENE_ENTITY_KEY))


def scene_entity(params: Mapping, key: str) -> Mapping:
    """The scene-entity parameter ``key`` of a term ({} when absent); ``ValueError`` for anything else."""
    value = params.get(key)
    if value is None:
        return {}
    if not is_scene_entity(value):
        raise ValueError(f"parameter '{key}' is not a scene entity: {value!r}")
    return value


def joint_ids(params: Mapping, joint_names: Sequence[str], key: str = "asset_cfg") -> list[int]:
    """Joints a term selects through its ``asset_cfg`` (all joints when it names none)."""
    ent = scene_entity(params, key)
    return resolve_names(ent.get("joint_names"), joint_names, ent.get("preserve_order", False))


def columns(x, ids: list[int]):
    """``x[:, ids]``, or ``x`` itself when ``ids`` selects every column in order (no copy)."""
    return x if ids == list(range(x.shape[1])) else x[:, ids]
