"""Quality of the model's uncertainty on held-out data: does epistemic u flag error, is the std calibrated?

- :func:`strided_windows`: every window start at a stride inside each episode, rollouts truncated at the
  episode end (a validity mask), so the held-out data is covered instead of a few evenly spread windows.
- :func:`window_scores`: per window, u and the open-loop error averaged over its valid steps; the error both in
  the units of u (normalised state, summed over dimensions) and as relative L1 in raw units.
- :func:`correlation_ci`: Pearson and Spearman with percentile bootstrap 95 % intervals over windows.
- :func:`auroc`: how well u separates two datasets (e.g. held-out vs out-of-distribution data).
- :func:`calibration`: share of one-step errors within +-1 predicted std, per state group (0.683 for a
  calibrated Gaussian); :func:`fit_std_scale` rescales the std per dimension to match held-out errors.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .data import TransitionData, WindowBatch
from .model import EnsembleWorldModel


def strided_windows(
    datas: list[TransitionData], history: int, steps: int, stride: int, min_steps: int = 1
) -> tuple[WindowBatch, Tensor]:
    """Windows of ``history + steps`` rows starting every ``stride`` rows of each episode, kept where at least
    ``min_steps`` forecast rows lie in the episode. Rows past the episode end repeat its last row and are
    masked out: returns the batch and ``valid`` [n, steps] (bool)."""
    rows, valid = [], []
    offsets = np.arange(history + steps)
    for d in datas:
        for s, e in d.episode_bounds():
            for start in range(s, e - history - min_steps + 1, max(int(stride), 1)):
                rows.append(d.array[np.minimum(start + offsets, e - 1)])
                valid.append(start + history + np.arange(steps) < e)
    if not rows:
        raise ValueError(f"no window of {history} + {min_steps} rows fits in the data")
    layout = datas[0].layout
    batch = WindowBatch.from_columns(torch.as_tensor(np.stack(rows)), layout)
    return batch, torch.as_tensor(np.stack(valid))


def window_scores(model: EnsembleWorldModel, pred: Tensor, true: Tensor, epistemic: Tensor, valid: Tensor) -> dict:
    """Per window over its valid steps: mean u, mean normalised error ``sum_d |pred - true| / std_d`` (the
    units of u) and raw relative L1 ``sum |pred - true| / sum |true|``. Inputs [n, H, S] raw, u [n, H]."""
    m = valid.to(pred.dtype)
    count = m.sum(1).clamp_min(1)
    err_n = ((pred - true).abs() / model.state_norm.std).sum(-1)
    raw_err = ((pred - true).abs().sum(-1) * m).sum(1)
    raw_ref = (true.abs().sum(-1) * m).sum(1).clamp_min(1e-12)
    return {
        "u": (epistemic * m).sum(1) / count,
        "error_normalised": (err_n * m).sum(1) / count,
        "error_raw": raw_err / raw_ref,
        "steps": m.sum(1),
    }


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson of each row pair of x, y [k, n]."""
    x = x - x.mean(-1, keepdims=True)
    y = y - y.mean(-1, keepdims=True)
    den = np.sqrt((x * x).sum(-1) * (y * y).sum(-1))
    return (x * y).sum(-1) / np.maximum(den, 1e-300)


def _rank_rows(x: np.ndarray) -> np.ndarray:
    """Ranks along the last axis, ties averaged."""
    from scipy.stats import rankdata

    return rankdata(x, axis=-1)


def correlation_ci(x, y, num_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """Pearson and Spearman of paired samples with percentile bootstrap intervals (pairs resampled)."""
    x, y = np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    n = len(x)
    out = {"n": n, "pearson": float(_pearson_rows(x[None], y[None])[0]),
           "spearman": float(_pearson_rows(_rank_rows(x[None]), _rank_rows(y[None]))[0])}  # fmt: skip
    if n < 3 or num_boot <= 0:
        return {**out, "pearson_ci": [float("nan")] * 2, "spearman_ci": [float("nan")] * 2}
    idx = np.random.default_rng(seed).integers(0, n, size=(num_boot, n))
    bx, by = x[idx], y[idx]
    lo, hi = 50 * (1 - level), 50 * (1 + level)
    p = _pearson_rows(bx, by)
    s = _pearson_rows(_rank_rows(bx), _rank_rows(by))
    out["pearson_ci"] = [float(v) for v in np.nanpercentile(p, [lo, hi])]
    out["spearman_ci"] = [float(v) for v in np.nanpercentile(s, [lo, hi])]
    return out


def auroc(negative, positive) -> float:
    """Probability that a random positive scores above a random negative (ties count half): the area under
    the ROC curve of the score, via the Mann-Whitney U statistic."""
    neg, pos = np.asarray(negative, np.float64).ravel(), np.asarray(positive, np.float64).ravel()
    if len(neg) == 0 or len(pos) == 0:
        return float("nan")
    ranks = _rank_rows(np.concatenate([neg, pos])[None])[0]
    u = ranks[len(neg) :].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(neg) * len(pos)))


def ood_report(held_out: dict, ood: dict[str, Tensor]) -> dict:
    """AUROC of u for telling the OOD windows (``ood``: :func:`window_scores`) from the held-out ones (the
    correlation report), beside the AUROC of the model's true error: how much harder the OOD data really is
    for the model, the separation a perfect error predictor would reach."""
    test_u, test_err = torch.tensor(held_out["window_u"]), torch.tensor(held_out["window_error"])
    return {
        "auroc": auroc(test_u, ood["u"]),
        "auroc_of_error": auroc(test_err, ood["error_normalised"]),
        "auroc_of_error_raw": auroc(torch.tensor(held_out["window_error_raw"]), ood["error_raw"]),
        "num_windows": len(ood["u"]),
        "test_u_mean": float(test_u.mean()),
        "ood_u_mean": float(ood["u"].mean()),
        "test_u_median": float(test_u.median()),
        "ood_u_median": float(ood["u"].median()),
        "test_error_median": float(test_err.median()),
        "ood_error_median": float(ood["error_normalised"].median()),
        "window_u": ood["u"].tolist(),
        "window_error": ood["error_normalised"].tolist(),
    }


@torch.no_grad()
def one_step_predictions(model: EnsembleWorldModel, batch: WindowBatch, history: int):
    """Every head's prediction of row ``history`` of each window from the true rows before it: means and
    stds [B, n, S] (normalised) and the normalised truth [n, S]."""
    states_n, actions_n = model.normalize_inputs(batch.states, batch.actions)
    features, _ = model.encode(states_n[:, :history], actions_n[:, 1 : history + 1])
    pred = model.predict(features[:, -1], states_n[:, history - 1], actions_n[:, history])
    return pred.mean, pred.std, states_n[:, history]


def calibration(model: EnsembleWorldModel, batch: WindowBatch, history: int, groups: dict[str, slice]) -> dict:
    """Share of one-step errors within +-1 predicted std per state group and over all dimensions.
    'per_head': each head's own mean and std (what sampled imagination draws from), averaged over heads;
    'ensemble': the ensemble mean with the mixture std ``sqrt(mean_b std_b^2 + var_b mean_b)``. Also the
    median ratio |error| / std per group (0.674 for a calibrated Gaussian)."""
    mean, std, true = one_step_predictions(model, batch, history)
    mix_std = (std.square().mean(0) + mean.var(0, unbiased=False)).sqrt()
    out = {"per_head": within_std_share(mean, std, true, groups),
           "ensemble": within_std_share(mean.mean(0), mix_std, true, groups),
           "median_error_over_std": {}, "num_samples": int(true.shape[0])}  # fmt: skip
    ratio = ((mean - true).abs() / std).flatten(0, -2)
    for name, sl in {"all": slice(None), **groups}.items():
        out["median_error_over_std"][name] = float(ratio[:, sl].median())
    return out


def within_std_share(mean: Tensor, std: Tensor, true: Tensor, groups: dict[str, slice]) -> dict[str, float]:
    """Share of ``|mean - true| <= std`` over all leading dims, for all dimensions and per group of the last
    dim (broadcasting ``true`` over leading head dims)."""
    inside = ((mean - true).abs() <= std).float()
    return {name: float(inside[..., sl].mean()) for name, sl in {"all": slice(None), **groups}.items()}


GAUSS_MEDIAN_ABS = 0.6745
"""Median of |x| for a standard normal x."""


@torch.no_grad()
def fit_std_scale(model: EnsembleWorldModel, batch: WindowBatch, history: int, limit: float = 100.0) -> Tensor:
    """Set ``model.log_std_scale`` so that on held-out windows the median one-step |error| / std of every
    dimension (over heads and windows) is that of a Gaussian: then ~68 % of errors fall within +-1 std,
    whatever the tails. Returns the per-dimension scale [S]; the model is left in eval mode."""
    model.eval()
    model.log_std_scale.zero_()
    mean, std, true = one_step_predictions(model, batch, history)
    ratio = ((mean - true).abs() / std).flatten(0, -2)
    scale = (ratio.median(0).values / GAUSS_MEDIAN_ABS).clamp(1.0 / limit, limit)
    model.log_std_scale.copy_(scale.log())
    return scale
