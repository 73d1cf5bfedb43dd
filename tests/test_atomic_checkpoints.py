"""Checkpoints survive a full disk and a crash mid-write: every write goes to a temporary file that is moved into
place when complete (:mod:`rwm_tasks.world_model.files`), rsl-rl's ``runner.save`` included, and the latest-
checkpoint lookup skips a file that does not load."""

import errno
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from tensordict import TensorDict

from conftest import REPO
from rwm_tasks.launch import UserError, find_checkpoint, make_runner
from rwm_tasks.world_model.files import WriteError, atomic_files, atomic_write


def _disk_full_after(data: bytes):
    """A writer that writes ``data`` (part of a file) and then fails as a full disk does."""

    def write(f):
        f.write(data)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return write


def _names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_full_disk_keeps_the_previous_file_and_names_the_target(tmp_path):
    target = tmp_path / "model_3.pt"
    atomic_write(target, lambda f: f.write(b"previous checkpoint"))
    with pytest.raises(WriteError) as err:
        atomic_write(target, _disk_full_after(b"half of the new one"))
    assert err.value.errno == errno.ENOSPC and str(target) in str(err.value) and "No space left" in str(err.value)
    assert target.read_bytes() == b"previous checkpoint"
    assert _names(tmp_path) == ["model_3.pt"]  # no temporary file left behind


def test_a_failing_writer_leaves_no_file_and_no_temp_file(tmp_path):
    with pytest.raises(ZeroDivisionError):
        atomic_write(tmp_path / "new.json", lambda f: f.write(b"{") and 1 / 0)
    assert _names(tmp_path) == []
    atomic_write(tmp_path / "new.json", lambda f: f.write(b"{}"))
    assert _names(tmp_path) == ["new.json"]


def test_files_written_together_appear_only_when_all_are_complete(tmp_path):
    """Exports that make several files (an ONNX model and its ``.data``) go through a temporary folder."""
    with pytest.raises(RuntimeError):
        with atomic_files(tmp_path) as tmp:
            (tmp / "policy.onnx.data").write_bytes(b"weights")
            raise RuntimeError("export failed half-way")
    assert _names(tmp_path) == []
    with atomic_files(tmp_path) as tmp:
        (tmp / "policy.onnx").write_bytes(b"graph")
        (tmp / "policy.onnx.data").write_bytes(b"weights")
    assert _names(tmp_path) == ["policy.onnx", "policy.onnx.data"]


def test_a_real_write_error_inside_torch_save_is_reported_as_such(tmp_path):
    """torch.save turns a failed write of its file object into a RuntimeError of its own; the reason (here
    a real kernel error: the file-size limit, EFBIG, the no-root stand-in for a full disk) must come out."""
    script = textwrap.dedent(f"""
        import resource, signal, torch
        from rwm_tasks.world_model.files import WriteError, atomic_files, atomic_write
        path = {str(tmp_path / 'model.pt')!r}
        atomic_write(path, lambda f: torch.save({{"w": torch.zeros(10)}}, f))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        try:
            atomic_write(path, lambda f: torch.save({{"w": torch.zeros(1_000_000)}}, f))
        except WriteError as err:
            print("WriteError", err.errno, err)
        print("kept", torch.load(path)["w"].numel())
    """)  # fmt: skip
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"WriteError {errno.EFBIG} cannot write '{tmp_path / 'model.pt'}'" in res.stdout, res.stdout
    assert "kept 10" in res.stdout
    assert _names(tmp_path) == ["model.pt"]


class _TinyEnv:
    """Two envs, one observation group, three actions: enough for rsl-rl to build a runner."""

    num_envs, num_actions, max_episode_length, device, cfg = 2, 3, 10, "cpu", {}

    def __init__(self):
        self.episode_length_buf = torch.zeros(2, dtype=torch.long)

    def get_observations(self):
        return TensorDict({"policy": torch.zeros(2, 5)}, batch_size=[2])

    def step(self, actions):
        return self.get_observations(), torch.zeros(2), torch.zeros(2), {}


@pytest.fixture
def runner(tmp_path):
    from rwm_tasks.agents.rsl_rl_cfg import Go2InitRunnerCfg

    cfg = Go2InitRunnerCfg()
    cfg.device = "cpu"
    return make_runner(_TinyEnv(), cfg, str(tmp_path / "run"))


def test_runner_save_on_a_full_disk_keeps_the_previous_checkpoint(runner, tmp_path, monkeypatch):
    run = tmp_path / "run"
    runner.save(str(run / "model_0.pt"))
    before = (run / "model_0.pt").read_bytes()
    real_save = torch.save

    def save_then_fill_the_disk(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)  # the whole payload is written, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", save_then_fill_the_disk)
    for name in ("model_0.pt", "model_1.pt"):  # overwrite an existing checkpoint, write a new one
        with pytest.raises(WriteError, match=f"cannot write '{run / name}': No space left on device"):
            runner.save(str(run / name))
    monkeypatch.undo()
    assert (run / "model_0.pt").read_bytes() == before
    assert [n for n in _names(run) if n.endswith(".pt")] == ["model_0.pt"]
    assert find_checkpoint(str(tmp_path), "run", None) == str(run / "model_0.pt")
    runner.save(str(run / "model_1.pt"))  # space again: the next save works and loads
    assert set(torch.load(run / "model_1.pt", weights_only=False)) >= {"iter", "infos"}


def _write_run(root, run, files: dict) -> None:
    os.makedirs(root / run)
    for name, payload in files.items():
        if isinstance(payload, bytes):
            (root / run / name).write_bytes(payload)
        else:
            torch.save(payload, root / run / name)


def test_lookup_skips_truncated_checkpoints_and_says_so(tmp_path, capsys):
    torch.save({"actor_state_dict": {"w": torch.zeros(1000)}, "iter": 2}, tmp_path / "full.pt")
    whole = (tmp_path / "full.pt").read_bytes()
    root = tmp_path / "logs"
    _write_run(root, "2026-01-01_00-00-00", {"model_50.pt": {"iter": 50}})
    _write_run(root, "2026-01-02_00-00-00", {"model_2.pt": {"iter": 2}, "model_9.pt": whole[: len(whole) // 2],
                                             "model_10.pt": b""})  # fmt: skip
    found = find_checkpoint(str(root), None, None)
    assert found == str(root / "2026-01-02_00-00-00" / "model_2.pt")  # model_10 and model_9 do not load
    out = capsys.readouterr().out
    assert "skipping checkpoint" in out and "model_10.pt" in out and "model_9.pt" in out
    # a run whose checkpoints are all unreadable falls back to the previous run ...
    _write_run(root, "2026-01-03_00-00-00", {"model_0.pt": whole[:100]})
    assert find_checkpoint(str(root), None, None) == str(root / "2026-01-02_00-00-00" / "model_2.pt")
    # ... unless that run was asked for by name
    with pytest.raises(UserError, match="model_0.pt cannot be read"):
        find_checkpoint(str(root), "2026-01-03_00-00-00", None)


def test_train_on_a_full_disk_exits_with_one_line_and_keeps_the_previous_checkpoint(tmp_path):
    """The real command line, with the disk 'filling up' during the second checkpoint write."""
    wrapper = textwrap.dedent(f"""
        import errno, os, runpy, sys, torch
        real_save = torch.save
        def save(obj, f, *args, **kwargs):
            if "model_1" in str(getattr(f, "name", f)):
                if isinstance(f, (str, os.PathLike)):  # rsl-rl's own save passes the path
                    f = open(f, "wb")
                f.write(b"partial checkpoint bytes")
                f.flush()
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_save(obj, f, *args, **kwargs)
        torch.save = save
        sys.argv = [{str(REPO / 'scripts' / 'train.py')!r}, *sys.argv[1:]]
        runpy.run_path(sys.argv[0], run_name="__main__")
    """)  # fmt: skip
    args = ["--task", "RWM-Go2-Init-v0", "--sim", "mujoco", "--num_envs", "2", "--max_iterations", "3",
            "agent.save_interval=1", "agent.num_steps_per_env=4"]  # fmt: skip
    res = subprocess.run([sys.executable, "-c", wrapper, *args], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "RWM_LOCAL_ASSETS": "1", "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert res.returncode == 1, res.stdout[-2000:] + res.stderr[-3000:]
    (run,) = (tmp_path / "logs" / "rsl_rl" / "rwm_go2_init").iterdir()
    last = res.stderr.strip().splitlines()[-1]
    assert last == f"error: cannot write '{run / 'model_1.pt'}': No space left on device", res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    assert sorted(n.name for n in run.glob("*.pt")) == ["model_0.pt"]
    assert not [n for n in os.listdir(run) if ".tmp-" in n]
    assert torch.load(run / "model_0.pt", weights_only=False)["iter"] == 0
