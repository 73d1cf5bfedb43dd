"""CPU smoke runs of the real command lines: Init training for both robots, then play with export.

Each run is a subprocess in a temporary working folder (logs land there), 4 envs, 1 PPO iteration.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO

pytestmark = [pytest.mark.isaaclab, pytest.mark.slow]


def _run(script, *args, cwd):
    res = subprocess.run(
        [sys.executable, str(REPO / "scripts" / script), *args], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, "RWM_LOCAL_ASSETS": "1"}, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, f"{script} {args} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.mark.parametrize("robot", ["Go2", "AnymalD"])
def test_init_training_writes_checkpoint_and_configs(workdir, robot):
    _run("train.py", "--task", f"RWM-{robot}-Init-v0", "--sim", "isaaclab", "--num_envs", "4", "--max_iterations", "1", "--seed", "1",
         cwd=workdir)  # fmt: skip
    experiment = {"Go2": "rwm_go2_init", "AnymalD": "rwm_anymal_d_init"}[robot]
    runs = sorted((workdir / "logs" / "rsl_rl" / experiment).iterdir())
    assert len(runs) == 1
    run = runs[0]
    assert (run / "model_0.pt").is_file()
    assert (run / "params" / "env.yaml").is_file() and (run / "params" / "agent.yaml").is_file()
    ckpt = torch.load(run / "model_0.pt", map_location="cpu", weights_only=False)
    assert "actor_state_dict" in ckpt


def test_play_exports_onnx_matching_torch(workdir):
    import onnxruntime as ort

    res = _run("play.py", "--task", "RWM-Go2-Play-v0", "--sim", "isaaclab", "--num_envs", "2", "--steps", "5", cwd=workdir)
    assert "played 5 steps" in res.stdout
    run = sorted((workdir / "logs" / "rsl_rl" / "rwm_go2_init").iterdir())[-1]
    exported = run / "exported"
    jit_policy = torch.jit.load(str(exported / "policy.pt"))
    session = ort.InferenceSession(str(exported / "policy.onnx"))
    inp = session.get_inputs()[0]
    obs = torch.randn(16, inp.shape[1], generator=torch.Generator().manual_seed(0))
    # the exported graph has a batch of one, as deployed on the robot
    onnx_out = np.concatenate([session.run(None, {inp.name: o[None].numpy()})[0] for o in obs])
    with torch.no_grad():
        torch_out = jit_policy(obs).numpy()
    assert onnx_out.shape == torch_out.shape == (16, 12)
    np.testing.assert_allclose(onnx_out, torch_out, atol=1e-5, rtol=1e-5)


def test_mujoco_executor_trains_and_plays_with_video(tmp_path):
    """``--sim mujoco``: Init training and play (with the offscreen video / velocity plot) on plain MuJoCo."""
    res = _run("train.py", "--task", "RWM-Go2-Init-v0", "--sim", "mujoco", "--num_envs", "32", "--max_iterations", "1",
               cwd=tmp_path)  # fmt: skip
    assert "real env executor: mujoco" in res.stdout and "on mujoco" in res.stdout
    run = sorted((tmp_path / "logs" / "rsl_rl" / "rwm_go2_init").iterdir())[-1]
    assert (run / "model_0.pt").is_file()
    res = _run("play.py", "--task", "RWM-Go2-Play-v0", "--sim", "mujoco", "--num_envs", "2", "--steps", "20",
               "--video", str(tmp_path / "play.mp4"), cwd=tmp_path)  # fmt: skip
    assert "played 20 steps" in res.stdout and (tmp_path / "play_velocity.png").is_file()


def test_time_budget_stops_training_and_saves(tmp_path):
    """``--max_minutes``: training stops at an iteration boundary once the budget is used and saves there."""
    res = _run("train.py", "--task", "RWM-Go2-Init-v0", "--sim", "mujoco", "--num_envs", "8", "--max_iterations", "100000",
               "--max_minutes", "0.05", cwd=tmp_path)  # fmt: skip
    assert "wall-time budget of 0.05 min used up" in res.stdout
    run = sorted((tmp_path / "logs" / "rsl_rl" / "rwm_go2_init").iterdir())[-1]
    saved = sorted(int(p.stem.split("_")[1]) for p in run.glob("model_*.pt"))
    assert 0 < saved[-1] < 99999


def test_resume_continues_init_in_its_own_folder(tmp_path):
    common = ("--task", "RWM-Go2-Init-v0", "--sim", "mujoco", "--num_envs", "8", "--max_iterations", "2")
    _run("train.py", *common, cwd=tmp_path)
    root = tmp_path / "logs" / "rsl_rl" / "rwm_go2_init"
    run = sorted(root.iterdir())[-1]
    assert sorted(p.name for p in run.glob("model_*.pt")) == ["model_0.pt", "model_1.pt"]
    _run("train.py", *common, "--resume", cwd=tmp_path)
    assert sorted(root.iterdir()) == [run]  # no new run folder
    assert sorted(p.name for p in run.glob("model_*.pt")) == ["model_0.pt", "model_1.pt", "model_3.pt"]
    assert torch.load(run / "model_3.pt", weights_only=False)["iter"] == 3
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run))
    events.Reload()
    assert [e.step for e in events.Scalars("Loss/learning_rate")] == [0, 1, 2, 3]  # each step once
