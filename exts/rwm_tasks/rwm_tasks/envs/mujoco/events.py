"""The event terms of a task (startup / reset / interval), executed on the MuJoCo batch.

Supported Isaac Lab event functions, with Isaac Lab's sampling semantics:

* ``randomize_rigid_body_material``: per-geom friction of the selected bodies, uniform in the static
  friction range (Newton keeps one coefficient per shape; the dynamic range is unused there too);
* ``randomize_rigid_body_mass``: body mass by add / scale / abs with uniform, log-uniform or gaussian
  samples, inertia scaled with the mass ratio when ``recompute_inertia``;
* ``randomize_rigid_body_com``: centre-of-mass offset added to the default, uniform per axis;
* ``apply_external_force_torque``: only with zero ranges (a no-op, as Isaac Lab skips it then);
* ``reset_root_state_uniform``: pose offset (x, y, z, roll, pitch, yaw) on the default root pose and
  velocity offset on the default root velocity (linear velocity of the centre of mass, world frame);
* ``reset_joints_by_scale`` / ``reset_joints_by_offset``: default joint state scaled / offset, positions
  clamped to the soft limits;
* ``push_by_setting_velocity``: root velocity offset.

Any other event term is refused with its name and the task id.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .frames import quat_from_euler_xyz, quat_mul

AXES = ("x", "y", "z", "roll", "pitch", "yaw")


class EventError(ValueError):
    """An event term the MuJoCo executor cannot run."""


def _ranges(ranges: dict | None, keys, n: int, gen: torch.Generator) -> torch.Tensor:
    """[n, len(keys)] uniform samples; missing keys give zeros (Isaac Lab's sample_uniform_from_ranges)."""
    lo = torch.tensor([float((ranges or {}).get(k, (0.0, 0.0))[0]) for k in keys])
    hi = torch.tensor([float((ranges or {}).get(k, (0.0, 0.0))[1]) for k in keys])
    return torch.rand(n, len(keys), generator=gen) * (hi - lo) + lo


def _sample(distribution: str, params, shape, gen: torch.Generator) -> torch.Tensor:
    a, b = float(params[0]), float(params[1])
    if distribution == "uniform":
        return torch.rand(shape, generator=gen) * (b - a) + a
    if distribution == "log_uniform":
        return torch.exp(torch.rand(shape, generator=gen) * (math.log(b) - math.log(a)) + math.log(a))
    if distribution == "gaussian":
        return torch.randn(shape, generator=gen) * b + a
    raise EventError(f"unknown distribution '{distribution}'")


# --- event functions: fn(env, ids [n] long tensor, **params) ---------------------------------------------


def randomize_rigid_body_material(env, ids, static_friction_range, asset_cfg=None, **_):
    bodies = env.body_ids_of(asset_cfg, "randomize_rigid_body_material")
    geoms = np.flatnonzero(np.isin(env.model.geom_bodyid, bodies))
    friction = env.batch.expand("geom_friction")
    samples = _sample("uniform", static_friction_range, (len(ids), len(geoms)), env.gen).double().numpy()
    friction[np.ix_(ids.numpy(), geoms, [0])] = samples[..., None]


def randomize_rigid_body_mass(
    env, ids, mass_distribution_params, operation, asset_cfg=None, distribution="uniform",
    recompute_inertia=True, min_mass=1e-6, **_,
):  # fmt: skip
    bodies = env.body_ids_of(asset_cfg, "randomize_rigid_body_mass")
    rows = ids.numpy()
    mass = env.batch.expand("body_mass")
    default = env.model.body_mass[bodies]
    s = _sample(distribution, mass_distribution_params, (len(rows), len(bodies)), env.gen).double().numpy()
    new = {"add": default + s, "scale": default * s, "abs": s}.get(operation)
    if new is None:
        raise EventError(f"randomize_rigid_body_mass: unknown operation '{operation}'")
    new = np.maximum(new, min_mass)
    mass[np.ix_(rows, bodies)] = new
    if recompute_inertia:
        inertia = env.batch.expand("body_inertia")
        inertia[np.ix_(rows, bodies)] = env.model.body_inertia[bodies] * (new / default)[..., None]
    env.batch.set_const(np.sort(rows))


def randomize_rigid_body_com(env, ids, com_range, asset_cfg=None, **_):
    bodies = env.body_ids_of(asset_cfg, "randomize_rigid_body_com")
    rows = ids.numpy()
    ipos = env.batch.expand("body_ipos")
    offset = _ranges(com_range, ("x", "y", "z"), len(rows), env.gen).double().numpy()
    ipos[np.ix_(rows, bodies)] = env.model.body_ipos[bodies] + offset[:, None, :]
    env.batch.set_const(np.sort(rows))
    env.refresh_base_com()


def apply_external_force_torque(env, ids, force_range, torque_range, **_):
    if any(float(v) != 0.0 for v in (*force_range, *torque_range)):
        raise EventError("apply_external_force_torque with non-zero ranges is not supported")


def reset_root_state_uniform(env, ids, pose_range, velocity_range, **_):
    n = len(ids)
    pos0, quat0, lin0, ang0 = env.default_root_state
    pose = _ranges(pose_range, AXES, n, env.gen)
    pos = pos0 + pose[:, :3]
    quat = quat_mul(quat0.expand(n, 4), quat_from_euler_xyz(pose[:, 3], pose[:, 4], pose[:, 5]))
    vel = _ranges(velocity_range, AXES, n, env.gen)
    env.write_root_state(ids, pos, quat, lin0 + vel[:, :3], ang0 + vel[:, 3:])


def _reset_joints(env, ids, position_range, velocity_range, scale: bool):
    n, j = len(ids), env.layout.num_joints
    q0, qd0 = env.default_joint_pos.expand(n, j), env.default_joint_vel.expand(n, j)
    dq = _sample("uniform", position_range, (n, j), env.gen)
    dv = _sample("uniform", velocity_range, (n, j), env.gen)
    q, qd = (q0 * dq, qd0 * dv) if scale else (q0 + dq, qd0 + dv)
    lo, hi = env.soft_joint_pos_limits[:, 0], env.soft_joint_pos_limits[:, 1]
    env.write_joint_state(ids, torch.clamp(q, lo, hi), qd)


def reset_joints_by_scale(env, ids, position_range, velocity_range, **_):
    _reset_joints(env, ids, position_range, velocity_range, scale=True)


def reset_joints_by_offset(env, ids, position_range, velocity_range, **_):
    _reset_joints(env, ids, position_range, velocity_range, scale=False)


def push_by_setting_velocity(env, ids, velocity_range, **_):
    pos, quat, lin, ang = env.root_state(ids)
    vel = _ranges(velocity_range, AXES, len(ids), env.gen)
    env.write_root_state(ids, pos, quat, lin + vel[:, :3], ang + vel[:, 3:])


EVENT_FUNCS = {
    f.__name__: f
    for f in (
        randomize_rigid_body_material, randomize_rigid_body_mass, randomize_rigid_body_com,
        apply_external_force_torque, reset_root_state_uniform, reset_joints_by_scale, reset_joints_by_offset,
        push_by_setting_velocity,
    )
}  # fmt: skip


class EventRunner:
    """Startup, reset and interval events of a ``TaskSpec`` in declaration order, as Isaac Lab's manager."""

    def __init__(self, env, events, task: str):
        self.env = env
        self.terms: dict[str, list] = {"startup": [], "reset": [], "interval": []}
        for ev in events:
            where = f"task '{task}': event term '{ev.name}' ({ev.func}, mode '{ev.mode}')"
            if ev.func not in EVENT_FUNCS:
                raise EventError(f"{where} cannot be run by the MuJoCo executor (supported: {sorted(EVENT_FUNCS)})")
            if ev.mode not in self.terms:
                raise EventError(f"{where}: mode '{ev.mode}' is not supported")
            asset = ev.params.get("asset_cfg")
            if asset is not None and asset.get("name", "robot") != "robot":
                raise EventError(f"{where}: only the robot asset exists in the MuJoCo executor")
            if ev.mode == "interval" and ev.is_global_time:
                raise EventError(f"{where}: global-time interval events are not supported")
            if ev.func == "apply_external_force_torque":
                apply_external_force_torque(env, None, **ev.params)  # refuse non-zero wrenches now
            self.terms[ev.mode].append(ev)
        self.time_left = torch.zeros(len(self.terms["interval"]), env.num_envs)

    def _call(self, ev, ids: torch.Tensor) -> None:
        try:
            EVENT_FUNCS[ev.func](self.env, ids, **ev.params)
        except EventError as err:
            raise EventError(f"task '{self.env.task}': event term '{ev.name}': {err}") from None

    def startup(self) -> None:
        ids = torch.arange(self.env.num_envs)
        for ev in self.terms["startup"]:
            self._call(ev, ids)

    def reset(self, ids: torch.Tensor) -> None:
        for ev in self.terms["reset"]:
            self._call(ev, ids)
        for k, ev in enumerate(self.terms["interval"]):
            if ev.resample_interval_on_reset:
                lo, hi = ev.interval_range_s
                self.time_left[k, ids] = torch.rand(len(ids), generator=self.env.gen) * (hi - lo) + lo

    def interval(self, dt: float) -> None:
        for k, ev in enumerate(self.terms["interval"]):
            self.time_left[k] -= dt
            ids = (self.time_left[k] < 1e-6).nonzero().flatten()
            if len(ids):
                lo, hi = ev.interval_range_s
                self.time_left[k, ids] = torch.rand(len(ids), generator=self.env.gen) * (hi - lo) + lo
                self._call(ev, ids)
