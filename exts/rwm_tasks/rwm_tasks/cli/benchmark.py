"""Speed benchmarks (``scripts/benchmark.py``).

Sub-commands:
  world_model   imagination and training throughput, memory and FLOPs of the ensemble world model at the
                reference sizes; prints one JSON object (about a minute on 2 free cores).
  physics       the MuJoCo executor's benchmark (rwm_tasks.envs.mujoco.benchmark); the remaining arguments
                are passed to its main(argv).

Examples:
  python scripts/benchmark.py world_model
  python scripts/benchmark.py world_model --num-envs 1024 --heads 1
  python scripts/benchmark.py physics -- --help
"""

from __future__ import annotations

import argparse
import json
import sys

from ..world_model.train import TrainConfig


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("world_model", help="world-model speed, memory and FLOPs (prints JSON)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)  # fmt: skip
    w.add_argument("--num-envs", type=int, default=4096, help="imagined envs stepped together")
    w.add_argument("--heads", type=int, default=5, help="ensemble heads B")
    w.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    w.add_argument("--batch-size", type=int, default=1024, help="training minibatch (windows)")
    w.add_argument("--history", type=int, default=d.history, help="M")
    w.add_argument("--forecast", type=int, default=d.forecast, help="N")
    w.add_argument("--imagination-steps", type=int, default=50, help="timed imagination steps")
    w.add_argument("--train-steps", type=int, default=3, help="timed training steps")
    w.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("physics", help="MuJoCo executor benchmark (rwm_tasks.envs.mujoco.benchmark)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the physics benchmark")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "physics":
        try:
            from ..envs.mujoco import benchmark as physics
        except ImportError as err:
            print(f"error: the physics benchmark is not available: cannot import rwm_tasks.envs.mujoco.benchmark "
                  f"({err})", file=sys.stderr)  # fmt: skip
            return 2
        forwarded = args.args[1:] if args.args[:1] == ["--"] else args.args
        result = physics.main(forwarded)
        return int(result) if isinstance(result, int) else 0

    from ..world_model.benchmark import run

    result = run(num_envs=args.num_envs, num_heads=args.heads, threads=args.threads, batch_size=args.batch_size,
                 history=args.history, forecast=args.forecast, imagination_steps=args.imagination_steps,
                 train_steps=args.train_steps, seed=args.seed)  # fmt: skip
    print(json.dumps(result))
    return 0
