"""Speed and memory of the world model at the reference sizes (ANYmal D dims, GRU 2x256, B heads).

Measured:
- ``imagination_env_steps_per_s``: :class:`ModelStepper` with ``num_envs`` envs after a history warm-up,
  one :meth:`step` at a time feeding back its sampled next state (all heads evaluated, one GRU pass).
- ``train_sequences_per_s``: :meth:`Trainer.train_step` (forward, backward, clip, Adam) on minibatches of
  ``batch_size`` windows of M + N rows, B heads, bootstrap on.
- ``train_peak_mb_per_sequence``: bytes of the distinct tensor storages autograd saves for backward during
  one training forward (found with ``torch.autograd.graph.saved_tensors_hooks``; parameters excluded; a
  storage saved by several ops counted once), divided by the minibatch size. They are all alive at the end of
  the forward, which is the peak of the training step's activation memory, and they scale with the batch;
  optimizer state and parameters do not.
- Times are the fastest of several blocks (imagination: 5 blocks of ``imagination_steps / 5`` steps;
  training: ``train_steps`` single steps), so a moment of interference from other processes does not count;
  ``cpu_busy_fraction_at_start`` says how idle the machine was.
- ``flops_per_env_step``: 2 x multiply-adds of one imagination step for one env (GRU + all heads);
  ``train_flops_per_sequence``: forward (history once, N - 1 forecast steps on B rows, heads) x 3 for
  forward + backward. ``matmul_gflops``: measured fp32 2048^3 matmul on the same threads (the ceiling);
  ``*_gflops_achieved`` = FLOPs x rate, to compare against it.
"""

from __future__ import annotations

import time

import torch

from rwm_tasks.layout import ANYMAL_D

from .data import TransitionStore
from .stepper import ModelStepper
from .synthetic import synthetic_dataset
from .train import Trainer, TrainConfig, forecast_loss, make_model

REFERENCE = {
    "imagination_env_steps_per_s": 26400.0,
    "train_sequences_per_s": 84.0,
    "train_peak_mb_per_sequence": 6.8,
    "flops_per_env_step": 3.97e6,
}
"""The reference implementation on these CPUs, same sizes (issue 6)."""


def _timed(fn, repeats: int, blocks: int = 1) -> float:
    """Seconds per call: the fastest of ``blocks`` blocks of ``repeats`` calls (robust to other processes
    stealing the CPU for a moment on a shared machine)."""
    best = float("inf")
    for _ in range(blocks):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def cpu_busy_fraction(seconds: float = 0.5) -> float:
    """Fraction of all CPUs busy (non-idle) over ``seconds``, from /proc/stat (NaN where unavailable)."""

    def snapshot():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    try:
        total0, idle0 = snapshot()
        time.sleep(seconds)
        total1, idle1 = snapshot()
    except OSError:
        return float("nan")
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    return 2 * size**3 / _timed(lambda: a @ b, repeats) / 1e9


def train_flops_per_sequence(model, config: TrainConfig) -> int:
    """Forward: history through the GRU once, all heads on its last output (and on every history step when
    the teacher-forced history loss is on), then N - 1 steps of GRU + own head on B rows; x 3 for forward +
    backward."""
    f, b, m, n = model.flops(), model.num_heads, config.history, config.forecast
    forward = m * f["gru"] + b * f["head"] + (n - 1) * b * (f["gru"] + f["head"])
    if config.history_weight > 0:
        forward += (m - 1) * b * f["head"]
    return 3 * forward


def saved_bytes_per_sequence(model, trainer: Trainer, store: TransitionStore, batch_size: int) -> float:
    """Distinct non-parameter storages saved for backward in one training forward, per sequence (bytes)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            seen[s.data_ptr()] = s.nbytes()
        return t

    batch = store.sample(batch_size, torch.Generator().manual_seed(1))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss, _ = forecast_loss(model, batch, trainer.config, trainer.contact_pos_weight,
                                trainer.termination_pos_weight, torch.ones(model.num_heads, batch_size),
                                trainer.generator)  # fmt: skip
    del loss
    return sum(seen.values()) / batch_size


def run(
    num_envs: int = 4096,
    num_heads: int = 5,
    threads: int = 2,
    batch_size: int = 1024,
    history: int = 32,
    forecast: int = 8,
    imagination_steps: int = 50,
    train_steps: int = 3,
    seed: int = 0,
) -> dict:
    """All measurements as one JSON-able dict (about a minute on 2 free cores)."""
    busy_at_start = cpu_busy_fraction()
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    cfg = TrainConfig(history=history, forecast=forecast, batch_size=batch_size, seed=seed)
    store = TransitionStore(synthetic_dataset(ANYMAL_D, 4000, 1000, seed), cfg.window)
    model = make_model(ANYMAL_D, store, seed=seed, num_heads=num_heads)
    params = sum(p.numel() for p in model.parameters())
    peak = matmul_gflops()

    # imagination
    stepper = ModelStepper(model, num_envs, generator=torch.Generator().manual_seed(seed))
    warm = store.sample(num_envs, torch.Generator().manual_seed(seed))
    out = stepper.reset(torch.arange(num_envs), warm.states[:, :history], warm.actions[:, 1 : history + 1])
    actions = warm.actions[:, history + 1]
    state = out.next_state
    for _ in range(3):
        state = stepper.step(state, actions).next_state

    def imagine():
        nonlocal state
        state = stepper.step(state, actions).next_state

    step_time = _timed(imagine, max(imagination_steps // 5, 1), blocks=5)
    env_steps = num_envs / step_time
    flops_env = model.flops_per_step(all_heads=True)

    # training
    trainer = Trainer.for_store(model, cfg, store)
    trainer.update(store)
    train_time = _timed(lambda: trainer.update(store), 1, blocks=train_steps)
    seq_per_s = batch_size / train_time
    flops_seq = train_flops_per_sequence(model, cfg)
    mem = saved_bytes_per_sequence(model, trainer, store, min(batch_size, 256)) / 1e6

    result = {
        "imagination_env_steps_per_s": round(env_steps, 1),
        "train_sequences_per_s": round(seq_per_s, 1),
        "train_peak_mb_per_sequence": round(mem, 3),
        "params": params,
        "flops_per_env_step": flops_env,
        "matmul_gflops": round(peak, 1),
        "imagination_gflops_achieved": round(flops_env * env_steps / 1e9, 1),
        "train_flops_per_sequence": flops_seq,
        "train_gflops_achieved": round(flops_seq * seq_per_s / 1e9, 1),
        "train_seconds_per_minibatch": round(train_time, 3),
        "num_envs": num_envs,
        "num_heads": num_heads,
        "batch_size": batch_size,
        "history": history,
        "forecast": forecast,
        "threads": threads,
        "cpu_busy_fraction_at_start": round(busy_at_start, 2),
    }
    if busy_at_start > 0.2:
        result["warning"] = "other processes were using the CPU: throughput is understated (rerun on idle cores)"
    result["speedup_vs_reference"] = {
        "imagination": round(env_steps / REFERENCE["imagination_env_steps_per_s"], 2),
        "training": round(seq_per_s / REFERENCE["train_sequences_per_s"], 2),
        "memory_fraction": round(mem / REFERENCE["train_peak_mb_per_sequence"], 3),
    }
    return result
