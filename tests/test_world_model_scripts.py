"""scripts/world_model.py (train, resume, eval) and scripts/benchmark.py on small synthetic data."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rwm_tasks.layout import GO2
from rwm_tasks.world_model.data import write_npz
from rwm_tasks.world_model.synthetic import synthetic_dataset

REPO = Path(__file__).resolve().parents[1]
TINY = ["--hidden", "16", "--layers", "1", "--heads", "2", "--head-hidden", "16", "--history", "6", "--forecast",
        "3", "--batch-size", "8", "--threads", "1"]  # fmt: skip


def run(script, *args, check=True):
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / script), *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=240)  # fmt: skip
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} {args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"script_{name}", REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_help_texts(capsys):
    wm, bench = load_script("world_model"), load_script("benchmark")
    for parser, args in ((wm, ["--help"]), (wm, ["train", "--help"]), (wm, ["eval", "--help"]),
                         (bench, ["--help"]), (bench, ["world_model", "--help"])):  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            parser.build_parser().parse_args(args)
        assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--episode-length", "--resume", "--eval-data", "--time-budget", "--checkpoint", "--noise", "physics"):
        assert flag in out
    assert "usage" in run("world_model.py", "--help").stdout  # runs as a program too


@pytest.mark.slow
def test_train_resume_eval(tmp_path):
    train, held = tmp_path / "train.npz", tmp_path / "held.npz"
    write_npz(train, synthetic_dataset(GO2, 400, 200, seed=0))
    write_npz(held, synthetic_dataset(GO2, 200, 200, seed=1))
    out = tmp_path / "run"
    common = ["--data", train, "--eval-data", held, "--out", out, "--eval-every", "3", "--checkpoint-every", "3",
              "--val-windows", "8", *TINY]  # fmt: skip
    proc = run("world_model.py", "train", *common, "--iterations", "6")
    assert "6 iterations" in proc.stdout
    for name in ("last.pt", "best.pt", "summary.json"):
        assert (out / name).is_file()
    assert list(out.glob("events.out.tfevents.*"))
    assert not list(out.glob(".*tmp*"))
    proc = run("world_model.py", "train", "--resume", out / "last.pt", *common, "--iterations", "9")
    assert "9 iterations" in proc.stdout
    assert json.loads((out / "summary.json").read_text())["iterations"] == 9
    proc = run("world_model.py", "eval", "--checkpoint", out / "best.pt", "--data", held, "--horizons", "1", "5",
               "--windows", "8", "--corr-windows", "4", "--corr-steps", "20", "--noise", "0.1", "--threads", "1",
               "--out", tmp_path / "eval")  # fmt: skip
    assert "constant_velocity" in proc.stdout and "Pearson" in proc.stdout
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["horizons"] == [1, 5] and report["robot"] == "go2"
    assert len(list((tmp_path / "eval").glob("*.png"))) == 5
    assert set(report["calibration"]["per_head"]) == {"all", *GO2.state_slices}
    assert report["correlation"]["num_windows"] == 4 and len(report["correlation"]["normalised"]["pearson_ci"]) == 2


def test_train_rejects_bad_data_with_exit_2(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n")
    proc = run("world_model.py", "train", "--data", bad, "--out", tmp_path / "run", *TINY, check=False)
    assert proc.returncode == 2 and "bad.csv: row 0 (line 1) has 3 columns" in proc.stderr


def test_benchmark_physics_missing_module_exits_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "rwm_tasks.envs.mujoco.benchmark", None)  # import raises ImportError
    parent = sys.modules.get("rwm_tasks.envs.mujoco")
    if parent is not None:  # an earlier test imported the real module: hide the package attribute too
        monkeypatch.delattr(parent, "benchmark", raising=False)
    bench = load_script("benchmark")
    assert bench.main(["physics"]) == 2
    assert "rwm_tasks.envs.mujoco.benchmark" in capsys.readouterr().err


def test_benchmark_physics_forwards_arguments(monkeypatch):
    import types

    seen = {}
    fake = types.ModuleType("rwm_tasks.envs.mujoco.benchmark")
    fake.main = lambda argv: seen.setdefault("argv", argv) and 0
    monkeypatch.setitem(sys.modules, "rwm_tasks.envs.mujoco.benchmark", fake)
    try:
        import rwm_tasks.envs.mujoco as pkg  # noqa: F401  (real package, if it exists)

        monkeypatch.setattr(pkg, "benchmark", fake, raising=False)
    except ImportError:
        parent = types.ModuleType("rwm_tasks.envs.mujoco")
        parent.benchmark = fake
        monkeypatch.setitem(sys.modules, "rwm_tasks.envs.mujoco", parent)
    assert load_script("benchmark").main(["physics", "--", "--robot", "go2"]) == 0
    assert seen["argv"] == ["--robot", "go2"]


def test_benchmark_world_model_small_prints_json():
    proc = run("benchmark.py", "world_model", "--num-envs", "64", "--batch-size", "16", "--imagination-steps", "3",
               "--train-steps", "1", "--threads", "1")  # fmt: skip
    result = json.loads(proc.stdout)
    for key in ("imagination_env_steps_per_s", "train_sequences_per_s", "train_peak_mb_per_sequence", "params",
                "flops_per_env_step", "matmul_gflops"):  # fmt: skip
        assert result[key] > 0
