"""The RWM / RWM-U pipeline: ``python scripts/pipeline.py --robot go2 --out runs/go2 --scale full``.

PPO -> a mediocre data policy -> real data -> world model -> offline MOPO-PPO (chosen lambda and lambda 0)
and MBPO-PPO finetuning -> the model's uncertainty on the lambda-0 policy's real data -> every policy scored in
real physics -> report.md. Re-running the same command continues an interrupted pipeline (finished steps are
skipped).
"""

from __future__ import annotations

import argparse
import os

from ..launch import UserError
from .common import run_main


def build_parser() -> argparse.ArgumentParser:
    from ..pipeline.run import SCALES
    from ..tasks import ROBOTS

    parser = argparse.ArgumentParser(description="Run the RWM / RWM-U pipeline end to end, resumably.")
    parser.add_argument("--robot", required=True, choices=sorted(ROBOTS.values()), help="Robot.")
    parser.add_argument("--out", required=True, help="Output folder (re-run with the same folder to continue).")
    parser.add_argument("--scale", choices=sorted(SCALES), default="full",
                        help="smoke: minutes, for tests; quick: ~30 min; full: the shipped results (1 h 28 min to 1 h 34 min on 2 cores).")
    parser.add_argument("--sim", choices=("mujoco",), default="mujoco", help="Physics executor of the real env.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of every step.")
    parser.add_argument("--init", default=None,
                        help="Skip Init training: an Init run folder (its checkpoints give the data policy and the "
                             "PPO learning curve) or one policy checkpoint.")  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.init and not os.path.exists(args.init):
        raise UserError(f"--init '{args.init}' does not exist")
    if args.init and os.path.isdir(args.init) and not os.path.isdir(os.path.join(args.init, "params")):
        raise UserError(f"--init '{args.init}' is not an Init run folder (no params/)")
    from ..pipeline.run import Pipeline

    Pipeline(args.robot, args.out, args.scale, args.sim, args.seed, args.init).run_all()
    return 0


if __name__ == "__main__":
    run_main(main)
