"""Copy a pipeline's results into ``pretrained/<robot>/`` (small files only) and re-score them from there."""

from __future__ import annotations

import os

import torch

from ..world_model.files import atomic_write, copy_file, write_json
from .report import POLICIES

FILES = ("report.md", "report.json", "manifest.json", "scores.png")


def strip_world_model(source: str, target: str) -> None:
    """The world-model checkpoint without its optimizer state (a third of the size; Finetune starts a new one)."""
    payload = torch.load(source, map_location="cpu", weights_only=False)
    if payload.get("trainer_state"):
        payload["trainer_state"] = {k: v for k, v in payload["trainer_state"].items() if k != "optimizer"}
    atomic_write(target, lambda f: torch.save(payload, f))


def ship(run: str, dest: str, task: str, *, num_envs: int = 64, seconds: float = 20.0, seed: int = 0) -> dict:
    """Policies (``model.pt``), world model, report, manifest and PNGs of pipeline ``run`` into ``dest``; each
    policy re-scored from its shipped file (``eval.json`` beside it). Returns the new scores."""
    from ..evaluation.harness import evaluate_policy

    os.makedirs(dest, exist_ok=True)
    scores = {}
    for name, _ in POLICIES:
        source = os.path.join(run, name, "model.pt")
        if not os.path.isfile(source):
            continue
        folder = os.path.join(dest, name)
        os.makedirs(folder, exist_ok=True)
        copy_file(source, os.path.join(folder, "model.pt"))
        curve = os.path.join(run, name, "learning_curve.png")
        if os.path.isfile(curve):
            copy_file(curve, os.path.join(folder, "learning_curve.png"))
        result = evaluate_policy(task, os.path.join(folder, "model.pt"), num_envs=num_envs, seconds=seconds, seed=seed,
                                 out_dir=folder, overwrite=True, quiet=True)  # fmt: skip
        scores[name] = result["tracking_score"]
    strip_world_model(os.path.join(run, "world_model.pt"), os.path.join(dest, "world_model.pt"))
    for name in FILES:
        if os.path.isfile(os.path.join(run, name)):
            copy_file(os.path.join(run, name), os.path.join(dest, name))
    write_json(os.path.join(dest, "shipped_scores.json"), scores)
    return scores
