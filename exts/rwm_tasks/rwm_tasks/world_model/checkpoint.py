"""World-model checkpoint files: model, normalisation, layout, robot, dt, configs and a format version."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from rwm_tasks.layout import RobotLayout, get_layout

from .data import resolve_layout
from .files import atomic_write
from .model import EnsembleWorldModel, WorldModelConfig
from .train import TrainConfig, Trainer

CHECKPOINT_FORMAT = "rwm_tasks/world_model"
CHECKPOINT_VERSION = 2
"""2: flag-head positive weights and the held-out std scale are model buffers (version 1 files load with the
trainer state's weights and no std scale)."""


@dataclass
class Checkpoint:
    model: EnsembleWorldModel
    layout: RobotLayout
    train_config: TrainConfig | None
    trainer_state: dict | None
    extra: dict
    path: str


def save_checkpoint(
    path: str | Path,
    model: EnsembleWorldModel,
    layout: RobotLayout | str,
    trainer: Trainer | None = None,
    extra: dict | None = None,
) -> None:
    """Write model, normalisation, layout, robot, dt, configs and a format version (atomically)."""
    payload = checkpoint_payload(model, layout, trainer, extra)
    atomic_write(path, lambda f: torch.save(payload, f))


def checkpoint_payload(model: EnsembleWorldModel, layout: RobotLayout | str, trainer: Trainer | None = None,
                       extra: dict | None = None) -> dict:  # fmt: skip
    """What :func:`save_checkpoint` writes, as a dict (to keep inside another file)."""
    layout = resolve_layout(layout)
    return {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "robot": layout.robot,
        "dt": layout.dt,
        "layout": layout.to_dict(),
        "model_config": model.config.to_dict(),
        "model_state": model.state_dict(),
        "train_config": trainer.config.to_dict() if trainer is not None else None,
        "trainer_state": trainer.state_dict() if trainer is not None else None,
        "extra": extra or {},
        "saved_at": time.time(),
    }


def load_checkpoint(
    path: str | Path, layout: RobotLayout | str | None = None, map_location: str | torch.device = "cpu"
) -> Checkpoint:
    """Load a checkpoint; ``layout`` (default: the checkpoint's robot) must match the stored layout, else a
    ``ValueError`` naming the file and the first differing field."""
    try:
        payload = torch.load(path, map_location=map_location, weights_only=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint '{path}' not found") from None
    except Exception as err:  # noqa: BLE001  (truncated, not a torch file, ...: all the same bad input)
        raise ValueError(f"'{path}' is not a readable world-model checkpoint ({type(err).__name__}: {err})") from None
    return checkpoint_from_payload(payload, str(path), layout, map_location)


def checkpoint_from_payload(payload, path: str, layout: RobotLayout | str | None = None,
                            map_location: str | torch.device = "cpu") -> Checkpoint:  # fmt: skip
    """A :class:`Checkpoint` from a :func:`checkpoint_payload` dict (``path`` names it in errors)."""
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"'{path}' is not an rwm_tasks world-model checkpoint")
    version = int(payload.get("format_version", 0))
    if version > CHECKPOINT_VERSION:
        raise ValueError(
            f"checkpoint '{path}' has format version {version}; this code reads up to {CHECKPOINT_VERSION}"
        )
    layout = resolve_layout(layout) if layout is not None else get_layout(payload["robot"])
    layout.check_compatible(payload["layout"], what=f"checkpoint '{path}'")
    config = WorldModelConfig.from_dict({"prior_scale": 0.0, **payload["model_config"]})  # older: no priors
    expected = WorldModelConfig.from_layout(layout)
    for name in ("state_dim", "action_dim", "contact_dim", "termination_dim", "extension_dim"):
        if getattr(config, name) != getattr(expected, name):
            raise ValueError(
                f"checkpoint '{path}': model {name} is {getattr(config, name)}, layout of robot "
                f"'{layout.robot}' needs {getattr(expected, name)}"
            )
    model = EnsembleWorldModel(config).to(map_location)
    state = dict(payload["model_state"])
    if version < 2:  # flag weights were kept by the trainer only; no std calibration
        trainer_state = payload.get("trainer_state") or {}
        for name in ("contact_pos_weight", "termination_pos_weight"):
            w = trainer_state.get(name)
            state.setdefault(name, getattr(model, name) if w is None else w.reshape(-1).to(map_location))
        state.setdefault("log_std_scale", model.log_std_scale)
    model.load_state_dict(state)
    train_config = TrainConfig.from_dict(payload["train_config"]) if payload.get("train_config") else None
    return Checkpoint(model, layout, train_config, payload.get("trainer_state"), payload.get("extra", {}), str(path))
