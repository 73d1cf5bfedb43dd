"""The demo on the shipped results: ``python scripts/demo.py --robot go2 --out demo``.

Scores the policies under ``pretrained/<robot>/`` in MuJoCo, collects a small dataset with the shipped data
policy, trains a short offline MOPO-PPO policy on the shipped world model, scores it and writes report.md
and a video of the best policy. Re-running continues where it stopped.
"""

from __future__ import annotations

import argparse
import os

from ..launch import UserError
from .common import run_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Demo on the shipped policies and world model (minutes on a CPU).")
    parser.add_argument("--robot", default="go2", choices=("go2", "anymal_d"), help="Robot.")
    parser.add_argument("--pretrained", default=None, help="Shipped results folder (default: pretrained/<robot>).")
    parser.add_argument("--out", default="demo", help="Output folder.")
    parser.add_argument("--seed", type=int, default=0, help="Seed.")
    args = parser.parse_args(argv)
    from ..pipeline.run import REPO

    pretrained = args.pretrained or os.path.join(REPO, "pretrained", args.robot)
    for needed in ("world_model.pt", "report.json", os.path.join("data_policy", "model.pt")):
        if not os.path.isfile(os.path.join(pretrained, needed)):
            raise UserError(f"'{pretrained}' has no {needed}: not a shipped results folder")
    from ..pipeline.demo import run_demo

    run_demo(args.robot, pretrained, args.out, args.seed)
    return 0


if __name__ == "__main__":
    run_main(main)
