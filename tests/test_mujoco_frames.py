"""Frame and quaternion conventions of the MuJoCo executor (no simulator of Isaac Lab needed).

MuJoCo quaternions are (w, x, y, z), Isaac Lab 3's (x, y, z, w); Isaac Lab's root linear velocity is the
base centre of mass', a MuJoCo free joint's qvel the body origin's (world) and the body-frame angular rate.
"""

import math

import mujoco
import pytest
import torch

from rwm_tasks.envs.mujoco import frames

HALF_PI = math.pi / 2


def _euler(roll=0.0, pitch=0.0, yaw=0.0):
    return frames.quat_from_euler_xyz(torch.tensor([roll]), torch.tensor([pitch]), torch.tensor([yaw]))


def test_quaternion_order_matches_isaaclab_and_mujoco():
    from isaaclab.utils import math as il_math

    r, p, y = torch.tensor([0.3, -1.2]), torch.tensor([0.7, 0.1]), torch.tensor([-2.0, 2.9])
    ours = frames.quat_from_euler_xyz(r, p, y)
    theirs = il_math.quat_from_euler_xyz(r, p, y)  # (x, y, z, w)
    torch.testing.assert_close(frames.wxyz_to_xyzw(ours), theirs)
    torch.testing.assert_close(frames.xyzw_to_wxyz(theirs), ours)
    v = torch.tensor([[0.2, -1.0, 0.5], [1.0, 2.0, 3.0]])
    torch.testing.assert_close(frames.quat_rotate_inverse(ours, v), il_math.quat_apply_inverse(theirs, v))
    # MuJoCo reads qpos[3:7] as (w, x, y, z): its body rotation matrix equals our rotation
    model = mujoco.MjModel.from_xml_string(
        '<mujoco><worldbody><body><freejoint/><geom size=".1"/></body></worldbody></mujoco>'
    )
    data = mujoco.MjData(model)
    data.qpos[3:7] = ours[0].double().numpy()
    mujoco.mj_kinematics(model, data)
    rot = torch.tensor(data.xmat[1].reshape(3, 3), dtype=torch.float32)
    torch.testing.assert_close(rot @ v[0], frames.quat_rotate(ours[:1], v[:1])[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "euler, gravity_b",
    [
        ((0.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
        ((HALF_PI, 0.0, 0.0), (0.0, -1.0, 0.0)),  # rolled left side down: gravity along -y
        ((0.0, HALF_PI, 0.0), (1.0, 0.0, 0.0)),  # nose down: gravity along +x
        ((0.0, 0.0, 1.3), (0.0, 0.0, -1.0)),  # yaw does not change it
    ],
)
def test_projected_gravity(euler, gravity_b):
    q = _euler(*euler)
    torch.testing.assert_close(frames.projected_gravity(q)[0], torch.tensor(gravity_b), atol=1e-6, rtol=0)


def test_base_frame_velocity_and_heading():
    q = _euler(yaw=HALF_PI)  # facing world +y
    torch.testing.assert_close(
        frames.quat_rotate_inverse(q, torch.tensor([[0.0, 1.0, 0.0]]))[0], torch.tensor([1.0, 0.0, 0.0]),
        atol=1e-6, rtol=0,
    )  # fmt: skip
    torch.testing.assert_close(frames.heading(q), torch.tensor([HALF_PI]))


def test_centre_of_mass_velocity_round_trip():
    gen = torch.Generator().manual_seed(0)
    q = frames.quat_from_euler_xyz(*torch.randn(3, 5, generator=gen))
    com_b = 0.1 * torch.randn(5, 3, generator=gen)
    lin_w, ang_w = torch.randn(5, 3, generator=gen), torch.randn(5, 3, generator=gen)
    origin, ang_b = frames.origin_velocity(q, lin_w, ang_w, com_b)
    lin2, ang2 = frames.com_velocity_w(q, origin, ang_b, com_b)
    torch.testing.assert_close(lin2, lin_w, atol=1e-5, rtol=0)
    torch.testing.assert_close(ang2, ang_w, atol=1e-5, rtol=0)
    # spinning about z with the CoM 0.1 m ahead of the origin: the origin moves backwards sideways
    q0 = _euler()
    spin, com = torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([[0.1, 0.0, 0.0]])
    origin, _ = frames.origin_velocity(q0, torch.zeros(1, 3), spin, com)
    torch.testing.assert_close(origin, torch.tensor([[0.0, -0.1, 0.0]]))


def test_env_state_uses_isaaclab_conventions():
    """Root state written the Isaac Lab way (x, y, z, w; CoM velocity) reads back in Isaac Lab's frames."""
    from rwm_tasks.envs.mujoco.tasks import make_env

    env = make_env("RWM-Go2-Init-v0", num_envs=2, seed=0)
    ids = torch.arange(2)
    quat = frames.wxyz_to_xyzw(torch.cat([_euler(yaw=HALF_PI), _euler(roll=HALF_PI)]))
    pose = torch.cat([torch.tensor([[0.0, 0.0, 0.5], [1.0, 2.0, 0.6]]), quat], dim=1)
    vel = torch.tensor([[0.0, 1.0, 0.0, 0.0, 0.0, 0.5], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    env.write_root_state_isaaclab(ids, pose, vel)
    s = env.state
    torch.testing.assert_close(s.lin_vel_b[0], torch.tensor([1.0, 0.0, 0.0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(s.ang_vel_b[0], torch.tensor([0.0, 0.0, 0.5]), atol=1e-5, rtol=0)
    torch.testing.assert_close(s.projected_gravity[1], torch.tensor([0.0, -1.0, 0.0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(s.heading[0], torch.tensor(HALF_PI))
    _, quat_back, lin_w, ang_w = env.root_state(ids)
    torch.testing.assert_close(frames.wxyz_to_xyzw(quat_back), quat, atol=1e-6, rtol=0)
    torch.testing.assert_close(torch.cat([lin_w, ang_w], dim=1), vel, atol=1e-5, rtol=0)
