"""The MuJoCo executor against the kit-less Isaac Lab env of the same task (one Isaac Lab env per robot).

Cross-engine agreement: same initial state, same open-loop actions for 0.5 s (25 policy steps). The two
engines differ in contact model (MuJoCo soft constraints with the default solref vs. Newton's penalty
contact ke/kd), substepping (Newton 2 substeps per 5 ms step, MuJoCo 1) and solver details, so
trajectories drift apart slowly. Measured maxima over 0.5 s (sinusoidal actions of amplitude 0.5 on one
env, zero on the other; joint armature 0.01 in both): Go2 base height 10 mm, projected gravity 0.019, joint
positions 0.050 rad; ANYmal D 5 mm, 0.008, 0.021 rad (without armature in both: 9 mm, 0.021, 0.051 and
5 mm, 0.006, 0.018). The tolerances are about twice the worst of these: 0.02 m, 0.05 and
0.1 rad -- an order of magnitude below a fall or a step (base height moves by ~0.1 m, joints by ~0.5 rad
in this motion), so a wrong frame, joint order, gain or sign would fail them.

Parity: after random steps in Isaac Lab, its state is written into the MuJoCo env; every observation term
of every group and every weighted reward term must equal Isaac Lab's own term value.
"""

import math

import mujoco
import pytest
import torch

from rwm_tasks.envs.mujoco.env import MujocoVecEnv
from rwm_tasks.envs.mujoco.reference import copy_isaaclab_state, deterministic, isaaclab_env
from rwm_tasks.envs.mujoco.tasks import load_task_cfg
from rwm_tasks.robots import get_description

pytestmark = [pytest.mark.isaaclab, pytest.mark.slow]

TASKS = {"go2": "RWM-Go2-Init-v0", "anymal_d": "RWM-AnymalD-Init-v0"}
NUM_ENVS = 2
TOL = {"height": 0.02, "gravity": 0.05, "joint_pos": 0.1}


def _cfg(robot: str):
    """Deterministic cfg with the description's joint armature set explicitly, so both engines use it (the
    stand-in USDs author no armature, the MuJoCo executor otherwise takes the description's)."""
    cfg, _ = load_task_cfg(TASKS[robot])
    deterministic(cfg)
    armature = mujoco.MjModel.from_xml_string(get_description(robot).to_mjcf()).dof_armature[6:]
    for group in cfg.scene.robot.actuators.values():
        group.armature = float(armature.max())
    return cfg


@pytest.fixture(scope="module", params=sorted(TASKS))
def engines(request):
    task = TASKS[request.param]
    mj = MujocoVecEnv(_cfg(request.param), task=task, num_envs=NUM_ENVS, seed=0)
    with isaaclab_env(task, NUM_ENVS, seed=0, env_cfg=_cfg(request.param)) as il:
        torch.testing.assert_close(
            il.scene["robot"].data.joint_armature.torch[0].double(), torch.from_numpy(mj.model.dof_armature[6:])
        )
        yield il, mj


def _open_loop(k: int) -> torch.Tensor:
    t = k * 0.02
    a = 0.5 * torch.sin(2 * math.pi * 1.5 * t + 0.7 * torch.arange(12))
    return torch.stack([a, torch.zeros(12)])


def test_cross_engine_agreement(engines):
    il, mj = engines
    il.reset()
    copy_isaaclab_state(il, mj)
    data = il.scene["robot"].data
    names = list(il.scene["robot"].joint_names)
    order = [names.index(j) for j in mj.layout.joint_names]
    worst = dict.fromkeys(TOL, 0.0)
    for k in range(25):
        il.step(_open_loop(k))
        mj.step(_open_loop(k))
        s = mj.state
        worst["height"] = max(worst["height"], (data.root_pos_w.torch[:, 2] - s.root_pos[:, 2]).abs().max().item())
        dg = (data.projected_gravity_b.torch - s.projected_gravity).abs().max().item()
        worst["gravity"] = max(worst["gravity"], dg)
        worst["joint_pos"] = max(worst["joint_pos"], (data.joint_pos.torch[:, order] - s.joint_pos).abs().max().item())
    print(f"max deviations over 0.5 s: {worst}")
    assert all(worst[k] < TOL[k] for k in TOL), f"max deviations over 0.5 s {worst} exceed {TOL}"


def test_observation_and_reward_parity(engines):
    il, mj = engines
    il.reset()
    gen = torch.Generator().manual_seed(1)
    for _ in range(30):
        il.step(0.5 * torch.randn(NUM_ENVS, 12, generator=gen))
    copy_isaaclab_state(il, mj)
    state = mj.state
    om = il.observation_manager
    assert set(mj.obs_groups) == set(om.active_terms)
    for group, ours in mj.obs_groups.items():
        assert ours.term_names == om.active_terms[group]
        values = ours.compute(mj.obs_inputs(state), terms=True)
        for name, cfg, value in zip(om.active_terms[group], om._group_obs_term_cfgs[group], values):
            ref = cfg.func(il, **cfg.params).float()
            torch.testing.assert_close(value, ref, atol=1e-4, rtol=1e-5, msg=f"observation {group}/{name}")
    rm = il.reward_manager
    terminated, _ = mj.compute_terminations(state)
    terms = mj.rewards.compute(mj.reward_inputs(state, terminated))
    checked = 0
    for name, cfg in zip(rm._term_names, rm._term_cfgs):
        if cfg.weight == 0.0:  # Isaac Lab skips these too
            continue
        ref = cfg.func(il, **cfg.params).float()
        torch.testing.assert_close(terms[name], ref, atol=1e-4, rtol=1e-5, msg=f"reward {name}")
        checked += 1
    assert checked == sum(1 for c in rm._term_cfgs if c.weight != 0.0) >= 10
    assert torch.equal(terminated, il.termination_manager.terminated)
