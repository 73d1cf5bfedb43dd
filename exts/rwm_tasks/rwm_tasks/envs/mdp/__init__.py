"""The velocity task's MDP as plain tensor code, shared by both executors (imagination and MuJoCo).

* :mod:`.spec`: :class:`TaskSpec`, the task as plain data; :mod:`.extract` reads it from an Isaac Lab cfg.
* :mod:`.observations`, :mod:`.commands`, :mod:`.actions`, :mod:`.terminations`, :mod:`.rewards`: the
  terms, each once, with the registry of supported Isaac Lab functions beside them.
* :mod:`.reward_computer`: all reward terms of a task for a batch; :mod:`.air_time`: contact timers;
  :mod:`.names`: Isaac Lab's regex name resolution.

Pure PyTorch: nothing here imports Isaac Lab.
"""

from .actions import JointPositionAction
from .air_time import AirTimeTracker
from .commands import VelocityCommand, wrap_to_pi
from .extract import TaskSpecError
from .names import is_scene_entity, resolve_names
from .observations import OBSERVATION_TERMS, ObsContext, ObsGroup, ObsInputs, noise_function
from .reward_computer import RewardComputer, RewardInputs, compute_reward_terms
from .rewards import *  # noqa: F403  (the reward term functions and their registry, as Isaac Lab's mdp)
from .rewards import __all__ as _reward_names
from .spec import (
    ActionSpec,
    CommandSpec,
    EventSpec,
    NoiseSpec,
    ObsGroupSpec,
    ObsTermSpec,
    RewardTermSpec,
    TaskSpec,
    TerminationTermSpec,
)
from .terminations import TERMINATION_TERMS, TerminationContext, TerminationInputs, Terminations

__all__ = _reward_names + [
    "OBSERVATION_TERMS",
    "TERMINATION_TERMS",
    "ActionSpec",
    "AirTimeTracker",
    "CommandSpec",
    "EventSpec",
    "JointPositionAction",
    "NoiseSpec",
    "ObsContext",
    "ObsGroup",
    "ObsGroupSpec",
    "ObsInputs",
    "ObsTermSpec",
    "RewardComputer",
    "RewardInputs",
    "RewardTermSpec",
    "TaskSpec",
    "TaskSpecError",
    "TerminationContext",
    "TerminationInputs",
    "TerminationTermSpec",
    "Terminations",
    "VelocityCommand",
    "compute_reward_terms",
    "is_scene_entity",
    "noise_function",
    "resolve_names",
    "wrap_to_pi",
]
