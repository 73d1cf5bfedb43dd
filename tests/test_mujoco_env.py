"""The MuJoCo executor on its own: groups and layout, standing, actuators, events, logs, refusals, tools.

Isaac Lab is only used for its configs and pure-torch pieces here (no simulator); the cross-engine checks
are in ``test_mujoco_isaaclab.py``.
"""

import importlib
import json

import numpy as np
import pytest
import torch

from rwm_tasks.layout import get_layout
from rwm_tasks.envs.mujoco.env import MujocoVecEnv
from rwm_tasks.envs.mujoco.reference import deterministic
from rwm_tasks.envs.mujoco.tasks import load_task_cfg
from rwm_tasks.robots import get_description
from rwm_tasks.training.recorder import rows_from_obs
from rwm_tasks.world_model.data import WindowBatch

TASKS = {"go2": "RWM-Go2-Init-v0", "anymal_d": "RWM-AnymalD-Init-v0"}


def _env(robot, num_envs=4, quiet=False, edit=None, **kwargs):
    cfg, _ = load_task_cfg(TASKS[robot])
    if quiet:
        deterministic(cfg)
    if edit is not None:
        edit(cfg)
    return MujocoVecEnv(cfg, task=TASKS[robot], num_envs=num_envs, seed=0, **kwargs)


@pytest.mark.parametrize("robot", sorted(TASKS))
def test_groups_and_layout(robot):
    env = _env(robot)
    layout = get_layout(robot)
    cfg_groups = [k for k, v in vars(env.cfg.observations).items() if v is not None and not k.startswith("_")]
    obs = env.get_observations()
    assert list(obs.keys()) == cfg_groups
    assert obs["policy"].shape == (4, 48)
    assert obs["system_state"].shape == (4, layout.state_dim)
    assert obs["system_action"].shape == (4, layout.action_dim)
    assert obs["system_contact"].shape == (4, layout.contact_dim)
    assert obs["system_termination"].shape == (4, 1)
    assert ("system_extension" in obs) == bool(layout.extension_groups)
    assert env.obs_groups["system_state"].term_names == [n for n, _ in layout.state_groups]
    assert [env.index.body_names[i] for i in env.contact_channels] == list(layout.contact_bodies)
    assert env.index.joint_names == layout.joint_names
    # joint slices follow the layout's joint order: write a known pose and read it back
    q = torch.tensor(layout.default_joint_pos) + 0.01 * torch.arange(12)
    env.write_joint_state(torch.arange(4), q.expand(4, 12), torch.zeros(4, 12))
    rel = env.obs_groups["system_state"].compute(env.obs_inputs(env.state))[:, layout.state_slice("joint_pos")]
    torch.testing.assert_close(rel, (0.01 * torch.arange(12.0)).expand(4, 12), atol=1e-6, rtol=0)


@pytest.mark.parametrize("robot", sorted(TASKS))
def test_stands_on_default_pose_for_5_s(robot):
    """Zero action from the default pose: no termination, feet on the ground, thighs and base free."""
    env = _env(robot, quiet=True)
    layout = get_layout(robot)
    n_thigh = len(layout.thigh_bodies)
    for _ in range(250):
        obs, _, done, _ = env.step(torch.zeros(4, 12))
        assert not done.any()
        assert obs["system_contact"][:, :n_thigh].sum() == 0, "a thigh touched the ground"
        assert obs["system_termination"].sum() == 0, "the base touched the ground"
    assert (obs["system_contact"][:, n_thigh:] == 1).all(), "not all feet are on the ground"
    s = env.state
    nominal = get_description(robot).standing_height()
    height = s.root_pos[:, 2]
    assert (height > 0.8 * nominal).all(), f"base sank to {height.tolist()} (nominal {nominal:.3f})"
    assert (s.projected_gravity[:, :2].norm(dim=1) < 0.05).all()


@pytest.mark.parametrize("robot", sorted(TASKS))
def test_left_right_mirror_is_a_trajectory_of_the_robot(robot):
    """Env 1 applies the mirror of env 0's actions from the same (symmetric) default pose: its states are the
    mirror of env 0's and its feet touch down on the mirrored side, which is what the world model's mirror
    augmentation assumes of the robot."""
    env = _env(robot, num_envs=2, quiet=True)
    layout = get_layout(robot)
    act = layout.column_slices["action"]
    source, sign = layout.mirror_index()
    act_source = torch.tensor(source[act]) - act.start
    act_sign = torch.tensor(sign[act])
    phase = torch.linspace(0.0, 2.5, 12)  # a different phase per joint: a gait that is not symmetric itself
    rows = []
    for t in range(60):
        a0 = 0.4 * torch.sin(2 * torch.pi * 1.5 * t * 0.02 + phase)
        obs, _, done, _ = env.step(torch.stack([a0, a0[act_source] * act_sign]))
        assert not done.any()
        rows.append(torch.cat(list(rows_from_obs(obs, layout).values()), dim=-1))  # data-file column order
    rows = torch.stack(rows, dim=1)  # [2 envs, T, columns]
    batch = WindowBatch.from_columns(rows, layout)
    mirrored = batch.select(torch.tensor([0])).mirrored(layout, torch.tensor([True]))
    other = batch.select(torch.tensor([1]))
    rel = (mirrored.states - other.states).norm() / other.states.norm()
    assert rel < 0.02, f"mirrored trajectory differs by {rel:.4f} (relative)"
    same_contact = (mirrored.contacts == other.contacts).float().mean()
    assert same_contact > 0.99, f"contacts agree in only {same_contact:.1%} of steps"
    assert (batch.states[0] - other.states[0]).norm() > 3 * rel * other.states.norm(), "the gait was symmetric"


@pytest.mark.parametrize("robot", sorted(TASKS))
def test_actuator_matches_isaaclab_dc_motor(robot):
    from isaaclab.utils.types import ArticulationActions

    from rwm_tasks.envs.mujoco.actuator import PDActuators

    cfg, _ = load_task_cfg(TASKS[robot])
    names = list(get_layout(robot).joint_names)
    (group,) = cfg.scene.robot.actuators.values()
    cls = group.class_type
    if isinstance(cls, str):
        module, name = cls.split(":")
        cls = getattr(importlib.import_module(module), name)
    n = 128
    theirs = cls(group, joint_names=names, joint_ids=slice(None), num_envs=n, device="cpu")
    gen = torch.Generator().manual_seed(0)
    q, target = torch.randn(n, 12, generator=gen), torch.randn(n, 12, generator=gen)
    qd = 15.0 * torch.randn(n, 12, generator=gen)  # well into the torque-speed curve
    ref = theirs.compute(
        ArticulationActions(joint_positions=target.clone(), joint_velocities=torch.zeros(n, 12),
                            joint_efforts=torch.zeros(n, 12)), q, qd,
    ).joint_efforts  # fmt: skip
    ours = PDActuators(cfg.scene.robot.actuators, names).torque(
        target.double().numpy(), q.double().numpy(), qd.double().numpy()
    )
    np.testing.assert_allclose(ours, ref.double().numpy(), atol=1e-4)


def test_events_randomise_within_ranges():
    env = _env("go2", num_envs=64)
    base = env.index.base_body_id
    mass = env.batch.expand("body_mass")[:, base] / env.model.body_mass[base]
    assert 0.8 - 1e-6 <= mass.min() and mass.max() <= 1.25 + 1e-6 and mass.std() > 0.01
    com = env.batch.expand("body_ipos")[:, base] - env.model.body_ipos[base]
    assert np.abs(com[:, 0]).max() <= 0.05 + 1e-9 and np.abs(com[:, 2]).max() <= 0.01 + 1e-9
    torch.testing.assert_close(env.base_com_b, torch.tensor(env.batch.expand("body_ipos")[:, base], dtype=torch.float32))
    yaw = env.state.heading
    assert yaw.abs().max() <= 3.14 + 1e-4 and yaw.std() > 0.5
    # joints reset by scale 0.5..1.5 of the default pose, within soft limits
    q = env.state.joint_pos
    lo, hi = env.soft_joint_pos_limits[:, 0], env.soft_joint_pos_limits[:, 1]
    assert ((q >= lo - 1e-5) & (q <= hi + 1e-5)).all()
    # pushes: the interval event fires within its 10-15 s window
    ids = torch.arange(64)
    before = env.root_state(ids)[2].clone()
    env.events.time_left[:] = 0.0
    env.events.interval(env.step_dt)
    dv = env.root_state(ids)[2] - before
    assert dv[:, :2].abs().max() <= 0.5 + 1e-5 and dv[:, :2].abs().max() > 0.05 and dv[:, 2].abs().max() < 1e-5


def test_extras_match_isaaclab_logging():
    env = _env("go2", num_envs=8)
    env.episode_length_buf[:] = env.max_episode_length - 1
    _, rew, done, extras = env.step(torch.zeros(8, 12))
    assert done.all() and extras["time_outs"].all() and rew.shape == (8,)
    log = extras["log"]
    for term in env.rewards.names:
        assert f"Episode_Reward/{term}" in log
    assert log["Episode_Termination/time_out"] == 1.0
    assert "Metrics/base_velocity/error_vel_xy" in log and "Metrics/success_rate" in log
    assert (env.episode_length_buf == 0).all() and (env.action == 0).all()


def test_unknown_terms_are_refused_with_term_and_task():
    from isaaclab.envs import mdp
    from isaaclab.managers import EventTermCfg, ObservationTermCfg, RewardTermCfg, SceneEntityCfg

    def custom_reward(env):
        return torch.zeros(env.num_envs)

    def add_reward(cfg):
        cfg.rewards.my_custom = RewardTermCfg(func=custom_reward, weight=1.0)

    with pytest.raises(ValueError, match=r"RWM-Go2-Init-v0.*my_custom|my_custom.*RWM-Go2-Init-v0"):
        _env("go2", edit=add_reward)

    def add_event(cfg):
        cfg.events.gains = EventTermCfg(
            func=mdp.randomize_actuator_gains, mode="reset",
            params={"asset_cfg": SceneEntityCfg("robot"), "stiffness_distribution_params": (0.9, 1.1),
                    "damping_distribution_params": (0.9, 1.1), "operation": "scale"},
        )  # fmt: skip

    with pytest.raises(ValueError, match=r"RWM-Go2-Init-v0.*'gains'"):
        _env("go2", edit=add_event)

    def add_obs(cfg):
        cfg.observations.system_state.height = ObservationTermCfg(func=mdp.root_pos_w)

    with pytest.raises(ValueError, match=r"RWM-Go2-Init-v0.*system_state/height"):
        _env("go2", edit=add_obs)

    def lstm_actuator(cfg):
        from isaaclab.actuators import ActuatorNetMLPCfg

        cfg.scene.robot.actuators = {"net": ActuatorNetMLPCfg(
            joint_names_expr=[".*"], network_file="x.pt", pos_scale=1.0, vel_scale=1.0, torque_scale=1.0,
            input_order="pos_vel", input_idx=[0], effort_limit=1.0, velocity_limit=1.0, saturation_effort=1.0)}  # fmt: skip

    with pytest.raises(ValueError, match=r"RWM-Go2-Init-v0.*'net'"):
        _env("go2", edit=lstm_actuator)


def test_record_writes_plot_and_video(tmp_path):
    from rwm_tasks.envs.mujoco.video import record

    env = _env("go2", num_envs=2)
    out = record(env, lambda obs: torch.zeros(2, 12), 10, str(tmp_path / "play.mp4"), width=160, height=120)
    assert (tmp_path / "play_velocity.png").stat().st_size > 0
    if out["video"] is None:  # no EGL / encoder on this machine: the plot is the fallback
        pytest.skip(reason=f"no offscreen video here: {out['reason']}")
    assert (tmp_path / "play.mp4").stat().st_size > 0


def test_benchmark_main_prints_json(capsys):
    from rwm_tasks.envs.mujoco import benchmark

    result = benchmark.main(["--robots", "go2", "--num_envs", "16", "--seconds", "0.5", "--skip_isaaclab"])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == result and result["go2"]["mujoco_env_steps_per_s"] > 0
