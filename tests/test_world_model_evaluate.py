"""Metrics, baselines, correlation and plots of the world-model evaluation."""

import json
import math

import numpy as np
import pytest
import torch

from rwm_tasks.layout import ANYMAL_D
from rwm_tasks.world_model import TransitionStore
from rwm_tasks.world_model.evaluate import (
    constant_velocity_baseline,
    evaluate_model,
    format_report,
    hold_baseline,
    linear_baseline,
    pearson,
    relative_l1,
    rollout,
    spearman,
    write_plots,
)
from rwm_tasks.world_model.synthetic import synthetic_dataset
from rwm_tasks.world_model.train import make_model

torch.set_num_threads(1)


def test_relative_l1_per_step_and_group():
    true = torch.tensor([[[1.0, -2.0], [2.0, 2.0]], [[1.0, 2.0], [-2.0, 4.0]]])  # [n=2, H=2, S=2]
    pred = torch.tensor([[[0.0, -2.0], [2.0, 1.0]], [[1.0, 1.0], [-2.0, 4.0]]])
    err = relative_l1(pred, true, {"a": slice(0, 1), "b": slice(1, 2)})
    assert torch.allclose(err["all"], torch.tensor([2.0 / 6.0, 1.0 / 10.0]))
    assert torch.allclose(err["a"], torch.tensor([1.0 / 2.0, 0.0]))
    assert torch.allclose(err["b"], torch.tensor([1.0 / 4.0, 1.0 / 6.0]))


def test_baselines():
    states = torch.randn(3, 10, ANYMAL_D.state_dim)
    hold = hold_baseline(states, 6, 4)
    assert torch.equal(hold, states[:, 5:6].expand(-1, 4, -1))
    cv = constant_velocity_baseline(states, 6, 4, ANYMAL_D)
    jp, jv = ANYMAL_D.state_slice("joint_pos"), ANYMAL_D.state_slice("joint_vel")
    expected = states[:, 5, jp] + 3 * ANYMAL_D.dt * states[:, 5, jv]
    assert torch.allclose(cv[:, 2, jp], expected)
    others = torch.ones(ANYMAL_D.state_dim, dtype=torch.bool)
    others[jp] = False
    assert torch.equal(cv[..., others], hold[..., others])
    lin = linear_baseline(states, 6, 4)
    assert torch.allclose(lin[:, 1], states[:, 5] + 2 * (states[:, 5] - states[:, 4]))


def test_correlations():
    x = torch.arange(50, dtype=torch.float64)
    assert pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert spearman(x, x**3) == pytest.approx(1.0)
    assert spearman(x, -torch.exp(x / 10)) == pytest.approx(-1.0)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(200), rng.standard_normal(200)
    b = a + b
    assert pearson(torch.tensor(a), torch.tensor(b)) == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-9)
    ties = torch.tensor([1.0, 1.0, 2.0, 3.0])
    assert spearman(ties, torch.tensor([1.0, 2.0, 3.0, 4.0])) == pytest.approx(0.9486832980505138)


def test_rollout_noise_free_equals_stepper_and_report_and_plots(tmp_path):
    data = synthetic_dataset(ANYMAL_D, 700, 350, seed=1)
    store = TransitionStore(data, 8)
    model = make_model(ANYMAL_D, store, hidden_dim=16, num_layers=1, num_heads=3, head_hidden_dims=(8,))
    batch = TransitionStore(data, 8 + 20).evenly_spaced(5)
    r = rollout(model, batch, 8)
    assert r.pred.shape == (5, 20, 45) and r.epistemic.shape == (5, 20)
    assert torch.equal(r.true, batch.states[:, 8:])
    noisy = rollout(model, batch, 8, noise_scale=0.5, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(noisy.pred, r.pred)
    report = evaluate_model(model, data, history=8, horizons=(1, 5, 20), noise_scales=(0.2,), max_windows=16,
                            correlation_windows=6, correlation_steps=30, keep_rollout=True)  # fmt: skip
    assert set(report["errors"]) == {"model", "hold", "constant_velocity", "linear"}
    assert set(report["errors"]["model"]) == {"all", *ANYMAL_D.state_slices}
    assert len(report["errors"]["model"]["all"]) == 3 and len(report["curves"]["hold"]["all"]) == 20
    assert report["correlation"]["steps"] == 30 and -1 <= report["correlation"]["pearson"] <= 1
    lo, hi = report["correlation"]["normalised"]["pearson_ci"]
    assert lo <= report["correlation"]["pearson"] <= hi and "raw" in report["correlation"]
    text = format_report(report)
    assert "constant_velocity" in text and "Pearson" in text and "noise 0.2" in text
    paths = write_plots(report, ANYMAL_D, tmp_path)
    assert [p.name for p in paths][3:] == ["uncertainty_vs_error.png", "calibration.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
    report.pop("_rollouts")
    json.dumps(report)  # JSON-able


def test_fall_foresight_finds_the_falls_and_mid_episode_controls():
    """Episodes whose last row reaches the fall tilt are the falls, forecast from k rows before their end;
    episodes without a fall give one mid-episode control each; leads too long for an episode are reported."""
    from rwm_tasks.layout import GO2
    from rwm_tasks.layout import base_tilt
    from rwm_tasks.world_model.falls import fall_foresight, format_fall_foresight

    a = torch.tensor([0.0, 0.3, 1.2])
    gravity = torch.stack([-torch.sin(a), torch.zeros(3), -torch.cos(a)], -1)
    assert torch.allclose(base_tilt(gravity), a, atol=1e-6) and base_tilt(-gravity)[0] == pytest.approx(math.pi)

    data = synthetic_dataset(GO2, num_rows=400, episode_length=100, seed=0)
    g = data.array[:, GO2.column_slices["state"]][:, GO2.state_slices["projected_gravity"]]  # a view
    g[:] = (0.0, 0.0, -1.0)
    ramp = np.linspace(0.0, 0.9, 12)
    for end in (100, 300):  # episodes 0 and 2 roll over in their last 12 rows
        g[end - 12 : end] = np.stack([-np.sin(ramp), 0 * ramp, -np.cos(ramp)], -1)
    model = make_model(GO2, TransitionStore(data, window=40), hidden_dim=16, num_layers=1, num_heads=3,
                       head_hidden_dims=(8,)).eval()  # fmt: skip
    report = fall_foresight(model, [data], history=32, leads=(8, 80), limits=(0.5, 0.8))
    falls, controls = report["leads"]["8"]["falls"], report["leads"]["8"]["controls"]
    assert falls["n"] == 2 and controls["n"] == 2
    assert falls["median_tilt_true"] == pytest.approx(0.9, abs=1e-4) and controls["median_tilt_true"] < 1e-3
    assert len(falls["passed"]) == 2 and all(0.0 <= x <= 1.0 for x in falls["passed"] + controls["passed"])
    assert report["leads"]["80"]["falls"] == {"n": 0}  # 32 + 80 rows do not fit in a 100-row episode
    text = format_fall_foresight(report)
    assert "k=  8: 2 falls" in text and "k= 80: no fall in the data" in text
