"""Does the model see a fall coming? Real episodes that end in a fall, forecast open-loop from before it.

An episode of the data ends in a fall when its last row's base tilt reaches ``fall_tilt`` (recorded episodes
end at the training envs' tilt limit, :data:`~rwm_tasks.layout.FALL_TILT_RAD`). For each such episode and
each lead k, the model warms up on the ``history`` rows ending k rows before the last one and forecasts
those k rows with the recorded actions (ensemble-mean feedback, as the other evaluations). The fall counts
as foreseen at a tilt limit when the forecast tilt passes it. The same forecast from the middle of episodes
gives the false alarms. Imagination ends an episode where the forecast tilt passes its limit, so this is the
share of real falls an imagined rollout would have ended, and what ``agent.imagination.fall_tilt`` trades.
"""

from __future__ import annotations

import numpy as np
import torch

from ..layout import FALL_TILT_RAD, base_tilt
from .data import TransitionData, WindowBatch
from .evaluate import rollout
from .model import EnsembleWorldModel

DEFAULT_LEADS = (8, 16, 32)
"""Forecast steps before the fall's last row."""
DEFAULT_LIMITS = (0.4, 0.5, 0.6, FALL_TILT_RAD)
"""Tilt limits (rad) a forecast is checked against."""


def _windows(datas: list[TransitionData], history: int, lead: int, fall_tilt: float) -> tuple[list, list]:
    """Rows of the windows ending at each fall's last row, and of windows ending mid-episode (controls)."""
    falls, controls = [], []
    for d in datas:
        g = torch.as_tensor(d.states[:, d.layout.state_slices["projected_gravity"]])
        fell = (base_tilt(g) >= fall_tilt).numpy()
        for s, e in d.episode_bounds():
            if e - s < history + lead:
                continue
            if fell[e - 1]:
                falls.append(d.array[e - history - lead : e])
            middle = s + (e - s) // 2 - history - lead
            if middle >= s and not fell[s:e].any():
                controls.append(d.array[middle : middle + history + lead])
    return falls, controls


@torch.no_grad()
def fall_foresight(
    model: EnsembleWorldModel,
    datas: list[TransitionData],
    history: int,
    leads: tuple[int, ...] = DEFAULT_LEADS,
    limits: tuple[float, ...] = DEFAULT_LIMITS,
    fall_tilt: float = FALL_TILT_RAD,
) -> dict:
    """Per lead: how many falls, the share whose forecast tilt passes each limit, the same share for the
    mid-episode controls (false alarms), median largest tilt true and forecast, and median u of both."""
    layout = datas[0].layout
    gravity = layout.state_slices["projected_gravity"]
    out = {"fall_tilt": fall_tilt, "limits": list(limits), "leads": {}}
    for lead in leads:
        row = {}
        for name, rows in zip(("falls", "controls"), _windows(datas, history, lead, fall_tilt)):
            if not rows:
                row[name] = {"n": 0}
                continue
            batch = WindowBatch.from_columns(torch.as_tensor(np.stack(rows)), layout)
            r = rollout(model, batch, history)
            largest = base_tilt(r.pred[..., gravity]).amax(1)
            row[name] = {
                "n": len(rows),
                "passed": [float((largest > limit).float().mean()) for limit in limits],
                "median_tilt_true": float(base_tilt(r.true[..., gravity]).amax(1).median()),
                "median_tilt_forecast": float(largest.median()),
                "median_u": float(r.epistemic.mean(1).median()),
            }
        out["leads"][str(lead)] = row
    return out


def format_fall_foresight(report: dict) -> str:
    limits = " / ".join(f"{x:g}" for x in report["limits"])
    lines = [f"falls foreseen (episodes ending at a tilt >= {report['fall_tilt']:g} rad, forecast open-loop from "
             f"k steps before): share whose forecast tilt passes {limits} rad"]  # fmt: skip
    for lead, row in report["leads"].items():
        falls, controls = row["falls"], row["controls"]
        if not falls["n"]:
            lines.append(f"  k={lead:>3}: no fall in the data")
            continue
        shares = " / ".join(f"{x:.2f}" for x in falls["passed"])
        alarms = " / ".join(f"{x:.2f}" for x in controls["passed"]) if controls["n"] else "-"
        lines.append(f"  k={lead:>3}: {falls['n']} falls {shares} (largest tilt {falls['median_tilt_true']:.2f} true, "
                     f"{falls['median_tilt_forecast']:.2f} forecast; u {falls['median_u']:.2f}); {controls['n']} "
                     f"mid-episode windows {alarms} (u {controls.get('median_u', float('nan')):.2f})")  # fmt: skip
    return "\n".join(lines)
