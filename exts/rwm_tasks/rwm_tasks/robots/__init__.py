"""Project-authored robot descriptions (the one source of robot parameters) and their USD stand-ins.

This package imports nothing else of ``rwm_tasks``: the data layout (:mod:`rwm_tasks.layout`) reads the
default pose from here, never the other way round.
"""

from __future__ import annotations

from . import anymal_d, go2
from .description import RobotDescription

ROBOT_ALIASES = {"anymald": "anymal_d", "unitree_go2": "go2"}
"""Other spellings of the robot names (task-id tags such as 'AnymalD', Isaac Lab's 'unitree_go2')."""

_BUILDERS = {"go2": go2.description, "anymal_d": anymal_d.description}


def robot_name(robot: str) -> str:
    """Canonical robot name ('go2' or 'anymal_d') of any accepted spelling; ``ValueError`` otherwise."""
    key = robot.lower().replace("-", "_")
    key = ROBOT_ALIASES.get(key, key)
    if key not in _BUILDERS:
        raise ValueError(f"unknown robot '{robot}'; known robots: {sorted(_BUILDERS)}")
    return key


def get_description(robot: str) -> RobotDescription:
    """Description of 'go2' or 'anymal_d' (any spelling :func:`robot_name` accepts)."""
    return _BUILDERS[robot_name(robot)]()
