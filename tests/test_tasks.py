"""Task registration, configs of every robot and stage, the layout module, and CLI bad-input handling."""

import os
import subprocess
import sys

import gymnasium as gym
import pytest

from rwm_tasks.layout import ANYMAL_D, GO2, STATE_GROUPS, get_layout
from rwm_tasks.tasks import ROBOTS, all_task_ids

from conftest import REPO

TASKS = all_task_ids()


def test_every_id_registered_on_import():
    import rwm_tasks  # noqa: F401

    expected = {f"RWM-{r}-{s}-v0" for r in ("AnymalD", "Go2") for s in ("Init", "Pretrain", "Finetune", "Offline", "Play")}
    assert expected == set(TASKS)
    for task in TASKS:
        spec = gym.spec(task)
        assert spec.kwargs["env_cfg_entry_point"].startswith("rwm_tasks.envs.")
        assert spec.kwargs["rsl_rl_cfg_entry_point"].startswith("rwm_tasks.agents.rsl_rl_cfg:")


def test_import_does_not_pull_isaaclab():
    code = "import rwm_tasks, rwm_tasks.layout, sys; print(any(m.startswith('isaaclab') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_isaaclab_entry_point_group_lists_package():
    from importlib.metadata import entry_points

    assert any(ep.value == "rwm_tasks" for ep in entry_points(group="isaaclab.tasks"))


@pytest.fixture(scope="module")
def configs():
    from isaaclab_tasks.utils import resolve_task_config

    argv, sys.argv = sys.argv, sys.argv[:1]
    try:
        return {t: resolve_task_config(t, "rsl_rl_cfg_entry_point", overrides=[]) for t in TASKS}
    finally:
        sys.argv = argv


@pytest.mark.parametrize("task", TASKS)
def test_configs_instantiate_with_rwm_additions(configs, task):
    env_cfg, agent_cfg = configs[task]
    robot_tag, stage = task.split("-")[1:3]
    layout = get_layout(ROBOTS[robot_tag])
    assert agent_cfg.stage == stage
    assert agent_cfg.experiment_name == f"rwm_{layout.robot}_{stage.lower()}"
    # RWM's extra reward and the world-model groups are present for every robot and stage
    assert env_cfg.rewards.stand_still.weight == -1.0
    obs = env_cfg.observations
    state_terms = [n for n in obs.system_state.to_dict() if n in dict(STATE_GROUPS)]
    assert state_terms == [n for n, _ in STATE_GROUPS]
    assert obs.system_state.enable_corruption is False
    assert obs.system_contact.contact.params["sensor_cfg"].body_names == list(layout.contact_bodies)
    assert obs.system_state.joint_pos.params["asset_cfg"].joint_names == list(layout.joint_names)
    assert env_cfg.actions.joint_pos.joint_names == list(layout.joint_names)
    assert (getattr(obs, "system_extension", None) is not None) == bool(layout.extension_groups)
    # world-model and imagination settings the later stages use
    wm, im = agent_cfg.world_model, agent_cfg.imagination
    assert (wm.history_length, wm.forecast_horizon) == (32, 8)
    assert wm.ensemble_size >= 1 and im.uncertainty_penalty >= 0.0
    assert im.uncertainty_penalty == (1.0 if stage == "Offline" else 0.0)
    # a fall's tilt ends training episodes (imagination reads it from the predicted gravity); Play, whose
    # terminations define the harness's falls, keeps base contact only
    tilt = getattr(env_cfg.terminations, "bad_orientation", None)
    if stage == "Play":
        assert obs.policy.enable_corruption is False and env_cfg.events.push_robot is None
        assert tilt is None and env_cfg.terminations.base_contact is not None
    else:
        assert obs.policy.enable_corruption is True
        assert tilt.func.__name__ == "bad_orientation" and 0.5 < tilt.params["limit_angle"] < 1.57


def test_rewards_stay_isaac_labs(configs):
    """Weights are Isaac Lab's, not restated: spot-check the robot-specific ones."""
    go2, _ = configs["RWM-Go2-Init-v0"]
    anymal, _ = configs["RWM-AnymalD-Init-v0"]
    assert go2.rewards.track_lin_vel_xy_exp.weight == 1.5 and go2.rewards.base_height_l2.weight == -30.0
    assert go2.rewards.action_rate_l2.weight == -0.005 and go2.rewards.undesired_contacts is None
    assert anymal.rewards.flat_orientation_l2.weight == -5.0 and anymal.rewards.undesired_contacts.weight == -1.0


def test_layout_dims_and_columns():
    for layout in (GO2, ANYMAL_D):
        assert layout.state_dim == 45 and layout.action_dim == 12 and layout.contact_dim == 8
        assert len(layout.state_names) == 45 and len(layout.column_names) == layout.num_columns
        assert layout.state_slices["joint_vel"] == slice(21, 33)
    assert ANYMAL_D.num_columns == 66 and GO2.num_columns == 67  # Go2 adds base height
    assert get_layout("AnymalD") is ANYMAL_D and get_layout("Go2") is GO2
    with pytest.raises(ValueError, match="unknown robot"):
        get_layout("spot")


def test_layout_mismatch_is_named():
    with pytest.raises(ValueError, match="'robot' is 'anymal_d'"):
        GO2.check_compatible(ANYMAL_D.to_dict())
    reordered = {**GO2.to_dict(), "joint_names": list(reversed(GO2.joint_names))}
    with pytest.raises(ValueError, match="joint_names"):
        GO2.check_compatible(reordered)
    GO2.check_compatible(GO2.to_dict())


def _cli(script, *args, cwd):
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / script), *args], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, "RWM_LOCAL_ASSETS": "1"}, timeout=300,
    )  # fmt: skip


def test_unknown_task_lists_valid_ids(tmp_path):
    res = _cli("train.py", "--task", "RWM-Spot-Init-v0", cwd=tmp_path)
    assert res.returncode == 2
    assert "unknown task 'RWM-Spot-Init-v0'" in res.stderr and "RWM-Go2-Init-v0" in res.stderr
    assert not (tmp_path / "logs").exists()


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    res = _cli("play.py", "--task", "RWM-Go2-Play-v0", "--steps", "1", cwd=tmp_path)
    assert res.returncode == 2 and "no runs to load" in res.stderr


def test_corrupt_checkpoint_is_a_clear_error_and_nothing_is_written(tmp_path):
    run = tmp_path / "logs" / "rsl_rl" / "rwm_go2_init" / "2026-01-01_00-00-00"
    run.mkdir(parents=True)
    bad = run / "model_3.pt"
    bad.write_bytes(b"not a checkpoint")
    res = _cli("play.py", "--task", "RWM-Go2-Play-v0", "--steps", "1", cwd=tmp_path)
    assert res.returncode == 2 and "cannot be read" in res.stderr
    res = _cli("train.py", "--task", "RWM-Go2-Init-v0", "--resume", "--max_iterations", "1", cwd=tmp_path)
    assert res.returncode == 2 and "cannot be read" in res.stderr
    assert bad.read_bytes() == b"not a checkpoint"
    assert sorted(p.name for p in run.parent.iterdir()) == [run.name]  # no new run folder, nothing exported
    assert sorted(p.name for p in run.iterdir()) == ["model_3.pt"]


def test_bad_override_is_a_clear_error(tmp_path):
    res = _cli("train.py", "--task", "RWM-Go2-Init-v0", "scene.num_envs=4", cwd=tmp_path)
    assert res.returncode == 2 and "env.<path>=<value>" in res.stderr
