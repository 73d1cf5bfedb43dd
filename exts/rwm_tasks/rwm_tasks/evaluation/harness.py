"""Score a policy in real physics: the same seeded command schedule for every policy, on either executor.

:func:`evaluate_policy` builds the robot's Play task (no observation noise, no pushes) on the MuJoCo executor
or kit-less Isaac Lab, drives every env through :func:`~.schedule.command_schedule` with the deterministic
policy (mean action) and returns every figure (:func:`~.score.tracking_score` and the rest); with
``out_dir`` it writes ``eval.json`` and ``eval.png`` there (atomically). ``scripts/evaluate.py`` is its
command line; the pipeline calls it directly.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from dataclasses import dataclass

import torch

from ..launch import UserError, check_checkpoint, load_policy, open_real_env, resolve_configs
from ..tasks import layout_of, with_stage
from ..envs.mdp import TaskSpec
from ..world_model.files import write_json
from .schedule import command_schedule, schedule_hash
from .score import alive_mask, tracking_kernel

EVAL_FILE = "eval.json"
PLOT_FILE = "eval.png"
SPEED_BINS = (0.0, 0.25, 0.5, 0.75, 1.0, float("inf"))
"""Edges of the commanded planar speed |c_xy| [m/s] for the score per speed bin."""


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Trace:
    """What one evaluation recorded, [T, E, ...] each."""

    velocity: torch.Tensor  # base-frame (vx, vy, wz)
    command: torch.Tensor  # (vx, vy, wz) during the step
    terminated: torch.Tensor  # bool, a termination term (not a time-out) ended the episode at this step
    reward: torch.Tensor  # the env's total reward of the step (weight x value x dt summed)
    reward_terms: dict[str, torch.Tensor]  # weight x value per term (per second)
    joint_power: torch.Tensor  # sum_j |effort_j x joint_vel_j| [W]
    step_dt: float


def summarize(trace: Trace, lin_std: float, yaw_std: float) -> dict:
    """Every figure of an evaluation from its trace (see the module docstring of :mod:`.score`)."""
    alive = alive_mask(trace.terminated)
    counted = alive | (trace.terminated & (torch.cumsum(trace.terminated.long(), 0) == 1))  # alive + its fall
    lin = tracking_kernel(trace.velocity[..., :2], trace.command[..., :2], lin_std)
    yaw = tracking_kernel(trace.velocity[..., 2:], trace.command[..., 2:], yaw_std)
    steps, envs = trace.terminated.shape
    minutes = envs * steps * trace.step_dt / 60.0
    n_counted = counted.sum().clamp(min=1)
    err = torch.linalg.norm(trace.velocity[..., :2] - trace.command[..., :2], dim=-1)
    speed = torch.linalg.norm(trace.command[..., :2], dim=-1)
    bins = {}
    for lo, hi in zip(SPEED_BINS[:-1], SPEED_BINS[1:]):
        mask = (speed >= lo) & (speed < hi)
        if mask.any():
            key = f"{lo:g}-{hi:g}" if hi != float("inf") else f">={lo:g}"
            bins[key] = {"score": round(float((lin * alive)[mask].mean()), 4), "fraction": round(float(mask.float().mean()), 4)}
    per_second = lambda x: float((x * counted).sum() / n_counted)  # noqa: E731
    return {
        "tracking_score": round(float((lin * alive).mean()), 4),
        "yaw_tracking_score": round(float((yaw * alive).mean()), 4),
        "falls_per_env_minute": round(float(trace.terminated.sum()) / minutes, 4),
        "fraction_of_envs_fallen": round(float((~alive[-1]).float().mean()), 4),
        "mean_vel_xy_error": round(float(err[alive].mean()) if alive.any() else float("nan"), 4),
        "return_per_second": round(per_second(trace.reward) / trace.step_dt, 4),
        "reward_terms_per_second": {k: round(per_second(v), 5) for k, v in trace.reward_terms.items()},
        "mean_joint_power_w": round(per_second(trace.joint_power), 2),
        "score_by_command_speed": bins,
    }


class _CommandDriver:
    """Writes the schedule's command into an executor's velocity-command term and refreshes observations."""

    def __init__(self, env, sim: str, command_name: str):
        self.env, self.sim = env, sim
        if sim == "mujoco":
            self.term = env.command
            self.command = env.command.command
        else:
            self.term = env.unwrapped.command_manager.get_term(command_name)
            self.command = self.term.vel_command_b

    def set(self, command: torch.Tensor):
        """Hold ``command`` [E, 3] (no resampling, heading or standing override); observations with it."""
        self.term.time_left[:] = 1.0e9
        self.term.is_heading_env[:] = False
        self.term.is_standing_env[:] = False
        self.command[:] = command.to(self.command.device)
        if self.sim == "mujoco":
            return self.env.refresh_observations()
        from tensordict import TensorDict

        unwrapped = self.env.unwrapped
        unwrapped.obs_buf = unwrapped.observation_manager.compute()
        return TensorDict(unwrapped.obs_buf, batch_size=[self.env.num_envs])

    def reward_terms(self, step_dt: float) -> dict[str, torch.Tensor]:
        """weight x value of each reward term at the last step (per second)."""
        if self.sim == "mujoco":
            return {k: v / step_dt for k, v in self.env.step_reward_terms.items()}
        manager = self.env.unwrapped.reward_manager
        return {n: manager._step_reward[:, i].clone() for i, n in enumerate(manager.active_terms)}


def check_inputs(task: str, sim: str, num_envs: int, seconds: float, checkpoint: str | None, out_dir: str | None,
                 overwrite: bool) -> None:  # fmt: skip
    """Every input problem as a :class:`UserError`, before anything is built or written."""
    if sim not in ("mujoco", "isaaclab"):
        raise UserError(f"--sim must be mujoco or isaaclab, got '{sim}'")
    if num_envs is None or num_envs <= 0:
        raise UserError(f"--num_envs must be a positive integer, got {num_envs}")
    if not seconds or seconds <= 0:
        raise UserError(f"--seconds must be positive, got {seconds}")
    if out_dir and os.path.exists(os.path.join(out_dir, EVAL_FILE)) and not overwrite:
        raise UserError(f"'{os.path.join(out_dir, EVAL_FILE)}' exists; pass --overwrite or another --out")
    if checkpoint is not None:
        if not os.path.isfile(checkpoint):
            raise UserError(f"checkpoint file '{checkpoint}' does not exist")
        check_checkpoint(checkpoint)


def evaluate_policy(task: str, checkpoint: str | None = None, policy=None, *, sim: str = "mujoco", num_envs: int = 64,
                    seconds: float = 20.0, seed: int = 0, out_dir: str | None = None, video: bool = False,
                    overwrite: bool = False, quiet: bool = False) -> dict:  # fmt: skip
    """Score ``checkpoint`` (an rsl-rl policy file) or ``policy`` (TensorDict -> actions) on ``task``'s robot.

    Returns the figures of :func:`summarize` plus what was evaluated; writes them to ``out_dir/eval.json``
    with ``eval.png`` (and ``eval.mp4`` of env 0 with ``video`` on MuJoCo) when ``out_dir`` is given.
    """
    if (checkpoint is None) == (policy is None):
        raise UserError("give exactly one of a checkpoint or a policy")
    check_inputs(task, sim, num_envs, seconds, checkpoint, out_dir, overwrite)
    play_task = with_stage(task, "Play")  # the robot's Play task: evaluation adds no noise and no pushes
    args = argparse.Namespace(task=play_task, sim=sim, device="cpu", num_envs=num_envs, seed=seed, physics=None,
                              overrides=[], headless=True)  # fmt: skip
    env_cfg, agent_cfg, _ = resolve_configs(args)
    env_cfg.scene.num_envs = num_envs
    env_cfg.episode_length_s = seconds + 1.0  # no time-out resets during the evaluation
    spec = TaskSpec.from_env_cfg(env_cfg, play_task)
    lin_std, yaw_std = _tracking_stds(spec)
    steps = int(round(seconds / spec.step_dt))
    schedule = command_schedule(spec.command, num_envs, steps, spec.step_dt, seed)
    torch.manual_seed(seed)
    start = time.time()
    with open_real_env(args, env_cfg, agent_cfg) as env:
        if checkpoint is not None:
            policy = load_policy(env, agent_cfg, checkpoint, play_task)
        frames = None
        if video and out_dir and sim == "mujoco":
            from ..envs.mujoco.video import FrameRecorder

            os.makedirs(out_dir, exist_ok=True)
            frames = FrameRecorder(env, os.path.join(out_dir, "eval.mp4"))
        driver = _CommandDriver(env, sim, spec.command.name)
        trace = _run(env, policy, driver, layout_of(play_task), schedule, spec.step_dt, frames, quiet)
    figures = summarize(trace, lin_std, yaw_std)
    result = {
        **figures,
        "task": play_task,
        "executor": sim,
        "seed": seed,
        "num_envs": num_envs,
        "seconds": seconds,
        "checkpoint": os.path.abspath(checkpoint) if checkpoint else None,
        "checkpoint_sha256": file_sha256(checkpoint) if checkpoint else None,
        "command_schedule_hash": schedule_hash(schedule),
        "tracking_std": {"lin_vel_xy": lin_std, "ang_vel_z": yaw_std},
        "wall_time_s": round(time.time() - start, 1),
    }
    if out_dir:
        write_json(os.path.join(out_dir, EVAL_FILE), result)
        from .plots import plot_evaluation

        plot_evaluation(trace, result, os.path.join(out_dir, PLOT_FILE))
        if frames is not None and frames.video:
            result["video"] = frames.video
    return result


def _tracking_stds(spec: TaskSpec) -> tuple[float, float]:
    stds = {t.func: float(t.params["std"]) for t in spec.rewards if t.func.startswith("track_")}
    missing = {"track_lin_vel_xy_exp", "track_ang_vel_z_exp"} - set(stds)
    if missing:
        raise UserError(f"task '{spec.task}' has no {sorted(missing)} reward term to take the tracking std from")
    return stds["track_lin_vel_xy_exp"], stds["track_ang_vel_z_exp"]


def _run(env, policy, driver: _CommandDriver, layout, schedule: torch.Tensor, step_dt: float, frames,
         quiet: bool) -> Trace:  # fmt: skip
    sl = layout.state_slices
    steps = schedule.shape[0]
    rec = {k: [] for k in ("velocity", "terminated", "reward", "power")}
    terms: dict[str, list] = {}
    report_every = max(steps // 5, 1)
    with torch.inference_mode():
        for t in range(steps):
            obs = driver.set(schedule[t])
            obs, reward, dones, extras = env.step(policy(obs))
            state = obs["system_state"].cpu()
            rec["velocity"].append(torch.cat((state[:, sl["base_lin_vel"]][:, :2], state[:, sl["base_ang_vel"]][:, 2:]), 1))
            rec["terminated"].append((dones.bool() & ~extras["time_outs"].bool()).cpu())
            rec["reward"].append(reward.cpu().float())
            rec["power"].append((state[:, sl["joint_effort"]] * state[:, sl["joint_vel"]]).abs().sum(dim=1))
            for k, v in driver.reward_terms(step_dt).items():
                terms.setdefault(k, []).append(v.cpu().float())
            if frames is not None:
                frames.capture()
            if not quiet and (t + 1) % report_every == 0:
                print(f"[rwm_tasks] evaluated {t + 1}/{steps} steps", flush=True)
    if frames is not None:
        frames.close()
    return Trace(
        velocity=torch.stack(rec["velocity"]), command=schedule, terminated=torch.stack(rec["terminated"]),
        reward=torch.stack(rec["reward"]), reward_terms={k: torch.stack(v) for k, v in terms.items()},
        joint_power=torch.stack(rec["power"]), step_dt=step_dt,
    )  # fmt: skip
