"""``eval.png``: base velocity against command for a few envs, and the tracking score per command speed."""

from __future__ import annotations

from ..world_model.files import save_figure

SHOWN_ENVS = 3


def plot_evaluation(trace, result: dict, path: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    steps, envs = trace.terminated.shape
    times = np.arange(1, steps + 1) * trace.step_dt
    shown = min(SHOWN_ENVS, envs)
    fig, axes = plt.subplots(4, 1, figsize=(9, 10))
    labels = ("v_x [m/s]", "v_y [m/s]", "yaw rate [rad/s]")
    for k, (ax, label) in enumerate(zip(axes[:3], labels)):
        for e in range(shown):
            line, = ax.plot(times, trace.velocity[:, e, k].numpy(), lw=1.0, label=f"env {e}")
            ax.plot(times, trace.command[:, e, k].numpy(), "--", color=line.get_color(), lw=1.0)
            falls = trace.terminated[:, e].nonzero().flatten()
            if len(falls):
                ax.axvline(times[int(falls[0])], color=line.get_color(), lw=0.8, alpha=0.5)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=7, title="solid: base, dashed: command", title_fontsize=7)
    axes[0].set_title(
        f"{result['task']} on {result['executor']}: tracking score {result['tracking_score']:.3f}, "
        f"yaw {result['yaw_tracking_score']:.3f}, falls/env-min {result['falls_per_env_minute']:.2f}", fontsize=9,
    )  # fmt: skip
    axes[2].set_xlabel("time [s] (vertical line: first fall)")
    bins = result["score_by_command_speed"]
    ax = axes[3]
    ax.bar(list(bins), [b["score"] for b in bins.values()], color="tab:blue")
    for i, b in enumerate(bins.values()):
        ax.text(i, b["score"] + 0.02, f"{b['fraction']:.0%}", ha="center", fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("commanded planar speed |c_xy| [m/s] (label: share of steps)")
    ax.set_ylabel("tracking score")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return save_figure(fig, path)
