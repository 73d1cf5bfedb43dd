"""Synthetic transitions in a robot's layout: a known, learnable dynamics for tests, smoke runs and benchmarks.

Dynamics: damped 2-D rotations (oscillators) over pairs of state dimensions driven linearly by a smooth
random action, plus small noise; contacts are thresholds of state dimensions; the extension is a linear
read-out of the state. ``offset`` shifts every state (an off-distribution copy for uncertainty tests).
"""

from __future__ import annotations

import numpy as np

from rwm_tasks.layout import RobotLayout

from .data import TransitionData, resolve_layout


def synthetic_dataset(
    layout: RobotLayout | str,
    num_rows: int = 2000,
    episode_length: int = 200,
    seed: int = 0,
    offset: float = 0.0,
    noise: float = 0.01,
    action_scale: float = 1.0,
) -> TransitionData:
    layout = resolve_layout(layout)
    rng = np.random.default_rng(seed)
    dyn = np.random.default_rng(12345)  # the dynamics itself is the same for every seed
    s_dim, a_dim = layout.state_dim, layout.action_dim
    angles = dyn.uniform(0.05, 0.3, size=(s_dim + 1) // 2)
    mix = dyn.standard_normal((a_dim, s_dim)) * 0.05
    readout = dyn.standard_normal((s_dim, max(layout.extension_dim, 1))) / np.sqrt(s_dim)

    def step(s: np.ndarray, a: np.ndarray) -> np.ndarray:
        out = np.empty_like(s)
        for i, th in enumerate(angles):
            j = 2 * i
            if j + 1 < s_dim:
                c, si = np.cos(th), np.sin(th)
                out[j] = 0.97 * (c * s[j] - si * s[j + 1])
                out[j + 1] = 0.97 * (si * s[j] + c * s[j + 1])
            else:
                out[j] = 0.97 * s[j]
        return out + a @ mix + noise * rng.standard_normal(s_dim)

    states = np.zeros((num_rows, s_dim))
    actions = np.zeros((num_rows, a_dim))
    starts = np.arange(0, num_rows, episode_length)
    s, a, start_set = np.zeros(s_dim), np.zeros(a_dim), set(starts.tolist())
    for t in range(num_rows):
        if t in start_set:
            s, a = rng.standard_normal(s_dim) * 0.5, np.zeros(a_dim)
        states[t], actions[t] = s, a  # a row holds the last applied action (zero at an episode start)
        a = 0.9 * a + 0.3 * action_scale * rng.standard_normal(a_dim)
        s = step(s, a)
    states += offset
    contacts = (states[:, : layout.contact_dim] > offset).astype(np.float32)
    terminations = np.zeros((num_rows, 1))
    extension = (states - offset) @ readout[:, : layout.extension_dim] + 0.4
    return TransitionData.from_groups(layout, states, actions, contacts, terminations, extension, starts,
                                      source=f"<synthetic seed {seed}>")  # fmt: skip
