"""Score a policy in real physics: ``python scripts/evaluate.py --task RWM-Go2-Play-v0 --checkpoint FILE``.

Writes ``eval.json`` (tracking score, yaw score, falls per env-minute, every reward term per second, ...)
and ``eval.png``; the score is defined in :mod:`rwm_tasks.evaluation.score`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..launch import UserError, check_task, find_checkpoint
from .common import run_main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Score a policy in real physics (deterministic actions, a seeded command schedule).",
        epilog="Example: python scripts/evaluate.py --task RWM-Go2-Play-v0 --checkpoint pretrained/go2/init/model.pt",
    )
    parser.add_argument("--task", required=True, help="Task id of the robot, e.g. RWM-Go2-Play-v0 (its Play task is used).")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="rsl-rl policy checkpoint file of any stage.")
    source.add_argument("--experiment", help="Experiment folder under logs/rsl_rl (latest checkpoint of a run).")
    parser.add_argument("--load_run", default=None, help="With --experiment: run folder (name or regex); default latest.")
    parser.add_argument("--sim", choices=("mujoco", "isaaclab"), default="mujoco", help="Physics executor.")
    parser.add_argument("--num_envs", type=int, default=64, help="Envs evaluated in parallel.")
    parser.add_argument("--seconds", type=float, default=20.0, help="Evaluated time per env.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the command schedule and the resets.")
    parser.add_argument("--out", default=None, help="Output folder (default: eval_<checkpoint>_<sim> beside the checkpoint).")
    parser.add_argument("--video", action="store_true", help="With --sim mujoco: also write eval.mp4 of env 0.")
    parser.add_argument("--overwrite", action="store_true", help="Replace an existing eval.json in --out.")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sys.argv = sys.argv[:1]
    check_task(args.task)
    checkpoint = args.checkpoint
    if args.experiment:
        checkpoint = find_checkpoint(os.path.abspath(os.path.join("logs", "rsl_rl", args.experiment)), args.load_run, None)
    elif args.load_run:
        raise UserError("--load_run needs --experiment")
    if args.video and args.sim != "mujoco":
        raise UserError("--video needs --sim mujoco")
    out = args.out or os.path.join(
        os.path.dirname(os.path.abspath(checkpoint)), f"eval_{os.path.splitext(os.path.basename(checkpoint))[0]}_{args.sim}"
    )  # fmt: skip
    from ..evaluation.harness import evaluate_policy

    result = evaluate_policy(
        args.task, checkpoint, sim=args.sim, num_envs=args.num_envs, seconds=args.seconds, seed=args.seed,
        out_dir=out, video=args.video, overwrite=args.overwrite,
    )  # fmt: skip
    keys = ("tracking_score", "yaw_tracking_score", "falls_per_env_minute", "mean_vel_xy_error", "return_per_second")
    print(json.dumps({k: result[k] for k in keys}))
    print(f"[rwm_tasks] wrote {os.path.join(out, 'eval.json')} and eval.png")
    return 0


if __name__ == "__main__":
    run_main(main)
