"""MujocoVecEnv: an rsl-rl ``VecEnv`` that executes an RWM task's Isaac Lab env cfg on plain MuJoCo.

All envs live in one ``mujoco.batch.Batch`` (MuJoCo >= 4.0), stepped in C on ``num_threads`` threads.
Per policy step, mirroring ``ManagerBasedRLEnv.step``: process the action (scale, default offset, clip)
-> ``decimation`` physics steps, each with the explicit actuator torques recomputed from the current joint
state and the contact sensors read (history of the last ``history_length`` physics steps, air/contact
timers) -> episode counters -> terminations -> rewards -> reset of done envs (events, command, logs) ->
command update -> interval events -> observations of every group.

Conventions where MuJoCo and Isaac Lab differ are handled in :mod:`.frames` (quaternion order, free-joint
velocities vs. Isaac Lab's centre-of-mass root velocity). Contact forces: each body's net contact force
from a MuJoCo ``contact`` sensor; its normal part on the flat ground is the world-z component.

Observations, velocity commands, action processing, terminations and rewards are the shared terms of
:mod:`rwm_tasks.envs.mdp` (the code imagination runs too), read from the simulated state. Unsupported task
content (observation, reward, termination, event or actuator terms, terrain) raises a ``ValueError`` naming
the term and the task when the env is built.
"""

from __future__ import annotations

import numpy as np
import torch
from mujoco import batch as mj_batch
from rsl_rl.env import VecEnv
from tensordict import TensorDict

from ...layout import CONTACT_THRESHOLD_N, LAYOUTS, RobotLayout
from ...tasks import layout_of
from ..mdp import (
    AirTimeTracker, JointPositionAction, ObsContext, ObsGroup, ObsGroupSpec, RewardComputer, RewardInputs, TaskSpec,
    TerminationContext, TerminationInputs, Terminations, VelocityCommand,
)  # fmt: skip
from ..mdp.extract import extract_obs_group
from ..mdp.names import value_of
from . import frames
from .actuator import PDActuators
from .events import EventRunner
from .model import PhysicsSettings, build_model
from .observations import SimObsInputs, SimState, system_terms


def _robot_layout(env_cfg, task: str) -> RobotLayout:
    """Robot layout of an ``RWM-<Robot>-...`` task id, else the layout whose joints the action drives."""
    try:
        return layout_of(task)
    except ValueError:
        pass
    joints = list(env_cfg.actions.joint_pos.joint_names)
    for layout in LAYOUTS.values():
        if joints == list(layout.joint_names):
            return layout
    raise ValueError(f"task '{task}': cannot tell the robot from action joints {joints}")


class MujocoVecEnv(VecEnv):
    """A task's MDP on MuJoCo for ``num_envs`` envs (defaults to the cfg's ``scene.num_envs``).

    Args:
        env_cfg: the task's Isaac Lab env cfg (``resolve_task_config(task, ...)[0]``).
        task: the gym id (names errors, picks the robot layout).
        num_envs: number of envs; ``None`` keeps ``env_cfg.scene.num_envs``.
        seed: seed of all sampling (commands, events, noise); ``None`` takes ``env_cfg.seed`` (or 0).
        num_threads: MuJoCo batch threads.
        clip_actions: optional symmetric clip of incoming actions (as ``RslRlVecEnvWrapper``).
        device: device of the returned tensors (simulation and bookkeeping run on the CPU).
    """

    def __init__(self, env_cfg, task: str | None = None, num_envs: int | None = None, seed: int | None = None,
                 num_threads: int = 2, clip_actions: float | None = None, device: str = "cpu"):  # fmt: skip
        self.cfg = env_cfg
        self.task = task or type(env_cfg).__name__
        self.spec = TaskSpec.from_env_cfg(env_cfg, self.task)
        self.layout = _robot_layout(env_cfg, self.task)
        self.num_envs = int(num_envs or env_cfg.scene.num_envs)
        self.num_actions = self.layout.action_dim
        self.device = device
        self.clip_actions = clip_actions
        self.step_dt = self.spec.step_dt
        self.max_episode_length_s = self.spec.episode_length_s
        self.max_episode_length = self.spec.max_episode_length
        seed = seed if seed is not None else (getattr(env_cfg, "seed", None) or 0)
        self.gen = torch.Generator().manual_seed(int(seed))
        self._check_scene()

        robot = env_cfg.scene.robot
        self.actuators = PDActuators(robot.actuators, self.layout.joint_names, self.task)
        self.settings = PhysicsSettings.from_env_cfg(env_cfg)
        self.model, self.index = build_model(self.layout, self.settings, self.actuators.armature)
        self.batch = mj_batch.Batch(self.model, nsim=self.num_envs, nthread=num_threads)
        self._qpos, self._qvel = self.batch.bind("qpos"), self.batch.bind("qvel")
        self._ctrl, self._sensordata = self.batch.bind("ctrl"), self.batch.bind("sensordata")
        self._init_defaults(robot)
        self._init_buffers()

        self.command = VelocityCommand(self.spec.command, self.num_envs, self.gen)
        self.action_term = JointPositionAction(self.spec.action, self.layout.joint_names, self.default_joint_pos,
                                               self.task)  # fmt: skip
        term_ctx = TerminationContext(self._contact_reader, True, self.layout.robot)
        self.terminations = Terminations(self.spec.terminations, term_ctx, self.task)
        self._last_episode_dones = torch.zeros(self.num_envs, len(self.terminations.names), dtype=torch.bool)
        self.rewards = RewardComputer(self.spec, self.layout, soft_joint_pos_limits=self.soft_joint_pos_limits)
        self._episode_sums = torch.zeros(self.num_envs, len(self.rewards.names))
        self.step_reward_terms: dict[str, torch.Tensor] = {}
        """Weighted reward of each term at the last step (weight x value x dt), [E] each."""
        self.obs_groups = self._bind_observations()
        self.events = EventRunner(self, self.spec.events, self.task)
        self.events.startup()
        self.extras: dict = {"log": {}}
        self.reset()

    # ------------------------------------------------------------------------------------------------------
    # Set-up
    # ------------------------------------------------------------------------------------------------------

    def _fail(self, what: str, why: str) -> ValueError:
        return ValueError(f"task '{self.task}': {what}: {why}")

    def _check_scene(self) -> None:
        terrain = self.cfg.scene.terrain
        if getattr(terrain, "terrain_generator", None) is not None or getattr(terrain, "terrain_type", "plane") not in (
            "plane", "usd",
        ):  # fmt: skip
            raise self._fail("scene terrain", "only flat ground is supported by the MuJoCo executor")
        for name in ("height_scanner",):
            if getattr(self.cfg.scene, name, None) is not None:
                raise self._fail(f"scene sensor '{name}'", "not supported by the MuJoCo executor")
        if getattr(self.cfg, "curriculum", None) is not None:
            active = [k for k, v in vars(self.cfg.curriculum).items() if v is not None and not k.startswith("_")]
            if active:
                raise self._fail(f"curriculum terms {active}", "not supported by the MuJoCo executor")

    def _init_defaults(self, robot) -> None:
        init = robot.init_state
        names = self.layout.joint_names

        def per_joint(table, what) -> torch.Tensor:
            try:
                return torch.tensor([value_of(table, n) for n in names], dtype=torch.float32)
            except KeyError as err:
                raise self._fail(f"robot init_state.{what}", str(err)) from None

        self.default_joint_pos = per_joint(init.joint_pos, "joint_pos")
        self.default_joint_vel = per_joint(init.joint_vel, "joint_vel")
        self.default_root_state = (
            torch.tensor(init.pos, dtype=torch.float32),
            frames.xyzw_to_wxyz(torch.tensor(init.rot, dtype=torch.float32)),
            torch.tensor(init.lin_vel, dtype=torch.float32),
            torch.tensor(init.ang_vel, dtype=torch.float32),
        )
        limits = torch.tensor(self.index.joint_limits, dtype=torch.float32)
        mid, half = limits.mean(dim=1), 0.5 * (limits[:, 1] - limits[:, 0])
        factor = float(getattr(robot, "soft_joint_pos_limit_factor", 1.0))
        self.soft_joint_pos_limits = torch.stack((mid - factor * half, mid + factor * half), dim=1)

    def _init_buffers(self) -> None:
        n, j = self.num_envs, self.layout.num_joints
        sensor = getattr(self.cfg.scene, "contact_forces", None)
        history = max(int(getattr(sensor, "history_length", 1) or 1), 1)
        self.contact_force_threshold = float(getattr(sensor, "force_threshold", None) or 0.0)
        self.contact_history = torch.zeros(n, history, len(self.index.body_names))
        self._force_z = self.index.sensor_adr + 3  # world-z of each body's net contact force
        self.contact_channels = self.index.bodies(list(self.layout.contact_bodies), "layout contact bodies")
        self.air_time = AirTimeTracker(n, len(self.contact_channels))
        self.action = torch.zeros(n, j)
        self.prev_action = torch.zeros(n, j)
        self.applied_effort = torch.zeros(n, j)
        self.joint_acc = torch.zeros(n, j)
        self.episode_length_buf = torch.zeros(n, dtype=torch.long)
        self.common_step_counter = 0
        self.base_com_b = torch.tensor(self.model.body_ipos[self.index.base_body_id], dtype=torch.float32).repeat(n, 1)
        self._state: SimState | None = None

    def _bind_observations(self) -> dict[str, ObsGroup]:
        ctx = ObsContext(self.layout.joint_names, self.spec.command.name, self.spec.action.name, self.task)
        extra, groups = system_terms(self), {}
        for name, group_cfg in vars(self.cfg.observations).items():
            if group_cfg is None or name.startswith("_"):
                continue
            spec = self.spec.observations.get(name)
            if spec is None:  # groups the task spec only names (system_*): read them here
                spec = ObsGroupSpec.from_dict(extract_obs_group(name, group_cfg, self.task))
            groups[name] = ObsGroup(spec, ctx, self.gen, extra_terms=extra)
        return groups

    def _contact_reader(self, entity, threshold: float):
        """Contacts of the bodies ``entity`` selects for ``illegal_contact``: max force over the history."""
        ids = self.body_ids_of(entity, "illegal_contact sensor_cfg", positions=True)
        return lambda: self.contact_history[:, :, ids].amax(dim=1) > threshold

    # ------------------------------------------------------------------------------------------------------
    # Access used by events, observations and tests
    # ------------------------------------------------------------------------------------------------------

    def body_ids_of(self, entity: dict | None, what: str, positions: bool = False) -> list[int]:
        """MuJoCo body ids (or positions in ``index.body_names``) selected by a scene-entity dict."""
        patterns = (entity or {}).get("body_names") or ".*"
        try:
            pos = self.index.bodies(patterns, what)
        except ValueError as err:
            raise self._fail(what, str(err)) from None
        return pos if positions else [int(self.index.body_ids[i]) for i in pos]

    def refresh_base_com(self) -> None:
        ipos = self.batch.expanded("body_ipos")
        if ipos is not None:
            self.base_com_b = torch.tensor(ipos[:, self.index.base_body_id], dtype=torch.float32)
        self._state = None

    def root_state(self, ids: torch.Tensor):
        """(pos, quat (w, x, y, z), centre-of-mass linear velocity world, angular velocity world) of ``ids``."""
        qp = torch.from_numpy(self._qpos[ids.numpy()]).float()
        qv = torch.from_numpy(self._qvel[ids.numpy()]).float()
        quat = qp[:, 3:7]
        lin_w, ang_w = frames.com_velocity_w(quat, qv[:, :3], qv[:, 3:6], self.base_com_b[ids])
        return qp[:, :3], quat, lin_w, ang_w

    def write_root_state(self, ids, pos, quat, com_lin_vel_w, ang_vel_w) -> None:
        """Set root pose (quat (w, x, y, z)) and Isaac Lab root velocity (centre of mass, world) of ``ids``."""
        quat = quat / quat.norm(dim=-1, keepdim=True)
        v_origin, w_body = frames.origin_velocity(quat, com_lin_vel_w, ang_vel_w, self.base_com_b[ids])
        rows = ids.numpy()
        self._qpos[rows, :3] = pos.double().numpy()
        self._qpos[rows, 3:7] = quat.double().numpy()
        self._qvel[rows, :3] = v_origin.double().numpy()
        self._qvel[rows, 3:6] = w_body.double().numpy()
        self._state = None

    def write_root_state_isaaclab(self, ids, pose_xyzw: torch.Tensor, vel_w: torch.Tensor) -> None:
        """Isaac Lab's ``write_root_pose/velocity``: pose [n, 7] (pos, quat x, y, z, w), velocity [n, 6]."""
        self.write_root_state(ids, pose_xyzw[:, :3], frames.xyzw_to_wxyz(pose_xyzw[:, 3:7]), vel_w[:, :3], vel_w[:, 3:])

    def write_joint_state(self, ids, joint_pos: torch.Tensor, joint_vel: torch.Tensor) -> None:
        rows = ids.numpy()[:, None]
        self._qpos[rows, self.index.qpos_adr] = joint_pos.double().numpy()
        self._qvel[rows, self.index.qvel_adr] = joint_vel.double().numpy()
        self._state = None

    @property
    def state(self) -> SimState:
        """Snapshot of the current robot state (recomputed after any write)."""
        if self._state is None:
            qp = torch.from_numpy(self._qpos).float()
            qv = torch.from_numpy(self._qvel).float()
            quat = qp[:, 3:7]
            lin_w, _ = frames.com_velocity_w(quat, qv[:, :3], qv[:, 3:6], self.base_com_b)
            self._state = SimState(
                root_pos=qp[:, :3],
                root_quat=quat,
                lin_vel_b=frames.quat_rotate_inverse(quat, lin_w),
                ang_vel_b=qv[:, 3:6],
                projected_gravity=frames.projected_gravity(quat),
                heading=frames.heading(quat),
                joint_pos=qp[:, self.index.qpos_adr],
                joint_vel=qv[:, self.index.qvel_adr],
            )
        return self._state

    def contacts(self) -> torch.Tensor:
        """Binary contacts of the layout's contact bodies (thighs then feet) over the sensor history."""
        forces = self.contact_history[:, :, self.contact_channels].amax(dim=1)
        return (forces > CONTACT_THRESHOLD_N).float()

    # ------------------------------------------------------------------------------------------------------
    # VecEnv
    # ------------------------------------------------------------------------------------------------------

    def get_observations(self) -> TensorDict:
        return self._obs

    def refresh_observations(self) -> TensorDict:
        """Recompute the observations from the current state and command (after writing a command)."""
        with torch.inference_mode():
            self._obs = self._compute_observations()
        return self._obs

    def reset(self) -> tuple[TensorDict, dict]:
        """Reset all envs (Isaac Lab's ``env.reset``) and return the observations."""
        with torch.inference_mode():
            self._reset_idx(torch.arange(self.num_envs))
            self._obs = self._compute_observations()
        return self._obs, self.extras

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        # the batch's threads own the cores while it steps: torch's own OpenMP workers would spin against
        # them (measured: 2.4k instead of 13k env-steps/s for Go2 at 256 envs on 2 cores)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.inference_mode():  # buffers are updated in place: keep them inference tensors
                return self._step(actions)
        finally:
            torch.set_num_threads(threads)

    def _step(self, actions: torch.Tensor):
        actions = actions.detach().to("cpu", torch.float32)
        if self.clip_actions is not None:
            actions = actions.clamp(-self.clip_actions, self.clip_actions)
        self.prev_action = self.action
        self.action = actions.clone()
        self._physics(actions)

        self.episode_length_buf += 1
        self.common_step_counter += 1
        state = self.state
        terminated, time_outs = self.compute_terminations(state)
        reward = self._compute_reward(state, terminated)
        done = terminated | time_outs
        reset_ids = done.nonzero().flatten()
        if len(reset_ids):
            if getattr(self.cfg, "compute_final_obs", False):  # terminal observations, as Isaac Lab reports them
                self.extras["final_obs"] = self._compute_observations()
            self._reset_idx(reset_ids)
        state = self.state
        self.command.compute(self.step_dt, state.lin_vel_b, state.ang_vel_b, state.heading)
        self.events.interval(self.step_dt)
        self._obs = self._compute_observations()
        self.extras["time_outs"] = time_outs.to(self.device)
        return self._obs, reward.to(self.device), done.long().to(self.device), self.extras

    def close(self) -> None:
        self.batch = None

    # ------------------------------------------------------------------------------------------------------
    # Internals
    # ------------------------------------------------------------------------------------------------------

    def _physics(self, actions: torch.Tensor) -> None:
        target = self.action_term.process(actions).double().numpy()
        qadr, vadr, aid = self.index.qpos_adr, self.index.qvel_adr, self.index.actuator_ids
        dt = self.settings.timestep
        hist = self.contact_history
        for k in range(self.spec.decimation):
            q, qd = self._qpos[:, qadr], self._qvel[:, vadr]
            torque = self.actuators.torque(target, q, qd)
            self._ctrl[:, aid] = torque
            self.batch.step()
            force = torch.from_numpy(np.abs(self._sensordata[:, self._force_z])).float()
            hist[:, 1:] = hist[:, :-1].clone()
            hist[:, 0] = force
            self.air_time.update(force[:, self.contact_channels] > self.contact_force_threshold, dt)
        self.applied_effort = torch.from_numpy(torque).float()
        self.joint_acc = torch.from_numpy((self._qvel[:, vadr] - qd) / dt).float()
        self._state = None

    def compute_terminations(self, state: SimState) -> tuple[torch.Tensor, torch.Tensor]:
        """(terminated, time_outs) [E] of the task's termination terms in ``state``."""
        inputs = TerminationInputs(self.episode_length_buf, self.max_episode_length, state.projected_gravity,
                                   state.root_pos[:, 2])  # fmt: skip
        dones, terminated, time_outs = self.terminations.compute(inputs)
        if dones:
            done = torch.stack(list(dones.values()), dim=1)
            self._last_episode_dones = torch.where(done.any(dim=1, keepdim=True), done, self._last_episode_dones)
        return terminated, time_outs

    def obs_inputs(self, state: SimState) -> SimObsInputs:
        """What the observation terms read, from ``state`` and the env's buffers."""
        return SimObsInputs(
            base_lin_vel=state.lin_vel_b,
            base_ang_vel=state.ang_vel_b,
            projected_gravity=state.projected_gravity,
            joint_pos=state.joint_pos,
            joint_pos_rel=state.joint_pos - self.default_joint_pos,
            joint_vel=state.joint_vel,
            joint_vel_rel=state.joint_vel - self.default_joint_vel,
            joint_effort=self.applied_effort,
            command=self.command.command,
            last_action=self.action,
            root_pos=state.root_pos,
        )

    def reward_inputs(self, state: SimState, terminated: torch.Tensor | None = None) -> RewardInputs:
        """What the shared reward terms read, from the current state and buffers."""
        return RewardInputs(
            base_lin_vel=state.lin_vel_b,
            base_ang_vel=state.ang_vel_b,
            projected_gravity=state.projected_gravity,
            joint_pos_rel=state.joint_pos - self.default_joint_pos,
            joint_vel=state.joint_vel - self.default_joint_vel,
            joint_effort=self.applied_effort,
            action=self.action,
            prev_action=self.prev_action,
            command=self.command.command,
            dt=self.step_dt,
            contacts=self.contacts(),
            last_air_time=self.air_time.last_air_time,
            first_contact=self.air_time.first_contact(self.step_dt),
            joint_acc=self.joint_acc,
            extension={"base_height": state.root_pos[:, 2:3]},
            terminated=terminated,
        )

    def _compute_reward(self, state: SimState, terminated: torch.Tensor) -> torch.Tensor:
        terms = self.rewards.compute(self.reward_inputs(state, terminated))
        total, per_term = self.rewards.weighted(terms, self.step_dt)
        self.step_reward_terms = per_term
        for k, name in enumerate(self.rewards.names):
            self._episode_sums[:, k] += per_term[name]
        return total if total is not None else torch.zeros(self.num_envs)

    def _reset_idx(self, ids: torch.Tensor) -> None:
        self.events.reset(ids)
        means = self._episode_sums[ids].mean(dim=0) / self.max_episode_length_s
        log = {f"Episode_Reward/{n}": means[k] for k, n in enumerate(self.rewards.names)}
        self._episode_sums[ids] = 0.0
        log.update(self.command.reset(ids))
        rate = self._last_episode_dones.float().mean(dim=0)
        log.update({f"Episode_Termination/{n}": rate[k] for k, n in enumerate(self.terminations.names)})
        self.extras["log"] = log
        self.action[ids] = 0.0
        self.prev_action[ids] = 0.0
        self.contact_history[ids] = 0.0
        self.air_time.reset(ids)
        self.episode_length_buf[ids] = 0
        self.batch.forward(np.sort(ids.numpy()))
        self._state = None

    def _compute_observations(self) -> TensorDict:
        inputs = self.obs_inputs(self.state)
        obs = {name: group.compute(inputs).to(self.device) for name, group in self.obs_groups.items()}
        return TensorDict(obs, batch_size=[self.num_envs], device=self.device)
