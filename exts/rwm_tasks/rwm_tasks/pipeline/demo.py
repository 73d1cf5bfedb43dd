"""The demo on the shipped results (``make demo``): minutes on a CPU, no training from scratch.

From ``pretrained/<robot>/`` it scores every shipped policy in MuJoCo, collects a small dataset with the
shipped data policy, trains a short offline MOPO-PPO policy on the shipped world model with the shipped
lambda, scores it, and writes ``report.md`` with a video of the best policy. Resumable like the pipeline.
"""

from __future__ import annotations

import json
import os

from ..tasks import experiment_name
from .run import SCRIPTS, Pipeline, Scale

DEMO = Scale(init_envs=0, init_iterations=0, init_minutes=None, save_interval=10, collect_envs=64, collect_steps=300,
             heldout_envs=0, world_model_seconds=0, offline_iterations=40, offline_phases=(), finetune_iterations=0, finetune_real_envs=0,
             imagined_envs=512, curve_envs=0, curve_seconds=0, eval_envs=32,
             eval_seconds=10.0, probe_steps=0, isaaclab_check=())  # fmt: skip
SHIPPED = ("init", "data_policy", "offline", "offline_lambda0", "finetune")


def run_demo(robot: str, pretrained: str, out: str, seed: int = 0, scale: Scale = DEMO) -> str:
    """Run the demo of ``pretrained`` (a ``pretrained/<robot>`` folder) into ``out``; returns report.md."""
    demo = Pipeline(robot, out, "smoke", seed=seed)
    demo.scale, demo.scale_name = scale, "demo"
    shipped = [n for n in SHIPPED if os.path.isfile(os.path.join(pretrained, n, "model.pt"))]
    with open(os.path.join(pretrained, "report.json")) as f:
        lam = json.load(f)["probe"]["lambda"]

    def score_shipped() -> dict:
        out = {}
        for name in shipped:
            os.makedirs(demo.path(name), exist_ok=True)
            link = demo.path(name, "model.pt")
            if not os.path.exists(link):
                os.symlink(os.path.abspath(os.path.join(pretrained, name, "model.pt")), link)
            out[name] = demo.score(name)
        return {"policies": out}

    def collect() -> dict:
        from ..training.collect import collect_dataset

        return collect_dataset(demo.task("Init"), demo.path("data_policy", "model.pt"), demo.path("dataset.npz"),
                               num_envs=demo.scale.collect_envs, steps=demo.scale.collect_steps, seed=seed)  # fmt: skip

    def offline() -> dict:
        demo.run("demo_offline", [os.path.join(SCRIPTS, "train.py"), "--task", demo.task("Offline"), "--seed",
                                  str(seed), "--world_model", os.path.join(pretrained, "world_model.pt"), "--dataset",
                                  demo.path("dataset.npz"), "--max_iterations", str(demo.scale.offline_iterations),
                                  *demo._imagination_overrides(lam)])  # fmt: skip
        demo._final_policy("demo_offline", experiment_name(demo.task("Offline")), {"lambda": lam})
        return {"lambda": lam, **demo.score("demo_offline")}

    results = {"shipped": demo.step("shipped", score_shipped)}
    results["collect"] = demo.step("collect", collect)
    results["demo_offline"] = demo.step("demo_offline", offline)
    scores = {**{n: r["tracking_score"] for n, r in results["shipped"]["policies"].items()},
              "demo_offline": results["demo_offline"]["tracking_score"]}  # fmt: skip
    best = max(scores, key=scores.get)
    video = demo.step("video", lambda: _video(demo, best, seed))
    return _write(demo, results, scores, best, video)


def _video(demo: Pipeline, best: str, seed: int) -> dict:
    from ..evaluation.harness import evaluate_policy

    result = evaluate_policy(demo.task("Play"), demo.path(best, "model.pt"), num_envs=4, seconds=10.0, seed=seed,
                             out_dir=demo.path("video"), video=True, overwrite=True, quiet=True)  # fmt: skip
    return {"policy": best, "video": result.get("video"), "plot": demo.path("video", "eval.png")}


def _write(demo: Pipeline, results: dict, scores: dict, best: str, video: dict) -> str:
    from ..world_model.files import atomic_write, write_json

    collected = results["collect"]
    lines = [
        f"# rwm_tasks demo: {demo.robot}",
        "",
        "Shipped policies and a freshly trained offline one, scored in real physics (MuJoCo, "
        f"{demo.scale.eval_envs} envs x {demo.scale.eval_seconds:g} s; tracking score 0..1, 0 after a fall).",
        "",
        "| policy | tracking score | yaw score | falls / env-min |",
        "|---|---|---|---|",
    ]
    rows = {**results["shipped"]["policies"], "demo_offline": results["demo_offline"]}
    for name, r in rows.items():
        lines.append(f"| {name} | {r['tracking_score']:.3f} | {r['yaw_tracking_score']:.3f} | {r['falls_per_env_minute']:.2f} |")
    lines += [
        "",
        f"`demo_offline`: MOPO-PPO for {demo.scale.offline_iterations} iterations on the shipped world model (lambda "
        f"{results['demo_offline']['lambda']:.3g}) with {collected['rows']:,} transitions just collected by the shipped "
        "data policy.",
        "",
        f"Best policy: `{best}` — video {video.get('video') or '(no offscreen renderer here)'}, plot `video/eval.png`.",
    ]
    text = "\n".join(lines) + "\n"
    atomic_write(demo.path("report.md"), lambda f: f.write(text.encode()))
    write_json(demo.path("report.json"), {"scores": scores, "best": best})
    print(text)
    return demo.path("report.md")
