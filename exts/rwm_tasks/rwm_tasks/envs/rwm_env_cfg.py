"""What RWM adds to Isaac Lab's flat velocity tasks, for every robot and stage.

Robot configs (``config/go2/``, ``config/anymal_d/``) inherit Isaac Lab's own flat env cfg and call
:func:`apply_rwm` in ``__post_init__``: explicit joint and body order from the layout module, the
``system_*`` observation groups the world model learns from (with their observation terms, below), RWM's
``stand_still`` reward and termination penalty, and the stage's number of envs. Everything else (assets,
rewards, weights, commands, timing) stays Isaac Lab's; building a config has no side effects (the command
line chooses the robot assets and writes stand-in files only when an env is launched, :mod:`.assets`).
"""

from __future__ import annotations

import torch

from isaaclab.managers import ObservationGroupCfg as ObsGroup
from isaaclab.managers import ObservationTermCfg as ObsTerm
from isaaclab.managers import RewardTermCfg as RewTerm
from isaaclab.managers import SceneEntityCfg
from isaaclab.managers import TerminationTermCfg as DoneTerm
from isaaclab.utils import configclass

import isaaclab_tasks.core.velocity.mdp as vel_mdp

from ..layout import CONTACT_THRESHOLD_N, FALL_TILT_RAD, RobotLayout
from ..tasks import GPU_ENV_COUNTS, STAGES

TERMINATION_PENALTY = -200.0
"""Weight of Isaac Lab's ``is_terminated`` reward term (its humanoid tasks use the same value)."""

# --- observation terms the world model needs beyond Isaac Lab's own -----------------------------------------


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


# --- world-model observation groups -------------------------------------------------------------------------


@configclass
class SystemStateCfg(ObsGroup):
    """World-model state, in the order of ``layout.STATE_GROUPS``; no noise."""

    base_lin_vel = ObsTerm(func=vel_mdp.base_lin_vel)
    base_ang_vel = ObsTerm(func=vel_mdp.base_ang_vel)
    projected_gravity = ObsTerm(func=vel_mdp.projected_gravity)
    joint_pos = ObsTerm(func=vel_mdp.joint_pos_rel)
    joint_vel = ObsTerm(func=vel_mdp.joint_vel_rel)
    joint_effort = ObsTerm(func=vel_mdp.joint_effort)

    def __post_init__(self):
        self.enable_corruption = False
        self.concatenate_terms = True


@configclass
class SystemActionCfg(ObsGroup):
    """The last policy action (what the world model takes as action input)."""

    action = ObsTerm(func=vel_mdp.last_action)

    def __post_init__(self):
        self.enable_corruption = False


@configclass
class SystemContactCfg(ObsGroup):
    """Binary contacts, thighs then feet."""

    contact = ObsTerm(func=contact_flags, params={"threshold": CONTACT_THRESHOLD_N})

    def __post_init__(self):
        self.enable_corruption = False


@configclass
class SystemTerminationCfg(ObsGroup):
    """Base contact: the task's termination, as a 0/1 feature."""

    base_contact = ObsTerm(func=any_contact, params={"threshold": CONTACT_THRESHOLD_N})

    def __post_init__(self):
        self.enable_corruption = False


@configclass
class SystemExtensionCfg(ObsGroup):
    """Extra quantities a reward needs beyond the state (``layout.extension_groups``)."""

    base_height = ObsTerm(func=base_height)

    def __post_init__(self):
        self.enable_corruption = False


def apply_rwm(cfg, layout: RobotLayout, stage: str) -> None:
    """Turn an Isaac Lab flat velocity env cfg into the RWM task of ``layout.robot`` at ``stage``."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage '{stage}'; stages are {STAGES}")
    # explicit joint and body order everywhere (assets may order joints differently)
    joints = SceneEntityCfg("robot", joint_names=list(layout.joint_names), preserve_order=True)
    cfg.actions.joint_pos.joint_names = list(layout.joint_names)
    cfg.actions.joint_pos.preserve_order = True
    for group in (cfg.observations.policy,):
        group.joint_pos.params["asset_cfg"] = joints
        group.joint_vel.params["asset_cfg"] = joints
    feet = SceneEntityCfg("contact_forces", body_names=list(layout.foot_bodies), preserve_order=True)
    cfg.rewards.feet_air_time.params["sensor_cfg"] = feet
    if getattr(cfg.rewards, "undesired_contacts", None) is not None:
        cfg.rewards.undesired_contacts.params["sensor_cfg"] = SceneEntityCfg(
            "contact_forces", body_names=list(layout.thigh_bodies), preserve_order=True
        )
    cfg.terminations.base_contact.params["sensor_cfg"] = SceneEntityCfg("contact_forces", body_names=layout.base_body)

    # rewards: RWM's stand_still penalises joint deviation when asked to stand; termination_penalty makes a
    # fall cost 4 reward (weight x 0.02 s), so PPO never learns that ending an episode early beats the
    # penalties of staying up (without it the Go2 stand-in learned to fall within ~60 iterations)
    cfg.rewards.stand_still = RewTerm(
        func=vel_mdp.stand_still_joint_deviation_l1, weight=-1.0,
        params={"command_name": "base_velocity", "asset_cfg": joints},
    )  # fmt: skip
    cfg.rewards.termination_penalty = RewTerm(func=vel_mdp.is_terminated, weight=TERMINATION_PENALTY)

    # terminations: training stages also end an episode at a fall's tilt. Imagination reads the tilt from the
    # model's predicted gravity, so it sees a fall coming; its termination head, trained on a few dozen falls,
    # did not (under 1e-3 before real falls after Finetune). Play keeps base contact only: the harness's fall.
    if stage != "Play":
        cfg.terminations.bad_orientation = DoneTerm(func=vel_mdp.bad_orientation, params={"limit_angle": FALL_TILT_RAD})

    # world-model observation groups
    state = SystemStateCfg()
    for name in ("joint_pos", "joint_vel", "joint_effort"):
        getattr(state, name).params["asset_cfg"] = joints
    contact = SystemContactCfg()
    contact.contact.params["sensor_cfg"] = SceneEntityCfg(
        "contact_forces", body_names=list(layout.contact_bodies), preserve_order=True
    )
    termination = SystemTerminationCfg()
    termination.base_contact.params["sensor_cfg"] = SceneEntityCfg("contact_forces", body_names=layout.base_body)
    cfg.observations.system_state = state
    cfg.observations.system_action = SystemActionCfg()
    cfg.observations.system_contact = contact
    cfg.observations.system_termination = termination
    if layout.extension_groups:
        names = [n for n, _ in layout.extension_groups]
        if names != ["base_height"]:
            raise ValueError(f"no observation term for extension groups {names}")
        cfg.observations.system_extension = SystemExtensionCfg()

    cfg.scene.num_envs = max(GPU_ENV_COUNTS[stage][0], 1)  # Offline has no simulator; its cfg keeps one env
    if stage == "Play":
        cfg.play_mode()
