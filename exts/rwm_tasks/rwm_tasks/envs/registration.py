"""Gym registration of the RWM task ids, with string entry points only (no Isaac Lab import).

Each robot package (``config/<robot>/__init__.py``) registers its ids with :func:`register_robot`.
``import rwm_tasks`` calls :func:`register_on_gymnasium_import`: the ids are registered at once when
gymnasium is already imported, otherwise right after its first import, so that the pure-PyTorch parts of
the package (``rwm_tasks.world_model``) import without gymnasium.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

from ..tasks import STAGES, task_id

CONFIG_PACKAGE = f"{__package__}.config"
"""Package whose robot subpackages register their ids when imported."""


def register_robot(robot_tag: str, package: str) -> list[str]:
    """Register ``RWM-<robot_tag>-<Stage>-v0`` for every stage: env cfgs ``<package>.env_cfg:<Tag><Stage>EnvCfg``,
    runner cfgs ``rwm_tasks.agents.rsl_rl_cfg:<Tag><Stage>RunnerCfg``. Returns the ids it added."""
    import gymnasium as gym

    added = []
    for stage in STAGES:
        tid = task_id(robot_tag, stage)
        if tid in gym.registry:
            continue
        gym.register(
            id=tid,
            entry_point="isaaclab.envs:ManagerBasedRLEnv",
            disable_env_checker=True,
            kwargs={
                "env_cfg_entry_point": f"{package}.env_cfg:{robot_tag}{stage}EnvCfg",
                "rsl_rl_cfg_entry_point": f"rwm_tasks.agents.rsl_rl_cfg:{robot_tag}{stage}RunnerCfg",
                "default_agent": "rsl_rl",
            },
        )
        added.append(tid)
    return added


def register_all() -> None:
    """Register every robot's ids (importing the config package does it)."""
    importlib.import_module(CONFIG_PACKAGE)


class RegisterAfterGymnasium(importlib.abc.MetaPathFinder):
    """Import hook that finds nothing itself: it lets the regular finders locate gymnasium and registers
    the task ids as soon as gymnasium's module has run."""

    def __init__(self):
        self.searching = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "gymnasium" or self.searching:
            return None
        self.searching = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self.searching = False
        if spec is None or spec.loader is None:
            return None
        run_module = spec.loader.exec_module

        def exec_module(module):
            run_module(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            register_all()

        spec.loader.exec_module = exec_module
        return spec


def register_on_gymnasium_import() -> None:
    """Register the ids now if gymnasium is imported, else right after it is."""
    if "gymnasium" in sys.modules:
        register_all()
    elif not any(isinstance(f, RegisterAfterGymnasium) for f in sys.meta_path):
        sys.meta_path.insert(0, RegisterAfterGymnasium())
