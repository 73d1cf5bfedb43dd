"""The RWM pipeline: its pieces on constructed inputs, and ``--scale smoke`` end to end for both robots,
including a rerun after the process was killed."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rwm_tasks.evaluation.harness import evaluate_policy
from rwm_tasks.training.imagination_probe import choose_penalty
from rwm_tasks.training.mixed_windows import MixedWindows
from rwm_tasks.pipeline.report import ppo_transitions_for
from rwm_tasks.pipeline.run import DATA_POLICY_TRIES, choose_data_policy
from rwm_tasks.world_model.data import TransitionData, TransitionStore, read_npz
from rwm_tasks.world_model.replay_buffer import ReplayBuffer
from rwm_tasks.world_model.synthetic import synthetic_dataset

REPO = Path(__file__).resolve().parents[1]
POLICIES = ("init", "data_policy", "offline", "offline_lambda0", "finetune")


def test_penalty_is_the_stated_share_of_the_raw_reward():
    probe = {"reward_raw": 0.02, "uncertainty": 4.0, "dt": 0.02}
    lam = choose_penalty(probe, 0.5)
    assert lam * probe["uncertainty"] * probe["dt"] == pytest.approx(0.5 * 0.02)


def test_ppo_transitions_for_the_same_gain_are_read_off_the_curve():
    curve = [{"iteration": i, "tracking_score": s, "real_transitions": (i + 1) * 100}
             for i, s in zip((0, 20, 40, 60), (0.1, 0.55, 0.7, 0.85))]  # fmt: skip
    assert ppo_transitions_for(curve, 20, 0.8) == 4000
    assert ppo_transitions_for(curve, 20, 0.9) is None  # never reached
    assert ppo_transitions_for(curve, None, 0.8) is None
    from rwm_tasks.pipeline.report import _ppo_transitions_after

    assert _ppo_transitions_after(curve, 20) == 4000  # what PPO used without reaching 0.9: a lower bound
    assert _ppo_transitions_after(curve, 60) is None and _ppo_transitions_after(curve, 5) is None


def test_ppo_transitions_for_the_same_gain_are_read_where_the_evaluation_puts_ppo_there():
    from rwm_tasks.pipeline.report import PPO_TRIES, ppo_reaching

    curve = [{"iteration": i, "tracking_score": s, "real_transitions": (i + 1) * 100}
             for i, s in zip((0, 10, 20, 30, 40), (0.5, 0.85, 0.8, 0.9, 0.95))]  # fmt: skip
    evaluated = {10: 0.78, 30: 0.83, 40: 0.9}  # the curve reads higher than the evaluation
    assert ppo_reaching(curve, 0, 0.82, lambda r: evaluated[r["iteration"]]) == (3000, [(10, 0.78), (30, 0.83)])
    transitions, tried = ppo_reaching(curve, 0, 0.82, lambda r: 0.5)  # none tried gets there
    assert transitions is None and len(tried) == min(3, PPO_TRIES)
    assert ppo_reaching(curve, 5, 0.82, None) == (None, [])  # no curve row at the start
    from rwm_tasks.pipeline.report import _ppo_transitions_after

    assert _ppo_transitions_after(curve, 0, tried) == 4000  # all tried, none there: all PPO used is the bound
    assert _ppo_transitions_after(curve, 0, [(20, 0.5)] * PPO_TRIES) == 2000  # out of tries: up to the last tried


def test_data_policy_is_the_earliest_checkpoint_the_evaluation_puts_in_the_band():
    curve = [{"iteration": i, "tracking_score": s, "checkpoint": f"model_{i}.pt", "real_transitions": i}
             for i, s in zip((0, 10, 20, 30, 40), (0.1, 0.52, 0.7, 0.75, 0.8))]  # fmt: skip
    evaluated = {"model_10.pt": 0.47, "model_20.pt": 0.71, "model_30.pt": 0.58, "model_40.pt": 0.8}
    row, tried = choose_data_policy(curve, lambda r: evaluated[r["checkpoint"]])
    assert row["iteration"] == 30 and tried == [(10, 0.47), (20, 0.71), (30, 0.58)]  # 0.71 is above the band
    evaluated["model_30.pt"] = 0.65
    row, tried = choose_data_policy(curve, lambda r: evaluated[r["checkpoint"]])  # none in it: the nearest
    assert row["iteration"] == 10 and len(tried) == min(4, DATA_POLICY_TRIES)
    row, tried = choose_data_policy(curve[:1], None)  # none reaches the floor on the curve: its best, none tried
    assert row["iteration"] == 0 and tried == []


def test_wall_time_counts_the_side_by_side_lanes_as_the_longer(tmp_path):
    from rwm_tasks.pipeline.report import _wall_time_s
    from rwm_tasks.pipeline.run import Pipeline

    pipe = Pipeline("go2", str(tmp_path / "p"), scale="smoke")
    penalised, finetune = pipe.side_by_side()
    assert penalised == ["offline_phase1", "offline"] and finetune == ["finetune", "uncertainty"]
    results = {"init": {"wall_time_s": 10.0}, "offline_lambda0": {"wall_time_s": 5.0}, "offline_phase1": {"wall_time_s": 7.0},
               "offline": {"wall_time_s": 4.0}, "finetune": {"wall_time_s": 9.0}, "uncertainty": {"wall_time_s": 1.0},
               "probe": {"lambda": 1.0}}  # fmt: skip
    assert _wall_time_s(pipe, results) == 10.0 + 5.0 + 11.0
    results["finetune"]["wall_time_s"] = 20.0
    assert _wall_time_s(pipe, results) == 10.0 + 5.0 + 21.0


def test_lanes_run_side_by_side_and_keep_their_order(tmp_path, monkeypatch):
    """Steps of one lane run in order, lanes overlap in time, children get a share of the cores (all of them once
    the other lane has ended), a failed step fails the call only after the other lane has finished, and finished
    steps are skipped on a rerun."""
    import threading
    import time

    from rwm_tasks.pipeline.run import Pipeline

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    pipe, log, both = Pipeline("go2", str(tmp_path / "p"), scale="smoke"), [], threading.Barrier(2, timeout=10)

    def step(name, fail=False):
        def run():
            log.append((name, pipe.child_threads()))
            if name in ("a1", "b1"):
                both.wait()  # returns only if the other lane's first step runs at the same time
            if name == "a1":
                deadline = time.time() + 10
                while pipe.active_lanes > 1 and time.time() < deadline:  # lane b ends before a2 starts
                    time.sleep(0.01)
            if fail:
                time.sleep(0.2)
                raise RuntimeError(name)
            return {"name": name}
        return run

    results = pipe.lanes([("a1", step("a1")), ("a2", step("a2"))], [("b1", step("b1"))])
    assert results == {"a1": {"name": "a1", "wall_time_s": results["a1"]["wall_time_s"]},
                       "a2": {"name": "a2", "wall_time_s": results["a2"]["wall_time_s"]},
                       "b1": {"name": "b1", "wall_time_s": results["b1"]["wall_time_s"]}}  # fmt: skip
    assert [n for n, _ in log if n.startswith("a")] == ["a1", "a2"]
    assert dict(log) == {"a1": 1, "b1": 1, "a2": 2}
    assert pipe.child_threads() is None
    log.clear()
    with pytest.raises(RuntimeError, match="c1"):
        pipe.lanes([("a1", step("a1")), ("c1", step("c1", fail=True))], [("d1", step("d1"))])
    assert [n for n, _ in log] in (["c1", "d1"], ["d1", "c1"])  # a1 was done before; d1 ran to its end
    assert (tmp_path / "p" / "d1" / "step.json").is_file() and not (tmp_path / "p" / "c1" / "step.json").exists()


def test_mixed_windows_keep_their_shares():
    data = synthetic_dataset("go2", num_rows=240, episode_length=60, seed=0)
    store = TransitionStore(data, window=10)
    buffer = ReplayBuffer("go2", num_envs=2, capacity_per_env=50, window=10)
    mixed = MixedWindows([store, buffer], [0.25, 0.75])
    assert len(mixed.sample(8, torch.Generator().manual_seed(0))) == 8  # empty buffer: the store gives all
    rows = torch.as_tensor(data.array[:30], dtype=torch.float32)
    sl = data.layout.column_slices
    for row in rows:
        two = row.expand(2, -1) + 100.0  # buffer rows are far from the dataset's values
        buffer.add(two[:, sl["state"]], two[:, sl["action"]], two[:, sl["contact"]] * 0, two[:, sl["termination"]] * 0,
                   two[:, sl["extension"]] if "extension" in sl else None)  # fmt: skip
    batch = mixed.sample(400, torch.Generator().manual_seed(1))
    from_buffer = (batch.states[:, 0, 0] > 50).float().mean()
    assert float(from_buffer) == pytest.approx(0.75, abs=0.01)


def _pipeline(robot, out):
    return [sys.executable, str(REPO / "scripts" / "pipeline.py"), "--robot", robot, "--out", str(out), "--scale", "smoke"]


def _check_results(out: Path):
    report = json.loads((out / "report.json").read_text())
    for name in POLICIES:
        score = report["policies"][name]["tracking_score"]
        assert 0.0 <= score <= 1.0
        written = json.loads((out / name / "eval.json").read_text())
        assert written["tracking_score"] == score and written["checkpoint"].endswith(f"{name}/model.pt")
    assert {"offline_beats_data_policy", "finetune_uses_at_most_a_fifth", "imagined_over_real_return"} <= set(report["targets"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["scale"] == "smoke" and manifest["versions"]["torch"]
    assert any("--task" in c for c in manifest["commands"]["offline"])
    data = read_npz(out / "collect" / "dataset.npz")
    assert isinstance(data, TransitionData) and len(data) == 16 * 120
    text = (out / "report.md").read_text()
    assert "MOPO-PPO offline, lambda = 0" in text and "rel. L1 at step 8" in text
    assert report["invocation_wall_time_s"] > 0 and "this invocation, start to report" in text
    assert (out / "scores.png").stat().st_size > 5000
    shift = report["uncertainty"]  # the world model on fresh data of the data policy and on the lambda-0 twin's
    assert shift["shift_policy"] == "offline_lambda0" and 0.0 <= shift["ood"]["auroc"] <= 1.0
    for name in ("data_policy", "offline_lambda0"):
        assert len(read_npz(out / "uncertainty" / f"{name}.npz")) == 4 * 120
    assert 0.0 <= shift["calibration"]["per_head"]["all"] <= 1.0 and "AUROC" in text


@pytest.fixture(scope="module")
def go2_pipeline(tmp_path_factory):
    """A Go2 smoke pipeline killed (SIGKILL) when the world-model step starts, then run again to the end."""
    out = tmp_path_factory.mktemp("pipeline") / "go2"
    proc = subprocess.Popen(_pipeline("go2", out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    for line in proc.stdout:
        if "=== world_model ===" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    killed = {"collect_done": (out / "collect" / "step.json").is_file(),
              "world_model_done": (out / "world_model" / "step.json").exists(),
              "dataset_mtime": (out / "collect" / "dataset.npz").stat().st_mtime_ns}  # fmt: skip
    res = subprocess.run(_pipeline("go2", out), capture_output=True, text=True, timeout=1500)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return out, killed, res.stdout


@pytest.mark.slow
def test_go2_pipeline_continues_after_a_kill(go2_pipeline):
    out, killed, stdout = go2_pipeline
    assert killed["collect_done"] and not killed["world_model_done"]
    for step in ("init", "data_policy", "collect"):
        assert f"[pipeline] {step}: done before" in stdout
    assert "=== world_model ===" in stdout
    assert (out / "collect" / "dataset.npz").stat().st_mtime_ns == killed["dataset_mtime"]
    _check_results(out)


@pytest.mark.slow
def test_demo_runs_on_shipped_results(go2_pipeline, tmp_path):
    from rwm_tasks.pipeline.demo import DEMO, run_demo
    from rwm_tasks.pipeline.ship import ship

    out, _, _ = go2_pipeline
    shipped = tmp_path / "pretrained" / "go2"
    scores = ship(str(out), str(shipped), "RWM-Go2-Play-v0", num_envs=8, seconds=2.0)
    assert set(scores) == set(POLICIES)
    for name in POLICIES:  # re-scored from the shipped file: the same seed gives the same figure
        again = evaluate_policy("RWM-Go2-Play-v0", str(shipped / name / "model.pt"), num_envs=8, seconds=2.0, quiet=True)
        assert again["tracking_score"] == scores[name]
    tiny = dataclasses.replace(DEMO, collect_envs=8, collect_steps=80, offline_iterations=2, imagined_envs=64,
                               eval_envs=4, eval_seconds=1.0)  # fmt: skip
    report = run_demo("go2", str(shipped), str(tmp_path / "demo"), scale=tiny)
    text = Path(report).read_text()
    assert "demo_offline" in text and "Best policy" in text
    assert (tmp_path / "demo" / "video" / "eval.json").is_file()


@pytest.mark.slow
def test_anymal_d_pipeline_runs_end_to_end(tmp_path):
    res = subprocess.run(_pipeline("anymal_d", tmp_path / "anymal_d"), capture_output=True, text=True, timeout=1500)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    _check_results(tmp_path / "anymal_d")
