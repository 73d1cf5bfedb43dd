"""``scripts/benchmark.py physics``: env-steps/s of the MuJoCo executor vs. the kit-less Isaac Lab env.

Both are measured in the same run on the same task (``RWM-<Robot>-Init-v0``) with random actions,
counting whole env steps (physics, observations of every group, rewards, terminations, resets). Isaac Lab
runs in a subprocess (its simulator owns process-global state) with a short run after a warm-up. Prints
one JSON object: ``{"go2": {"mujoco_env_steps_per_s", "isaaclab_env_steps_per_s", "speedup", ...}, ...}``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time

from ...tasks import ROBOTS as ROBOT_TAGS
from ...tasks import task_id

ROBOTS = {robot: task_id(tag, "Init") for tag, robot in ROBOT_TAGS.items()}
"""Robot name -> the task measured (its Init stage)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="MuJoCo executor vs. kit-less Isaac Lab: env-steps/s per robot.")
    p.add_argument("--robots", nargs="+", default=list(ROBOTS), choices=list(ROBOTS))
    p.add_argument("--num_envs", type=int, default=256, help="MuJoCo envs.")
    p.add_argument("--num_threads", type=int, default=2, help="MuJoCo batch threads.")
    p.add_argument("--seconds", type=float, default=10.0, help="MuJoCo measuring time per robot.")
    p.add_argument("--isaaclab_envs", type=int, default=256)
    p.add_argument("--isaaclab_steps", type=int, default=20)
    p.add_argument("--skip_isaaclab", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    return p


def _args(args) -> argparse.Namespace:
    defaults = build_parser().parse_args([])
    if args is None or isinstance(args, (list, tuple)):
        return build_parser().parse_args(list(args or []))
    for key, value in vars(defaults).items():  # a caller's Namespace may lack our options
        if not hasattr(args, key) or getattr(args, key) is None:
            setattr(args, key, value)
    return args


def mujoco_steps_per_s(task: str, num_envs: int, num_threads: int, seconds: float, seed: int = 0) -> float:
    import torch

    from .tasks import make_env

    env = make_env(task, num_envs=num_envs, seed=seed, num_threads=num_threads)
    gen = torch.Generator().manual_seed(seed)
    actions = [0.5 * torch.randn(num_envs, env.num_actions, generator=gen) for _ in range(50)]
    for a in actions[:10]:  # warm-up
        env.step(a)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(actions[steps % len(actions)])
        steps += 1
    rate = steps * num_envs / (time.perf_counter() - start)
    env.close()
    return rate


def isaaclab_steps_per_s(task: str, num_envs: int, steps: int, seed: int = 0) -> float:
    """Run :func:`isaaclab_worker` in a subprocess; returns its env-steps/s."""
    code = (
        "import json; from rwm_tasks.envs.mujoco.benchmark import isaaclab_worker; "
        f"print('RESULT', json.dumps(isaaclab_worker({task!r}, {num_envs}, {steps}, {seed})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return float(json.loads(line[7:]))
    raise RuntimeError(f"Isaac Lab benchmark of {task} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")


def isaaclab_worker(task: str, num_envs: int, steps: int, seed: int) -> float:
    import torch

    from .reference import isaaclab_env

    gen = torch.Generator().manual_seed(seed)
    with isaaclab_env(task, num_envs, seed=seed) as env:
        env.reset()
        for _ in range(5):  # warm-up (kernel compilation, first resets)
            env.step(0.5 * torch.randn(num_envs, 12, generator=gen))
        start = time.perf_counter()
        for _ in range(steps):
            env.step(0.5 * torch.randn(num_envs, 12, generator=gen))
        return steps * num_envs / (time.perf_counter() - start)


def main(args=None) -> dict:
    """Measure, then print the JSON object as the only stdout line (progress messages go to stderr)."""
    args = _args(args)
    with contextlib.redirect_stdout(sys.stderr):
        result = _measure(args)
    print(json.dumps(result))
    return result


def _measure(args) -> dict:
    import mujoco

    result: dict = {}
    for robot in args.robots:
        task = ROBOTS[robot]
        mj = mujoco_steps_per_s(task, args.num_envs, args.num_threads, args.seconds, args.seed)
        entry = {"task": task, "mujoco_env_steps_per_s": round(mj, 1), "mujoco_num_envs": args.num_envs,
                 "mujoco_threads": args.num_threads}  # fmt: skip
        if not args.skip_isaaclab:
            il = isaaclab_steps_per_s(task, args.isaaclab_envs, args.isaaclab_steps, args.seed)
            entry.update(isaaclab_env_steps_per_s=round(il, 1), isaaclab_num_envs=args.isaaclab_envs,
                         speedup=round(mj / il, 1))  # fmt: skip
        result[robot] = entry
    result["mujoco_version"] = mujoco.__version__
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
