"""Dual-autoregressive training, bootstrap, positive weights, uncertainty and checkpoints."""

import dataclasses

import pytest
import torch

from rwm_tasks.layout import ANYMAL_D, GO2
from rwm_tasks.world_model import ModelStepper, TransitionStore
from rwm_tasks.world_model.train import Trainer, TrainConfig, bootstrap_weights, dual_autoregressive_forecast, forecast_loss, make_model, pos_weight_from_rate
from rwm_tasks.world_model.checkpoint import CHECKPOINT_VERSION, load_checkpoint, save_checkpoint
from rwm_tasks.world_model.synthetic import synthetic_dataset

torch.set_num_threads(1)  # tiny models: one thread is faster and robust on a shared machine
SMALL = dict(hidden_dim=48, num_layers=1, num_heads=4, head_hidden_dims=(32,))
CFG = TrainConfig(history=8, forecast=4, batch_size=32, learning_rate=3e-3, seed=0)


def setup(layout=ANYMAL_D, rows=1200, cfg=CFG, **model_kw):
    store = TransitionStore(synthetic_dataset(layout, rows, 200, seed=0), cfg.window)
    model = make_model(layout, store, seed=0, **{**SMALL, **model_kw})
    return store, model, Trainer.for_store(model, cfg, store)


def test_loss_decreases_on_synthetic_dynamics():
    store, model, trainer = setup(GO2)
    batch = store.evenly_spaced(64)
    before = trainer.validation_loss(batch)
    trainer.fit(store, 150)
    after = trainer.validation_loss(batch)
    assert after["loss"] < before["loss"] - 1.0
    assert after["state_mse"] < 0.5 * before["state_mse"]
    assert after["extension_mse"] < before["extension_mse"]
    assert after["contact_bce"] < before["contact_bce"]


def test_mse_loss_and_alpha_weights_run():
    cfg = dataclasses.replace(CFG, loss="mse", alpha=0.5, history_weight=0.5)
    store, model, trainer = setup(cfg=cfg)
    logs = trainer.fit(store, 3)
    assert logs == 3
    loss, parts = forecast_loss(model, store.sample(8), cfg)
    assert torch.isfinite(loss) and "history_loss" in parts
    with pytest.raises(ValueError):
        forecast_loss(model, store.sample(8), dataclasses.replace(cfg, loss="l1"))


def test_heads_start_from_the_same_hidden_state():
    """With identical heads and no sampling every head's forecast is identical: no hidden state leaks
    between the heads' branches."""
    store, model, _ = setup()
    with torch.no_grad():
        for layer in [*model.heads.layers, *model.prior.layers]:
            layer.weight.copy_(layer.weight[:1].expand_as(layer.weight))
            layer.bias.copy_(layer.bias[:1].expand_as(layer.bias))
    outputs, _ = dual_autoregressive_forecast(model, store.sample(5), 8, 4, sample=False)
    for p in outputs:
        assert torch.allclose(p.mean, p.mean[:1].expand_as(p.mean), atol=1e-6)


def test_fed_back_samples_carry_gradients():
    """The samples fed back are reparameterised, not detached: a later step's mean depends on the std."""
    store, model, _ = setup()
    outputs, _ = dual_autoregressive_forecast(model, store.sample(5), 8, 3, sample=True,
                                              generator=torch.Generator().manual_seed(0))  # fmt: skip
    outputs[-1].mean.sum().backward()
    assert model.logstd_max.grad is not None and model.logstd_max.grad.abs().sum() > 0


def test_trainer_mirrors_a_random_half_of_each_batch():
    cfg = dataclasses.replace(CFG, mirror=True, batch_size=64)
    store, model, trainer = setup(GO2, cfg=cfg)
    seen = []
    trainer.train_step = seen.append
    trainer.update(store)
    generator = torch.Generator().manual_seed(cfg.seed)
    drawn = store.sample(cfg.batch_size, generator)
    which = torch.rand(cfg.batch_size, generator=generator) < 0.5
    assert 16 < int(which.sum()) < 48
    torch.testing.assert_close(seen[0].columns(), drawn.mirrored(GO2, which).columns())
    assert not torch.equal(seen[0].states, drawn.states)
    del trainer.train_step
    before = trainer.validation_loss(store.evenly_spaced(32))["loss"]
    trainer.fit(store, 60)
    assert trainer.validation_loss(store.evenly_spaced(32))["loss"] < before


def test_bootstrap_weights_and_pos_weight():
    w = bootstrap_weights(5, 100, torch.Generator().manual_seed(0))
    assert w.shape == (5, 100) and torch.all(w.sum(1) == 100)
    assert not torch.equal(w[0], w[1]) and (w == 0).float().mean() > 0.25  # about 1/e left out per head
    rate = torch.tensor([0.0, 0.5, 0.001, 0.9, 1.0])
    pw = pos_weight_from_rate(rate, cap=100.0)
    assert torch.allclose(pw, torch.tensor([1.0, 1.0, 100.0, 0.1 / 0.9, 0.01]), atol=1e-4)


def test_uncertainty_higher_off_distribution():
    store, model, trainer = setup(rows=1600)
    trainer.fit(store, 200)
    on = TransitionStore(synthetic_dataset(ANYMAL_D, 400, 200, seed=7), 12).evenly_spaced(64)
    off = TransitionStore(synthetic_dataset(ANYMAL_D, 400, 200, seed=7, offset=6.0, action_scale=3.0), 12)
    off = off.evenly_spaced(64)

    def epistemic(batch):
        stepper = ModelStepper(model, len(batch), deterministic=True)
        return stepper.reset(torch.arange(len(batch)), batch.states[:, :8], batch.actions[:, :8]).epistemic.mean()

    u_on, u_off = epistemic(on), epistemic(off)
    assert u_off > 1.15 * u_on, (u_on, u_off)  # one step after the history; rollouts: test_world_model_uncertainty


def test_checkpoint_round_trip_and_resume_state(tmp_path):
    store, model, trainer = setup(GO2)
    trainer.fit(store, 2)
    path = tmp_path / "ckpt" / "m.pt"
    save_checkpoint(path, model, GO2, trainer, {"note": 1})
    ckpt = load_checkpoint(path, "go2")
    assert ckpt.layout is GO2 and ckpt.extra["note"] == 1 and ckpt.train_config == CFG
    batch = store.sample(4)
    with torch.no_grad():
        a, _ = model(batch.states, batch.actions)
        b, _ = ckpt.model(batch.states, batch.actions)
    for f in ("mean", "logstd", "contact_logits", "termination_logits", "extension"):
        assert torch.equal(getattr(a, f), getattr(b, f))
    assert torch.equal(ckpt.model.state_norm.std, model.state_norm.std)
    resumed = Trainer(ckpt.model, ckpt.train_config)
    resumed.load_state_dict(ckpt.trainer_state)
    assert resumed.iteration == 2 and torch.equal(resumed.contact_pos_weight, trainer.contact_pos_weight)
    # the same next minibatch as the original trainer would draw
    assert torch.equal(resumed.generator.get_state(), trainer.generator.get_state())
    raw = torch.load(path, weights_only=False)
    assert raw["format_version"] == CHECKPOINT_VERSION and raw["robot"] == "go2" and raw["dt"] == GO2.dt


def test_checkpoint_mismatch_errors(tmp_path):
    store, model, trainer = setup(GO2)
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, GO2, trainer)
    with pytest.raises(ValueError, match=r"checkpoint '.*m\.pt' was made for a different layout: 'robot' is 'go2'"):
        load_checkpoint(path, ANYMAL_D)
    raw = torch.load(path, weights_only=False)
    raw["layout"]["joint_names"] = list(reversed(raw["layout"]["joint_names"]))
    torch.save(raw, tmp_path / "joints.pt")
    with pytest.raises(ValueError, match="'joint_names' is"):
        load_checkpoint(tmp_path / "joints.pt")
    raw = torch.load(path, weights_only=False)
    raw["format_version"] = CHECKPOINT_VERSION + 1
    torch.save(raw, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="format version"):
        load_checkpoint(tmp_path / "future.pt")
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an rwm_tasks world-model checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_online_learner_keeps_the_flag_weights_of_a_model_without_optimizer_state():
    """Finetune from a shipped model (no optimizer state): the learner trains its flags with the weights the
    model was trained with, not unweighted BCE against a model that still divides the odds by them."""
    from rwm_tasks.training.world_model_learner import WorldModelLearner

    store, model, trainer = setup()
    model.set_flag_weights(torch.full_like(model.contact_pos_weight, 3.0), torch.tensor([50.0]))
    learner = WorldModelLearner(ANYMAL_D, model, CFG, store, updates=1, fitted=True)
    learner.load_trainer_state({"iteration": 0})  # a shipped model's trainer state: no optimizer
    assert float(learner.trainer.termination_pos_weight) == 50.0
    assert torch.equal(learner.trainer.contact_pos_weight, torch.full_like(model.contact_pos_weight, 3.0))
    learner.update()
    assert float(model.termination_pos_weight) == 50.0  # the calibration the model reads stays the trained one
