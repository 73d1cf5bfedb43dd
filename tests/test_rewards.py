"""Reward terms: hand-computed values, air-time timer semantics, registry, and agreement with Isaac Lab's own
term functions evaluated on the same tensors through a duck-typed env (no simulation)."""

from __future__ import annotations

import dataclasses
import math
import types

import pytest
import torch

from rwm_tasks.envs import mdp as R
from rwm_tasks.layout import ANYMAL_D, GO2

DT = 0.02


# ---------------------------------------------------------------------------------------------------------
# Hand-computed values
# ---------------------------------------------------------------------------------------------------------


def test_track_lin_vel_xy_exp():
    v = torch.tensor([[0.5, 0.0, 9.0], [1.0, 1.0, 0.0]])
    cmd = torch.tensor([[1.0, 0.0, 0.3], [1.0, 1.0, 0.0]])
    out = R.track_lin_vel_xy_exp(v, cmd, std=0.5)
    assert torch.allclose(out, torch.tensor([math.exp(-0.25 / 0.25), 1.0]))


def test_track_ang_vel_z_exp():
    w = torch.tensor([[5.0, 5.0, 0.2]])
    cmd = torch.tensor([[0.0, 0.0, 0.7]])
    assert torch.allclose(R.track_ang_vel_z_exp(w, cmd, std=0.5), torch.tensor([math.exp(-0.25 / 0.25)]))


def test_simple_l2_terms():
    v = torch.tensor([[1.0, 2.0, -3.0]])
    w = torch.tensor([[1.0, -2.0, 7.0]])
    g = torch.tensor([[0.1, -0.2, -0.97]])
    assert R.lin_vel_z_l2(v).item() == pytest.approx(9.0)
    assert R.ang_vel_xy_l2(w).item() == pytest.approx(5.0)
    assert R.flat_orientation_l2(g).item() == pytest.approx(0.05)
    assert R.joint_torques_l2(torch.tensor([[1.0, -2.0, 3.0]])).item() == pytest.approx(14.0)
    assert R.action_rate_l2(torch.tensor([[1.0, 1.0]]), torch.tensor([[0.0, 3.0]])).item() == pytest.approx(5.0)
    assert R.base_height_l2(torch.tensor([[0.3]]), 0.4).item() == pytest.approx(0.01)
    assert R.undesired_contacts(torch.tensor([[True, False, True, True]])).item() == 3.0


def test_joint_acc_uses_velocity_not_position():
    """The reference computed joint acceleration from the joint-position slice; ours differentiates velocity."""
    layout = GO2
    sl = layout.state_slices
    prev, nxt = torch.zeros(1, layout.state_dim), torch.zeros(1, layout.state_dim)
    nxt[:, sl["joint_pos"]] = 0.3  # positions change a lot ...
    prev[:, sl["joint_vel"]] = 1.0
    nxt[:, sl["joint_vel"]] = 1.0  # ... velocities do not: zero acceleration
    spec = _spec(layout)
    zeros_a = torch.zeros(1, 12)
    cmd = torch.zeros(1, 3)
    terms = R.compute_reward_terms(spec, layout, nxt, zeros_a, zeros_a, cmd, prev_state=prev,
                                   contacts=torch.zeros(1, 8, dtype=torch.bool), air_time=_tracker(1),
                                   extension=torch.full((1, 1), 0.4))  # fmt: skip
    assert terms["dof_acc_l2"].item() == 0.0
    nxt[:, sl["joint_vel"].start] = 1.5  # one joint accelerates by 0.5 rad/s in one step
    terms = R.compute_reward_terms(spec, layout, nxt, zeros_a, zeros_a, cmd, prev_state=prev,
                                   contacts=torch.zeros(1, 8, dtype=torch.bool), air_time=_tracker(1),
                                   extension=torch.full((1, 1), 0.4))  # fmt: skip
    assert terms["dof_acc_l2"].item() == pytest.approx((0.5 / DT) ** 2)


def test_stand_still_joint_deviation_l1():
    q = torch.tensor([[0.1, -0.2], [0.1, -0.2]])
    cmd = torch.tensor([[0.03, 0.0, 1.0], [0.1, 0.0, 0.0]])
    out = R.stand_still_joint_deviation_l1(q, cmd, command_threshold=0.06)
    assert torch.allclose(out, torch.tensor([0.3, 0.0]))


def test_joint_pos_limits():
    q = torch.tensor([[-1.2, 0.0, 2.5]])
    limits = torch.tensor([[-1.0, 1.0], [-1.0, 1.0], [-2.0, 2.0]])
    assert R.joint_pos_limits(q, limits).item() == pytest.approx(0.2 + 0.5)


def test_feet_air_time_value_and_command_gate():
    last_air = torch.tensor([[0.8, 0.2], [0.8, 0.2]])
    first = torch.tensor([[True, True], [True, False]])
    cmd = torch.tensor([[0.5, 0.0, 0.0], [0.05, 0.05, 0.0]])  # second env: |cmd_xy| < 0.1 -> zero
    out = R.feet_air_time(last_air, first, cmd, threshold=0.5)
    assert torch.allclose(out, torch.tensor([0.3 - 0.3, 0.0]))
    first = torch.tensor([[True, False], [True, False]])
    assert R.feet_air_time(last_air, first, cmd, 0.5)[0].item() == pytest.approx(0.3)


# ---------------------------------------------------------------------------------------------------------
# Air-time timers (Isaac Lab ContactSensor semantics at the policy dt)
# ---------------------------------------------------------------------------------------------------------


def _tracker(n: int, bodies: int = 8) -> R.AirTimeTracker:
    return R.AirTimeTracker(n, bodies)


def test_air_time_tracker_sequence():
    tr = R.AirTimeTracker(1, 1)
    seq = [1, 0, 0, 0, 1, 1, 0, 1]
    expected = [  # (last_air_time, last_contact_time, first_contact) after each update, by the sensor's rule
        (0.0, 0.0, True),  # in contact after reset: contact timer starts -> "first contact", last air 0
        (0.0, 0.04, False),  # lift-off: last contact = current contact + dt
        (0.0, 0.04, False),
        (0.0, 0.04, False),
        (0.08, 0.04, True),  # touchdown after 3 airborne steps: current air (0.06) + dt
        (0.08, 0.04, False),
        (0.08, 0.06, False),
        (0.04, 0.06, True),
    ]
    for c, (air, contact, first) in zip(seq, expected):
        tr.update(torch.tensor([[bool(c)]]), DT)
        assert tr.last_air_time.item() == pytest.approx(air)
        assert tr.last_contact_time.item() == pytest.approx(contact)
        assert bool(tr.first_contact(DT).item()) is first
    assert bool(tr.first_air(DT).item()) is False
    tr.reset(torch.tensor([0]))
    assert tr.last_air_time.item() == 0.0 and tr.current_contact_time.item() == 0.0


def test_air_time_tracker_reset_only_selected_envs():
    tr = R.AirTimeTracker(3, 2)
    for c in (0, 0, 1):
        tr.update(torch.full((3, 2), bool(c)), DT)
    tr.reset(torch.tensor([1]))
    assert tr.last_air_time[1].eq(0).all() and tr.last_air_time[0].gt(0).all()


# ---------------------------------------------------------------------------------------------------------
# Registry and binding
# ---------------------------------------------------------------------------------------------------------


def test_registry_covers_velocity_terms():
    for name in ("track_lin_vel_xy_exp", "track_ang_vel_z_exp", "lin_vel_z_l2", "ang_vel_xy_l2", "joint_torques_l2",
                 "joint_acc_l2", "action_rate_l2", "feet_air_time", "undesired_contacts", "flat_orientation_l2",
                 "base_height_l2", "stand_still_joint_deviation_l1", "joint_pos_limits"):  # fmt: skip
        assert name in R.REWARD_TERMS
        assert R.REWARD_TERMS[name].func.__name__ == name


def test_resolve_names():
    names = ["LF_FOOT", "LH_FOOT", "RF_FOOT"]
    assert R.resolve_names(".*FOOT", names) == [0, 1, 2]
    assert R.resolve_names(["RF_.*", "LF_.*"], names) == [0, 2]
    assert R.resolve_names(["RF_.*", "LF_.*"], names, preserve_order=True) == [2, 0]
    with pytest.raises(ValueError, match="matches none"):
        R.resolve_names("base", names)


def _spec(layout, stand_still: bool = False):
    """Spec of the Isaac Lab flat task of ``layout``'s robot (kit-less import of the cfg), optionally with
    RWM's ``stand_still`` term added the way the project's task configs add it."""
    from rwm_tasks.envs.mdp import TaskSpec

    if layout is GO2:
        from isaaclab_tasks.core.velocity.config.go2.flat_env_cfg import UnitreeGo2FlatEnvCfg as Cfg
    else:
        from isaaclab_tasks.core.velocity.config.anymal_d.flat_env_cfg import AnymalDFlatEnvCfg as Cfg
    cfg = Cfg()
    if stand_still:
        from isaaclab.managers import RewardTermCfg
        from isaaclab_tasks.core.velocity.mdp import stand_still_joint_deviation_l1

        cfg.rewards.stand_still = RewardTermCfg(
            func=stand_still_joint_deviation_l1, weight=-1.0, params={"command_name": "base_velocity"}
        )
    return TaskSpec.from_env_cfg(cfg)


def test_reward_computer_binding_errors():
    spec = _spec(ANYMAL_D)
    # unknown body for a contact term
    spec.reward("undesired_contacts").params["sensor_cfg"]["body_names"] = ".*SHANK"
    with pytest.raises(ValueError, match="undesired_contacts"):
        R.RewardComputer(spec, ANYMAL_D)
    # joint_pos_limits with a weight needs limits
    spec = _spec(ANYMAL_D)
    spec.reward("dof_pos_limits").weight = -1.0
    with pytest.raises(ValueError, match="dof_pos_limits.*soft joint"):
        R.RewardComputer(spec, ANYMAL_D)
    R.RewardComputer(spec, ANYMAL_D, soft_joint_pos_limits=torch.tensor([[-3.0, 3.0]] * 12))
    # contact threshold must be the data's
    spec = _spec(ANYMAL_D)
    spec.reward("undesired_contacts").params["threshold"] = 5.0
    with pytest.raises(ValueError, match="threshold"):
        R.RewardComputer(spec, ANYMAL_D)
    # base height without an extension output
    spec = _spec(GO2)
    with pytest.raises(ValueError, match="base_height_l2.*extension"):
        R.RewardComputer(spec, dataclasses.replace(GO2, extension_groups=()))


# ---------------------------------------------------------------------------------------------------------
# Agreement with Isaac Lab's own term functions on the same tensors (duck-typed env, no simulation)
# ---------------------------------------------------------------------------------------------------------


def _ta(x):
    return types.SimpleNamespace(torch=x)


@pytest.mark.parametrize("layout", [GO2, ANYMAL_D], ids=["go2", "anymal_d"])
def test_terms_match_isaaclab_functions(layout):
    il = pytest.importorskip("isaaclab.envs.mdp.rewards")
    vel = pytest.importorskip("isaaclab_tasks.core.velocity.mdp.rewards")
    from isaaclab.managers import SceneEntityCfg

    torch.manual_seed(0)
    E, J, C = 64, layout.num_joints, layout.contact_dim
    spec = _spec(layout, stand_still=True)
    assert spec.reward("stand_still").params["command_threshold"] == 0.06  # default read from the function
    default_q = torch.tensor(layout.default_joint_pos)[:, None]
    limits = torch.stack([torch.full((J,), -0.5), torch.full((J,), 0.5)], dim=1) + default_q
    spec.reward("dof_pos_limits").weight = -1.0
    prev, state = torch.randn(E, layout.state_dim), torch.randn(E, layout.state_dim)
    sl = layout.state_slices
    action, prev_action = torch.randn(E, J), torch.randn(E, J)
    cmd = torch.randn(E, 3) * 0.5
    cmd[:8] = 0.01  # some standing commands
    height = 0.4 + 0.1 * torch.randn(E, layout.extension_dim)
    tracker = R.AirTimeTracker(E, C)
    for _ in range(12):
        contacts = torch.rand(E, C) > 0.5
        tracker.update(contacts, DT)
    ours = R.compute_reward_terms(spec, layout, state, action, prev_action, cmd, prev_state=prev, contacts=contacts,
                                  air_time=tracker, extension=height if layout.extension_dim else None,
                                  soft_joint_pos_limits=limits)  # fmt: skip

    # duck-typed Isaac Lab env holding the same quantities
    base_z = height[:, :1] if layout.extension_dim else torch.zeros(E, 1)
    default = torch.tensor(layout.default_joint_pos).expand(E, J)
    body_names = list(layout.contact_bodies)
    forces = torch.zeros(E, 1, C, 3)
    forces[..., 2] = contacts.float()[:, None, :] * 2.0  # binary contact -> 2 N (> 1 N threshold)
    robot = types.SimpleNamespace(
        data=types.SimpleNamespace(
            root_lin_vel_b=_ta(state[:, sl["base_lin_vel"]]),
            root_ang_vel_b=_ta(state[:, sl["base_ang_vel"]]),
            projected_gravity_b=_ta(state[:, sl["projected_gravity"]]),
            joint_pos=_ta(state[:, sl["joint_pos"]] + default),
            default_joint_pos=_ta(default),
            joint_acc=_ta((state[:, sl["joint_vel"]] - prev[:, sl["joint_vel"]]) / DT),
            soft_joint_pos_limits=_ta(limits.expand(E, J, 2)),
            root_pos_w=_ta(torch.cat([torch.zeros(E, 2), base_z], 1)),
        ),
        actuators=types.SimpleNamespace(applied_effort=_ta(state[:, sl["joint_effort"]])),
    )
    sensor = types.SimpleNamespace(
        data=types.SimpleNamespace(net_normal_forces_w_history=_ta(forces), last_air_time=_ta(tracker.last_air_time)),
        compute_first_contact=lambda dt: _ta(tracker.first_contact(dt).float()),
    )
    class Scene(dict):
        pass

    scene = Scene(robot=robot, contact_forces=sensor)
    scene.sensors = scene
    env = types.SimpleNamespace(
        scene=scene,
        command_manager=types.SimpleNamespace(get_command=lambda name: cmd),
        action_manager=types.SimpleNamespace(action=action, prev_action=prev_action),
        step_dt=DT,
    )
    funcs = {**{n: getattr(il, n) for n in dir(il)}, **{n: getattr(vel, n) for n in dir(vel)}}
    for term in spec.rewards:
        kwargs = {}
        for k, v in term.params.items():
            if R.is_scene_entity(v):
                cfg = SceneEntityCfg(v["name"], joint_names=v["joint_names"], body_names=v["body_names"])
                if v["body_names"] is not None:
                    cfg.body_ids = R.resolve_names(v["body_names"], body_names)
                kwargs[k] = cfg
            else:
                kwargs[k] = v
        if term.func == "base_height_l2" and not layout.extension_dim:
            continue
        expected = funcs[term.func](env, **kwargs).float()
        assert torch.allclose(ours[term.name], expected, rtol=1e-5, atol=1e-6), term.name
