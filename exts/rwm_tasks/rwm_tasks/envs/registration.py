"""Gym registration of ``RWM-<Robot>-<Stage>-v0``: string entry points only (no Isaac Lab import)."""

from __future__ import annotations

import gymnasium as gym

ROBOTS = {"Go2": "go2", "AnymalD": "anymal_d"}
"""Robot tag in task ids -> robot name in :mod:`rwm_tasks.envs.layout`."""
STAGES = ("Init", "Pretrain", "Finetune", "Offline", "Play")


def task_id(robot_tag: str, stage: str) -> str:
    return f"RWM-{robot_tag}-{stage}-v0"


def register_all() -> list[str]:
    ids = []
    for tag, module in ROBOTS.items():
        for stage in STAGES:
            tid = task_id(tag, stage)
            if tid in gym.registry:
                continue
            gym.register(
                id=tid,
                entry_point="isaaclab.envs:ManagerBasedRLEnv",
                disable_env_checker=True,
                kwargs={
                    "env_cfg_entry_point": f"rwm_tasks.envs.{module}.env_cfg:{tag}{stage}EnvCfg",
                    "rsl_rl_cfg_entry_point": f"rwm_tasks.agents.rsl_rl_cfg:{tag}{stage}RunnerCfg",
                    "default_agent": "rsl_rl",
                },
            )
            ids.append(tid)
    return ids


def all_task_ids() -> list[str]:
    return [task_id(tag, stage) for tag in ROBOTS for stage in STAGES]
