"""The model-based stages through the real command line, tiny and on CPU, for both robots:
Init -> Pretrain (world model + replay data) -> Finetune (MBPO-PPO) and Offline (MOPO-PPO), each producing
checkpoints that reload and play; plus bad input that must fail clearly and write nothing."""

import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO

TINY_MODEL = [
    "agent.world_model.history_length=8", "agent.world_model.forecast_horizon=4", "agent.world_model.ensemble_size=2",
    "agent.world_model.rnn_hidden_dim=32", "agent.world_model.updates_per_iteration=2",
    "agent.world_model.batch_size=16",
]  # fmt: skip
TINY_IMAGINATION = ["agent.imagination.num_envs=32", "agent.imagination.real_steps_per_iteration=4"]
EXPERIMENT = {"Go2": "rwm_go2", "AnymalD": "rwm_anymal_d"}
SIM = {"Go2": "mujoco", "AnymalD": "isaaclab"}  # both real-env executors drive the pipeline


def _run(script, *args, cwd, ok=True):
    res = subprocess.run(
        [sys.executable, str(REPO / "scripts" / script), *args], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, "RWM_LOCAL_ASSETS": "1"}, timeout=900,
    )  # fmt: skip
    if ok:
        assert res.returncode == 0, f"{script} {args} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def _latest_run(workdir, experiment):
    return sorted((workdir / "logs" / "rsl_rl" / experiment).iterdir())[-1]


@pytest.fixture(scope="module", params=["Go2", "AnymalD"])
def pipeline(request, tmp_path_factory):
    """Init (1 it) and Pretrain (2 its) of one robot in a fresh working folder."""
    robot = request.param
    workdir = tmp_path_factory.mktemp(f"stages_{robot}")
    sim = ["--sim", SIM[robot]]
    _run("train.py", "--task", f"RWM-{robot}-Init-v0", *sim, "--num_envs", "4", "--max_iterations", "1", cwd=workdir)
    _run("train.py", "--task", f"RWM-{robot}-Pretrain-v0", *sim, "--num_envs", "4", "--max_iterations", "2",
         *TINY_MODEL, cwd=workdir)  # fmt: skip
    return robot, workdir


@pytest.mark.isaaclab
@pytest.mark.slow
def test_pretrain_writes_world_model_and_replay_data(pipeline):
    from rwm_tasks.world_model.data import read_npz
    from rwm_tasks.world_model.checkpoint import load_checkpoint

    robot, workdir = pipeline
    run = _latest_run(workdir, f"{EXPERIMENT[robot]}_pretrain")
    assert (run / "model_1.pt").is_file()
    ckpt = load_checkpoint(run / "world_model.pt")
    assert ckpt.model.num_heads == 2 and ckpt.extra["task_spec"]["task"] == f"RWM-{robot}-Pretrain-v0"
    data = read_npz(run / "dataset.npz")
    assert len(data) == 4 * 2 * 24  # every real step of the 4 envs
    assert data.layout.robot == ckpt.layout.robot
    assert torch.isfinite(torch.as_tensor(data.array)).all()


@pytest.mark.isaaclab
@pytest.mark.slow
def test_finetune_then_play(pipeline):
    robot, workdir = pipeline
    res = _run("train.py", "--task", f"RWM-{robot}-Finetune-v0", "--sim", SIM[robot], "--num_envs", "2", "--max_iterations", "1",
               *TINY_IMAGINATION, cwd=workdir)  # fmt: skip
    assert "Finetune: policy" in res.stdout
    run = _latest_run(workdir, f"{EXPERIMENT[robot]}_finetune")
    assert (run / "world_model.pt").is_file() and list(run.glob("model_*.pt"))
    res = _run("play.py", "--task", f"RWM-{robot}-Play-v0", "--sim", SIM[robot], "--experiment", f"{EXPERIMENT[robot]}_finetune",
               "--num_envs", "2", "--steps", "3", cwd=workdir)  # fmt: skip
    assert "played 3 steps" in res.stdout and (run / "exported" / "policy.onnx").is_file()


@pytest.mark.isaaclab
@pytest.mark.slow
def test_offline_without_simulator_then_play(pipeline):
    robot, workdir = pipeline
    pre = _latest_run(workdir, f"{EXPERIMENT[robot]}_pretrain")
    res = _run("train.py", "--task", f"RWM-{robot}-Offline-v0", "--world_model", str(pre / "world_model.pt"),
               "--dataset", str(pre / "dataset.npz"), "--max_iterations", "2", *TINY_IMAGINATION, cwd=workdir)  # fmt: skip
    assert "Offline: 2 iterations" in res.stdout
    assert "Creating environment" not in res.stdout and "Simulation" not in res.stdout
    run = _latest_run(workdir, f"{EXPERIMENT[robot]}_offline")
    assert (run / "model_1.pt").is_file() and (run / "task_spec.json").is_file()
    res = _run("play.py", "--task", f"RWM-{robot}-Play-v0", "--sim", SIM[robot], "--experiment", f"{EXPERIMENT[robot]}_offline",
               "--num_envs", "2", "--steps", "3", cwd=workdir)  # fmt: skip
    assert "played 3 steps" in res.stdout


# --- bad input: clear error, exit code 2, nothing written ------------------------------------------------
@pytest.fixture(scope="module")
def anymal_model(tmp_path_factory):
    from rwm_tasks.layout import ANYMAL_D
    from rwm_tasks.world_model.train import make_model
    from rwm_tasks.world_model.checkpoint import save_checkpoint

    path = tmp_path_factory.mktemp("wm") / "anymal_wm.pt"
    save_checkpoint(path, make_model(ANYMAL_D, None, 0, num_heads=2, hidden_dim=16), ANYMAL_D)
    return path


def _fails_cleanly(tmp_path, *args, message):
    res = _run("train.py", *args, cwd=tmp_path, ok=False)
    assert res.returncode == 2, res.stderr[-2000:]
    assert message in res.stderr, res.stderr[-2000:]
    assert not (tmp_path / "logs").exists()


def test_offline_missing_world_model(tmp_path, shared_data):
    _fails_cleanly(tmp_path, "--task", "RWM-AnymalD-Offline-v0", "--world_model", str(tmp_path / "nope.pt"),
                   "--dataset", str(shared_data / "anymal_d_flat_rollout_part1.csv"), message="does not exist")  # fmt: skip


def test_offline_world_model_of_other_robot(tmp_path, anymal_model, shared_data):
    _fails_cleanly(tmp_path, "--task", "RWM-Go2-Offline-v0", "--world_model", str(anymal_model),
                   "--dataset", str(shared_data / "anymal_d_flat_rollout_part1.csv"), message="different layout")  # fmt: skip


def test_offline_dataset_of_other_robot(tmp_path, anymal_model, shared_data):
    from rwm_tasks.layout import GO2
    from rwm_tasks.world_model.train import make_model
    from rwm_tasks.world_model.checkpoint import save_checkpoint

    go2_model = tmp_path / "go2_wm.pt"
    save_checkpoint(go2_model, make_model(GO2, None, 0, num_heads=2, hidden_dim=16), GO2)
    os.makedirs(tmp_path / "run")
    _fails_cleanly(tmp_path / "run", "--task", "RWM-Go2-Offline-v0", "--world_model", str(go2_model),
                   "--dataset", str(shared_data / "anymal_d_flat_rollout_part1.csv"),
                   message="66 columns, expected 67 for robot 'go2'")  # fmt: skip


def test_negative_uncertainty_penalty(tmp_path, anymal_model, shared_data):
    _fails_cleanly(tmp_path, "--task", "RWM-AnymalD-Offline-v0", "--world_model", str(anymal_model),
                   "--dataset", str(shared_data / "anymal_d_flat_rollout_part1.csv"),
                   "agent.imagination.uncertainty_penalty=-1.0", message="lambda must be >= 0")  # fmt: skip


def test_offline_needs_a_dataset(tmp_path, anymal_model):
    _fails_cleanly(tmp_path, "--task", "RWM-AnymalD-Offline-v0", "--world_model", str(anymal_model),
                   message="needs a dataset")  # fmt: skip


def test_finetune_from_a_finetune_checkpoint_counts_the_earlier_real_steps(tmp_path):
    """A Finetune run continued from another Finetune run's checkpoint counts that run's real steps up to the
    checkpoint, and a shared dataset once; an Init checkpoint brings none."""
    import json

    from rwm_tasks.training.stages import RUN_INFO_FILE, chained_transitions

    earlier = tmp_path / "earlier"
    earlier.mkdir()
    data = str(tmp_path / "dataset.npz")
    (earlier / RUN_INFO_FILE).write_text(json.dumps({
        "stage": "Finetune", "dataset": data, "real_transitions_before": 1000 + 64, "iteration_offset": 100,
        "real_transitions_per_iteration": 16 * 24}))  # fmt: skip
    ckpt = str(earlier / "model_109.pt")
    assert chained_transitions(ckpt, data, 1000) == 64 + 10 * 16 * 24
    assert chained_transitions(ckpt, str(tmp_path / "other.npz"), 500) == 1000 + 64 + 10 * 16 * 24
    assert chained_transitions(ckpt, None, 0) == 1000 + 64 + 10 * 16 * 24
    (earlier / RUN_INFO_FILE).write_text(json.dumps({"stage": "Offline"}))
    assert chained_transitions(ckpt, data, 1000) == 0
    assert chained_transitions(str(tmp_path / "model_5.pt"), data, 1000) == 0  # no run facts beside it
