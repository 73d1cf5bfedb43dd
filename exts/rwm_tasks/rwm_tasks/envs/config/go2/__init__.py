"""Unitree Go2: ``RWM-Go2-<Stage>-v0`` on Isaac Lab's flat Go2 velocity task."""

from ...registration import register_robot

register_robot("Go2", __name__)
