"""The pipeline's ``report.md``, ``report.json``, ``scores.png`` and ``manifest.json``."""

from __future__ import annotations

import os
import platform
import subprocess
import time

from ..world_model.files import save_figure
from ..world_model.files import atomic_write, write_json
from .shift import shift_lines

POLICIES = (
    ("init", "model-free PPO (Init, last checkpoint)"),
    ("data_policy", "data policy (early Init checkpoint)"),
    ("offline", "MOPO-PPO offline, lambda raised in phases from the lambda = 0 policy"),
    ("offline_lambda0", "MOPO-PPO offline, lambda = 0"),
    ("finetune", "MBPO-PPO finetune from the data policy"),
)


PPO_TRIES = 6
"""PPO checkpoints re-scored with the evaluation's protocol when finding where PPO reached a score."""


def ppo_reaching(curve: list[dict], start_iteration: int | None, target: float, score) -> tuple[int | None, list]:
    """Real transitions model-free PPO used from ``start_iteration`` to its first checkpoint that ``score(row)``
    (the evaluation's envs and seconds, as the policy compared with it was scored) puts at or above ``target``;
    None if none of the tried ones does. Tried: the first :data:`PPO_TRIES` later rows the curve puts there (its
    shorter scoring reads higher). Returns the transitions and the (iteration, score) pairs tried."""
    start = next((r for r in curve if r["iteration"] == start_iteration), None)
    if start is None:
        return None, []
    tried = []
    for row in [r for r in curve if r["iteration"] > start_iteration and r["tracking_score"] >= target][:PPO_TRIES]:
        tried.append((row["iteration"], score(row)))
        if tried[-1][1] >= target:
            return row["real_transitions"] - start["real_transitions"], tried
    return None, tried


def ppo_transitions_for(curve: list[dict], start_iteration: int | None, score: float) -> int | None:
    """Real transitions model-free PPO used from ``start_iteration`` to its first checkpoint the curve itself puts
    at ``score`` or above (to compare with another curve)."""
    return ppo_reaching(curve, start_iteration, score, lambda row: row["tracking_score"])[0]


def _ppo_transitions_after(curve: list[dict], start_iteration: int | None, tried: list | None = None) -> int | None:
    """Real transitions model-free PPO used from ``start_iteration`` to its last checkpoint, or to the last one
    :func:`ppo_reaching` tried when it ran out of tries (a bound on what PPO needs when none got there)."""
    start = next((r for r in curve if r["iteration"] == start_iteration), None)
    end = curve[-1] if curve else None
    if tried and len(tried) >= PPO_TRIES:
        end = next((r for r in curve if r["iteration"] == tried[-1][0]), None)
    return end["real_transitions"] - start["real_transitions"] if start and end and end is not start else None


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("torch", "rsl-rl-lib", "mujoco", "isaaclab", "rwm_tasks"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    try:
        out["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                           cwd=os.path.dirname(__file__)).stdout.strip() or None  # fmt: skip
    except OSError:
        out["git_commit"] = None
    return out


def _commands(pipeline) -> dict:
    out = {}
    for step in ("init", "world_model", *pipeline.offline_steps(), "finetune"):
        log = pipeline.path(step, "log.txt")
        if os.path.isfile(log):
            with open(log) as f:
                out[step] = [line[2:].strip() for line in f if line.startswith("$ ")]
    return out


def _bar_chart(rows: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, _ in POLICIES if n in rows]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.bar(names, [rows[n]["tracking_score"] for n in names], color="tab:blue", label="MuJoCo")
    iso = [rows[n].get("isaaclab", {}).get("tracking_score") for n in names]
    if any(v is not None for v in iso):
        ax.scatter(names, [v if v is not None else float("nan") for v in iso], color="tab:orange", zorder=3,
                   label="kit-less Isaac Lab (8 envs, 10 s)")  # fmt: skip
    ax.axhline(0.8, color="0.4", ls="--", lw=1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("tracking score (real physics)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    save_figure(fig, path)


def _correlation_lines(corr: dict) -> list[str]:
    """Uncertainty against error per window (normalised and raw units, 95 % intervals)."""
    lines = []
    for unit in ("normalised", "raw"):
        c = corr.get(unit)
        if c:
            ci = lambda k: f"[{c[k][0]:.2f}, {c[k][1]:.2f}]" if c.get(k) else ""  # noqa: E731
            lines.append(f"- u against error per window ({unit} units, {c['n']} windows): Pearson {c['pearson']:.3f} "
                         f"{ci('pearson_ci')}, Spearman {c['spearman']:.3f} {ci('spearman_ci')}")  # fmt: skip
    return lines


def _lambda_line(probe: dict) -> str:
    data = probe["data_policy"]
    chosen = f"lambda = {probe['lambda']:.4g} offline (penalty {probe['penalty_share']:g} x"
    if "finetune_lambda" in probe:
        chosen += f"), {probe['finetune_lambda']:.4g} finetune ({probe['finetune_penalty_share']:g} x"
    return (f"{chosen} the data policy's raw imagined reward, {data['reward_raw']:.4f} per step at u "
            f"{data['uncertainty']:.3f}).")


def _trained_lambdas(pipeline, results: dict) -> str:
    """The lambda each policy was trained with (from its step), beside the one the probe gives now."""
    used = {n: results[n].get("lambda") for n in (*pipeline.offline_steps(), "finetune") if n in results}
    return "Trained with lambda " + ", ".join(f"{v:.4g} ({n})" for n, v in used.items() if v is not None) + "."


def _wall_time_s(pipeline, results: dict) -> float:
    """The steps' wall times, each pair of lanes run side by side counted as the longer lane."""
    t = {k: v.get("wall_time_s", 0.0) for k, v in results.items() if isinstance(v, dict)}
    lanes = pipeline.side_by_side()
    outside = sum(v for k, v in t.items() if not any(k in lane for lane in lanes))
    return outside + max(sum(t.get(n, 0.0) for n in lane) for lane in lanes)


def write_pipeline_report(pipeline, results: dict) -> str:
    """Tables of every policy's score in real physics, the targets, the world model's figures, wall times."""
    ev, init, data = results["evaluate"], results["init"], results["data_policy"]
    curve = init.get("curve") or []
    rows = {name: dict(ev[name]) for name, _ in POLICIES}
    rows["init"]["real_transitions"] = curve[-1]["real_transitions"] if curve else None
    dataset_rows = results["collect"]["train"]["rows"]
    finetune_curve = ev.get("finetune_curve") or []
    rows["data_policy"]["real_transitions"] = data.get("real_transitions")
    rows["offline"]["real_transitions"] = rows["offline_lambda0"]["real_transitions"] = dataset_rows
    rows["finetune"]["real_transitions"] = finetune_curve[-1]["real_transitions"] if finetune_curve else None
    start = data.get("iteration")
    # model-free PPO from the same start (the data policy is an Init checkpoint): transitions to the same score
    same_gain = ev.get("ppo_same_gain") or {}
    ppo_needed = same_gain.get("real_transitions")
    mbpo_used = rows["finetune"]["real_transitions"]
    ppo_at_least = ppo_needed or _ppo_transitions_after(curve, start, same_gain.get("tried"))  # PPO not there: a bound
    gained = rows["finetune"]["tracking_score"] > rows["data_policy"]["tracking_score"]  # else no gain to compare
    finetune_to_080 = next((r["real_transitions"] for r in finetune_curve if r["tracking_score"] >= 0.8), None)
    final = ("offline", "offline_lambda0", "finetune")
    agreement = {n: (rows[n]["imagined_reward_per_second"] / rows[n]["return_per_second"]
                     if rows[n]["return_per_second"] else None) for n in final}  # fmt: skip
    targets = {
        "offline_beats_data_policy": rows["offline"]["tracking_score"] > rows["data_policy"]["tracking_score"],
        "offline_at_least_lambda0": rows["offline"]["tracking_score"] >= rows["offline_lambda0"]["tracking_score"],
        "finetune_reaches_0.80": rows["finetune"]["tracking_score"] >= 0.8,
        "finetune_real_transitions": mbpo_used,
        "ppo_real_transitions_same_gain": ppo_needed,
        "ppo_checkpoints_evaluated": same_gain.get("tried"),
        "same_gain_to_score": rows["finetune"]["tracking_score"],
        "ppo_not_there_after": None if ppo_needed else ppo_at_least,
        "finetune_uses_at_most_a_fifth": (gained and mbpo_used is not None and ppo_at_least is not None
                                          and mbpo_used * 5 <= ppo_at_least),  # fmt: skip
        "finetune_real_transitions_to_0.80": finetune_to_080,
        "ppo_real_transitions_to_0.80": ppo_transitions_for(curve, start, 0.8),
        "imagined_over_real_return": agreement,
        "imagined_within_20_percent": {n: (a is not None and abs(a - 1.0) <= 0.2) for n, a in agreement.items()},
        "uncertainty_shift_auroc": results["uncertainty"]["ood"]["auroc"],
        "wall_time_min": round(_wall_time_s(pipeline, results) / 60, 1),
    }
    elapsed = time.time() - pipeline.started
    _bar_chart(rows, pipeline.path("scores.png"))
    fmt = lambda v, p=3: "-" if v is None else (f"{v:,}" if isinstance(v, int) else f"{v:.{p}f}")  # noqa: E731
    lines = [
        f"# RWM pipeline: {pipeline.robot}, scale {pipeline.scale_name}, executor {pipeline.sim}, seed {pipeline.seed}",
        "",
        "Every policy scored in real physics by `scripts/evaluate.py` (same seeded command schedule; tracking score =",
        "mean exp(-|v_xy - c_xy|^2 / std^2), 0 after a fall). Imagined return: the same policy played in the frozen",
        "world model from dataset windows (raw task reward, no penalty).",
        "",
        "| policy | tracking score | yaw score | falls / env-min | real return / s | imagined return / s | Isaac Lab score | real transitions |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, label in POLICIES:
        if name not in rows:
            continue
        r = rows[name]
        lines.append(
            f"| {label} | {fmt(r['tracking_score'])} | {fmt(r['yaw_tracking_score'])} | {fmt(r['falls_per_env_minute'], 2)} | "
            f"{fmt(r['return_per_second'])} | {fmt(r.get('imagined_reward_per_second'))} | "
            f"{fmt(r.get('isaaclab', {}).get('tracking_score'))} | {fmt(r.get('real_transitions'))} |"
        )  # fmt: skip
    wm = results["world_model"]["eval"]
    errors = wm.get("errors", {})
    corr = wm.get("correlation", {})
    lines += [
        "",
        "![scores](scores.png)",
        "",
        "## Targets",
        "",
        *[f"- {k}: {v}" for k, v in targets.items()],
        "",
        f"## World model (held-out data of the data policy, {wm.get('num_windows')} windows)",
        "",
        "| predictor | " + " | ".join(f"rel. L1 at step {h}" for h in wm.get("horizons", [])) + " |",
        "|---|" + "---|" * len(wm.get("horizons", [])),
        *[f"| {name} | " + " | ".join(f"{v:.3f}" for v in e.get("all", [])) + " |" for name, e in errors.items()],
        "",
        *_correlation_lines(corr),
        *shift_lines(results["uncertainty"]),
        _lambda_line(results["probe"]) + " " + _trained_lambdas(pipeline, results),
        "",
        "## Wall time per step",
        "",
        *[f"- {k}: {v.get('wall_time_s', 0) / 60:.1f} min" for k, v in results.items() if isinstance(v, dict)],
        f"- this invocation, start to report: {elapsed / 60:.1f} min (steps it found done are not in it)",
        "",
        "![Init learning curve](init/learning_curve.png)",
        "",
        "![Finetune learning curve](finetune/learning_curve.png)",
    ]
    text = "\n".join(lines) + "\n"
    atomic_write(pipeline.path("report.md"), lambda f: f.write(text.encode()))
    report = {"policies": rows, "targets": targets, "world_model": wm, "uncertainty": results["uncertainty"],
              "probe": results["probe"],
              "wall_time_s": {k: v.get("wall_time_s") for k, v in results.items() if isinstance(v, dict)},
              "invocation_wall_time_s": round(elapsed, 1)}  # fmt: skip
    write_json(pipeline.path("report.json"), report)
    manifest = {"settings": pipeline.settings(), "versions": _versions(), "commands": _commands(pipeline),
                "scores": {n: r["tracking_score"] for n, r in rows.items()}}  # fmt: skip
    write_json(pipeline.path("manifest.json"), manifest)
    return pipeline.path("report.md")
