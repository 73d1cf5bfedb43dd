"""Bad command lines and ``key=value`` overrides: a one-line error naming the flag or key, exit code 2, no
traceback, nothing written, and no env built (every check fires before). Each case runs in-process through
the script's ``main`` (fast); the cases the issue reported, and a few more, also as real child processes."""

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO

WM = str(REPO / "pretrained" / "go2" / "world_model.pt")
POLICY = str(REPO / "pretrained" / "go2" / "init" / "model.pt")
INIT = ["--task", "RWM-Go2-Init-v0", "--sim", "mujoco", "--num_envs", "4", "--max_iterations", "1"]
FINETUNE = ["--task", "RWM-Go2-Finetune-v0", "--sim", "mujoco", "--num_envs", "4", "--max_iterations", "1",
            "--checkpoint", POLICY]  # fmt: skip
OFFLINE = ["--task", "RWM-Go2-Offline-v0", "--max_iterations", "1", "--world_model", WM, "--dataset", "{good}"]
PLAY = ["--task", "RWM-Go2-Play-v0", "--sim", "mujoco", "--checkpoint", POLICY]

# (id, script, argv, what the last line of stderr must name); {bad}, {good}, {short}, {missing}: files below
CASES = [
    ("num_envs_negative", "train", [*INIT, "--num_envs", "-5"], "--num_envs"),
    ("num_envs_zero", "train", [*INIT, "--num_envs", "0"], "--num_envs"),
    ("num_envs_not_int", "train", [*INIT, "--num_envs", "abc"], "--num_envs"),
    ("lr_not_a_number", "train", [*INIT, "agent.algorithm.learning_rate=abc"], "agent.algorithm.learning_rate"),
    ("lr_negative", "train", [*INIT, "agent.algorithm.learning_rate=-1e-3"], "agent.algorithm.learning_rate"),
    ("lr_nan", "train", [*INIT, "agent.algorithm.learning_rate=nan"], "agent.algorithm.learning_rate"),
    ("unknown_key", "train", [*INIT, "agent.nonexistent_key=3"], "agent.nonexistent_key"),
    ("misspelt_group", "train", [*INIT, "agent.algoritm.learning_rate=3e-4"], "agent.algoritm.learning_rate"),
    ("unknown_reward_param", "train", [*INIT, "env.rewards.track_lin_vel_xy_exp.params.nope=1"], "params.nope"),
    ("value_for_a_group", "train", [*INIT, "agent.algorithm=3"], "agent.algorithm"),
    ("override_without_value", "train", [*INIT, "agent.algorithm.learning_rate"], "agent.algorithm.learning_rate"),
    ("env_count_override_zero", "train", [*INIT, "env.scene.num_envs=0"], "env.scene.num_envs"),
    ("env_count_override_text", "train", [*INIT, "env.scene.num_envs=abc"], "env.scene.num_envs"),
    ("env_count_override_float", "train", [*INIT, "env.scene.num_envs=2.5"], "env.scene.num_envs"),
    ("list_of_text", "train", [*INIT, "agent.actor.hidden_dims=[a,b]"], "agent.actor.hidden_dims"),
    ("bool_as_int", "train", [*INIT, "agent.resume=1"], "agent.resume"),
    ("episode_length_zero", "train", [*INIT, "env.episode_length_s=0"], "env.episode_length_s"),
    ("save_interval_zero", "train", [*INIT, "agent.save_interval=0"], "agent.save_interval"),
    ("steps_per_env_zero", "train", [*INIT, "agent.num_steps_per_env=0"], "agent.num_steps_per_env"),
    ("max_iterations_override_zero", "train", [*INIT, "agent.max_iterations=0"], "agent.max_iterations"),
    ("max_iterations_zero", "train", [*INIT, "--max_iterations", "0"], "--max_iterations"),
    ("max_iterations_negative", "train", [*INIT, "--max_iterations", "-1"], "--max_iterations"),
    ("max_minutes_zero", "train", [*INIT, "--max_minutes", "0"], "--max_minutes"),
    ("seed_text", "train", [*INIT, "--seed", "abc"], "--seed"),
    ("seed_negative", "train", [*INIT, "--seed", "-1"], "--seed"),
    ("seed_override_text", "train", [*INIT, "agent.seed=abc"], "agent.seed"),
    ("seed_override_too_large", "train", [*INIT, f"agent.seed={2**40}"], "agent.seed"),
    ("unknown_task", "train", ["--task", "RWM-Go2-Nope-v0", "--sim", "mujoco"], "--task"),
    ("load_run_bad_regex", "train", [*INIT, "--resume", "--load_run", "("], "--load_run"),
    ("resume_checkpoint_not_a_checkpoint", "train", [*INIT, "--checkpoint", "{bad}"], "{bad}"),
    ("world_model_not_a_checkpoint", "train", [*FINETUNE, "--world_model", "{bad}"], "{bad}"),
    ("world_model_missing", "train", [*FINETUNE, "--world_model", "{missing}"], "--world_model"),
    ("dataset_missing", "train", [*OFFLINE, "--dataset", "{missing}"], "--dataset"),
    ("dataset_episodes_shorter_than_history", "train", [*OFFLINE, "--dataset", "{short}"], "{short}"),
    ("history_longer_than_an_episode", "train",
     ["--task", "RWM-Go2-Pretrain-v0", "--sim", "mujoco", "agent.world_model.history_length=5000"],
     "agent.world_model.history_length"),  # fmt: skip
    ("lambda_not_a_number", "train", [*OFFLINE, "agent.imagination.uncertainty_penalty=x"],
     "agent.imagination.uncertainty_penalty"),  # fmt: skip
    ("lambda_negative", "train", [*OFFLINE, "agent.imagination.uncertainty_penalty=-1"],
     "agent.imagination.uncertainty_penalty"),  # fmt: skip
    ("imagined_envs_negative", "train", [*OFFLINE, "agent.imagination.num_envs=-4"], "agent.imagination.num_envs"),
    ("imagined_envs_zero", "train", [*OFFLINE, "agent.imagination.num_envs=0"], "agent.imagination.num_envs"),
    ("play_steps_zero", "play", [*PLAY, "--steps", "0"], "--steps"),
    ("play_num_envs_zero", "play", [*PLAY, "--num_envs", "0"], "--num_envs"),
    ("play_unknown_key", "play", [*PLAY, "env.nope=1"], "env.nope"),
    ("evaluate_num_envs_zero", "evaluate", ["--task", "RWM-Go2-Play-v0", "--checkpoint", POLICY, "--num_envs", "0"],
     "--num_envs"),  # fmt: skip
    ("world_model_history_zero", "world_model", ["train", "--data", "{good}", "--history", "0"], "--history"),
    ("world_model_iterations_negative", "world_model", ["train", "--data", "{good}", "--iterations", "-1"],
     "--iterations"),  # fmt: skip
    ("world_model_eval_not_a_checkpoint", "world_model", ["eval", "--checkpoint", "{bad}", "--data", "{good}"],
     "{bad}"),  # fmt: skip
]
CHILD = {"num_envs_negative", "lr_not_a_number", "unknown_key", "world_model_not_a_checkpoint", "unknown_task",
         "play_steps_zero", "world_model_history_zero", "lambda_not_a_number"}  # fmt: skip
"""Also run as child processes: the four cases of the issue and one of each other script / kind."""


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    """A file that is no checkpoint, a Go2 dataset, one whose episodes are shorter than a model window."""
    from rwm_tasks.layout import GO2
    from rwm_tasks.world_model.data import TransitionData, write_npz

    folder = tmp_path_factory.mktemp("inputs")
    (folder / "bad.pt").write_text("hello, not a checkpoint\n")
    write_npz(folder / "good.npz", TransitionData(np.zeros((400, GO2.num_columns)), [0, 200], GO2))
    write_npz(folder / "short.npz", TransitionData(np.zeros((40, GO2.num_columns)), np.arange(0, 40, 8), GO2))
    return {name: str(folder / f"{name}.{ext}") for name, ext in
            (("bad", "pt"), ("good", "npz"), ("short", "npz"), ("missing", "npz"))}  # fmt: skip


def _fill(items: list[str], files: dict) -> list[str]:
    return [item.format(**files) for item in items]


def _check(code: int, stderr: str, needle: str, cwd) -> None:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert code == 2, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert lines and "error: " in lines[-1] and needle in lines[-1], stderr[-3000:]
    assert os.listdir(cwd) == [], os.listdir(cwd)  # no logs/ (nor anything else)


@pytest.fixture
def no_env(monkeypatch):
    """Building an env or a runner fails the test: every check has to fire before."""
    import rwm_tasks.cli.play
    import rwm_tasks.cli.train
    import rwm_tasks.launch
    import rwm_tasks.training.stages

    def built(*_, **__):
        raise AssertionError("an env or a runner was built: the bad input was not caught before")

    for module in (rwm_tasks.launch, rwm_tasks.cli.train, rwm_tasks.cli.play, rwm_tasks.training.stages):
        for name in ("open_real_env", "make_runner"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, built)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_in_process(case, files, tmp_path, monkeypatch, capsys, no_env):
    import importlib

    from rwm_tasks.cli.common import run_main

    _, script, argv, needle = case
    main = importlib.import_module(f"rwm_tasks.cli.{script}").main
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [f"{script}.py"])
    monkeypatch.setenv("RWM_LOCAL_ASSETS", "1")
    with pytest.raises(SystemExit) as exit_:
        run_main(lambda: main(_fill(argv, files)))
    _check(exit_.value.code, capsys.readouterr().err, needle.format(**files), tmp_path)


@pytest.mark.parametrize("case", [c for c in CASES if c[0] in CHILD], ids=[c[0] for c in CASES if c[0] in CHILD])
def test_child_process(case, files, tmp_path):
    _, script, argv, needle = case
    res = subprocess.run(
        [sys.executable, str(REPO / "scripts" / f"{script}.py"), *_fill(argv, files)], cwd=tmp_path,
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "RWM_LOCAL_ASSETS": "1", "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    _check(res.returncode, res.stderr, needle.format(**files), tmp_path)


def test_the_table_is_large_and_every_child_case_exists():
    assert len(CASES) >= 20 and len({c[0] for c in CASES}) == len(CASES)
    assert CHILD <= {c[0] for c in CASES}


def test_good_overrides_are_applied_with_the_fields_types(monkeypatch, capsys):
    import argparse

    from rwm_tasks.launch import resolve_configs

    monkeypatch.setenv("RWM_LOCAL_ASSETS", "1")
    args = argparse.Namespace(
        task="RWM-Go2-Finetune-v0", sim="mujoco", device="cpu", num_envs=None, seed=None, physics=None, headless=True,
        overrides=["agent.algorithm.learning_rate=1", "agent.run_name=5", "agent.actor.hidden_dims=[64,32]",
                   "env.rewards.track_lin_vel_xy_exp.params.std=0.3", "env.scene.num_envs=3", "agent.seed=7",
                   "agent.imagination.uncertainty_penalty=0", "agent.world_model.checkpoint=wm.pt"],
    )  # fmt: skip
    env_cfg, agent_cfg, _ = resolve_configs(args)
    assert agent_cfg.algorithm.learning_rate == 1.0 and isinstance(agent_cfg.algorithm.learning_rate, float)
    assert agent_cfg.run_name == "5" and agent_cfg.actor.hidden_dims == [64, 32]
    assert env_cfg.rewards.track_lin_vel_xy_exp.params["std"] == 0.3
    assert env_cfg.scene.num_envs == 3 and agent_cfg.seed == env_cfg.seed == 7
    assert agent_cfg.imagination.uncertainty_penalty == 0.0 and agent_cfg.world_model.checkpoint == "wm.pt"
