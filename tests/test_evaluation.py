"""The evaluation harness: the score on constructed traces, the seeded command schedule, scripted policies
scored in MuJoCo, the report, and bad input on the command line."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rwm_tasks.layout import get_layout
from rwm_tasks.envs.mdp import CommandSpec
from rwm_tasks.evaluation import alive_mask, command_schedule, schedule_hash, tracking_kernel, tracking_score
from rwm_tasks.evaluation.harness import evaluate_policy

REPO = Path(__file__).resolve().parents[1]
SPEC = CommandSpec("base_velocity", [-1.0, 1.0], [-0.5, 0.5], [-1.0, 1.0], [2.0, 4.0], rel_standing_envs=0.2)


# --- score -------------------------------------------------------------------------------------------------


def test_perfect_tracking_scores_one_and_a_constant_error_its_kernel():
    cmd = torch.rand(50, 4, 2)
    none = torch.zeros(50, 4, dtype=torch.bool)
    assert tracking_score(cmd.clone(), cmd, none, std=0.5) == pytest.approx(1.0)
    off = cmd + torch.tensor([0.3, 0.4])  # |error| = 0.5 everywhere
    assert tracking_score(off, cmd, none, std=0.5) == pytest.approx(math.exp(-1.0), rel=1e-5)


def test_an_env_scores_zero_from_its_first_fall_on():
    cmd = torch.zeros(10, 2, 2)
    terminated = torch.zeros(10, 2, dtype=torch.bool)
    terminated[4, 0] = True
    terminated[7, 0] = True  # a second fall after the reset changes nothing
    alive = alive_mask(terminated)
    assert alive[:4, 0].all() and not alive[4:, 0].any() and alive[:, 1].all()
    # env 0 tracks perfectly for 4 of 10 steps, env 1 for all 10
    assert tracking_score(cmd.clone(), cmd, terminated, std=0.5) == pytest.approx((4 + 10) / 20)
    assert tracking_kernel(torch.zeros(1, 2), torch.tensor([[0.5, 0.0]]), 0.5).item() == pytest.approx(math.exp(-1))


# --- schedule ----------------------------------------------------------------------------------------------


def test_schedule_is_seeded_within_ranges_and_piecewise_constant():
    a = command_schedule(SPEC, num_envs=32, num_steps=500, step_dt=0.02, seed=3)
    assert a.shape == (500, 32, 3)
    assert torch.equal(a, command_schedule(SPEC, 32, 500, 0.02, seed=3))
    assert schedule_hash(a) == schedule_hash(command_schedule(SPEC, 32, 500, 0.02, seed=3))
    assert schedule_hash(a) != schedule_hash(command_schedule(SPEC, 32, 500, 0.02, seed=4))
    for k, (lo, hi) in enumerate((SPEC.lin_vel_x, SPEC.lin_vel_y, SPEC.ang_vel_z)):
        assert a[..., k].min() >= lo and a[..., k].max() <= hi
    changes = (a[1:] != a[:-1]).any(dim=-1)  # [T-1, E]
    for e in range(32):
        steps = changes[:, e].nonzero().flatten()
        gaps = torch.diff(torch.cat((torch.tensor([-1]), steps)))
        assert (gaps >= 2.0 / 0.02 - 1).all()  # a command is held at least the shortest resampling time
    standing = (a.abs().sum(dim=-1) == 0).float().mean()
    assert 0.05 < standing < 0.4  # rel_standing_envs 0.2


# --- harness on MuJoCo with scripted policies --------------------------------------------------------------

GO2 = get_layout("go2")
LEFT = torch.tensor([1.0 if n.startswith(("FL", "RL")) else -1.0 for n in GO2.joint_names])


def _zero(obs):
    return torch.zeros(obs["policy"].shape[0], GO2.action_dim)


def _throw_over(obs):
    """Left legs to one joint limit, right legs to the other: the robot rolls onto its base."""
    return 10.0 * LEFT.expand(obs["policy"].shape[0], -1)


@pytest.fixture(scope="module")
def standing(tmp_path_factory):
    out = tmp_path_factory.mktemp("standing")
    return out, evaluate_policy("RWM-Go2-Play-v0", policy=_zero, num_envs=16, seconds=6.0, seed=2, out_dir=str(out))


def test_default_pose_scores_what_standing_still_scores_on_the_schedule(standing):
    out, result = standing
    schedule = command_schedule(_go2_command_spec(), 16, 300, 0.02, seed=2)
    expected = float(tracking_kernel(torch.zeros(300, 16, 2), schedule[..., :2], 0.5).mean())
    assert result["falls_per_env_minute"] == 0.0
    assert abs(result["tracking_score"] - expected) < 0.03, (result["tracking_score"], expected)
    assert result["command_schedule_hash"] == schedule_hash(schedule)
    written = json.loads((out / "eval.json").read_text())
    for key in ("tracking_score", "yaw_tracking_score", "falls_per_env_minute", "reward_terms_per_second"):
        assert written[key] == result[key]
    assert (out / "eval.png").stat().st_size > 10_000
    assert set(written["reward_terms_per_second"]) >= {"track_lin_vel_xy_exp", "termination_penalty"}


def test_a_policy_that_throws_the_robot_over_scores_near_zero():
    result = evaluate_policy("RWM-Go2-Play-v0", policy=_throw_over, num_envs=8, seconds=4.0, seed=2, quiet=True)
    assert result["tracking_score"] < 0.05
    assert result["fraction_of_envs_fallen"] == 1.0 and result["falls_per_env_minute"] > 10
    assert result["reward_terms_per_second"]["termination_penalty"] < 0


def test_same_seed_same_figures(standing):
    _, first = standing
    again = evaluate_policy("RWM-Go2-Play-v0", policy=_zero, num_envs=16, seconds=6.0, seed=2, quiet=True)
    for key in ("tracking_score", "yaw_tracking_score", "return_per_second", "command_schedule_hash"):
        assert again[key] == first[key]


def _go2_command_spec():
    from rwm_tasks.envs.mujoco.tasks import load_task_cfg
    from rwm_tasks.envs.mdp import TaskSpec

    cfg, _ = load_task_cfg("RWM-Go2-Play-v0")
    return TaskSpec.from_env_cfg(cfg, "RWM-Go2-Play-v0").command


# --- command line ------------------------------------------------------------------------------------------


def _cli(script, *args, cwd):
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / script), *args], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, "RWM_LOCAL_ASSETS": "1"}, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize(
    "args, message",
    [
        (["--checkpoint", "missing.pt"], "does not exist"),
        (["--checkpoint", "bad.pt"], "cannot be read"),
        (["--checkpoint", "bad.pt", "--num_envs", "0"], "--num_envs must be a positive integer"),
        (["--experiment", "rwm_go2_init"], "no runs to load"),
        (["--checkpoint", "bad.pt", "--sim", "isaaclab", "--video"], "--video needs --sim mujoco"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, args, message):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    res = _cli("evaluate.py", "--task", "RWM-Go2-Play-v0", *args, "--out", "out", cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pt"]


def test_an_existing_evaluation_is_not_overwritten(tmp_path, standing):
    out, _ = standing
    before = (out / "eval.json").read_bytes()
    (tmp_path / "bad.pt").write_bytes(b"x")
    res = _cli("evaluate.py", "--task", "RWM-Go2-Play-v0", "--checkpoint", str(tmp_path / "bad.pt"), "--out", str(out),
               cwd=tmp_path)  # fmt: skip
    assert res.returncode == 2 and "exists; pass --overwrite" in res.stderr
    assert (out / "eval.json").read_bytes() == before


SHIPPED = sorted(p.parent.name for p in (REPO / "pretrained").glob("*/*/model.pt") if (p.parent / "eval.json").is_file())


@pytest.mark.slow
@pytest.mark.parametrize("policy", SHIPPED or ["none shipped"])
def test_shipped_scores_are_reproduced_from_the_files(policy):
    """Every shipped policy scores what its committed eval.json says (same seed, same settings, same schedule)."""
    if policy == "none shipped":
        pytest.skip(reason="no pretrained policies in this checkout")
    folders = [p.parent for p in (REPO / "pretrained").glob(f"*/{policy}/model.pt")]
    for folder in folders:
        committed = json.loads((folder / "eval.json").read_text())
        again = evaluate_policy(committed["task"], str(folder / "model.pt"), sim=committed["executor"],
                                num_envs=committed["num_envs"], seconds=committed["seconds"], seed=committed["seed"],
                                quiet=True)  # fmt: skip
        # identical on the machine that wrote it; another CPU may round the simulation differently over 1000 steps
        assert abs(again["tracking_score"] - committed["tracking_score"]) <= 0.02, folder
        assert again["command_schedule_hash"] == committed["command_schedule_hash"]
        assert again["checkpoint_sha256"] == committed["checkpoint_sha256"]
