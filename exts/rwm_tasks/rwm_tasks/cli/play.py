"""Play a trained policy: ``python scripts/play.py --task RWM-Go2-Play-v0 --steps 50``.

Loads the latest (or a given) checkpoint of the matching training experiment, runs the policy in the real
env and exports it next to the checkpoint as ``exported/policy.pt`` (TorchScript) and
``exported/policy.onnx``. With ``--imagination`` it also replays the real run's actions in the world model
(open loop, from the first ``history`` real steps) and plots real against imagined states.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

from ..tasks import experiment_name, layout_of, robot_of, stage_of, task_id
from ..launch import (
    UserError, check_checkpoint, find_checkpoint, log_root, make_runner, open_real_env, resolve_configs,
)  # fmt: skip
from .common import add_task_args, run_main


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
    parser.add_argument(
        "--video", default=None,
        help="With --sim mujoco: write an mp4 of env 0 (offscreen) and a velocity-vs-command plot beside it.",
    )  # fmt: skip
    parser.add_argument(
        "--imagination", action="store_true",
        help="Also roll the world model along the real run and plot real vs imagined states (needs a world model).",
    )  # fmt: skip
    parser.add_argument(
        "--world_model", default=None,
        help="World-model checkpoint for --imagination (default: world_model.pt beside the policy checkpoint).",
    )  # fmt: skip
    return parser


def train_experiment_of(task: str) -> str:
    """Play tasks load the policy trained by the robot's Init stage unless told otherwise."""
    return experiment_name(task_id(robot_of(task), "Init"))


def load_world_model(path: str, task: str):
    """The world-model checkpoint ``path`` for ``task``'s robot, or a :class:`UserError` saying why not."""
    from ..world_model.checkpoint import load_checkpoint

    if not os.path.isfile(path):
        raise UserError(f"world-model checkpoint '{path}' does not exist (pass --world_model FILE)")
    try:
        return load_checkpoint(path, layout_of(task))
    except (ValueError, KeyError, RuntimeError) as err:
        raise UserError(f"--imagination: {err}") from err


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sys.argv = sys.argv[:1]
    if args.steps is not None and args.steps < 1:
        raise UserError(f"--steps must be a positive integer, got {args.steps}")
    env_cfg, agent_cfg, _ = resolve_configs(args)
    if args.num_envs is None and stage_of(args.task) == "Play":
        env_cfg.scene.num_envs = min(env_cfg.scene.num_envs, 16)
    experiment = args.experiment or train_experiment_of(args.task)
    root = os.path.join(os.path.dirname(log_root(agent_cfg)), experiment)
    checkpoint = find_checkpoint(root, args.load_run, args.checkpoint)
    check_checkpoint(checkpoint)
    world_model = None
    if args.imagination:
        from ..training.stages import WORLD_MODEL_FILE

        world_model = load_world_model(args.world_model or os.path.join(os.path.dirname(checkpoint), WORLD_MODEL_FILE),
                                       args.task)  # fmt: skip
        if args.steps is None:
            args.steps = 200
    return _play(args, env_cfg, agent_cfg, checkpoint, world_model)


def _play(args, env_cfg, agent_cfg, checkpoint: str, world_model=None) -> int:
    from ..world_model.files import atomic_files

    if world_model is not None:
        env_cfg.compute_final_obs = True
    if args.video and args.sim != "mujoco":
        raise UserError("--video needs --sim mujoco (Isaac Lab records with its own viewer/visualizers)")
    with open_real_env(args, env_cfg, agent_cfg) as env:
        try:
            runner = make_runner(env, agent_cfg, None)
            try:
                runner.load(checkpoint, map_location=agent_cfg.device)
            except (RuntimeError, KeyError) as err:
                raise UserError(f"checkpoint '{checkpoint}' does not fit task '{args.task}': {err}") from err
            print(f"[rwm_tasks] loaded {checkpoint}")
            export_dir = os.path.join(os.path.dirname(checkpoint), "exported")
            with atomic_files(export_dir) as tmp:
                runner.export_policy_to_jit(path=str(tmp), filename="policy.pt")
                runner.export_policy_to_onnx(path=str(tmp), filename="policy.onnx")
            print(f"[rwm_tasks] exported {export_dir}/policy.pt and policy.onnx")
            policy = runner.get_inference_policy(device=env.device)
            if args.video:
                from ..envs.mujoco import record

                out = record(env, policy, args.steps or 500, args.video)
                print(f"[rwm_tasks] video: {out['video'] or 'not written (' + str(out.get('reason')) + ')'}; "
                      f"plot: {out['plot']}")  # fmt: skip
            recorder = _imagination_recorder(args, env, world_model)
            obs = env.get_observations()
            step, total_reward = 0, 0.0
            while args.steps is None or step < args.steps:
                with torch.inference_mode():
                    obs, reward, dones, extras = env.step(policy(obs))
                if recorder is not None:
                    recorder.record(obs, dones, extras)
                total_reward += float(reward.mean())
                step += 1
            print(f"[rwm_tasks] played {step} steps, mean reward per step {total_reward / max(step, 1):.4f}")
            if recorder is not None:
                history = world_model.train_config.history if world_model.train_config else \
                    agent_cfg.world_model.history_length  # fmt: skip
                out_dir = os.path.join(export_dir, "imagination_vs_real")
                _plot_imagination(world_model, recorder.buffer, history, out_dir)
        except KeyboardInterrupt:
            pass
    return 0


def _imagination_recorder(args, env, world_model):
    """Records the real run in the world-model layout (one window per env) for ``--imagination``."""
    if world_model is None:
        return None
    from ..training.recorder import TransitionRecorder
    from ..world_model.replay_buffer import ReplayBuffer

    buffer = ReplayBuffer(world_model.layout, env.num_envs, args.steps, args.steps, "cpu")
    return TransitionRecorder(buffer, world_model.layout)


def _plot_imagination(world_model, buffer, history: int, out_dir: str) -> None:
    """Open-loop world-model rollout along each recorded env (from its first ``history`` rows) vs reality.

    The buffer holds exactly one window per env (capacity = window = steps); envs that were reset within
    it are skipped."""
    from ..world_model.data import WindowBatch
    from ..world_model.evaluate import plot_trajectories, relative_l1, rollout

    rows = (buffer.ptr - buffer.size + torch.arange(buffer.size)) % buffer.capacity  # oldest first
    whole = ~buffer.first[:, rows[1:]].any(dim=1) if buffer.size == buffer.window else torch.zeros(0, dtype=torch.bool)
    env_ids = whole.nonzero().flatten()
    if env_ids.numel() == 0:
        print(f"[rwm_tasks] --imagination: no env ran {buffer.window} steps without a reset; nothing to plot")
        return
    batch = WindowBatch.from_columns(buffer.columns[env_ids][:, rows], buffer.layout)
    result = rollout(world_model.model.eval(), batch, history)
    os.makedirs(out_dir, exist_ok=True)
    for i in range(min(len(batch), 4)):
        plot_trajectories(result, batch, buffer.layout, os.path.join(out_dir, f"env_{int(env_ids[i])}.png"), window=i)
    err = relative_l1(result.pred, result.true, buffer.layout.state_slices)
    summary = ", ".join(f"{k} {float(v[-1]):.3f}" for k, v in err.items())
    print(f"[rwm_tasks] imagined vs real over {result.pred.shape[1]} steps (relative L1 at the end: {summary}); "
          f"plots in {out_dir}")


if __name__ == "__main__":
    run_main(main)
