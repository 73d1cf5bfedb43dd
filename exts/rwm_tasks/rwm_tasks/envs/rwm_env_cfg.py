"""What RWM adds to Isaac Lab's flat velocity tasks, for every robot and stage.

Robot modules (``go2/``, ``anymal_d/``) inherit Isaac Lab's own flat env cfg and call :func:`apply_rwm` in
``__post_init__``: explicit joint and body order from the layout module, the ``system_*`` observation
groups the world model learns from, RWM's ``stand_still`` reward, stand-in assets when needed, and the
stage's number of envs. Everything else (rewards, weights, commands, timing) stays Isaac Lab's.
"""

from __future__ import annotations

from isaaclab.managers import ObservationGroupCfg as ObsGroup
from isaaclab.managers import ObservationTermCfg as ObsTerm
from isaaclab.managers import RewardTermCfg as RewTerm
from isaaclab.managers import SceneEntityCfg
from isaaclab.utils import configclass

import isaaclab_tasks.core.velocity.mdp as vel_mdp

from . import assets
from . import mdp as rwm_mdp
from .layout import CONTACT_THRESHOLD_N, RobotLayout
from .registration import STAGES

TERMINATION_PENALTY = -200.0
"""Weight of Isaac Lab's ``is_terminated`` reward term (its humanoid tasks use the same value)."""

# Real envs per stage at full scale (GPU); CPU runs are scaled down by the train script.
STAGE_NUM_ENVS = {"Init": 4096, "Pretrain": 4096, "Finetune": 10, "Offline": 1, "Play": 50}


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

    contact = ObsTerm(func=rwm_mdp.contact_flags, params={"threshold": CONTACT_THRESHOLD_N})

    def __post_init__(self):
        self.enable_corruption = False


@configclass
class SystemTerminationCfg(ObsGroup):
    """Base contact: the task's termination, as a 0/1 feature."""

    base_contact = ObsTerm(func=rwm_mdp.any_contact, params={"threshold": CONTACT_THRESHOLD_N})

    def __post_init__(self):
        self.enable_corruption = False


@configclass
class SystemExtensionCfg(ObsGroup):
    """Extra quantities a reward needs beyond the state (``layout.extension_groups``)."""

    base_height = ObsTerm(func=rwm_mdp.base_height)

    def __post_init__(self):
        self.enable_corruption = False


def apply_rwm(cfg, layout: RobotLayout, stage: str) -> None:
    """Turn an Isaac Lab flat velocity env cfg into the RWM task of ``layout.robot`` at ``stage``."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage '{stage}'; stages are {STAGES}")
    local = assets.use_local_assets()
    if local:
        assets.apply_standin(cfg, layout.robot)
    assets.announce(layout.robot, local)

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

    cfg.scene.num_envs = STAGE_NUM_ENVS[stage]
    if stage == "Play":
        cfg.play_mode()
