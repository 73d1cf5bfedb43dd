"""Report over runs: ``python scripts/report.py logs/rsl_rl/rwm_go2_init/<run> ... --out DIR``.

Scores each run's checkpoints in real physics (cached per checkpoint), plots learning curves and writes
``report.md`` and ``report.json``; shipped policy folders (``model.pt`` + ``eval.json``) are listed as well.
"""

from __future__ import annotations

import argparse
import os

from ..launch import UserError
from .common import run_main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Score runs' policies in real physics and write report.md.")
    parser.add_argument("runs", nargs="+", help="Run folders (logs/rsl_rl/<experiment>/<run>) or shipped policy folders.")
    parser.add_argument("--out", required=True, help="Folder for report.md, report.json and the PNGs.")
    parser.add_argument("--sim", choices=("mujoco", "isaaclab"), default="mujoco", help="Physics executor.")
    parser.add_argument("--num_envs", type=int, default=64, help="Envs per evaluation.")
    parser.add_argument("--seconds", type=float, default=20.0, help="Evaluated time per env.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the command schedule.")
    parser.add_argument("--every", type=int, default=1, help="Score every N-th checkpoint of a run (the last always).")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for path in args.runs:
        is_run = os.path.isdir(os.path.join(path, "params"))
        is_shipped = os.path.isfile(os.path.join(path, "model.pt")) and os.path.isfile(os.path.join(path, "eval.json"))
        if not (is_run or is_shipped):
            raise UserError(f"'{path}' is neither a run folder (params/, model_<it>.pt) nor a policy folder (model.pt, eval.json)")
    if args.every < 1 or args.num_envs < 1 or args.seconds <= 0:
        raise UserError("--every and --num_envs must be >= 1 and --seconds > 0")
    from ..evaluation.report import write_report

    path = write_report(args.runs, args.out, sim=args.sim, num_envs=args.num_envs, seconds=args.seconds,
                        seed=args.seed, every=args.every)  # fmt: skip
    print(f"[rwm_tasks] wrote {path}")
    return 0


if __name__ == "__main__":
    run_main(main)
