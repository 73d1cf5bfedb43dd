"""Observation terms the world model needs beyond Isaac Lab's own (binary contacts, base height)."""

from __future__ import annotations

import torch

from isaaclab.managers import SceneEntityCfg


def contact_flags(env, sensor_cfg: SceneEntityCfg, threshold: float = 1.0) -> torch.Tensor:
    """1.0 per body of ``sensor_cfg`` whose net normal contact force exceeded ``threshold`` within the
    sensor history (the semantics of Isaac Lab's ``undesired_contacts`` and ``illegal_contact``)."""
    forces = env.scene.sensors[sensor_cfg.name].data.net_normal_forces_w_history.torch[:, :, sensor_cfg.body_ids]
    return (forces.norm(dim=-1).max(dim=1)[0] > threshold).float()


def any_contact(env, sensor_cfg: SceneEntityCfg, threshold: float = 1.0) -> torch.Tensor:
    """1.0 where any body of ``sensor_cfg`` is in contact: the base-contact termination as a feature."""
    return contact_flags(env, sensor_cfg, threshold).max(dim=1, keepdim=True)[0]


def base_height(env, asset_cfg: SceneEntityCfg = SceneEntityCfg("robot")) -> torch.Tensor:
    """Base height above the terrain origin (flat ground: the world z of the root)."""
    return env.scene[asset_cfg.name].data.root_pos_w.torch[:, 2:3]
