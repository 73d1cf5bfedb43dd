"""Reward parity: the imagination's reward terms, fed from the real env's world-model groups, reproduce the
Isaac Lab reward manager's per-term values for both robots (every term of the task, none dropped).

Random actions drive the kit-less env for 30 steps (4 envs); each step we compare the manager's
``weight * value`` per term with ``weight * compute_reward_terms(...)`` built only from ``system_*``
observations, the actions, the command, and the contact sensor's air-time buffers.
"""

import pytest
import torch

from rwm_tasks.layout import get_layout
from rwm_tasks.envs.mdp import compute_reward_terms
from rwm_tasks.envs.mdp import TaskSpec

from isaaclab_helpers import isaaclab_env

pytestmark = [pytest.mark.isaaclab, pytest.mark.slow]

TASKS = {"go2": "RWM-Go2-Init-v0", "anymal_d": "RWM-AnymalD-Init-v0"}
STEPS = 30


@pytest.fixture(scope="module", params=sorted(TASKS))
def recorded(request):
    robot = request.param
    layout = get_layout(robot)
    torch.manual_seed(0)
    with isaaclab_env(TASKS[robot], num_envs=4, quiet_events=False, seed=1) as (env, _):
        spec = TaskSpec.from_env_cfg(env.cfg, task=TASKS[robot])
        sensor = env.scene["contact_forces"]
        asset = env.scene["robot"]
        body_ids, _ = sensor.find_bodies(list(layout.contact_bodies), preserve_order=True)
        joint_ids, _ = asset.find_joints(list(layout.joint_names), preserve_order=True)
        obs, _ = env.reset()
        prev_action = torch.zeros(env.num_envs, layout.action_dim)
        steps = []
        for _ in range(STEPS):
            action = 0.5 * torch.randn(env.num_envs, layout.action_dim)
            command = env.command_manager.get_command("base_velocity").clone()
            prev_state = obs["system_state"].clone()
            obs, _, term, trunc, _ = env.step(action)
            manager = env.reward_manager
            steps.append({
                "valid": ~(term | trunc),
                "manager": {n: manager._step_reward[:, i].clone() for i, n in enumerate(manager.active_terms)},
                "ours": compute_reward_terms(
                    spec, layout, obs["system_state"], action, prev_action, command, prev_state=prev_state,
                    contacts=obs["system_contact"].bool(),
                    air_time=(sensor.data.last_air_time.torch[:, body_ids].clone(),
                              sensor.compute_first_contact(env.step_dt).torch[:, body_ids].clone()),
                    extension=obs.get("system_extension"),
                    joint_acc=asset.data.joint_acc.torch[:, joint_ids].clone(),
                    terminated=env.termination_manager.terminated.clone(),
                ),
                "ours_acc_from_velocity": compute_reward_terms(
                    spec, layout, obs["system_state"], action, prev_action, command, prev_state=prev_state,
                    contacts=obs["system_contact"].bool(), extension=obs.get("system_extension"),
                    air_time=(sensor.data.last_air_time.torch[:, body_ids].clone(),
                              sensor.compute_first_contact(env.step_dt).torch[:, body_ids].clone()),
                    terminated=env.termination_manager.terminated.clone(),
                )["dof_acc_l2"],
            })  # fmt: skip
            prev_action = action
        yield robot, spec, steps


def test_every_reward_term_is_reconstructed(recorded):
    _, spec, steps = recorded
    assert set(steps[0]["ours"]) == set(steps[0]["manager"]) == {t.name for t in spec.rewards}


def test_per_term_values_match_reward_manager(recorded):
    robot, spec, steps = recorded
    weights = {t.name: t.weight for t in spec.rewards}
    compared = 0
    for step in steps:
        valid = step["valid"]
        for name, theirs in step["manager"].items():
            ours = weights[name] * step["ours"][name]
            # float32 terms computed from the same tensors: agreement to rounding
            torch.testing.assert_close(ours[valid], theirs[valid], rtol=1e-4, atol=1e-6,
                                       msg=lambda m, n=name: f"{robot} term {n}: {m}")  # fmt: skip
            compared += int(valid.sum())
    assert compared > STEPS * 2 * len(weights)


def test_joint_acceleration_from_velocities_tracks_the_simulator(recorded):
    """Without the simulator's joint accelerations, the term uses the velocity difference over one policy
    step (what imagination can do). It averages the 4 physics substeps, so it differs per step, but its
    scale must match — the reference's bug (differencing joint positions) is off by orders of magnitude."""
    robot, spec, steps = recorded
    ours = torch.cat([s["ours_acc_from_velocity"][s["valid"]] for s in steps[1:]])
    theirs = torch.cat([s["ours"]["dof_acc_l2"][s["valid"]] for s in steps[1:]])
    ratio = float(ours.mean() / theirs.mean())
    assert 0.05 < ratio < 2.0, f"{robot}: mean joint-acc penalty ratio {ratio:.3f}"
