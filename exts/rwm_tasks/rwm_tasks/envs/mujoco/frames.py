"""Quaternion and frame helpers on torch tensors, in MuJoCo's (w, x, y, z) convention.

MuJoCo stores quaternions as (w, x, y, z); Isaac Lab 3 as (x, y, z, w). Everything inside the MuJoCo
executor is (w, x, y, z); :func:`wxyz_to_xyzw` / :func:`xyzw_to_wxyz` convert where the two meet (events
sampled with Isaac Lab semantics, states copied from an Isaac Lab env in tests).

Velocities follow Isaac Lab's root conventions: the root *linear* velocity is that of the base's centre of
mass, the angular velocity is the body's; a MuJoCo free joint's ``qvel`` holds the world-frame linear
velocity of the body *origin* and the angular velocity in the *body* frame.
"""

from __future__ import annotations

import torch

GRAVITY_DIR = (0.0, 0.0, -1.0)


def wxyz_to_xyzw(q: torch.Tensor) -> torch.Tensor:
    return q[..., [1, 2, 3, 0]]


def xyzw_to_wxyz(q: torch.Tensor) -> torch.Tensor:
    return q[..., [3, 0, 1, 2]]


def quat_mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a * b of (w, x, y, z) quaternions."""
    w1, x1, y1, z1 = a.unbind(-1)
    w2, x2, y2, z2 = b.unbind(-1)
    return torch.stack(
        (
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ),
        dim=-1,
    )


def quat_rotate(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate ``v`` from the body frame to the world frame by the (w, x, y, z) quaternion ``q``."""
    w, xyz = q[..., :1], q[..., 1:]
    t = 2.0 * torch.cross(xyz, v, dim=-1)
    return v + w * t + torch.cross(xyz, t, dim=-1)


def quat_rotate_inverse(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate world-frame ``v`` into the body frame of the (w, x, y, z) quaternion ``q``."""
    w, xyz = q[..., :1], q[..., 1:]
    t = 2.0 * torch.cross(xyz, v, dim=-1)
    return v - w * t + torch.cross(xyz, t, dim=-1)


def quat_from_euler_xyz(roll: torch.Tensor, pitch: torch.Tensor, yaw: torch.Tensor) -> torch.Tensor:
    """(w, x, y, z) quaternion of extrinsic X, then Y, then Z rotations (Isaac Lab's convention)."""
    cr, sr = torch.cos(roll * 0.5), torch.sin(roll * 0.5)
    cp, sp = torch.cos(pitch * 0.5), torch.sin(pitch * 0.5)
    cy, sy = torch.cos(yaw * 0.5), torch.sin(yaw * 0.5)
    return torch.stack(
        (
            cy * cr * cp + sy * sr * sp,
            cy * sr * cp - sy * cr * sp,
            cy * cr * sp + sy * sr * cp,
            sy * cr * cp - cy * sr * sp,
        ),
        dim=-1,
    )


def projected_gravity(q: torch.Tensor) -> torch.Tensor:
    """Unit gravity direction (0, 0, -1) expressed in the body frame."""
    g = torch.tensor(GRAVITY_DIR, dtype=q.dtype, device=q.device).expand(q.shape[:-1] + (3,))
    return quat_rotate_inverse(q, g)


def heading(q: torch.Tensor) -> torch.Tensor:
    """Yaw of the body x-axis in the world frame (Isaac Lab's ``heading_w``)."""
    x_axis = torch.tensor((1.0, 0.0, 0.0), dtype=q.dtype, device=q.device).expand(q.shape[:-1] + (3,))
    fwd = quat_rotate(q, x_axis)
    return torch.atan2(fwd[..., 1], fwd[..., 0])


def com_velocity_w(q: torch.Tensor, origin_lin_vel_w: torch.Tensor, ang_vel_b: torch.Tensor, com_b: torch.Tensor):
    """(linear velocity of the centre of mass, angular velocity), both in the world frame."""
    ang_w = quat_rotate(q, ang_vel_b)
    return origin_lin_vel_w + torch.cross(ang_w, quat_rotate(q, com_b), dim=-1), ang_w


def origin_velocity(q: torch.Tensor, com_lin_vel_w: torch.Tensor, ang_vel_w: torch.Tensor, com_b: torch.Tensor):
    """Inverse of :func:`com_velocity_w`: free-joint ``qvel`` parts (origin velocity world, angular body)."""
    origin = com_lin_vel_w - torch.cross(ang_vel_w, quat_rotate(q, com_b), dim=-1)
    return origin, quat_rotate_inverse(q, ang_vel_w)
