"""ImaginationEnv: an rsl-rl ``VecEnv`` whose dynamics are a learned world model.

The env executes a task's MDP (a :class:`~rwm_tasks.envs.mdp.spec.TaskSpec` read from the Isaac Lab env
cfg) on imagined states: one batched model step per env step; observations, velocity commands, action
processing, terminations and every reward term come from :mod:`rwm_tasks.envs.mdp` (the same code the
MuJoCo executor runs), evaluated on the predicted state, contacts, extension outputs and actions. Base
contact comes from the termination head; time-outs from the imagined episode length. This module adds
what only imagination has: model stepping, divergence, the uncertainty penalty, yaw and pushes.

Uncertainty penalty (MOPO, RWM-U). The policy receives, per step::

    r_pen = r - lambda * u * dt,     r = sum_i w_i * term_i * dt,     lambda >= 0

with ``u`` the model's epistemic uncertainty (``StepOutput.epistemic``). The penalty enters like one
more reward term of weight ``-lambda``, scaled by the step dt as Isaac Lab scales every term (and as the
reference RWM-U code does), so lambda = 1 has the paper's meaning. ``r``, the penalty and ``u`` are logged
separately.

Heading commands. Imagination has no world yaw. Each env integrates a yaw estimate from the predicted
angular velocity about the world vertical (base angular velocity projected on ``-projected_gravity``);
heading envs get ``ang_vel_z = clip(k * wrap(heading_target - yaw))`` as Isaac Lab computes it
(:class:`~rwm_tasks.envs.mdp.commands.VelocityCommand`).
This keeps the command statistics of the task (P-controlled yaw rate that decays while the robot turns)
instead of replacing them by constant yaw rates; only yaw *differences* matter, so integration drift
relative to a true world frame is harmless. The initial yaw is drawn from the reset event's yaw range.

Resets. A done env restarts from a history window drawn from data (``sample_history``), the stepper
re-warms its hidden state on the window and draws a new ensemble head; the window's last action becomes
the "last action" (the imagined episode starts mid-trajectory, so the applied action is known). Air-time
timers, commands and episode sums reset as in Isaac Lab.

Divergence. A prediction with NaN/inf or a state outside ``state_bounds`` (:mod:`.divergence`) resets
that env (counted in ``Imagination/diverged``); it is reported as a time-out (the value is bootstrapped:
model failure is not a terminal state of the task) with zero reward, so it never poisons the batch.

All work is batched over envs; there are no per-env Python loops. Public methods run under
``torch.inference_mode`` and return tensors safe to use outside it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Protocol

import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict

from ..layout import CONTACT_THRESHOLD_N, RobotLayout
from .divergence import DivergenceCheck
from .mdp import (
    AirTimeTracker, JointPositionAction, ObsContext, ObsGroup, ObsInputs, RewardComputer, RewardInputs, TaskSpec,
    TerminationContext, TerminationInputs, Terminations, VelocityCommand, resolve_names, wrap_to_pi,
)  # fmt: skip

SampleHistory = Callable[[int], tuple[torch.Tensor, torch.Tensor]]
"""``sample_history(n) -> (states [n, M, S], actions [n, M, A])``: raw-unit history windows from data that
never cross an episode start and contain no termination (e.g. a ``TransitionStore`` or ``ReplayBuffer``)."""


class Stepper(Protocol):
    """The world-model stepper API the env drives (``rwm_tasks.world_model.stepper.ModelStepper``)."""

    heads: torch.Tensor

    def reset(self, env_ids: torch.Tensor, states: torch.Tensor, actions: torch.Tensor, heads=None): ...

    def step(self, states: torch.Tensor, actions: torch.Tensor): ...


class ImaginationEnv(VecEnv):
    """rsl-rl VecEnv over a world-model stepper, executing a task spec in imagination.

    Args:
        task_spec: the task's MDP (observations, command, rewards, terminations, events).
        layout: world-model data layout of the robot (state/contact/extension order).
        stepper: object with the ``ModelStepper`` API (``reset``/``step`` returning ``StepOutput``).
        sample_history: ``n -> (states [n, M, S], actions [n, M, A])`` history windows in raw units.
        num_envs: number of imagined envs.
        max_episode_length: imagined episode length in steps (default: the task's episode length).
        device: torch device of all buffers.
        uncertainty_penalty: lambda >= 0 of ``r - lambda * max(u - u0, 0) * dt``.
        uncertainty_reference: u0 >= 0, the uncertainty level that costs nothing.
        termination_threshold: terminate where the termination head's probability exceeds this.
        fall_tilt: base tilt (rad) at which the task's ``bad_orientation`` term ends an imagined episode, in
            place of the task's own limit (None: the task's).
        contact_threshold: a contact channel is on where its predicted probability exceeds this.
        state_bounds: (low [S], high [S]) raw-unit bounds; a state outside is diverged. None: only non-finite.
        soft_joint_pos_limits: absolute soft joint limits [J, 2]; needed only if ``joint_pos_limits`` has weight.
        clip_actions: clamp raw actions to +-clip_actions (the runner cfg's ``clip_actions``), None: no clamp.
        enable_pushes: apply the task's interval velocity push (``push_by_setting_velocity``) to the state.
        seed: seed of the env's own generator (commands, noise, yaw, push timing).
    """

    def __init__(
        self,
        task_spec: TaskSpec,
        layout: RobotLayout,
        stepper: Stepper,
        sample_history: SampleHistory,
        num_envs: int,
        max_episode_length: int | None = None,
        device: str | torch.device = "cpu",
        uncertainty_penalty: float = 0.0,
        uncertainty_reference: float = 0.0,
        termination_threshold: float = 0.5,
        fall_tilt: float | None = None,
        contact_threshold: float = 0.5,
        state_bounds: tuple[torch.Tensor, torch.Tensor] | None = None,
        soft_joint_pos_limits: torch.Tensor | None = None,
        clip_actions: float | None = None,
        enable_pushes: bool = False,
        seed: int = 0,
    ):
        if uncertainty_penalty < 0:
            raise ValueError(f"uncertainty_penalty (lambda) must be >= 0, got {uncertainty_penalty}")
        if uncertainty_reference < 0:
            raise ValueError(f"uncertainty_reference must be >= 0, got {uncertainty_reference}")
        if num_envs <= 0:
            raise ValueError(f"num_envs must be positive, got {num_envs}")
        for name, p in (("termination_threshold", termination_threshold), ("contact_threshold", contact_threshold)):
            if not 0.0 < p < 1.0:
                raise ValueError(f"{name} must be in (0, 1), got {p}")
        if fall_tilt is not None and not 0.0 < fall_tilt < math.pi:
            raise ValueError(f"fall_tilt must be in (0, pi) rad, got {fall_tilt}")
        if abs(task_spec.step_dt - layout.dt) > 1e-9:
            raise ValueError(
                f"task '{task_spec.task}' steps at {task_spec.step_dt} s but the world-model layout of "
                f"'{layout.robot}' at {layout.dt} s"
            )
        self.spec = task_spec
        self.layout = layout
        self.stepper = stepper
        self.sample_history = sample_history
        self.num_envs = int(num_envs)
        self.num_actions = layout.action_dim
        self.max_episode_length = int(max_episode_length or task_spec.max_episode_length)
        self.device = torch.device(device)
        self.dt = task_spec.step_dt
        self.uncertainty_penalty = float(uncertainty_penalty)
        self.uncertainty_reference = float(uncertainty_reference)
        self.termination_threshold = float(termination_threshold)
        self.contact_threshold = float(contact_threshold)
        self.fall_tilt = None if fall_tilt is None else float(fall_tilt)
        self.clip_actions = clip_actions
        self.enable_pushes = bool(enable_pushes)
        self.cfg = {
            "task_spec": task_spec.to_dict(),
            "robot": layout.robot,
            "num_envs": self.num_envs,
            "max_episode_length": self.max_episode_length,
            "uncertainty_penalty": self.uncertainty_penalty,
            "uncertainty_reference": self.uncertainty_reference,
            "termination_threshold": self.termination_threshold,
            "contact_threshold": self.contact_threshold,
            "fall_tilt": self.fall_tilt,
            "enable_pushes": self.enable_pushes,
            "seed": seed,
        }
        self._gen = torch.Generator(device=self.device)
        self._gen.manual_seed(seed)

        # the task's terms bound to this layout (all errors at construction, naming the term and the task)
        task = task_spec.task
        self._default_joint_pos = torch.tensor(layout.default_joint_pos, device=self.device)
        self.rewards = RewardComputer(task_spec, layout, soft_joint_pos_limits)
        ctx = ObsContext(layout.joint_names, task_spec.command.name, task_spec.action.name, task)
        self.obs_groups = {g: ObsGroup(spec, ctx, self._gen, self.device) for g, spec in task_spec.observations.items()}
        term_ctx = TerminationContext(self._contact_reader, "base_height" in layout.extension_slices, layout.robot)
        # imagined time-outs come from max_episode_length, not from the task's time_out term
        terms = [self._imagined_term(t) for t in task_spec.terminations if t.func != "time_out"]
        self.terminations = Terminations(terms, term_ctx, task)
        self.action_term = JointPositionAction(task_spec.action, layout.joint_names, self._default_joint_pos, task,
                                               self.device)  # fmt: skip
        self.command = VelocityCommand(task_spec.command, self.num_envs, self._gen, self.device)
        self._diverged = DivergenceCheck(state_bounds, layout.state_dim, self.device)
        reset_event = task_spec.event("reset_root_state_uniform", "reset")
        yaw_range = (reset_event.params.get("pose_range", {}) if reset_event else {}).get("yaw", [0.0, 0.0])
        self._yaw_range = [float(v) for v in yaw_range]
        self._push = task_spec.push if self.enable_pushes else None

        with torch.inference_mode():
            self._allocate()
            if self._push is not None:
                self.push_time_left[:] = self._uniform(self.num_envs, *self._push.interval_range_s)
            self._reset_idx(torch.arange(self.num_envs, device=self.device), log=None)
            self.command.update_command(self.yaw)
            self._obs = self._compute_obs()

    # ------------------------------------------------------------------------------------------------------
    # VecEnv API
    # ------------------------------------------------------------------------------------------------------

    @property
    def generator(self) -> torch.Generator:
        """The env's own RNG (commands, noise, yaw, pushes); saved with a run's state to continue it."""
        return self._gen

    def get_observations(self) -> TensorDict:
        """Current observation groups (``policy`` and, if the task has one, ``critic``)."""
        return self._obs.clone()

    def reset(self) -> tuple[TensorDict, dict]:
        """Reset all envs; returns (observations, extras)."""
        log: dict = {}
        with torch.inference_mode():
            self._reset_idx(torch.arange(self.num_envs, device=self.device), log)
            self.command.update_command(self.yaw)
            self._obs = self._compute_obs()
        return self.get_observations(), {"log": log}

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        """One imagined step for all envs; returns (obs, penalised reward, dones, extras)."""
        with torch.inference_mode():
            reward, dones, time_outs, log = self._step(actions)
        extras = {"time_outs": time_outs.clone(), "log": log}
        return self.get_observations(), reward.clone(), dones.clone(), extras

    # ------------------------------------------------------------------------------------------------------
    # What the shared terms read
    # ------------------------------------------------------------------------------------------------------

    def _imagined_term(self, term):
        """The task's termination term as imagination runs it: ``bad_orientation`` at ``fall_tilt``."""
        if self.fall_tilt is None or term.func != "bad_orientation":
            return term
        return dataclasses.replace(term, params={**term.params, "limit_angle": self.fall_tilt})

    def _contact_reader(self, entity, threshold: float):
        """Contacts for ``illegal_contact``: the base from the termination head, other bodies from the
        layout's binary contact channels (thresholded as the data were)."""
        if abs(threshold - CONTACT_THRESHOLD_N) > 1e-9:
            raise ValueError(f"threshold {threshold} N differs from the data's {CONTACT_THRESHOLD_N} N")
        ids = resolve_names(entity.get("body_names"), (self.layout.base_body,) + self.layout.contact_bodies)
        use_head, channels = 0 in ids, [i - 1 for i in ids if i > 0]

        def read() -> torch.Tensor:
            parts = [(self.termination_prob > self.termination_threshold).unsqueeze(1)] if use_head else []
            return torch.cat(parts + ([self.contacts[:, channels]] if channels else []), dim=1)

        return read

    def _termination_inputs(self) -> TerminationInputs:
        ext = self.layout.extension_slices
        height = self.extension[:, ext["base_height"]].reshape(-1) if "base_height" in ext else None
        gravity = self.state[:, self.layout.state_slices["projected_gravity"]]
        return TerminationInputs(self.episode_length_buf, self.max_episode_length, gravity, height)

    # ------------------------------------------------------------------------------------------------------
    # Buffers
    # ------------------------------------------------------------------------------------------------------

    def _allocate(self) -> None:
        E, L, dev = self.num_envs, self.layout, self.device
        self.state = torch.zeros(E, L.state_dim, device=dev)
        self.last_action = torch.zeros(E, L.action_dim, device=dev)
        self.processed_actions = torch.zeros(E, L.action_dim, device=dev)
        self.contacts = torch.zeros(E, L.contact_dim, dtype=torch.bool, device=dev)
        self.extension = torch.zeros(E, L.extension_dim, device=dev)
        self.termination_prob = torch.zeros(E, device=dev)
        self.uncertainty = torch.zeros(E, device=dev)
        self.episode_length_buf = torch.zeros(E, dtype=torch.long, device=dev)
        self.air_time = AirTimeTracker(E, L.contact_dim, dev)
        self.yaw = torch.zeros(E, device=dev)
        self.push_time_left = torch.zeros(E, device=dev)
        # episode statistics: one column per reward term, then the uncertainty penalty
        self._episode_sums = torch.zeros(E, len(self.rewards.names) + 1, device=dev)
        self.num_diverged_total = 0

    def _uniform(self, n: int, low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=self._gen, device=self.device) * (high - low) + low

    # ------------------------------------------------------------------------------------------------------
    # Step
    # ------------------------------------------------------------------------------------------------------

    def _step(self, actions: torch.Tensor):
        actions = actions.to(self.device, torch.float32)
        if actions.shape != (self.num_envs, self.num_actions):
            expected = (self.num_envs, self.num_actions)
            raise ValueError(f"actions must have shape {expected}, got {tuple(actions.shape)}")
        if self.clip_actions is not None:
            actions = actions.clamp(-self.clip_actions, self.clip_actions)
        prev_action = self.last_action
        self.last_action = actions.clone()
        self.processed_actions = self.action_term.process(actions)

        # -- one batched model step (the model consumes the raw policy action)
        out = self.stepper.step(self.state, actions)
        next_state, contact_prob, term_prob, extension, u = self._outputs(out, self.num_envs)
        diverged = self._diverged(next_state, contact_prob, term_prob, extension, u)
        keep = diverged.unsqueeze(1)
        prev_state = self.state
        self.state = torch.where(keep, prev_state, next_state)
        self.contacts = torch.where(keep, self.contacts, contact_prob > self.contact_threshold)
        self.extension = torch.where(keep, self.extension, extension)
        self.termination_prob = torch.where(diverged, 0.0, term_prob)
        self.uncertainty = torch.where(diverged, 0.0, u)
        aleatoric = getattr(out, "aleatoric", None)

        # -- counters, yaw, contact timers
        self.episode_length_buf += 1
        self._integrate_yaw()
        self.air_time.update(self.contacts, self.dt)

        # -- terminations and time-outs
        terms_done, terminated, _ = self.terminations.compute(self._termination_inputs())
        terms_done = {name: done & ~diverged for name, done in terms_done.items()}
        terminated = terminated & ~diverged
        timed_out = self.episode_length_buf >= self.max_episode_length
        time_outs = timed_out | diverged  # as Isaac Lab: time-outs are reported even if also terminated
        dones = terminated | time_outs

        # -- rewards: every term of the task, weight * value * dt, then the uncertainty penalty
        inputs = RewardInputs.from_state(
            self.layout, self.state, actions, prev_action, self.command.command, self.dt,
            prev_state=prev_state, contacts=self.contacts, air_time=self.air_time, extension=self.extension,
            # the expected termination: a fall the head finds likely but not certain still costs its share
            # of the termination penalty, so the policy is kept away from risky states the head seldom flags
            terminated=torch.maximum(terminated.float(), self.termination_prob),
        )  # fmt: skip
        values = self.rewards.compute(inputs)
        raw, per_term = self.rewards.weighted(values, self.dt)
        if raw is None:
            raw = torch.zeros(self.num_envs, device=self.device)
        excess = (self.uncertainty - self.uncertainty_reference).clamp(min=0.0)
        penalty = self.uncertainty_penalty * excess * self.dt
        valid = ~diverged
        raw = torch.where(valid, raw, 0.0)
        penalty = torch.where(valid, penalty, 0.0)
        reward = raw - penalty
        columns = torch.stack([torch.where(valid, v, 0.0) for v in per_term.values()] + [-penalty], dim=1)
        self._episode_sums += columns

        # -- logging (per step; episode statistics are added at resets)
        n_valid = valid.sum().clamp(min=1)
        num_diverged = int(diverged.sum())
        self.num_diverged_total += num_diverged
        log = {
            "Imagination/reward": reward.mean(),
            "Imagination/reward_raw": raw.sum() / n_valid,
            "Imagination/penalty": penalty.sum() / n_valid,
            # how strongly lambda weighs: mean penalty over mean |raw reward| (the pipeline picks lambda for 0.5)
            "Imagination/penalty_to_reward": penalty.sum() / raw.abs().sum().clamp(min=1e-9),
            "Imagination/uncertainty": self.uncertainty.sum() / n_valid,
            "Imagination/diverged": torch.tensor(float(num_diverged)),
            "Imagination/terminated": terminated.float().mean(),
        }
        if aleatoric is not None:
            log["Imagination/aleatoric"] = torch.where(valid, aleatoric.reshape(-1), 0.0).nan_to_num().sum() / n_valid
        for name, col in zip(self.rewards.names, columns.unbind(dim=1)):
            log[f"Imagination/reward_term/{name}"] = col.sum() / n_valid

        # -- reset done envs, then commands, pushes and observations (Isaac Lab's order)
        reset_ids = dones.nonzero(as_tuple=False).squeeze(-1)
        if reset_ids.numel() > 0:
            causes = {**terms_done, "time_out": timed_out, "diverged": diverged}
            for name, mask in causes.items():
                log[f"Episode_Termination/{name}"] = mask.sum().float()
            self._reset_idx(reset_ids, log)
        sl = self.layout.state_slices
        self.command.compute(self.dt, self.state[:, sl["base_lin_vel"]], self.state[:, sl["base_ang_vel"]], self.yaw)
        if self._push is not None:
            self._apply_pushes()
        self._obs = self._compute_obs()
        return reward, dones.long(), time_outs, log

    def _outputs(self, out, n: int):
        """(next_state, contact_prob, termination_prob, extension, epistemic) of a StepOutput, float32."""
        next_state = out.next_state.to(self.device, torch.float32)
        contact_prob = out.contact_prob.to(self.device, torch.float32)
        term_prob = out.termination_prob.to(self.device, torch.float32).reshape(n)
        ext = getattr(out, "extension", None)
        if ext is None or ext.numel() == 0:
            ext = torch.zeros(n, self.layout.extension_dim, device=self.device)
        ext = ext.to(self.device, torch.float32).reshape(n, self.layout.extension_dim)
        u = getattr(out, "epistemic", None)
        u = torch.zeros(n, device=self.device) if u is None else u.to(self.device, torch.float32).reshape(n)
        return next_state, contact_prob, term_prob, ext, u

    def _integrate_yaw(self) -> None:
        """Yaw += dt * (angular velocity about the world vertical), from the predicted base state."""
        sl = self.layout.state_slices
        up = -self.state[:, sl["projected_gravity"]]
        up = up / up.norm(dim=1, keepdim=True).clamp(min=1e-6)
        yaw_rate = (self.state[:, sl["base_ang_vel"]] * up).sum(dim=1)
        self.yaw = wrap_to_pi(self.yaw + self.dt * yaw_rate)

    # ------------------------------------------------------------------------------------------------------
    # Reset
    # ------------------------------------------------------------------------------------------------------

    def _reset_idx(self, env_ids: torch.Tensor, log: dict | None) -> None:
        """Restart ``env_ids`` from data windows: re-warm the model, new head, fresh timers and commands."""
        n = env_ids.numel()
        if log is not None and n > 0:
            self._log_episodes(env_ids, log)
        states, actions = self.sample_history(n)
        states = states.to(self.device, torch.float32)
        actions = actions.to(self.device, torch.float32)
        if states.shape[0] != n or actions.shape[0] != n or states.shape[-1] != self.layout.state_dim:
            raise ValueError(
                f"sample_history({n}) must return states [{n}, M, {self.layout.state_dim}] and actions "
                f"[{n}, M, {self.layout.action_dim}], got {tuple(states.shape)} and {tuple(actions.shape)}"
            )
        out = self.stepper.reset(env_ids, states, actions)
        state, contact_prob, term_prob, ext, u = self._outputs(out, n)
        # a diverged warm-up prediction falls back to the window's last (real) state
        bad = self._diverged(state, contact_prob, term_prob, ext, u)
        state = torch.where(bad.unsqueeze(1), states[:, -1], state)
        self.state[env_ids] = state
        self.contacts[env_ids] = torch.where(bad.unsqueeze(1), False, contact_prob > self.contact_threshold)
        self.extension[env_ids] = torch.where(bad.unsqueeze(1), 0.0, ext)
        self.termination_prob[env_ids] = 0.0
        self.uncertainty[env_ids] = torch.where(bad, 0.0, u)
        self.last_action[env_ids] = actions[:, -1]
        self.episode_length_buf[env_ids] = 0
        self.air_time.reset(env_ids)
        self._episode_sums[env_ids] = 0.0
        self.yaw[env_ids] = self._uniform(n, *self._yaw_range)
        metrics = self.command.reset(env_ids)
        if log is not None:
            log.update(metrics)
        if self._push is not None and self._push.resample_interval_on_reset:
            self.push_time_left[env_ids] = self._uniform(n, *self._push.interval_range_s)

    def _log_episodes(self, env_ids: torch.Tensor, log: dict) -> None:
        """Isaac Lab style episode logging: mean episodic sum per term / episode length in seconds."""
        episode_s = self.max_episode_length * self.dt
        means = self._episode_sums[env_ids].mean(dim=0) / episode_s
        for i, name in enumerate(self.rewards.names):
            log[f"Episode_Reward/{name}"] = means[i]
        log["Episode_Reward/uncertainty_penalty"] = means[-1]

    # ------------------------------------------------------------------------------------------------------
    # Events
    # ------------------------------------------------------------------------------------------------------

    def _apply_pushes(self) -> None:
        """Interval push: add a uniform world-frame velocity change, rotated into the base by yaw only."""
        self.push_time_left -= self.dt
        ids = (self.push_time_left < 1e-6).nonzero(as_tuple=False).squeeze(-1)
        n = ids.numel()
        if n == 0:
            return
        lo, hi = self._push.interval_range_s
        self.push_time_left[ids] = self._uniform(n, lo, hi)
        ranges = self._push.params.get("velocity_range", {})
        axes = ("x", "y", "z", "roll", "pitch", "yaw")
        delta = torch.stack([self._uniform(n, *ranges.get(k, [0.0, 0.0])) for k in axes], dim=1)
        cos, sin = torch.cos(self.yaw[ids]), torch.sin(self.yaw[ids])
        sl = self.layout.state_slices
        for block, key in ((delta[:, :3], "base_lin_vel"), (delta[:, 3:], "base_ang_vel")):
            rotated = torch.stack(
                [cos * block[:, 0] + sin * block[:, 1], -sin * block[:, 0] + cos * block[:, 1], block[:, 2]], dim=1
            )
            self.state[ids, sl[key]] += rotated

    # ------------------------------------------------------------------------------------------------------
    # Observations
    # ------------------------------------------------------------------------------------------------------

    def _compute_obs(self) -> TensorDict:
        inputs = ObsInputs.from_state(self.layout, self.state, self._default_joint_pos, self.command.command,
                                      self.last_action)  # fmt: skip
        groups = {name: group.compute(inputs) for name, group in self.obs_groups.items()}
        return TensorDict(groups, batch_size=[self.num_envs], device=self.device)
