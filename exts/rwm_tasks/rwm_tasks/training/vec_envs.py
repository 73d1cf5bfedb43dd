"""rsl-rl ``VecEnv`` wrappers through which the stock runner drives the model-based stages.

The runner calls ``step`` ``num_steps_per_env`` times per iteration; a wrapper runs the stage's extra work
(record real data, train the world model, collect real steps) at the start of each rollout, so one plain
``runner.learn(...)`` call trains policy and model together.
"""

from __future__ import annotations

import time
from typing import Callable

from rsl_rl.env import VecEnv


class RolloutHookEnv(VecEnv):
    """Delegates to ``env``; calls ``before_rollout(iteration)`` before the first step of every rollout and
    ``after_step(obs, rewards, dones, extras)`` after every step."""

    def __init__(self, env, steps_per_rollout: int, before_rollout: Callable[[int], None] | None = None,
                 after_step: Callable | None = None):  # fmt: skip
        self.env = env
        self.steps_per_rollout = steps_per_rollout
        self.before_rollout, self.after_step = before_rollout, after_step
        self.num_envs, self.num_actions = env.num_envs, env.num_actions
        self.max_episode_length, self.device, self.cfg = env.max_episode_length, env.device, env.cfg
        self.steps = 0
        self.first_iteration = 0
        """The runner iteration of the first rollout (a resumed run starts after its checkpoint)."""

    @property
    def episode_length_buf(self):
        return self.env.episode_length_buf

    @episode_length_buf.setter
    def episode_length_buf(self, value):
        self.env.episode_length_buf = value

    @property
    def iteration(self) -> int:
        """The runner iteration whose rollout is under way."""
        return self.first_iteration + self.steps // self.steps_per_rollout

    def get_observations(self):
        return self.env.get_observations()

    def step(self, actions):
        if self.before_rollout is not None and self.steps % self.steps_per_rollout == 0:
            self.before_rollout(self.iteration)
        obs, rewards, dones, extras = self.env.step(actions)
        if self.after_step is not None:
            self.after_step(obs, rewards, dones, extras)
        self.steps += 1
        return obs, rewards, dones, extras


class TimeBudgetExceeded(Exception):
    """Raised at an iteration boundary once a run's wall-time budget is used up."""


def deadline_hook(max_minutes: float) -> Callable[[int], None]:
    """A ``before_rollout`` hook that raises :class:`TimeBudgetExceeded` after ``max_minutes`` (never before
    the first iteration completed)."""
    deadline = time.time() + 60.0 * max_minutes

    def check(iteration: int) -> None:
        if iteration > 0 and time.time() > deadline:
            raise TimeBudgetExceeded(f"wall-time budget of {max_minutes:g} min used up after {iteration} iterations")

    return check
