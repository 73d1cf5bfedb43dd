"""Reports over training runs: every policy scored by the harness, learning curves, one ``report.md``.

A *run* is an rsl-rl log folder (``model_<it>.pt``, ``params/``, TensorBoard events). Its checkpoints are
scored with :func:`~.harness.evaluate_policy` (each result cached as ``eval/<checkpoint>_<sim>_seed<seed>/
eval.json`` in the run, so a report re-run or an interrupted one only scores what is missing) and plotted
against wall time and real transitions. A *shipped policy* is a folder with ``model.pt`` and its
``eval.json`` (``pretrained/<robot>/<stage>/``); its figures are read, not recomputed.
"""

from __future__ import annotations

import json
import os

import yaml

from ..launch import RUN_INFO_FILE, checkpoint_iteration, real_transitions_at
from ..tasks import robot_task
from ..world_model.files import atomic_write, write_json
from .harness import EVAL_FILE, evaluate_policy
from ..world_model.files import save_figure



def checkpoints_of(run_dir: str) -> list[tuple[int, str]]:
    """(iteration, path) of every ``model_<it>.pt`` of a run, by iteration."""
    found = []
    for name in os.listdir(run_dir):
        it = checkpoint_iteration(name)
        if it is not None:
            found.append((it, os.path.join(run_dir, name)))
    return sorted(found)


class _ParamsLoader(yaml.SafeLoader):
    """Reads Isaac Lab's ``params/*.yaml``, whose ``!!python/...`` tags (tuples, ...) become plain values."""


def _plain(loader, suffix, node):
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    return loader.construct_scalar(node)


_ParamsLoader.add_multi_constructor("tag:yaml.org,2002:python/", _plain)


def run_facts(run_dir: str) -> dict:
    """Task, robot, stage, envs and steps per iteration of a run, from its ``params/`` and ``run_info.json``."""
    with open(os.path.join(run_dir, "params", "agent.yaml")) as f:
        agent = yaml.load(f, Loader=_ParamsLoader)
    with open(os.path.join(run_dir, "params", "env.yaml")) as f:
        env = yaml.load(f, Loader=_ParamsLoader)
    robot, stage = agent["experiment_name"].removeprefix("rwm_").rsplit("_", 1)
    facts = {
        "robot": robot,
        "stage": stage,
        "task": robot_task(robot, "Play"),
        "num_envs": int(env["scene"]["num_envs"]),
        "steps_per_env": int(agent["num_steps_per_env"]),
        "real_transitions_before": 0,
        "iteration_offset": 0,
        "real_transitions_per_iteration": int(env["scene"]["num_envs"]) * int(agent["num_steps_per_env"]),
    }
    info = os.path.join(run_dir, RUN_INFO_FILE)
    if os.path.isfile(info):
        with open(info) as f:
            facts.update(json.load(f))
    return facts


def wall_times(run_dir: str) -> dict[int, float]:
    """Seconds since the run's first iteration ended, per logged iteration (TensorBoard event times)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    acc.Reload()
    tags = acc.Tags().get("scalars", [])
    tag = next((t for t in ("Train/mean_reward", "Loss/learning_rate", *tags) if t in tags), None)
    if tag is None:
        return {}
    events = acc.Scalars(tag)
    t0 = events[0].wall_time
    return {e.step: e.wall_time - t0 for e in events}


def score_run(run_dir: str, *, sim: str = "mujoco", num_envs: int = 64, seconds: float = 20.0, seed: int = 0,
              every: int = 1, quiet: bool = True) -> list[dict]:  # fmt: skip
    """Score every ``every``-th checkpoint of a run (and always its last), cached; one dict per checkpoint."""
    facts = run_facts(run_dir)
    times = wall_times(run_dir)
    ckpts = checkpoints_of(run_dir)
    chosen = [c for i, c in enumerate(ckpts) if i % every == 0 or i == len(ckpts) - 1]
    rows = []
    for it, path in chosen:
        out = os.path.join(run_dir, "eval", f"model_{it}_{sim}_seed{seed}")
        cached = os.path.join(out, EVAL_FILE)
        if os.path.isfile(cached):
            with open(cached) as f:
                result = json.load(f)
        else:
            print(f"[rwm_tasks] scoring {path} ({sim}, {num_envs} envs, {seconds:g} s)", flush=True)
            result = evaluate_policy(facts["task"], path, sim=sim, num_envs=num_envs, seconds=seconds, seed=seed,
                                     out_dir=out, overwrite=True, quiet=quiet)  # fmt: skip
        rows.append({
            **{k: result[k] for k in ("tracking_score", "yaw_tracking_score", "falls_per_env_minute",
                                      "return_per_second", "mean_vel_xy_error")},
            "iteration": it,
            "checkpoint": path,
            "real_transitions": real_transitions_at(facts, it),
            "wall_time_s": round(times.get(it, float("nan")), 1),
            "eval_dir": out,
        })  # fmt: skip
    return rows


def plot_learning_curve(rows: list[dict], title: str, path: str) -> str:
    """Tracking score (and falls) against wall time and against real transitions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, key, label in ((axes[0], "wall_time_s", "wall time [min]"), (axes[1], "real_transitions", "real transitions [M]")):
        scale = 60.0 if key == "wall_time_s" else 1e6
        xs = [r[key] / scale for r in rows]
        ax.plot(xs, [r["tracking_score"] for r in rows], "o-", label="tracking score")
        ax.plot(xs, [r["yaw_tracking_score"] for r in rows], "s--", label="yaw tracking score", alpha=0.7)
        ax.set_xlabel(label)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        twin = ax.twinx()
        twin.plot(xs, [r["falls_per_env_minute"] for r in rows], "x:", color="tab:red", label="falls / env-minute")
        twin.set_ylabel("falls / env-minute", color="tab:red")
    axes[0].set_ylabel("score (real physics)")
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def shipped_row(folder: str) -> dict:
    """A shipped policy folder's figures (``model.pt`` beside its ``eval.json``)."""
    with open(os.path.join(folder, EVAL_FILE)) as f:
        result = json.load(f)
    row = {k: result.get(k) for k in ("tracking_score", "yaw_tracking_score", "falls_per_env_minute",
                                      "return_per_second", "mean_vel_xy_error")}  # fmt: skip
    row.update({"checkpoint": os.path.join(folder, "model.pt"), "iteration": result.get("iteration"),
                "real_transitions": result.get("real_transitions"), "wall_time_s": result.get("train_wall_time_s")})  # fmt: skip
    return row


def write_report(paths: list[str], out_dir: str, *, sim: str = "mujoco", num_envs: int = 64, seconds: float = 20.0,
                 seed: int = 0, every: int = 1) -> str:  # fmt: skip
    """``report.md`` (+ ``report.json`` and one learning-curve PNG per run) over runs and shipped policies."""
    os.makedirs(out_dir, exist_ok=True)
    table, curves, data = [], [], {}
    for path in paths:
        name = os.path.basename(os.path.normpath(path))
        if os.path.isdir(os.path.join(path, "params")):
            rows = score_run(path, sim=sim, num_envs=num_envs, seconds=seconds, seed=seed, every=every)
            if not rows:
                continue
            png = f"curve_{name}.png"
            plot_learning_curve(rows, f"{name} ({sim}, seed {seed})", os.path.join(out_dir, png))
            curves.append((name, png))
            table.append((name, rows[-1]))
            data[name] = rows
        else:
            row = shipped_row(path)
            table.append((name, row))
            data[name] = [row]
    lines = [
        "# Policies scored in real physics",
        "",
        f"Executor `{sim}`, {num_envs} envs x {seconds:g} s, command-schedule seed {seed}; tracking score = mean over envs",
        "and steps of exp(-|v_xy - c_xy|^2 / std^2), 0 after a fall (`rwm_tasks/evaluation/score.py`).",
        "",
        "| policy | iteration | tracking score | yaw score | falls / env-min | return / s | real transitions | wall time [min] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in table:
        wall = r.get("wall_time_s")
        wall = f"{wall / 60:.1f}" if isinstance(wall, (int, float)) and wall == wall else "-"
        trans = r.get("real_transitions")
        lines.append(
            f"| {name} | {r.get('iteration', '-')} | {r['tracking_score']:.3f} | {r['yaw_tracking_score']:.3f} | "
            f"{r['falls_per_env_minute']:.2f} | {r['return_per_second']:.3f} | "
            f"{f'{trans:,}' if trans is not None else '-'} | {wall} |"
        )  # fmt: skip
    for name, png in curves:
        lines += ["", f"## {name}", "", f"![learning curve]({png})"]
    text = "\n".join(lines) + "\n"
    atomic_write(os.path.join(out_dir, "report.md"), lambda f: f.write(text.encode()))
    write_json(os.path.join(out_dir, "report.json"), data)
    return os.path.join(out_dir, "report.md")
