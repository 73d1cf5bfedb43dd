"""Evaluation of a world model on held-out trajectories: autoregressive rollouts, errors, baselines, plots.

Protocol:
- rollout: the model is warmed up on a history window of M true rows, then predicts H steps open-loop,
  feeding back its ensemble-mean prediction with the TRUE actions (deterministic, no sampling). With input
  noise scale ``sigma`` every state fed to the model (history and fed-back predictions) gets Gaussian noise
  of ``sigma`` times the state's training std; errors are measured against the clean truth.
- error: relative L1 ``sum |pred - true| / sum |true|`` per forecast step k = 1..H, summed over windows and
  over the dimensions of a state group ('all' = every state dimension).
- baselines: 'hold' (the state stays the last history state) and 'constant_velocity' (joint and base
  velocities stay constant; joint positions integrate the last joint velocity, ``q_k = q + k dt qdot``;
  everything else held). 'linear' (each dimension extrapolated from the last two history rows) is reported
  as a third, stronger-at-one-step reference.
- uncertainty vs error: windows starting every ``correlation_stride`` rows of each held-out episode,
  open-loop rollouts of up to 200 steps (cut at the episode end, at least ``correlation_min_steps``). Main
  figure, "step-averaged": per window, the epistemic u (see EnsembleWorldModel.epistemic) averaged over its
  steps against the window's error averaged over the same steps, Pearson and Spearman with bootstrap 95 %
  intervals over windows. The error is given in the units of u (``sum_d |pred - true| / std_d``, normalised
  state; the main figure) and as raw relative L1 (dominated by the joint efforts, whose raw values are
  largest). Also: the same on the windows with the full rollout length only, per step (u and error averaged
  over the windows at each step; asks whether u grows with the horizon like the error) and pooled over
  (window, step) pairs, both in normalised units.
- out-of-distribution (``ood_data``): AUROC of the window-averaged u for telling the OOD windows from the
  held-out ones (same protocol on both; 0.5 = no signal, 1 = u of every OOD window above every held-out one),
  and the same AUROC of the window's true error: data of another policy is not always harder for the model,
  and u can only be asked to rise where the error does.
- calibration: share of one-step errors within +-1 predicted std per state group (see
  :func:`~rwm_tasks.world_model.uncertainty.calibration`; 0.683 for a calibrated Gaussian).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from rwm_tasks.layout import RobotLayout

from .data import TransitionData, TransitionStore, WindowBatch
from .model import EnsembleWorldModel
from .stepper import ModelStepper
from .files import save_figure
from .uncertainty import calibration, correlation_ci, ood_report, strided_windows, window_scores

DEFAULT_HORIZONS = (1, 8, 32, 100)
DEFAULT_NOISE_SCALES = (0.1, 0.2, 0.4, 0.8)


@dataclass
class Rollout:
    """Open-loop predictions of n windows: raw units."""

    history: Tensor  # [n, M, S] true history states
    pred: Tensor  # [n, H, S]
    true: Tensor  # [n, H, S]
    epistemic: Tensor  # [n, H]
    aleatoric: Tensor  # [n, H]


@torch.no_grad()
def rollout(
    model: EnsembleWorldModel,
    batch: WindowBatch,
    history: int,
    noise_scale: float = 0.0,
    generator: torch.Generator | None = None,
) -> Rollout:
    """Warm up on rows [0, history) of each window and predict the remaining rows open-loop."""
    n, window = batch.states.shape[:2]
    std = model.state_norm.std

    def noisy(x: Tensor) -> Tensor:
        if not noise_scale:
            return x
        return x + noise_scale * std * torch.randn(x.shape, generator=generator).to(x)

    stepper = ModelStepper(model, n, deterministic=True, generator=generator)
    ids = torch.arange(n)
    # a row holds the last applied action: the action applied at row t's state is row t + 1's
    applied = batch.actions[:, 1:]
    out = stepper.reset(ids, noisy(batch.states[:, :history]), applied[:, :history], heads=torch.zeros_like(ids))
    preds, epi, ale = [out.ensemble_mean], [out.epistemic], [out.aleatoric]
    for k in range(1, window - history):
        out = stepper.step(noisy(preds[-1]), applied[:, history + k - 1])
        preds.append(out.ensemble_mean)
        epi.append(out.epistemic)
        ale.append(out.aleatoric)
    return Rollout(batch.states[:, :history], torch.stack(preds, 1), batch.states[:, history:], torch.stack(epi, 1),
                   torch.stack(ale, 1))  # fmt: skip


# --- baselines ---------------------------------------------------------------------------------------------------
def hold_baseline(states: Tensor, history: int, horizon: int, layout: RobotLayout | None = None) -> Tensor:
    """The state stays the last history state: [n, W, S] -> [n, horizon, S]."""
    return states[:, history - 1 : history].expand(-1, horizon, -1).clone()


def constant_velocity_baseline(states: Tensor, history: int, horizon: int, layout: RobotLayout) -> Tensor:
    """Velocities constant, joint positions integrated with the last joint velocity, the rest held."""
    pred = hold_baseline(states, history, horizon)
    jp, jv = layout.state_slice("joint_pos"), layout.state_slice("joint_vel")
    t = torch.arange(1, horizon + 1, dtype=states.dtype, device=states.device).view(1, -1, 1) * layout.dt
    pred[..., jp] = states[:, history - 1 : history, jp] + t * states[:, history - 1 : history, jv]
    return pred


def linear_baseline(states: Tensor, history: int, horizon: int, layout: RobotLayout | None = None) -> Tensor:
    """Each dimension extrapolated linearly from the last two history rows."""
    last, prev = states[:, history - 1 : history], states[:, history - 2 : history - 1]
    k = torch.arange(1, horizon + 1, dtype=states.dtype, device=states.device).view(1, -1, 1)
    return last + k * (last - prev)


BASELINES = {"hold": hold_baseline, "constant_velocity": constant_velocity_baseline, "linear": linear_baseline}


# --- metrics -----------------------------------------------------------------------------------------------------
def relative_l1(pred: Tensor, true: Tensor, groups: dict[str, slice]) -> dict[str, Tensor]:
    """Per forecast step: sum |pred - true| / sum |true| over windows and the group's dims -> {group: [H]},
    plus 'all'."""
    err, ref = (pred - true).abs(), true.abs()
    out = {"all": err.sum((0, 2)) / ref.sum((0, 2)).clamp_min(1e-12)}
    for name, sl in groups.items():
        out[name] = err[..., sl].sum((0, 2)) / ref[..., sl].sum((0, 2)).clamp_min(1e-12)
    return out


def pearson(x: Tensor, y: Tensor) -> float:
    x, y = x.double().flatten(), y.double().flatten()
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / (x.norm() * y.norm()).clamp_min(1e-300))


def _ranks(x: Tensor) -> Tensor:
    """Ranks with ties averaged."""
    x = x.double().flatten()
    order = x.argsort()
    ranks = torch.empty_like(x)
    ranks[order] = torch.arange(len(x), dtype=torch.double)
    uniq, inverse = x.unique(return_inverse=True)
    if len(uniq) < len(x):
        sums = torch.zeros(len(uniq), dtype=torch.double).index_add_(0, inverse, ranks)
        counts = torch.zeros(len(uniq), dtype=torch.double).index_add_(0, inverse, torch.ones_like(ranks))
        ranks = (sums / counts)[inverse]
    return ranks


def spearman(x: Tensor, y: Tensor) -> float:
    return pearson(_ranks(x), _ranks(y))


def uncertainty_error_correlation(
    model: EnsembleWorldModel, r: Rollout, valid: Tensor | None = None, num_boot: int = 2000, seed: int = 0
) -> dict:
    """Epistemic u vs error (see module doc) for a rollout with step validity ``valid`` [n, H] (default: all
    valid): step-averaged per window with bootstrap intervals (normalised and raw units, all windows and the
    full-length ones), per step and pooled (normalised units)."""
    if valid is None:
        valid = torch.ones(r.epistemic.shape, dtype=torch.bool)
    w = window_scores(model, r.pred, r.true, r.epistemic, valid)
    full = valid.all(1)
    m = valid.double()
    err_n = ((r.pred - r.true).abs() / model.state_norm.std).sum(-1).double()
    count = m.sum(0).clamp_min(1)
    step_u, step_err = (r.epistemic.double() * m).sum(0) / count, (err_n * m).sum(0) / count
    steps = m.sum(0) > 0
    out = {
        "num_windows": int(valid.shape[0]),
        "num_full_windows": int(full.sum()),
        "steps": int(valid.shape[1]),
        "normalised": correlation_ci(w["u"], w["error_normalised"], num_boot, seed),
        "raw": correlation_ci(w["u"], w["error_raw"], num_boot, seed),
        "per_step_pearson": pearson(step_u[steps], step_err[steps]),
        "per_step_spearman": spearman(step_u[steps], step_err[steps]),
        "pooled_pearson": pearson(r.epistemic[valid], err_n[valid]),
        "pooled_spearman": spearman(r.epistemic[valid], err_n[valid]),
        "window_u": w["u"].tolist(),
        "window_error": w["error_normalised"].tolist(),
        "window_error_raw": w["error_raw"].tolist(),
        "window_steps": w["steps"].tolist(),
        "step_u": step_u.tolist(),
        "step_error": step_err.tolist(),
    }
    if int(full.sum()) >= 3:
        out["full_length"] = {"normalised": correlation_ci(w["u"][full], w["error_normalised"][full], num_boot, seed),
                              "raw": correlation_ci(w["u"][full], w["error_raw"][full], num_boot, seed)}  # fmt: skip
    out["pearson"], out["spearman"] = out["normalised"]["pearson"], out["normalised"]["spearman"]
    return out


def _strided_rollout(model, datas, history, steps, stride, min_steps, max_windows):
    """Rollouts of the strided windows (evenly thinned to ``max_windows`` if given) and their validity."""
    batch, valid = strided_windows(datas, history, steps, stride, min_steps)
    if max_windows and len(batch) > max_windows:
        pick = torch.linspace(0, len(batch) - 1, max_windows).round().long().unique()
        batch, valid = batch.select(pick), valid[pick]
    return rollout(model, batch, history), valid


# --- one call that does it all -----------------------------------------------------------------------------------
def evaluate_model(
    model: EnsembleWorldModel,
    data: TransitionData | list[TransitionData],
    history: int = 32,
    horizons: tuple[int, ...] = DEFAULT_HORIZONS,
    noise_scales: tuple[float, ...] = DEFAULT_NOISE_SCALES,
    max_windows: int = 256,
    correlation_windows: int | None = None,
    correlation_steps: int = 200,
    seed: int = 0,
    keep_rollout: bool = False,
    correlation_stride: int = 10,
    correlation_min_steps: int = 40,
    ood_data: TransitionData | list[TransitionData] | None = None,
    calibration_windows: int = 4096,
    num_boot: int = 2000,
) -> dict:
    """Errors per horizon and state group for the model and baselines, noise robustness, uncertainty vs
    error, OOD AUROC (with ``ood_data``) and calibration on held-out ``data``. ``correlation_windows``: at
    most this many of the strided windows (None: all; 0: skip the correlation and OOD parts). Returns a
    JSON-able dict (plus rollouts under '_rollouts' if ``keep_rollout``)."""
    datas = data if isinstance(data, list) else [data]
    layout = datas[0].layout
    groups = layout.state_slices
    horizon = max(horizons)
    model.eval()
    batch = TransitionStore(datas, history + horizon).evenly_spaced(max_windows)
    main = rollout(model, batch, history)
    curves = {"model": relative_l1(main.pred, main.true, groups)}
    for name, fn in BASELINES.items():
        curves[name] = relative_l1(fn(batch.states, history, horizon, layout), main.true, groups)
    pick = lambda c: {g: [float(v[h - 1]) for h in horizons] for g, v in c.items()}  # noqa: E731
    report = {
        "robot": layout.robot,
        "num_windows": len(batch),
        "history": history,
        "horizons": list(horizons),
        "errors": {name: pick(c) for name, c in curves.items()},
        "curves": {name: {g: v.tolist() for g, v in c.items()} for name, c in curves.items()},
        "noise": {},
    }
    gen = torch.Generator().manual_seed(seed)
    for scale in noise_scales:
        r = rollout(model, batch, history, noise_scale=scale, generator=gen)
        err = relative_l1(r.pred, r.true, {})["all"]
        report["noise"][str(scale)] = {"all": [float(err[h - 1]) for h in horizons]}
    rollouts = {"main": main, "batch": batch}
    if correlation_windows != 0:
        min_steps = min(correlation_min_steps, correlation_steps)
        corr_rollout, valid = _strided_rollout(model, datas, history, correlation_steps, correlation_stride,
                                               min_steps, correlation_windows)  # fmt: skip
        report["correlation"] = uncertainty_error_correlation(model, corr_rollout, valid, num_boot, seed)
        report["correlation"]["stride"] = correlation_stride
        rollouts["correlation"] = corr_rollout
        if ood_data is not None:
            odatas = ood_data if isinstance(ood_data, list) else [ood_data]
            ood_rollout, ood_valid = _strided_rollout(model, odatas, history, correlation_steps,
                                                      correlation_stride, min_steps, correlation_windows)  # fmt: skip
            ood = window_scores(model, ood_rollout.pred, ood_rollout.true, ood_rollout.epistemic, ood_valid)
            report["ood"] = ood_report(report["correlation"], ood)
    cal_batch, _ = strided_windows(datas, history, 1, 1)
    if len(cal_batch) > calibration_windows:
        pick = torch.linspace(0, len(cal_batch) - 1, calibration_windows).round().long().unique()
        cal_batch = cal_batch.select(pick)
    report["calibration"] = calibration(model, cal_batch, history, groups)
    if keep_rollout:
        report["_rollouts"] = rollouts
    return report


def format_report(report: dict) -> str:
    """Plain-text tables: error per horizon and group for model and baselines, noise, correlation."""
    hs = report["horizons"]
    lines = [f"robot {report['robot']}: {report['num_windows']} held-out windows, history {report['history']}",
             "relative L1 error sum|pred-true|/sum|true| at forecast horizon (steps):"]  # fmt: skip
    head = f"{'group':<18} {'predictor':<18} " + " ".join(f"{'h=' + str(h):>8}" for h in hs)
    lines.append(head)
    for group in report["errors"]["model"]:
        for name, errs in report["errors"].items():
            lines.append(f"{group:<18} {name:<18} " + " ".join(f"{v:8.3f}" for v in errs[group]))
    if report.get("noise"):
        lines.append("input noise (scale x state std), all dims, model:")
        for scale, e in report["noise"].items():
            lines.append(f"{'noise ' + scale:<37} " + " ".join(f"{v:8.3f}" for v in e["all"]))
    if "correlation" in report:
        c = report["correlation"]
        fmt = lambda r: (f"Pearson {r['pearson']:.3f} [{r['pearson_ci'][0]:.3f}, {r['pearson_ci'][1]:.3f}]  "  # noqa: E731
                         f"Spearman {r['spearman']:.3f} [{r['spearman_ci'][0]:.3f}, {r['spearman_ci'][1]:.3f}]")
        lines.append(f"epistemic u vs error, step-averaged per window ({c['num_windows']} windows every "
                     f"{c.get('stride', '?')} rows, rollouts of up to {c['steps']} steps; 95 % bootstrap intervals):")
        lines.append(f"  error in u's units (normalised state): {fmt(c['normalised'])}")
        lines.append(f"  error as raw relative L1:               {fmt(c['raw'])}")
        if "full_length" in c:
            lines.append(f"  full-length windows only ({c['num_full_windows']}), normalised: "
                         f"{fmt(c['full_length']['normalised'])}")
        lines.append(f"  per step Pearson {c['per_step_pearson']:.3f} Spearman {c['per_step_spearman']:.3f}; "
                     f"pooled (window, step) Pearson {c['pooled_pearson']:.3f} Spearman {c['pooled_spearman']:.3f}")
    if "ood" in report:
        o = report["ood"]
        lines.append(f"out-of-distribution data: AUROC of u {o['auroc']:.3f} ({o['num_windows']} OOD windows; median u "
                     f"held-out {o['test_u_median']:.3f}, OOD {o['ood_u_median']:.3f}; a few diverging windows can "
                     f"dominate the means: {o['test_u_mean']:.3f}, {o['ood_u_mean']:.3f})")
        lines.append(f"  the model's true error separates them with AUROC {o['auroc_of_error']:.3f} (median error in u's "
                     f"units held-out {o['test_error_median']:.2f}, OOD {o['ood_error_median']:.2f}; as raw relative "
                     f"L1: AUROC {o['auroc_of_error_raw']:.3f})")
    if "calibration" in report:
        cal = report["calibration"]
        names = list(cal["per_head"])
        lines.append(f"calibration: share of one-step errors within +-1 predicted std ({cal['num_samples']} "
                     f"predictions; a calibrated Gaussian: share 0.683, median |error| / std 0.674):")
        lines.append(f"  {'':<22}" + " ".join(f"{n[:17]:>17}" for n in names))
        for key in ("per_head", "ensemble", "median_error_over_std"):
            lines.append(f"  {key:<22}" + " ".join(f"{cal[key][n]:17.3f}" for n in names))
    return "\n".join(lines)


# --- plots -------------------------------------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_trajectories(r: Rollout, batch: WindowBatch, layout: RobotLayout, path: str | Path, window: int = 0) -> None:
    """Predicted vs true for one window: per state group the dimension that moves most, with baselines."""
    plt = _pyplot()
    groups = list(layout.state_slices.items())
    history, horizon = r.history.shape[1], r.pred.shape[1]
    t_hist = (torch.arange(-history + 1, 1) * layout.dt).numpy()
    t_pred = (torch.arange(1, horizon + 1) * layout.dt).numpy()
    cv = constant_velocity_baseline(batch.states[window : window + 1], history, horizon, layout)[0]
    fig, axes = plt.subplots(2, (len(groups) + 1) // 2, figsize=(15, 7), squeeze=False)
    names = layout.state_names
    for ax, (group, sl) in zip(axes.flat, groups):
        true = torch.cat([r.history[window, :, sl], r.true[window, :, sl]])
        d = sl.start + int(true.std(0).argmax())
        ax.plot(t_hist, r.history[window, :, d], color="0.6", label="history (true)")
        ax.plot(t_pred, r.true[window, :, d], color="k", label="true")
        ax.plot(t_pred, r.pred[window, :, d], color="C0", lw=2, label="model")
        ax.plot(t_pred, cv[:, d], color="C3", ls="--", lw=1, label="constant velocity")
        ax.axvline(0, color="0.8", lw=1)
        ax.set_title(f"{group}: {names[d].split('/')[-1]}", fontsize=10)
        ax.set_xlabel("time from forecast start [s]")
    for ax in list(axes.flat)[len(groups) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"{layout.robot}: open-loop prediction vs truth (held-out window {window})")
    fig.tight_layout()
    save_figure(fig, path)


def plot_error_vs_horizon(report: dict, path: str | Path) -> None:
    """Relative L1 error per forecast step, overall and per group, model vs baselines."""
    plt = _pyplot()
    curves = report["curves"]
    groups = list(curves["model"])
    fig, axes = plt.subplots(2, (len(groups) + 1) // 2, figsize=(16, 7), squeeze=False)
    styles = {"model": dict(color="C0", lw=2), "hold": dict(color="0.3", ls=":", lw=1.5, zorder=3),
              "constant_velocity": dict(color="C3", ls="--"), "linear": dict(color="C2", ls="-.", lw=1)}  # fmt: skip
    for ax, group in zip(axes.flat, groups):
        for name, c in curves.items():
            steps = range(1, len(c[group]) + 1)
            ax.plot(steps, c[group], label=name, **styles.get(name, {}))
        top = max(max(curves["model"][group]), max(curves["hold"][group]))
        ax.set_ylim(0, 1.3 * top)
        ax.set_title(group, fontsize=10)
        ax.set_xlabel("forecast step")
        ax.set_ylabel("relative L1 error")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(groups) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"{report['robot']}: error vs horizon ({report['num_windows']} held-out windows)")
    fig.tight_layout()
    save_figure(fig, path)


def plot_uncertainty_vs_error(report: dict, path: str | Path) -> None:
    """Epistemic u against error per window (normalised and raw units, intervals in the titles), per step,
    and u of held-out vs OOD windows when the report has them."""
    plt = _pyplot()
    corr, ood = report["correlation"], report.get("ood")
    fig, axes = plt.subplots(1, 4 if ood else 3, figsize=(22 if ood else 17, 5))

    def title(r: dict) -> str:
        return (f"Pearson {r['pearson']:.2f} [{r['pearson_ci'][0]:.2f}, {r['pearson_ci'][1]:.2f}], "
                f"Spearman {r['spearman']:.2f} [{r['spearman_ci'][0]:.2f}, {r['spearman_ci'][1]:.2f}]")  # fmt: skip

    for ax, key, err, label in ((axes[0], "normalised", "window_error", "error, normalised (units of u)"),
                                (axes[1], "raw", "window_error_raw", "relative L1 error, raw units")):  # fmt: skip
        ax.scatter(corr["window_u"], corr[err], c=corr["window_steps"], cmap="viridis", s=14)
        ax.set_title(f"per window ({corr['num_windows']}), {key}\n{title(corr[key])}", fontsize=10)
        ax.set_xlabel("epistemic u (window mean)")
        ax.set_ylabel(label)
    steps = torch.arange(1, len(corr["step_u"]) + 1)
    sc = axes[2].scatter(corr["step_u"], corr["step_error"], c=steps, cmap="viridis", s=12)
    fig.colorbar(sc, ax=axes[2], label="forecast step (colour also: window steps)")
    axes[2].set_title(f"per step, averaged over windows\nPearson {corr['per_step_pearson']:.2f}, "
                      f"Spearman {corr['per_step_spearman']:.2f}", fontsize=10)  # fmt: skip
    axes[2].set_xlabel("epistemic u (mean over windows)")
    axes[2].set_ylabel("error, normalised")
    if ood:
        bins = torch.linspace(0, max(max(corr["window_u"]), max(ood["window_u"])), 30).tolist()
        axes[3].hist(corr["window_u"], bins=bins, alpha=0.6, label="held-out")
        axes[3].hist(ood["window_u"], bins=bins, alpha=0.6, label="OOD")
        axes[3].set_title(f"u per window: held-out vs OOD data\nAUROC {ood['auroc']:.3f}", fontsize=10)
        axes[3].set_xlabel("epistemic u (window mean)")
        axes[3].legend()
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def plot_calibration(report: dict, path: str | Path) -> None:
    """Share of one-step errors within +-1 predicted std per state group, per head and ensemble."""
    plt = _pyplot()
    cal = report["calibration"]
    names = list(cal["per_head"])
    x = torch.arange(len(names)).float()
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.axhspan(0.58, 0.78, color="C2", alpha=0.15, label="target 0.58-0.78")
    ax.axhline(0.683, color="C2", lw=1)
    ax.bar(x - 0.2, [cal["per_head"][n] for n in names], 0.4, label="per head (own mean and std)")
    ax.bar(x + 0.2, [cal["ensemble"][n] for n in names], 0.4, label="ensemble (mixture std)")
    ax.set_xticks(x.tolist(), names, rotation=20, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share within +-1 std")
    ax.set_title(f"{report['robot']}: calibration of one-step predictions ({cal['num_samples']} windows)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def plot_noise_robustness(report: dict, path: str | Path) -> None:
    """Model error at the report's horizons for each input-noise scale."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    scales = [0.0] + [float(s) for s in report["noise"]]
    rows = [report["errors"]["model"]["all"]] + [v["all"] for v in report["noise"].values()]
    for i, h in enumerate(report["horizons"]):
        ax.plot(scales, [row[i] for row in rows], marker="o", label=f"horizon {h}")
    ax.set_xlabel("input noise scale (x state std)")
    ax.set_ylabel("relative L1 error (all dims)")
    ax.set_title(f"{report['robot']}: robustness to input noise")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def write_plots(report: dict, layout: RobotLayout, out_dir: str | Path) -> list[Path]:
    """All PNGs for a report made with ``keep_rollout=True``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ro = report["_rollouts"]
    paths = [out / "trajectories.png", out / "error_vs_horizon.png", out / "noise_robustness.png"]
    plot_trajectories(ro["main"], ro["batch"], layout, paths[0], window=len(ro["batch"]) // 3)
    plot_error_vs_horizon(report, paths[1])
    plot_noise_robustness(report, paths[2])
    if "correlation" in report:
        paths.append(out / "uncertainty_vs_error.png")
        plot_uncertainty_vs_error(report, paths[-1])
    if "calibration" in report:
        paths.append(out / "calibration.png")
        plot_calibration(report, paths[-1])
    return paths
