"""ANYmal D: ``RWM-AnymalD-<Stage>-v0`` on Isaac Lab's flat ANYmal D velocity task."""

from ...registration import register_robot

register_robot("AnymalD", __name__)
