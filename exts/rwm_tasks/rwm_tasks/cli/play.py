"""Play a trained policy: ``python scripts/play.py --task RWM-Go2-Play-v0 --steps 50``.

Loads the latest (or a given) checkpoint of the matching training experiment, runs the policy in the real
env and exports it next to the checkpoint as ``exported/policy.pt`` (TorchScript) and
``exported/policy.onnx``.
"""

from __future__ import annotations

import argparse
import os
import sys

from .common import UserError, add_task_args, check_checkpoint, find_checkpoint, log_root, resolve_configs, run_main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Play and export a policy trained on an RWM task.",
        epilog="Example: python scripts/play.py --task RWM-Go2-Play-v0 --steps 50",
    )
    add_task_args(parser)
    parser.add_argument("--steps", type=int, default=None, help="Stop after this many env steps (default: run until Ctrl-C).")
    parser.add_argument("--load_run", default=None, help="Run folder (name or regex); default latest.")
    parser.add_argument("--checkpoint", default=None, help="Checkpoint file, or file-name regex within the run.")
    parser.add_argument(
        "--experiment", default=None,
        help="Experiment folder under logs/rsl_rl to load from (default: the Init stage's of the same robot).",
    )  # fmt: skip
    return parser


def train_experiment_of(agent_cfg) -> str:
    """Play tasks load the policy trained by the robot's Init stage unless told otherwise."""
    return agent_cfg.experiment_name.replace("_play", "_init")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sys.argv = sys.argv[:1]
    env_cfg, agent_cfg, _ = resolve_configs(args)
    if args.num_envs is None and "Play" in args.task:
        env_cfg.scene.num_envs = min(env_cfg.scene.num_envs, 16)
    experiment = args.experiment or train_experiment_of(agent_cfg)
    root = os.path.join(os.path.dirname(log_root(agent_cfg)), experiment)
    checkpoint = find_checkpoint(root, args.load_run, args.checkpoint)
    check_checkpoint(checkpoint)
    return _play(args, env_cfg, agent_cfg, checkpoint)


def _play(args, env_cfg, agent_cfg, checkpoint: str) -> int:
    import gymnasium as gym
    import torch
    from isaaclab.app import launch_simulation
    from isaaclab_rl.rsl_rl import (
        RslRlVecEnvWrapper, check_rsl_rl_version, create_rsl_rl_runner, handle_deprecated_rsl_rl_cfg,
    )  # fmt: skip

    agent_cfg = handle_deprecated_rsl_rl_cfg(agent_cfg, check_rsl_rl_version())
    with launch_simulation(env_cfg, args):
        env = gym.make(args.task, cfg=env_cfg)
        try:
            env = RslRlVecEnvWrapper(env, clip_actions=agent_cfg.clip_actions)
            runner = create_rsl_rl_runner(env, agent_cfg, log_dir=None)
            try:
                runner.load(checkpoint, map_location=agent_cfg.device)
            except (RuntimeError, KeyError) as err:
                raise UserError(f"checkpoint '{checkpoint}' does not fit task '{args.task}': {err}") from err
            print(f"[rwm_tasks] loaded {checkpoint}")
            export_dir = os.path.join(os.path.dirname(checkpoint), "exported")
            runner.export_policy_to_jit(path=export_dir, filename="policy.pt")
            runner.export_policy_to_onnx(path=export_dir, filename="policy.onnx")
            print(f"[rwm_tasks] exported {export_dir}/policy.pt and policy.onnx")
            policy = runner.get_inference_policy(device=env.unwrapped.device)
            obs = env.get_observations()
            step, total_reward = 0, 0.0
            while args.steps is None or step < args.steps:
                with torch.inference_mode():
                    obs, reward, _, _ = env.step(policy(obs))
                total_reward += float(reward.mean())
                step += 1
            print(f"[rwm_tasks] played {step} steps, mean reward per step {total_reward / max(step, 1):.4f}")
        except KeyboardInterrupt:
            pass
        finally:
            env.close()
    return 0


if __name__ == "__main__":
    run_main(main)
