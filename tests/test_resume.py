"""Interrupted runs continue where they stopped and lose nothing: Pretrain, Finetune, Offline and dataset
collection are each run as a real child process, killed (SIGKILL) at a seeded random checkpoint, and resumed;
the resumed run must end with the iterations (or rows) of an uninterrupted one, keep every replay row saved
before the kill, start from the saved world-model parameters and log every TensorBoard step once."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import REPO
from rwm_tasks.training.replay_log import ReplayLog
from rwm_tasks.world_model.replay_buffer import ReplayBuffer

POLICY = REPO / "pretrained" / "go2" / "data_policy" / "model.pt"
ITERATIONS = 6
TINY_MODEL = [
    "agent.world_model.history_length=8", "agent.world_model.forecast_horizon=4", "agent.world_model.ensemble_size=2",
    "agent.world_model.rnn_hidden_dim=32", "agent.world_model.updates_per_iteration=2",
    "agent.world_model.batch_size=16", "agent.save_interval=1",
]  # fmt: skip
TINY_IMAGINATION = ["agent.imagination.num_envs=32", "agent.imagination.real_steps_per_iteration=4"]
ENV = {**os.environ, "RWM_LOCAL_ASSETS": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


# --- the replay buffer on disk -----------------------------------------------------------------------------
def _add_steps(buffer: ReplayBuffer, steps: int, generator: torch.Generator) -> None:
    sl = buffer.layout.column_slices
    for _ in range(steps):
        row = torch.randn(buffer.num_envs, buffer.layout.num_columns, generator=generator)
        flags = (torch.rand(buffer.num_envs, 1, generator=generator) < 0.1).float()
        buffer.add(row[:, sl["state"]], row[:, sl["action"]], row[:, sl["contact"]] > 0, flags,
                   row[:, sl["extension"]] if "extension" in sl else None,
                   episode_start=torch.rand(buffer.num_envs, generator=generator) < 0.05)  # fmt: skip


def test_replay_log_restores_the_ring_exactly(tmp_path):
    """Chunks saved at irregular intervals, the ring wrapping (rows leave it, some before they were saved),
    a chunk written after the last commit: the restored buffer equals the saved one, row for row."""
    gen = torch.Generator().manual_seed(0)
    buffer = ReplayBuffer("go2", num_envs=3, capacity_per_env=20, window=5)
    log = ReplayLog(str(tmp_path / "replay"))
    committed = None
    for steps in (7, 1, 12, 30, 4):  # 30 > capacity: rows are overwritten before they are saved
        _add_steps(buffer, steps, gen)
        committed = log.append(buffer)
        log.remove_unlisted()
        snapshot = (buffer.columns.clone(), buffer.first.clone(), buffer.ptr, buffer.size, buffer.steps)
    _add_steps(buffer, 3, gen)
    log.append(buffer)  # written but never committed: a kill before the state file
    restored = ReplayBuffer("go2", num_envs=3, capacity_per_env=20, window=5)
    ReplayLog(str(tmp_path / "replay"), committed).restore(restored)
    columns, first, ptr, size, steps = snapshot
    assert (restored.ptr, restored.size, restored.steps) == (ptr, size, steps) == (54 % 20, 20, 54)
    assert torch.equal(restored.columns, columns) and torch.equal(restored.first, first)
    assert len(os.listdir(tmp_path / "replay")) <= 4  # chunks that left the ring are deleted
    a, b = restored.sample(64, torch.Generator().manual_seed(1)), torch.Generator().manual_seed(1)
    assert restored.num_windows > 0 and torch.equal(a.states, ReplayBuffer.sample(restored, 64, b).states)


def test_a_stage_state_that_is_not_one_is_a_user_error(tmp_path):
    from rwm_tasks.launch import UserError
    from rwm_tasks.training.stage_state import read_state

    (tmp_path / "cut.pt").write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(UserError, match="cut.pt' cannot be read"):
        read_state(str(tmp_path / "cut.pt"))
    torch.save({"iteration": 3}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="is not an rwm_tasks stage state"):
        read_state(str(tmp_path / "other.pt"))


def test_put_rows_refuses_overlapping_rows():
    buffer = ReplayBuffer("go2", num_envs=2, capacity_per_env=10, window=3)
    _add_steps(buffer, 4, torch.Generator().manual_seed(0))
    first_step, columns, first = buffer.rows_since(2)
    assert first_step == 2 and columns.shape[1] == 2
    with pytest.raises(ValueError, match="overlap"):
        buffer.put_rows(first_step, columns, first)


# --- killed child processes --------------------------------------------------------------------------------
def _train(*args):
    return [sys.executable, str(REPO / "scripts" / "train.py"), *map(str, args)]


def _kill_when(argv, cwd, ready, log_name: str) -> None:
    """Run ``argv`` in ``cwd`` and SIGKILL it as soon as ``ready()`` holds; it must not finish before."""
    with open(cwd / log_name, "w") as log:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=ENV)
        deadline = time.time() + 600
        while proc.poll() is None and not ready() and time.time() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"finished before the kill:\n{(cwd / log_name).read_text()[-3000:]}"


def _run(argv, cwd) -> str:
    res = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=ENV, timeout=900)
    assert res.returncode == 0, f"{argv} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res.stdout


def _run_dir(cwd, experiment):
    runs = list((cwd / "logs" / "rsl_rl" / experiment).glob("*"))
    return runs[0] if len(runs) == 1 else None


def _checkpoint_appeared(cwd, experiment, iteration):
    return lambda: bool(list((cwd / "logs" / "rsl_rl" / experiment).glob(f"*/model_{iteration}.pt")))


def _saved(run, num_envs: int):
    """The committed stage state of a run and its replay buffer restored from the chunks (None without)."""
    state = torch.load(run / "stage_state.pt", weights_only=False)
    if state["replay"] is None:
        return state, None
    buffer = ReplayBuffer("go2", num_envs=num_envs, capacity_per_env=1000, window=2)
    ReplayLog(str(run / "replay"), state["replay"]).restore(buffer)
    return state, buffer


def _tensorboard_steps(run, tag: str) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run), size_guidance={"scalars": 0})
    acc.Reload()
    return [e.step for e in acc.Scalars(tag)]


def _saved_world_model_digest(run, state) -> str:
    """Digest of the world model in the committed state; ``world_model.pt`` holds the same one when it was
    written for that iteration (it is written right after the state file)."""
    from rwm_tasks.training.stage_state import parameters_digest
    from rwm_tasks.world_model.checkpoint import checkpoint_from_payload, load_checkpoint

    digest = parameters_digest(checkpoint_from_payload(state["world_model"], "state").model)
    exported = run / "world_model.pt"
    if exported.is_file() and load_checkpoint(exported).extra["iteration"] == state["iteration"]:
        assert parameters_digest(load_checkpoint(exported).model) == digest
    return digest


def _check_resumed_run(run, state, first_iteration: int, last_iteration: int) -> dict:
    """Same iterations as an uninterrupted run, continued in the same folder after the state's iteration,
    each TensorBoard step logged once."""
    saved = sorted(int(p.stem.split("_")[1]) for p in run.glob("model_*.pt"))
    assert saved[-1] == last_iteration
    assert torch.load(run / f"model_{last_iteration}.pt", weights_only=False)["iter"] == last_iteration
    resume = json.loads((run / "rwm_run.json").read_text())["resumes"][-1]
    assert resume["state_saved"] and resume["end_iteration"] == last_iteration
    assert resume["first_iteration"] == state["iteration"] + 1
    assert _tensorboard_steps(run, "Loss/learning_rate") == list(range(first_iteration, last_iteration + 1))
    return resume


@pytest.fixture(scope="module")
def tiny_world_model(tmp_path_factory):
    """A tiny Go2 world model (with optimizer state) and the synthetic dataset it was fitted on."""
    from rwm_tasks.world_model.data import TransitionStore, write_npz
    from rwm_tasks.world_model.synthetic import synthetic_dataset
    from rwm_tasks.world_model.train import TrainConfig, Trainer, make_model
    from rwm_tasks.world_model.checkpoint import save_checkpoint

    folder = tmp_path_factory.mktemp("inputs")
    data = synthetic_dataset("go2", num_rows=600, episode_length=100, seed=0)
    write_npz(folder / "data.npz", data)
    config = TrainConfig(history=8, forecast=4, batch_size=16)
    store = TransitionStore(data, window=config.window)
    model = make_model("go2", store, 0, num_heads=2, hidden_dim=32)
    trainer = Trainer.for_store(model, config, store)
    trainer.fit(store, 2)
    save_checkpoint(folder / "wm.pt", model, "go2", trainer)
    return folder / "wm.pt", folder / "data.npz"


@pytest.mark.slow
def test_pretrain_killed_and_resumed(tmp_path):
    k = random.Random(131).randint(1, ITERATIONS - 3)
    args = ["--task", "RWM-Go2-Pretrain-v0", "--sim", "mujoco", "--num_envs", "4", "--seed", "1",
            "--max_iterations", ITERATIONS, *TINY_MODEL]  # fmt: skip
    experiment = "rwm_go2_pretrain"
    _kill_when(_train(*args), tmp_path, _checkpoint_appeared(tmp_path, experiment, k), "killed.txt")
    run = _run_dir(tmp_path, experiment)
    state, rows = _saved(run, 4)
    assert state["iteration"] in (k - 1, k) and (run / state["checkpoint"]).is_file()
    assert rows.steps == (state["iteration"] + 1) * 24  # every real step of every saved iteration
    digest = _saved_world_model_digest(run, state)

    _run(_train(*args, "--resume"), tmp_path)
    assert _run_dir(tmp_path, experiment) == run  # no new run folder
    resume = _check_resumed_run(run, state, 0, ITERATIONS - 1)
    assert resume["world_model_sha256"] == digest and resume["replay_rows"] == len(rows)
    _, final = _saved(run, 4)
    assert final.steps == ITERATIONS * 24  # as in an uninterrupted run: nothing lost, nothing twice
    assert torch.equal(final.columns[:, : rows.steps], rows.columns[:, : rows.steps])
    assert torch.equal(final.first[:, : rows.steps], rows.first[:, : rows.steps])
    from rwm_tasks.world_model.data import read_npz

    assert len(read_npz(run / "dataset.npz")) == 4 * ITERATIONS * 24
    steps = _tensorboard_steps(run, "WorldModel/loss")
    assert steps == sorted(set(steps)) and steps[-1] == ITERATIONS - 1


@pytest.mark.slow
def test_finetune_killed_and_resumed(tmp_path, tiny_world_model):
    """Finetune continues with its own finetuned model and replay rows, not the pretrained model's."""
    wm, data = tiny_world_model
    first = torch.load(POLICY, weights_only=False)["iter"]  # a new Finetune run counts on from its policy's
    k = first + random.Random(132).randint(1, ITERATIONS - 3)
    sizes = ["--task", "RWM-Go2-Finetune-v0", "--sim", "mujoco", "--num_envs", "2", "--seed", "1",
             "--max_iterations", ITERATIONS, *TINY_MODEL, *TINY_IMAGINATION]  # fmt: skip
    experiment = "rwm_go2_finetune"
    _kill_when(_train(*sizes, "--checkpoint", POLICY, "--world_model", wm, "--dataset", data), tmp_path,
               _checkpoint_appeared(tmp_path, experiment, k), "killed.txt")  # fmt: skip
    run = _run_dir(tmp_path, experiment)
    state, rows = _saved(run, 2)
    assert state["iteration"] in (k - 1, k)
    window = 8 + 4 + 1  # the loaded policy's first rows, then 4 real steps per iteration
    assert rows.steps == window + 4 * (state["iteration"] - first + 1)
    digest = _saved_world_model_digest(run, state)
    from rwm_tasks.training.stage_state import parameters_digest
    from rwm_tasks.world_model.checkpoint import load_checkpoint

    assert digest != parameters_digest(load_checkpoint(wm).model)  # it has learned since

    _run(_train(*sizes, "--resume"), tmp_path)
    assert _run_dir(tmp_path, experiment) == run
    resume = _check_resumed_run(run, state, first, first + ITERATIONS - 1)
    assert resume["world_model_sha256"] == digest and resume["replay_rows"] == len(rows)
    _, final = _saved(run, 2)
    assert final.steps == window + 4 * ITERATIONS
    assert torch.equal(final.columns[:, : rows.steps], rows.columns[:, : rows.steps])
    info = json.loads((run / "rwm_run.json").read_text())
    assert info["iteration_offset"] == first and info["world_model"] == str(wm)


@pytest.mark.slow
def test_offline_killed_and_resumed(tmp_path, tiny_world_model):
    """Offline resumes with the world model and dataset the run was started with (not given again)."""
    wm, data = tiny_world_model
    k = random.Random(133).randint(1, ITERATIONS - 3)
    sizes = ["--task", "RWM-Go2-Offline-v0", "--seed", "1", "--max_iterations", ITERATIONS, *TINY_MODEL,
             *TINY_IMAGINATION]  # fmt: skip
    experiment = "rwm_go2_offline"
    _kill_when(_train(*sizes, "--world_model", wm, "--dataset", data), tmp_path,
               _checkpoint_appeared(tmp_path, experiment, k), "killed.txt")  # fmt: skip
    run = _run_dir(tmp_path, experiment)
    state, _ = _saved(run, 0)
    assert state["iteration"] in (k - 1, k) and state["world_model"] is None  # frozen: the input file
    assert state["rng"]["generators"].keys() == {"imagination", "stepper", "history"}
    out = _run(_train(*sizes, "--resume"), tmp_path)
    assert f"Offline: {ITERATIONS - 1 - state['iteration']} iterations" in out
    _check_resumed_run(run, state, 0, ITERATIONS - 1)
    assert torch.load(run / "stage_state.pt", weights_only=False)["inputs"]["dataset"] == str(data)


@pytest.mark.slow
def test_collection_killed_and_rerun(tmp_path):
    """A killed dataset collection, run again with the same arguments, continues after its last chunk."""
    from rwm_tasks.training.collect import PROGRESS_FILE
    from rwm_tasks.world_model.data import read_npz

    envs, steps, chunk = 4, 600, 20
    k = random.Random(134).randint(2, steps // chunk - 5)
    out = tmp_path / "dataset.npz"
    code = (f"from rwm_tasks.training.collect import collect_dataset; collect_dataset('RWM-Go2-Init-v0', "
            f"{str(POLICY)!r}, {str(out)!r}, num_envs={envs}, steps={steps}, chunk_steps={chunk}, seed=3)")  # fmt: skip
    parts = tmp_path / "dataset.npz.parts"
    _kill_when([sys.executable, "-c", code], tmp_path, lambda: len(list(parts.glob("chunk_*"))) >= k, "killed.txt")
    assert not out.exists()
    progress = torch.load(parts / PROGRESS_FILE, weights_only=False)
    done = progress["done"]
    assert done in ((k - 1) * chunk, k * chunk)  # a kill loses at most the last chunk
    saved = ReplayBuffer("go2", num_envs=envs, capacity_per_env=steps, window=2)
    ReplayLog(str(parts), progress["chunks"]).restore(saved)
    assert saved.steps == done

    stdout = _run([sys.executable, "-c", code], tmp_path)
    assert f"continuing the collection into {out} after step {done}/{steps}" in stdout
    data = read_npz(out)
    assert len(data) == envs * steps and not parts.exists()
    for env in range(envs):  # env after env: the saved rows first, then a new episode where the rerun began
        rows = torch.as_tensor(data.array[env * steps : env * steps + done])
        assert torch.equal(rows, saved.columns[env, :done])
        assert env * steps + done in set(data.episode_starts.tolist())
    assert data.layout.robot == "go2" and data.info["rows"] == envs * steps
    from rwm_tasks.training.collect import collect_dataset

    mtime = out.stat().st_mtime_ns  # a rerun after a later kill (e.g. of the pipeline) does not collect it again
    assert collect_dataset("RWM-Go2-Init-v0", str(POLICY), str(out), num_envs=envs, steps=steps, chunk_steps=chunk,
                           seed=3) == data.info  # fmt: skip
    assert out.stat().st_mtime_ns == mtime


def test_pipeline_continues_a_killed_training_step(tmp_path):
    """The pipeline reruns a stage step with --resume of the run an earlier attempt left, keeps a finished
    one, and starts a new run (with the start-only arguments) otherwise."""
    from rwm_tasks.pipeline.run import Pipeline
    from rwm_tasks.training.stage_state import STATE_FORMAT

    pipeline = Pipeline("go2", str(tmp_path / "out"), scale="smoke")
    calls = []
    pipeline.run = lambda step, argv: calls.append(argv)
    pipeline.train_stage("finetune", "Finetune", ["--seed", "0"], ["--checkpoint", "policy.pt"])
    assert calls[-1][-4:] == ["--seed", "0", "--checkpoint", "policy.pt"]
    root = tmp_path / "out" / "finetune" / "logs" / "rsl_rl" / "rwm_go2_finetune"
    for name, iteration in (("2026-01-01_00-00-00", 5), ("2026-01-02_00-00-00", 3)):
        (root / name).mkdir(parents=True)
        torch.save({"format": STATE_FORMAT, "iteration": iteration, "end_iteration": 9}, root / name / "stage_state.pt")
    (root / "2026-01-03_00-00-00").mkdir()  # killed before its first checkpoint: nothing to continue
    pipeline.train_stage("finetune", "Finetune", ["--seed", "0"], ["--checkpoint", "policy.pt"])
    assert calls[-1][-5:] == ["--seed", "0", "--resume", "--load_run", "2026-01-02_00-00-00"]
    finished = {"format": STATE_FORMAT, "iteration": 9, "end_iteration": 9}
    torch.save(finished, root / "2026-01-02_00-00-00" / "stage_state.pt")
    pipeline.train_stage("finetune", "Finetune", ["--seed", "0"], ["--checkpoint", "policy.pt"])
    assert len(calls) == 2


def test_collection_with_action_noise(tmp_path):
    """Per-env action noise changes the actions (same seed, same policy), is recorded with the data, and a
    collection with other noise is not mistaken for a finished one."""
    from rwm_tasks.training.collect import collect_dataset
    from rwm_tasks.world_model.data import read_npz

    sizes = dict(num_envs=4, steps=30, seed=5)
    quiet = collect_dataset("RWM-Go2-Init-v0", str(POLICY), str(tmp_path / "quiet.npz"), **sizes)
    noisy = collect_dataset("RWM-Go2-Init-v0", str(POLICY), str(tmp_path / "noisy.npz"), action_noise=1.0, **sizes)
    assert quiet["action_noise"] == 0.0 and noisy["action_noise"] == 1.0
    a, b = read_npz(tmp_path / "quiet.npz"), read_npz(tmp_path / "noisy.npz")
    actions = a.layout.column_slices["action"]
    assert a.array.shape == b.array.shape
    assert (torch.as_tensor(a.array[:, actions]) - torch.as_tensor(b.array[:, actions])).abs().mean() > 0.1
    redo = collect_dataset("RWM-Go2-Init-v0", str(POLICY), str(tmp_path / "noisy.npz"), action_noise=0.5, **sizes)
    assert redo["action_noise"] == 0.5  # other settings: collected anew, not taken from the file
