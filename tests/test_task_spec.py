"""TaskSpec extraction from Isaac Lab's own flat velocity configs (kit-less import, no simulation)."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys

import pytest

from rwm_tasks.envs.mdp import TaskSpec, TaskSpecError

pytest.importorskip("isaaclab_tasks")


def _go2_cfg():
    from isaaclab_tasks.core.velocity.config.go2.flat_env_cfg import UnitreeGo2FlatEnvCfg

    return UnitreeGo2FlatEnvCfg()


def _anymal_cfg():
    from isaaclab_tasks.core.velocity.config.anymal_d.flat_env_cfg import AnymalDFlatEnvCfg

    return AnymalDFlatEnvCfg()


@pytest.fixture(scope="module")
def go2_spec():
    return TaskSpec.from_env_cfg(_go2_cfg(), task="Isaac-Velocity-Flat-UnitreeGo2")


@pytest.fixture(scope="module")
def anymal_spec():
    return TaskSpec.from_env_cfg(_anymal_cfg(), task="Isaac-Velocity-Flat-AnymalD")


def test_timing(go2_spec):
    assert go2_spec.step_dt == pytest.approx(0.02)
    assert go2_spec.max_episode_length == 1000


@pytest.mark.parametrize("which", ["go2", "anymal"])
def test_weights_and_params_are_read_from_cfg(which, go2_spec, anymal_spec):
    """Every non-None reward term of the cfg is in the spec, in order, with the cfg's weight and params."""
    cfg, spec = (_go2_cfg(), go2_spec) if which == "go2" else (_anymal_cfg(), anymal_spec)
    cfg_terms = [(n, t) for n, t in vars(cfg.rewards).items() if t is not None]
    assert [t.name for t in spec.rewards] == [n for n, _ in cfg_terms]
    for (name, term), ours in zip(cfg_terms, spec.rewards):
        assert ours.func == term.func.__name__
        assert ours.weight == term.weight
        for k, v in term.params.items():
            if hasattr(v, "body_names"):
                assert ours.params[k]["body_names"] == v.body_names and ours.params[k]["name"] == v.name
            elif isinstance(v, (int, float)):
                assert ours.params[k] == pytest.approx(v)


def test_go2_specifics(go2_spec):
    r = {t.name: t for t in go2_spec.rewards}
    assert r["base_height_l2"].params["target_height"] == pytest.approx(0.4)
    assert r["base_height_l2"].params["sensor_cfg"] is None
    assert "undesired_contacts" not in r
    assert r["feet_air_time"].params["sensor_cfg"]["body_names"] == ".*_foot"
    assert r["track_lin_vel_xy_exp"].params["std"] == pytest.approx(math.sqrt(0.25))
    assert go2_spec.action.scale == pytest.approx(0.25) and go2_spec.action.use_default_offset


def test_anymal_specifics(anymal_spec):
    r = {t.name: t for t in anymal_spec.rewards}
    assert r["undesired_contacts"].params["sensor_cfg"]["body_names"] == ".*THIGH"
    assert r["undesired_contacts"].params["threshold"] == 1.0
    assert r["flat_orientation_l2"].weight == -5.0
    assert anymal_spec.action.scale == pytest.approx(0.5)


def test_observations_in_order(anymal_spec):
    policy = anymal_spec.observations["policy"]
    assert [t.name for t in policy.terms] == [
        "base_lin_vel", "base_ang_vel", "projected_gravity", "velocity_commands", "joint_pos", "joint_vel", "actions",
    ]  # fmt: skip
    assert [t.func for t in policy.terms][3:] == ["generated_commands", "joint_pos_rel", "joint_vel_rel", "last_action"]
    noise = {t.name: t.noise for t in policy.terms}
    assert noise["joint_vel"].kind == "uniform" and noise["joint_vel"].params == {"n_min": -1.5, "n_max": 1.5}
    assert noise["actions"] is None and policy.enable_corruption
    assert "critic" not in anymal_spec.observations


def test_command_terminations_events(go2_spec):
    c = go2_spec.command
    assert c.name == "base_velocity" and c.lin_vel_x == [-1.0, 1.0] and c.resampling_time_range == [10.0, 10.0]
    assert c.rel_standing_envs == pytest.approx(0.02) and c.heading_command and c.heading_control_stiffness == 0.5
    names = {t.name: t for t in go2_spec.terminations}
    assert names["time_out"].time_out and names["base_contact"].func == "illegal_contact"
    assert names["base_contact"].params["sensor_cfg"]["body_names"] == "base"
    push = go2_spec.push
    assert push.interval_range_s == [10.0, 15.0] and push.params["velocity_range"]["x"] == [-0.5, 0.5]


@pytest.mark.parametrize("which", ["go2", "anymal"])
def test_round_trip_through_json(which, go2_spec, anymal_spec):
    spec = go2_spec if which == "go2" else anymal_spec
    again = TaskSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert again.step_dt == spec.step_dt


def test_unknown_reward_term_is_refused_by_name():
    cfg = _go2_cfg()

    def my_fancy_reward(env):
        return None

    cfg.rewards.track_lin_vel_xy_exp.func = my_fancy_reward
    with pytest.raises(TaskSpecError, match="'track_lin_vel_xy_exp'.*my_fancy_reward") as err:
        TaskSpec.from_env_cfg(cfg, task="RWM-Go2-Test-v0")
    assert "RWM-Go2-Test-v0" in str(err.value)


def test_unknown_observation_and_termination_are_refused():
    cfg = _anymal_cfg()
    cfg.observations.policy.height_scan = copy.copy(cfg.observations.policy.base_lin_vel)
    cfg.observations.policy.height_scan.func = lambda env: None
    with pytest.raises(TaskSpecError, match="policy/height_scan"):
        TaskSpec.from_env_cfg(cfg)
    cfg = _anymal_cfg()
    cfg.terminations.base_contact.func = lambda env: None
    with pytest.raises(TaskSpecError, match="base_contact"):
        TaskSpec.from_env_cfg(cfg)


def test_from_dict_validates(go2_spec):
    data = go2_spec.to_dict()
    data["rewards"][0]["func"] = "not_a_term"
    with pytest.raises(TaskSpecError, match="not_a_term"):
        TaskSpec.from_dict(data)


def test_no_isaaclab_import_at_module_level():
    code = (
        "import sys\n"
        "import rwm_tasks.envs.mdp, rwm_tasks.envs.imagination\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('isaaclab', 'isaaclab_tasks', 'isaacsim'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
