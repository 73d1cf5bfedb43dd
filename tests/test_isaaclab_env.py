"""Kit-less Isaac Lab envs of both stand-ins on CPU: standing check and the ``system_*`` groups.

One env per robot, built once for the module (a few envs, 100 steps).
"""

import pytest
import torch

from rwm_tasks.layout import get_layout
from rwm_tasks.robots import get_description

from isaaclab_helpers import isaaclab_env

pytestmark = [pytest.mark.isaaclab, pytest.mark.slow]

ROBOTS = {"go2": "RWM-Go2-Init-v0", "anymal_d": "RWM-AnymalD-Init-v0"}
STAND_STEPS = 100  # 2 s at the 50 Hz policy rate


@pytest.fixture(scope="module", params=sorted(ROBOTS))
def standing(request):
    """Zero actions for 2 s from the default pose; records heights, terminations and the last observations."""
    robot = request.param
    with isaaclab_env(ROBOTS[robot], num_envs=2) as (env, _):
        obs, _ = env.reset()
        first_obs = {k: v.clone() for k, v in obs.items()}
        terminated = torch.zeros(env.num_envs, dtype=torch.bool)
        for _ in range(STAND_STEPS):
            obs, _, term, _, _ = env.step(torch.zeros(env.num_envs, env.action_manager.total_action_dim))
            terminated |= term
        asset = env.scene["robot"]
        yield {
            "robot": robot,
            "env": env,
            "first_obs": first_obs,
            "obs": obs,
            "terminated": terminated,
            "height": asset.data.root_pos_w.torch[:, 2].clone(),
            "joint_pos": asset.data.joint_pos.torch.clone(),
            "default_joint_pos": asset.data.default_joint_pos.torch.clone(),
            "joint_names": list(asset.joint_names),
        }


def test_stands_on_default_pose(standing):
    nominal = get_description(standing["robot"]).standing_height()
    assert not standing["terminated"].any()
    rel = (standing["height"] - nominal).abs() / nominal
    assert (rel < 0.10).all(), f"base height {standing['height'].tolist()} vs nominal {nominal:.3f}"


def test_system_group_shapes_and_order(standing):
    layout = get_layout(standing["robot"])
    env, obs = standing["env"], standing["obs"]
    n = env.num_envs
    assert obs["system_state"].shape == (n, layout.state_dim)
    assert obs["system_action"].shape == (n, layout.action_dim)
    assert obs["system_contact"].shape == (n, layout.contact_dim)
    assert obs["system_termination"].shape == (n, 1)
    if layout.extension_groups:
        assert obs["system_extension"].shape == (n, layout.extension_dim)
    # term order and dims match the layout module
    terms = env.observation_manager.active_terms["system_state"]
    dims = [d[0] for d in env.observation_manager.group_obs_term_dim["system_state"]]
    assert list(zip(terms, dims)) == list(layout.state_groups)


def test_system_state_joint_order_follows_layout(standing):
    """Joint slices are in the layout's (official-asset) order whatever order the asset has."""
    layout = get_layout(standing["robot"])
    names = standing["joint_names"]
    idx = [names.index(j) for j in layout.joint_names]
    state = standing["obs"]["system_state"]
    expected = (standing["joint_pos"] - standing["default_joint_pos"])[:, idx]
    torch.testing.assert_close(state[:, layout.state_slice("joint_pos")], expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        torch.tensor(layout.default_joint_pos).expand(state.shape[0], -1),
        standing["default_joint_pos"][:, idx], atol=1e-6, rtol=0,
    )  # fmt: skip


def test_contacts_feet_down_thighs_and_base_free(standing):
    layout = get_layout(standing["robot"])
    contact = standing["obs"]["system_contact"]
    feet = contact[:, layout.contact_dim // 2 :]
    thighs = contact[:, : layout.contact_dim // 2]
    assert (feet == 1).all() and (thighs == 0).all()
    assert (standing["obs"]["system_termination"] == 0).all()
    # standing still: gravity points down in the base frame, velocities near zero
    state = standing["obs"]["system_state"]
    assert (state[:, layout.state_slice("projected_gravity")][:, 2] < -0.98).all()
    assert state[:, layout.state_slice("base_lin_vel")].abs().max() < 0.1


def test_go2_extension_is_base_height(standing):
    if standing["robot"] != "go2":
        pytest.skip(reason="only Go2 has an extension group (base height for its base_height_l2 reward)")
    torch.testing.assert_close(standing["obs"]["system_extension"][:, 0], standing["height"], atol=1e-5, rtol=0)
