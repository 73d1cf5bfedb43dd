"""Data-parallel world-model training on 2 CPU processes (Gloo): the Trainer from dataset files against a
single-process run of the same total batch, the learner of a stage on rank-local replay data, rank-0-only
writes, and ``scripts/world_model.py train`` under torchrun."""

import json
import os
import socket
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
import torch.multiprocessing as mp

from conftest import REPO
from rwm_tasks.layout import ANYMAL_D
from rwm_tasks.training.world_model_learner import WorldModelLearner
from rwm_tasks.world_model import ReplayBuffer, TransitionStore, distributed, load_dataset
from rwm_tasks.world_model.data import WindowBatch
from rwm_tasks.world_model.train import Trainer, TrainConfig, make_model
from rwm_tasks.world_model.checkpoint import load_checkpoint

WORLD = 2
STEPS = 12
TINY = dict(hidden_dim=16, num_layers=1, num_heads=2, head_hidden_dims=(16,))
CONFIGS = {  # 'exact': no sampled noise, no bootstrap: 2 ranks must follow the 1-process run up to rounding
    "exact": TrainConfig(history=6, forecast=3, batch_size=16, loss="mse", bootstrap=False, seed=0),
    "default": TrainConfig(history=6, forecast=3, batch_size=16, seed=0),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _slice_csv(src, dst, rows):
    with open(src) as f, open(dst, "w") as g:
        g.writelines(line for _, line in zip(range(rows), f))
    return dst


@pytest.fixture(scope="module")
def real_slice(tmp_path_factory, shared_data):
    """The first 600 rows of the shared ANYmal D training file."""
    return _slice_csv(shared_data / "anymal_d_flat_rollout_part0.csv", tmp_path_factory.mktemp("d") / "s.csv", 600)


def _train_from_file(path, cfg):
    """Model, losses and flat parameters after STEPS updates on windows of ``path`` (same seeds everywhere)."""
    store = TransitionStore(load_dataset(path, "anymal_d", min_window=cfg.window), cfg.window)
    model = make_model("anymal_d", store, seed=0, **TINY)
    trainer = Trainer.for_store(model, cfg, store)
    losses = [trainer.update(store)["loss"] for _ in range(STEPS)]
    return model, losses


def _flat(model):
    return torch.cat([t.detach().reshape(-1).float() for t in model.state_dict().values()])


def _fill(buffer, rows, first):
    """Rows [E * T, columns] as T steps of E envs."""
    steps = rows.reshape(buffer.num_envs, -1, rows.shape[-1]).transpose(0, 1)
    for t, step in enumerate(steps):
        b = WindowBatch.from_columns(step, ANYMAL_D)
        start = torch.full((buffer.num_envs,), t == 0 and first)
        buffer.add(b.states, b.actions, b.contacts, b.terminations, None, start)


def _learner_run(rank, data_path, out):
    """A Pretrain-like learner: rank-local buffer (other rows per rank), rank-seeded new model, 3 x 2 updates."""
    cfg = TrainConfig(history=6, forecast=3, batch_size=8, seed=rank)
    rows = torch.as_tensor(load_dataset(data_path, "anymal_d").array)
    buffer = ReplayBuffer(ANYMAL_D, 2, 200, cfg.window + 1)
    learner = WorldModelLearner(ANYMAL_D, make_model(ANYMAL_D, None, seed=rank, **TINY), cfg, buffer, 2, False)
    # rank 1 starts with too few rows for a window: no rank may update yet (else rank 0 waits forever)
    _fill(buffer, rows[rank * 300 : rank * 300 + (80 if rank == 0 else 8)], True)
    first = learner.update()
    _fill(buffer, rows[rank * 300 + 100 : rank * 300 + 180], False)
    initial = _flat(learner.model).clone()
    logs = [learner.update() for _ in range(3)]
    learner.save(str(out / f"rank{rank}" / "world_model.pt"), {"rank": rank})
    return {"first": first, "logs": logs, "initial": initial, "final": _flat(learner.model),
            "norm_mean": learner.model.state_norm.mean.clone()}  # fmt: skip


def _worker(rank, port, data_path, out):
    os.environ.update(WORLD_SIZE=str(WORLD), RANK=str(rank), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))  # fmt: skip
    torch.set_num_threads(1)
    assert distributed.init_from_env("cpu") == "cpu"
    try:
        result = {"backend": torch.distributed.get_backend(), "share": distributed.local_share(5)}
        for name, cfg in CONFIGS.items():
            model, losses = _train_from_file(data_path, cfg)
            result[name] = {"losses": losses, "params": _flat(model)}
        result["learner"] = _learner_run(rank, data_path, out)
        from rwm_tasks.training.stages import _write_run_files  # a stage's run-folder files

        spec = SimpleNamespace(to_dict=lambda: {"rank": rank})
        _write_run_files(str(out / f"run{rank}"), {"env": rank}, {"agent": rank}, spec, {"rank": rank},
                         SimpleNamespace(resuming=False), {})  # fmt: skip
        torch.save(result, out / f"result{rank}.pt")
    finally:
        distributed.shutdown()


@pytest.fixture(scope="module")
def two_ranks(real_slice, tmp_path_factory):
    out = tmp_path_factory.mktemp("ranks")
    mp.spawn(_worker, args=(_free_port(), real_slice, out), nprocs=WORLD, join=True)
    return out, [torch.load(out / f"result{r}.pt", weights_only=False) for r in range(WORLD)]


def test_helpers_without_a_process_group():
    assert distributed.world_size() == 1 and distributed.rank() == 0 and distributed.is_main()
    assert distributed.local_share(7) == 7 and distributed.shard_indices(3).tolist() == [0, 1, 2]
    assert distributed.all_ranks(False) is False and distributed.any_rank(True) is True
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 2.0)
    assert distributed.average_gradients([p], 5.0, {"loss": 1.5}) == {"loss": 1.5}
    assert p.grad.tolist() == [2.0, 2.0, 2.0]
    assert distributed.backend_for("cuda:1") == "nccl" and distributed.backend_for("cpu") == "gloo"
    assert distributed.init_from_env("cpu") == "cpu" and not distributed.is_distributed()


def test_train_distributed_flag_needs_torchrun_and_cuda(monkeypatch):
    """rsl-rl's multi-GPU PPO joins an NCCL group on cuda:<LOCAL_RANK>: anything else fails clearly first."""
    from rwm_tasks.cli.train import _distributed_rank, build_parser
    from rwm_tasks.launch import UserError

    args = build_parser().parse_args(["--task", "RWM-Go2-Pretrain-v0", "--distributed"])
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(UserError, match="needs several processes"):
        _distributed_rank(args)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RWM_FORCE_CPU", "1")
    with pytest.raises(UserError, match="needs CUDA"):
        _distributed_rank(args)
    args.distributed = False
    with pytest.raises(UserError, match="pass --distributed"):
        _distributed_rank(args)
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert _distributed_rank(args) == 0 and args.device is None


@pytest.mark.slow
def test_trainer_from_files_matches_one_process(two_ranks, real_slice):
    _, results = two_ranks
    assert [r["backend"] for r in results] == ["gloo", "gloo"]
    assert [r["share"] for r in results] == [3, 2]  # 5 imagined envs split over 2 ranks
    for name, cfg in CONFIGS.items():
        r0, r1 = results[0][name], results[1][name]
        assert torch.equal(r0["params"], r1["params"]), name  # one model on both ranks
        assert r0["losses"] == r1["losses"]  # logs are averaged over the ranks: the loss of the total batch
        model, single = _train_from_file(real_slice, cfg)
        ref, got = torch.tensor(single), torch.tensor(r0["losses"])
        if name == "exact":  # the same windows and gradient: equal up to float rounding
            assert torch.allclose(got, ref, rtol=1e-3), (got, ref)
            assert torch.allclose(r0["params"], _flat(model), atol=1e-4)
        else:  # sampled forecast noise differs: the same curve within noise
            assert abs(got[0] - ref[0]) < 0.1 * ref[0], (got, ref)
            assert abs(got.mean() - ref.mean()) < 0.1 * ref.mean(), (got, ref)
            assert got[-4:].mean() < got[:4].mean() and ref[-4:].mean() < ref[:4].mean()


@pytest.mark.slow
def test_stage_learner_stays_identical_and_only_rank0_writes(two_ranks):
    out, results = two_ranks
    l0, l1 = results[0]["learner"], results[1]["learner"]
    assert l0["first"] == {} and l1["first"] == {}  # rank 1 had no window yet: nobody updated
    assert all(log for log in l0["logs"])
    assert torch.equal(l0["final"], l1["final"]) and torch.equal(l0["norm_mean"], l1["norm_mean"])
    assert not torch.equal(l0["initial"], l0["final"])
    assert l0["logs"] == l1["logs"]
    assert (out / "rank0" / "world_model.pt").is_file() and not (out / "rank1").exists()
    assert load_checkpoint(out / "rank0" / "world_model.pt").extra == {"rank": 0}
    assert json.loads((out / "run0" / "rwm_run.json").read_text()) == {"rank": 0}
    assert (out / "run0" / "task_spec.json").is_file() and not (out / "run1").exists()
    assert (out / "run0" / "params" / "env.yaml").is_file()


def _torchrun_train(cwd, *args):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD}",
           str(REPO / "scripts" / "world_model.py"), "train", *map(str, args)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_world_model_script_under_torchrun(tmp_path, real_slice):
    run = tmp_path / "run"
    common = ["--data", real_slice, "--out", run, "--eval-every", "3", "--checkpoint-every", "3", "--val-windows",
              "8", "--threads", "1"]  # fmt: skip
    proc = _torchrun_train(tmp_path, *common, "--iterations", "6", "--hidden", "16", "--layers", "1", "--heads", "2",
                           "--head-hidden", "16", "--history", "6", "--forecast", "3", "--batch-size", "8")  # fmt: skip
    assert "2 processes" in proc.stdout and "6 iterations" in proc.stdout
    assert sorted(p.name for p in run.iterdir() if not p.name.startswith("events")) == [
        "best.pt", "last.pt", "summary.json"]  # fmt: skip
    assert len(list(run.glob("events.out.tfevents.*"))) == 1  # one writer: rank 0's
    ckpt = load_checkpoint(run / "last.pt")  # the single-process checkpoint format
    assert ckpt.trainer_state["iteration"] == 6 and ckpt.train_config.batch_size == 8
    summary = json.loads((run / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["sequences_per_s"] > 0
    _torchrun_train(tmp_path, *common, "--resume", run / "last.pt", "--iterations", "9")
    assert load_checkpoint(run / "last.pt").trainer_state["iteration"] == 9
