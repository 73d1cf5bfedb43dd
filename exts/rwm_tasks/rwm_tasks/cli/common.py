"""Argument parsing shared by the command lines, and the exit-code-2 handling of :class:`UserError`."""

from __future__ import annotations

import argparse
import sys

from ..launch import UserError


def run_main(main) -> None:
    """Run ``main()`` and turn :class:`UserError` into a one-line message and exit code 2, a file that could
    not be written (a full disk, ...; its previous version is intact) into one line and exit code 1."""
    try:
        code = main()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2)
    except OSError as err:
        from ..world_model.files import WriteError  # torch: imported only once a write has failed

        if not isinstance(err, WriteError):
            raise
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1)
    raise SystemExit(code or 0)


def add_task_args(parser: argparse.ArgumentParser) -> None:
    """Arguments every entry point shares (plus Isaac Lab's launcher arguments)."""
    from isaaclab.app import add_launcher_args

    parser.add_argument("--task", required=True, help="Task id, e.g. RWM-Go2-Init-v0 (an unknown id lists the valid ones).")
    parser.add_argument("--num_envs", type=int, default=None, help="Number of real (simulated) envs.")
    parser.add_argument("--seed", type=int, default=None, help="Random seed of env and agent.")
    parser.add_argument(
        "--sim", choices=("isaaclab", "mujoco"), default=None,
        help="Physics executor of the real env: Isaac Lab, or the plain-MuJoCo executor (CPU, much faster). "
        "Default: isaaclab with CUDA, mujoco without.",
    )  # fmt: skip
    parser.add_argument(
        "--physics", choices=("physx", "newton_mjwarp"), default=None,
        help="Isaac Lab physics preset; default: PhysX with CUDA and official assets, else Newton/MuJoCo-Warp.",
    )  # fmt: skip
    parser.add_argument(
        "overrides", nargs="*", default=[],
        help="Config overrides key=value, e.g. env.scene.num_envs=8 agent.algorithm.learning_rate=3e-4.",
    )  # fmt: skip
    add_launcher_args(parser)
    parser.set_defaults(device=None)
