"""Calibration of an ANYmal D world model (trained on part0) in distribution and across the part0 -> part1 shift.

    python reports/anymal_d_calibration_shift/probe.py CHECKPOINT

1. The std scale refitted on the first half of part0's held-out rows (the last 10 %), the share of one-step
   errors within +-1 std on the second half (in distribution, unseen by the fit) and on part1.
2. Each head's std widened by the ensemble's disagreement, ``sqrt(std_b^2 + k var_b(mean_b))``, the per-dimension
   scale refitted on all held-out rows for each k: shares and Gaussian NLL on the held-out rows and on part1.
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "exts" / "rwm_tasks"))
from rwm_tasks.world_model.checkpoint import load_checkpoint  # noqa: E402
from rwm_tasks.world_model.data import load_dataset  # noqa: E402
from rwm_tasks.world_model.uncertainty import (  # noqa: E402
    GAUSS_MEDIAN_ABS, calibration, fit_std_scale, one_step_predictions, strided_windows, within_std_share)

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
HISTORY = 32
torch.set_num_threads(2)
checkpoint = load_checkpoint(sys.argv[1], "anymal_d")
model, layout = checkpoint.model, checkpoint.layout
model.eval()
part0 = load_dataset(DATA / "anymal_d_flat_rollout_part0.csv", layout, None, True, min_window=HISTORY + 1)
part1 = load_dataset(DATA / "anymal_d_flat_rollout_part1.csv", layout, None, True, min_window=HISTORY + 1)
held_out = part0.split(0.1)[1]
first, second = held_out.split(0.5)
windows = lambda d: strided_windows([d], HISTORY, 1, 1)[0]  # noqa: E731
shares = lambda d: " ".join(f"{g} {v:.2f}" for g, v in d.items())  # noqa: E731

print(f"1. std scale refitted on {len(windows(first))} held-out windows (first half)")
fit_std_scale(model, windows(first), HISTORY)
for name, d in (("held-out, second half", second), ("part1", part1)):
    c = calibration(model, windows(d), HISTORY, layout.state_slices)
    print(f"  {name} ({c['num_samples']}): per head: {shares(c['per_head'])}\n    ensemble: {shares(c['ensemble'])}")

print("2. each head's std widened by the heads' disagreement, scale refitted on all held-out rows")
model.log_std_scale.zero_()
sets = {name: one_step_predictions(model, windows(d), HISTORY) for name, d in (("held-out", held_out), ("part1", part1))}
for k in (0, 3, 10, 30, 100, 1e5):
    widened = {n: (std.square() + k * mean.var(0, unbiased=False)).sqrt() for n, (mean, std, true) in sets.items()}
    mean, _, true = sets["held-out"]
    scale = ((mean - true).abs() / widened["held-out"]).flatten(0, 1).median(0).values / GAUSS_MEDIAN_ABS
    line = []
    for n, (mean, _, true) in sets.items():
        s = widened[n] * scale
        nll = (((mean - true) / s).square() / 2 + s.log()).mean()
        line.append(f"{n}: {shares(within_std_share(mean, s, true, layout.state_slices))}, NLL {float(nll):.3f}")
    print(f"  k={k:g} per head  " + "\n         ".join(line))
