"""Model-free PPO on the MuJoCo executor with the stock rsl-rl ``OnPolicyRunner``.

``scripts/train.py --sim mujoco`` calls :func:`train` with the resolved cfgs; ``python -m
rwm_tasks.envs.mujoco.train --task RWM-Go2-Init-v0`` runs it standalone. The runner cfg is the task's
registered ``rsl_rl_cfg_entry_point`` with the device set to CPU; logs and checkpoints go to
``logs/rsl_rl/<experiment>/<timestamp>/`` (TensorBoard), configs to ``params/`` as Isaac Lab does.

``max_minutes`` is a wall-time budget for CPU runs: when it is used up the run stops after the current
env step and saves ``model_<iteration>.pt``, as at the end of a normal run.

``only_positive_rewards`` (off by default) clips the per-step total reward at zero, as legged_gym does for
its flat tasks. Why it exists: with the project's Go2 stand-in, a random policy collects about -2.7 reward
per second of penalties against +0.5 of tracking (measured alike on Isaac Lab and on this executor: the
terms agree), the task has no termination penalty, so PPO with 1024 envs learns to end episodes by falling
(base contact) within ~60 iterations. Clipping removes that incentive; the logged ``Episode_Reward/*``
terms stay the task's own.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from .env import MujocoVecEnv


class _TimeBudget(Exception):
    pass


class _TrainEnv:
    """Forwards to a :class:`MujocoVecEnv`; ``step`` raises ``_TimeBudget`` once ``deadline`` passed and
    optionally clips the reward at zero."""

    _own = ("_env", "_deadline", "_positive")

    def __init__(self, env: MujocoVecEnv, deadline: float | None, only_positive_rewards: bool = False):
        self._env, self._deadline, self._positive = env, deadline, only_positive_rewards

    def __getattr__(self, name):
        return getattr(self._env, name)

    def __setattr__(self, name, value):
        if name in self._own:
            object.__setattr__(self, name, value)
        else:
            setattr(self._env, name, value)

    def step(self, actions):
        if self._deadline is not None and time.time() > self._deadline:
            raise _TimeBudget()
        obs, rew, dones, extras = self._env.step(actions)
        return obs, (rew.clamp(min=0.0) if self._positive else rew), dones, extras


def train(task: str, env_cfg, agent_cfg, log_dir: str, num_envs: int | None = None, resume_path: str | None = None,
          num_threads: int = 2, max_minutes: float | None = None, only_positive_rewards: bool = False) -> str:  # fmt: skip
    """Train ``agent_cfg.max_iterations`` PPO iterations (or until ``max_minutes``); returns the last checkpoint."""
    from isaaclab_rl.rsl_rl import check_rsl_rl_version, create_rsl_rl_runner, handle_deprecated_rsl_rl_cfg

    agent_cfg.device = "cpu"
    env_cfg.sim.device = "cpu"
    env_cfg.seed = agent_cfg.seed
    agent_cfg = handle_deprecated_rsl_rl_cfg(agent_cfg, check_rsl_rl_version())
    torch.manual_seed(agent_cfg.seed)
    env = MujocoVecEnv(env_cfg, task=task, num_envs=num_envs, seed=agent_cfg.seed, num_threads=num_threads,
                       clip_actions=agent_cfg.clip_actions)  # fmt: skip
    print(f"[rwm_tasks] {task} on MuJoCo {env.model.nq}-dof model: {env.num_envs} envs, {num_threads} threads")
    deadline = None if max_minutes is None else time.time() + 60.0 * max_minutes
    runner = create_rsl_rl_runner(_TrainEnv(env, deadline, only_positive_rewards), agent_cfg, log_dir=log_dir)
    if resume_path:
        print(f"[rwm_tasks] resuming from {resume_path}")
        runner.load(resume_path, map_location="cpu")
    _dump_configs(log_dir, env_cfg, agent_cfg)
    start = time.time()
    try:
        runner.learn(agent_cfg.max_iterations, init_at_random_ep_len=True)
    except _TimeBudget:
        it = runner.current_learning_iteration
        print(f"[rwm_tasks] time budget of {max_minutes} min used up at iteration {it}")
        runner.save(os.path.join(log_dir, f"model_{runner.current_learning_iteration}.pt"))
        runner.logger.stop_logging_writer()
    last = os.path.join(log_dir, f"model_{runner.current_learning_iteration}.pt")
    print(f"[rwm_tasks] trained in {time.time() - start:.1f} s; last checkpoint {last}")
    return last


def _dump_configs(log_dir: str, env_cfg, agent_cfg) -> None:
    from isaaclab.utils.io import dump_yaml

    dump_yaml(os.path.join(log_dir, "params", "env.yaml"), env_cfg)
    dump_yaml(os.path.join(log_dir, "params", "agent.yaml"), agent_cfg)


CURVES = (
    ("Episode_Reward/track_lin_vel_xy_exp", "track_lin_vel_xy_exp (per episode second)"),
    ("Episode_Reward/track_ang_vel_z_exp", "track_ang_vel_z_exp (per episode second)"),
    ("Train/mean_episode_length", "mean episode length [steps]"),
    ("Metrics/base_velocity/error_vel_xy", "mean |v_xy - cmd_xy| per episode [m/s]"),
)


def plot_curves(log_dir: str, out_path: str | None = None) -> str:
    """PNG of a run's learning curves (tracking rewards, episode length, tracking error) from TensorBoard."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(log_dir, size_guidance={"scalars": 0})
    acc.Reload()
    fig, axes = plt.subplots(len(CURVES), 1, figsize=(8, 2.4 * len(CURVES)), sharex=True)
    for ax, (tag, label) in zip(axes, CURVES):
        if tag in acc.Tags()["scalars"]:
            events = acc.Scalars(tag)
            ax.plot([e.step for e in events], [e.value for e in events])
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_title(os.path.basename(os.path.normpath(log_dir)))
    axes[-1].set_xlabel("PPO iteration")
    fig.tight_layout()
    out_path = out_path or os.path.join(log_dir, "learning_curves.png")
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return out_path


def forward_tracking(env: MujocoVecEnv, policy, speeds=(0.5, 1.0), seconds: float = 10.0) -> dict:
    """Hold a forward command ``(v, 0, 0)`` on all envs for ``seconds``; mean base x-velocity over the last
    half, |y| and |yaw rate| errors, and the fraction of envs that fell (base contact), per ``v``."""
    out = {}
    steps = int(round(seconds / env.step_dt))
    for v in speeds:
        obs, _ = env.reset()
        cmd = env.command
        fell = torch.zeros(env.num_envs, dtype=torch.bool)
        vx, vy, wz = [], [], []
        with torch.inference_mode():
            for k in range(steps):
                cmd.time_left[:] = 1e9
                cmd.is_heading_env[:] = False
                cmd.is_standing_env[:] = False
                cmd.command[:] = torch.tensor([v, 0.0, 0.0])
                obs = obs if k else env.get_observations()
                obs, _, dones, extras = env.step(policy(obs))
                fell |= dones.bool() & ~extras["time_outs"].bool()
                if k >= steps // 2:
                    s = env.state
                    vx.append(s.lin_vel_b[:, 0].mean())
                    vy.append(s.lin_vel_b[:, 1].abs().mean())
                    wz.append(s.ang_vel_b[:, 2].abs().mean())
        mean = lambda xs: round(float(torch.stack(xs).mean()), 3)  # noqa: E731
        out[f"{v:g}"] = {"vx_mean": mean(vx), "abs_vy": mean(vy), "abs_wz": mean(wz),
                         "fell": round(float(fell.float().mean()), 3)}  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="PPO on the MuJoCo executor (stock rsl-rl OnPolicyRunner).")
    parser.add_argument("--task", default="RWM-Go2-Init-v0")
    parser.add_argument("--num_envs", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max_iterations", type=int, default=None)
    parser.add_argument("--max_minutes", type=float, default=None, help="Wall-time budget; stops and saves.")
    parser.add_argument("--num_threads", type=int, default=2, help="MuJoCo batch threads.")
    parser.add_argument("--torch_threads", type=int, default=1, help="Torch threads (1 is fastest on 2 shared cores).")
    parser.add_argument("--only_positive_rewards", action="store_true", help="Clip per-step reward at 0 (see doc).")
    parser.add_argument("--run_name", default="mujoco")
    parser.add_argument("--resume", default=None, help="Checkpoint file to resume from.")
    args = parser.parse_args(argv)
    from datetime import datetime

    from .tasks import load_task_cfg

    torch.set_num_threads(args.torch_threads)
    env_cfg, agent_cfg = load_task_cfg(args.task)
    if args.seed is not None:
        agent_cfg.seed = args.seed
    if args.max_iterations is not None:
        agent_cfg.max_iterations = args.max_iterations
    agent_cfg.run_name = args.run_name
    name = datetime.now().strftime("%Y-%m-%d_%H-%M-%S") + (f"_{args.run_name}" if args.run_name else "")
    log_dir = os.path.abspath(os.path.join("logs", "rsl_rl", agent_cfg.experiment_name, name))
    train(args.task, env_cfg, agent_cfg, log_dir, args.num_envs, args.resume, args.num_threads, args.max_minutes,
          args.only_positive_rewards)
    print(f"[rwm_tasks] learning curves: {plot_curves(log_dir)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
