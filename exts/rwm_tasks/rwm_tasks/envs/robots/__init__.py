"""Project-authored robot descriptions (one source of robot parameters) and their USD stand-ins."""

from __future__ import annotations

from .description import RobotDescription


def get_description(robot: str) -> RobotDescription:
    """Description of 'go2' or 'anymal_d' (names as in :mod:`rwm_tasks.envs.layout`)."""
    from ..layout import get_layout

    name = get_layout(robot).robot
    if name == "go2":
        from .go2 import description
    else:
        from .anymal_d import description
    return description()
