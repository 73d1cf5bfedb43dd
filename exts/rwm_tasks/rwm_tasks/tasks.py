"""The RWM task catalogue: robots, stages, the gym ids ``RWM-<Robot>-<Stage>-v0`` and env counts per stage.

Plain Python that imports only the data layout, so the command line, the run-time choices, the configs and
the executors all read these facts from here.
"""

from __future__ import annotations

import re

from .layout import RobotLayout, get_layout

ROBOTS = {"Go2": "go2", "AnymalD": "anymal_d"}
"""Robot tag in task ids -> robot name in :mod:`rwm_tasks.layout`."""

STAGES = ("Init", "Pretrain", "Finetune", "Offline", "Play")
"""Training stages, in pipeline order (Play last)."""

GPU_ENV_COUNTS: dict[str, tuple[int, int]] = {
    "Init": (4096, 0),
    "Pretrain": (4096, 0),
    "Finetune": (10, 8192),
    "Offline": (0, 8192),
    "Play": (50, 0),
}
"""(real envs, imagined envs) per stage at full scale (the papers' / Isaac Lab's numbers): Finetune keeps
10 real envs feeding the replay buffer; Offline has no simulator."""

CPU_ENV_COUNTS: dict[str, tuple[int, int]] = {
    "Init": (16, 0),
    "Pretrain": (16, 0),
    "Finetune": (4, 256),
    "Offline": (0, 256),
    "Play": (4, 0),
}
"""(real envs, imagined envs) per stage on a CPU: kit-less Newton steps about 120 env-steps/s on two cores
whatever the env count, so a PPO iteration of 24 steps x 16 envs takes a few seconds; 256 imagined envs
keep the GRU ensemble cheap."""


def task_id(robot_tag: str, stage: str) -> str:
    """``RWM-<robot_tag>-<stage>-v0``."""
    return f"RWM-{robot_tag}-{stage}-v0"


def robot_task(robot: str, stage: str) -> str:
    """Task id of a robot name from :mod:`rwm_tasks.layout` at ``stage``: ``("go2", "Play")`` -> ``RWM-Go2-Play-v0``."""
    tags = {name: tag for tag, name in ROBOTS.items()}
    if robot not in tags:
        raise ValueError(f"unknown robot {robot!r}; robots are {sorted(tags)}")
    return task_id(tags[robot], stage)


def with_stage(task: str, stage: str) -> str:
    """The same robot's task at another stage: ``("RWM-Go2-Init-v0", "Play")`` -> ``RWM-Go2-Play-v0``."""
    return task_id(robot_of(task), stage)


def all_task_ids() -> list[str]:
    """Every registered task id, robot by robot."""
    return [task_id(tag, stage) for tag in ROBOTS for stage in STAGES]


def parse_task_id(task: str) -> tuple[str, str]:
    """(robot tag, stage) of ``RWM-<Robot>-<Stage>-v<N>``; ``ValueError`` for any other id."""
    parts = task.split("-")
    if len(parts) >= 3 and parts[0].upper() == "RWM":
        return parts[1], parts[2]
    raise ValueError(f"not an RWM task id: {task!r}")


def robot_of(task: str) -> str:
    """Robot tag of a task id: ``RWM-Go2-Finetune-v0`` -> ``Go2``."""
    return parse_task_id(task)[0]


def stage_of(task: str) -> str:
    """Stage of a task id: ``RWM-Go2-Finetune-v0`` -> ``Finetune``."""
    return parse_task_id(task)[1]


def layout_of(task: str) -> RobotLayout:
    """World-model layout of a task id's robot."""
    return get_layout(ROBOTS.get(robot_of(task), robot_of(task)))


def experiment_name(task: str) -> str:
    """Log folder name of a task's runs: ``rwm_<robot>_<stage>`` (e.g. ``rwm_go2_init``)."""
    return f"rwm_{layout_of(task).robot}_{stage_of(task).lower()}"


def normalize_stage(stage: str) -> str:
    """Canonical stage name from any case (``finetune`` -> ``Finetune``) or a task id (``RWM-Go2-Play-v0``)."""
    for name in STAGES:
        if stage.lower() == name.lower() or re.search(rf"-{name}(-v\d+)?$", stage, re.IGNORECASE):
            return name
    raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES} or an RWM-<Robot>-<Stage>-v0 task id")
