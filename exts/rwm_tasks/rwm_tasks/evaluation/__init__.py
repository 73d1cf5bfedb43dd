"""Policy evaluation in real physics: the tracking score, a seeded command schedule, the harness and reports."""

from .schedule import command_schedule, schedule_hash
from .score import alive_mask, tracking_kernel, tracking_score

__all__ = ["alive_mask", "command_schedule", "schedule_hash", "tracking_kernel", "tracking_score"]
