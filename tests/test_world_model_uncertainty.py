"""Uncertainty quality: fixed per-window bootstrap, calibration, AUROC, intervals, OOD signal, flag calibration."""

import math

import numpy as np
import pytest
import torch

from rwm_tasks.layout import ANYMAL_D
from rwm_tasks.world_model import ModelStepper, ReplayBuffer, TransitionStore
from rwm_tasks.world_model.evaluate import evaluate_model, format_report
from rwm_tasks.world_model.synthetic import synthetic_dataset
from rwm_tasks.world_model.train import Trainer, TrainConfig, make_model, window_bootstrap_weights
from rwm_tasks.world_model.checkpoint import load_checkpoint, save_checkpoint
from rwm_tasks.world_model.uncertainty import (
    auroc,
    calibration,
    correlation_ci,
    fit_std_scale,
    strided_windows,
    within_std_share,
)

torch.set_num_threads(1)
SMALL = dict(hidden_dim=48, num_layers=1, num_heads=4, head_hidden_dims=(32,))


def test_window_bootstrap_weights_fixed_per_head_and_window():
    keys = torch.arange(6000)
    w = window_bootstrap_weights(keys, 5, seed=3)
    assert w.shape == (5, 6000)
    assert torch.equal(w, window_bootstrap_weights(keys, 5, seed=3))  # same seed: same weights
    assert not torch.equal(w, window_bootstrap_weights(keys, 5, seed=4))
    perm = torch.randperm(6000)
    assert torch.equal(window_bootstrap_weights(keys[perm], 5, seed=3), w[:, perm])  # a function of the key
    for b in range(5):
        assert abs(float((w[b] == 0).float().mean()) - math.exp(-1)) < 0.03  # about a third unseen per head
        assert abs(float(w[b].mean()) - 1.0) < 0.05 and abs(float(w[b].var()) - 1.0) < 0.1  # Poisson(1)
        for c in range(b):
            assert float((w[b] == w[c]).float().mean()) < 0.5  # heads weigh windows differently
    blocked = window_bootstrap_weights(keys, 5, seed=3, block=40)
    assert torch.equal(blocked[:, :40], blocked[:, :1].expand(-1, 40))  # one weight per block of starts
    assert not torch.equal(blocked[:, 40:80], blocked[:, :40])


def test_trainer_uses_the_same_weights_for_a_window_every_epoch():
    data = synthetic_dataset(ANYMAL_D, 600, 200, seed=0)
    cfg = TrainConfig(history=8, forecast=4, batch_size=16, seed=1)
    store = TransitionStore(data, cfg.window)
    trainer = Trainer.for_store(make_model(ANYMAL_D, store, **SMALL), cfg, store)
    a = store.sample(16, torch.Generator().manual_seed(0))
    b = store.get(a.keys.flip(0))
    assert torch.equal(trainer.bootstrap_weights(a), trainer.bootstrap_weights(b).flip(1))
    assert torch.equal(trainer.bootstrap_weights(a), window_bootstrap_weights(a.keys, 4, 1, cfg.window))


def test_replay_buffer_keys_follow_the_window_not_the_ring_slot():
    buf = ReplayBuffer(ANYMAL_D, num_envs=2, capacity_per_env=10, window=3)
    s, a, c, t = torch.zeros(2, 45), torch.zeros(2, 12), torch.zeros(2, 8), torch.zeros(2)
    for step in range(25):
        buf.add(s + step, a, c, t)
    batch = buf.sample(64, torch.Generator().manual_seed(0))
    first_time = batch.states[:, 0, 0].long()  # state value = absolute step of the window's first row
    env = batch.keys // (1 << 40)
    assert torch.equal(batch.keys % (1 << 40), first_time) and set(env.tolist()) <= {0, 1}


def test_within_std_share_and_calibration_targets():
    g = torch.Generator().manual_seed(0)
    mean, std = torch.randn(20000, 6, generator=g), torch.rand(20000, 6, generator=g) + 0.1
    true = mean + std * torch.randn(20000, 6, generator=g)
    share = within_std_share(mean, std, true, {"a": slice(0, 2), "b": slice(2, 6)})
    assert set(share) == {"all", "a", "b"}
    for v in share.values():
        assert abs(v - 0.6827) < 0.015
    assert within_std_share(mean, 0.1 * std, true, {})["all"] < 0.1  # overconfident
    assert within_std_share(mean, 10 * std, true, {})["all"] > 0.99  # underconfident


def test_auroc_constructed_cases():
    assert auroc([0, 1, 2], [3, 4]) == 1.0
    assert auroc([3, 4], [0, 1, 2]) == 0.0
    assert auroc([1, 1], [1, 1, 1]) == 0.5
    rng = np.random.default_rng(0)
    neg, pos = rng.standard_normal(300), rng.standard_normal(200) + 1.0
    brute = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert auroc(neg, pos) == pytest.approx(brute)
    assert auroc(neg, pos) == pytest.approx(0.76, abs=0.05)  # Phi(1 / sqrt 2)


def test_correlation_intervals():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(200)
    y = x + 0.5 * rng.standard_normal(200)
    c = correlation_ci(x, y, num_boot=500)
    assert c["pearson"] == pytest.approx(np.corrcoef(x, y)[0, 1])
    for key in ("pearson", "spearman"):
        lo, hi = c[f"{key}_ci"]
        assert lo < c[key] < hi and hi - lo < 0.15
    small = correlation_ci(x[:20], y[:20], num_boot=500)
    assert small["pearson_ci"][1] - small["pearson_ci"][0] > hi - lo  # fewer windows, wider interval
    assert correlation_ci(x, 2 * x, num_boot=100)["pearson_ci"] == pytest.approx([1.0, 1.0])


def test_strided_windows_cover_episodes_with_a_mask():
    data = synthetic_dataset(ANYMAL_D, 500, 250, seed=0)  # episodes [0, 250), [250, 500)
    batch, valid = strided_windows([data], history=8, steps=100, stride=10, min_steps=20)
    starts_per_episode = len(range(0, 250 - 8 - 20 + 1, 10))
    assert len(batch) == 2 * starts_per_episode and valid.shape == (len(batch), 100)
    assert valid[0].all() and valid[starts_per_episode - 1].sum() == 250 - 220 - 8
    last = starts_per_episode - 1  # window starting at 220: rows 228..249 valid
    assert torch.equal(batch.states[last, 8:30], torch.as_tensor(data.states[228:250]))


def _trained(rows=1600, iterations=200, seed=0, **kw):
    cfg = TrainConfig(history=8, forecast=4, batch_size=32, learning_rate=3e-3, seed=seed)
    store = TransitionStore(synthetic_dataset(ANYMAL_D, rows, 200, seed=0), cfg.window)
    model = make_model(ANYMAL_D, store, seed=seed, **{**SMALL, **kw})
    trainer = Trainer.for_store(model, cfg, store)
    trainer.fit(store, iterations)
    return model, trainer


@pytest.mark.parametrize("prior_scale", [0.0, 1.0])
def test_u_higher_on_shifted_data_and_eval_reports_it(prior_scale):
    model, _ = _trained(prior_scale=prior_scale)
    test = synthetic_dataset(ANYMAL_D, 400, 200, seed=7)
    shifted = synthetic_dataset(ANYMAL_D, 400, 200, seed=7, offset=2.0, action_scale=2.0)
    report = evaluate_model(model, test, history=8, horizons=(1, 10), noise_scales=(), max_windows=16,
                            correlation_steps=40, correlation_stride=10, correlation_min_steps=20,
                            ood_data=shifted, num_boot=200)  # fmt: skip
    assert report["ood"]["ood_u_mean"] > 1.25 * report["ood"]["test_u_mean"]
    assert report["ood"]["auroc"] > 0.9  # nearly every shifted window has a higher u than every held-out one
    assert report["ood"]["auroc_of_error"] > 0.9  # and the model is wrong there
    assert report["ood"]["ood_error_median"] > report["ood"]["test_error_median"]
    c = report["correlation"]
    assert c["num_windows"] == 2 * len(range(0, 200 - 8 - 20 + 1, 10))
    assert set(c["normalised"]) >= {"pearson", "pearson_ci", "spearman", "spearman_ci"} and "raw" in c
    assert set(report["calibration"]["per_head"]) == {"all", *ANYMAL_D.state_slices}
    text = format_report(report)
    assert "AUROC" in text and "within +-1 predicted std" in text and "normalised" in text
    assert "the model's true error separates them with AUROC" in text


def test_std_not_pinned_at_a_bound_after_training():
    """The one-step std follows the errors: neither far below them (bounds too tight) nor far above."""
    model, _ = _trained(iterations=250)
    report = evaluate_model(model, synthetic_dataset(ANYMAL_D, 400, 200, seed=7), history=8, horizons=(1,),
                            noise_scales=(), max_windows=8, correlation_windows=0)  # fmt: skip
    assert 0.4 < report["calibration"]["per_head"]["all"] < 0.9


def test_calibrated_flag_probabilities_on_a_constructed_logit(tmp_path):
    """With BCE positive weight w the head's logit is logit(p) + log w: the stepper returns sigmoid(logit -
    log w), and the weights travel in the checkpoint (version-1 files take them from the trainer state)."""
    data = synthetic_dataset(ANYMAL_D, 400, 200, seed=0)
    store = TransitionStore(data, 12)
    model = make_model(ANYMAL_D, store, **SMALL)
    trainer = Trainer(model, TrainConfig(history=8, forecast=4), torch.full((8,), 4.0), torch.tensor([99.0]))
    s, c = ANYMAL_D.state_dim, ANYMAL_D.contact_dim
    last = model.heads.layers[-1]
    with torch.no_grad():  # constant logits: contact log(4) (p = 0.5), termination log(99) + logit(0.2)
        last.weight[..., 2 * s : 2 * s + c + 1] = 0.0
        last.bias[..., 2 * s : 2 * s + c] = math.log(4.0)
        last.bias[..., 2 * s + c] = math.log(99.0) + math.log(0.2 / 0.8)
    batch = store.sample(3)
    out = ModelStepper(model, 3).reset(torch.arange(3), batch.states[:, :8], batch.actions[:, 1:9])
    assert torch.allclose(out.contact_prob, torch.full((3, 8), 0.5), atol=1e-5)
    assert torch.allclose(out.termination_prob, torch.full((3,), 0.2), atol=1e-5)
    assert float(torch.sigmoid(last.bias.detach()[0, 0, 2 * s + c])) > 0.95  # a plain sigmoid says "terminated"
    save_checkpoint(tmp_path / "m.pt", model, ANYMAL_D, trainer)
    loaded = load_checkpoint(tmp_path / "m.pt").model
    assert torch.equal(loaded.termination_pos_weight, torch.tensor([99.0]))
    raw = torch.load(tmp_path / "m.pt", weights_only=False)
    raw["format_version"] = 1
    for name in ("contact_pos_weight", "termination_pos_weight"):
        del raw["model_state"][name]
    torch.save(raw, tmp_path / "v1.pt")
    old = load_checkpoint(tmp_path / "v1.pt").model
    assert torch.equal(old.termination_pos_weight, torch.tensor([99.0]))
    assert torch.equal(old.contact_pos_weight, torch.full((8,), 4.0))
    raw["trainer_state"] = None
    torch.save(raw, tmp_path / "v1_no_trainer.pt")
    assert torch.equal(load_checkpoint(tmp_path / "v1_no_trainer.pt").model.termination_pos_weight, torch.ones(1))


def test_fit_std_scale_matches_held_out_errors():
    model, _ = _trained(iterations=60)
    held_out = synthetic_dataset(ANYMAL_D, 600, 300, seed=9, noise=0.05)  # noisier than the training data
    batch, _ = strided_windows([held_out], 8, 1, 1)
    groups = ANYMAL_D.state_slices
    before = calibration(model.eval(), batch, 8, groups)["per_head"]["all"]
    scale = fit_std_scale(model, batch, 8)
    after = calibration(model, batch, 8, groups)
    assert scale.shape == (45,) and torch.allclose(model.log_std_scale.exp(), scale)
    assert abs(after["per_head"]["all"] - 0.683) < 0.08 and abs(before - 0.683) > abs(after["per_head"]["all"] - 0.683)
    assert all(abs(v - 0.6745) < 0.05 for v in after["median_error_over_std"].values())
