"""Model, normaliser and stepper of the ensemble world model: shapes, definitions, stepping consistency."""

import math
import subprocess
import sys

import pytest
import torch

from rwm_tasks.layout import ANYMAL_D, GO2
from rwm_tasks.world_model import EnsembleWorldModel, ModelStepper, Normalizer, WorldModelConfig
from rwm_tasks.world_model.model import EnsembleLinear, soft_clamp

torch.set_num_threads(1)  # tiny models: one thread is faster and robust on a shared machine
SMALL = dict(hidden_dim=32, num_layers=2, num_heads=3, head_hidden_dims=(16,))


def small_model(layout=ANYMAL_D, seed=0, **kw) -> EnsembleWorldModel:
    torch.manual_seed(seed)
    model = EnsembleWorldModel(WorldModelConfig.from_layout(layout, **{**SMALL, **kw}))
    g = torch.Generator().manual_seed(seed + 1)  # non-trivial normalisation so round trips are tested
    s, a, x = layout.state_dim, layout.action_dim, layout.extension_dim
    model.fit_normalization(
        torch.randn(500, s, generator=g) * 3 + 1,
        torch.randn(500, a, generator=g) * 0.5,
        torch.randn(500, s, generator=g) * 0.2,
        torch.randn(500, x, generator=g) * 0.1 + 0.4,
    )
    return model


def test_import_does_not_pull_isaaclab():
    code = "import rwm_tasks.world_model, sys; assert not any(m.startswith('isaaclab') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("layout,heads", [(ANYMAL_D, 5), (ANYMAL_D, 1), (GO2, 3)])
def test_forward_shapes(layout, heads):
    model = small_model(layout, num_heads=heads)
    n, t = 4, 7
    pred, hidden = model(torch.randn(n, t, layout.state_dim), torch.randn(n, t, layout.action_dim))
    assert pred.mean.shape == (heads, n, t, layout.state_dim)
    assert pred.logstd.shape == (heads, n, t, layout.state_dim)
    assert pred.contact_logits.shape == (heads, n, t, layout.contact_dim)
    assert pred.termination_logits.shape == (heads, n, t, 1)
    assert pred.extension.shape == (heads, n, t, layout.extension_dim)
    assert hidden.shape == (2, n, 32)
    assert model.epistemic(pred.mean).shape == (n, t)
    assert model.aleatoric(pred.logstd).shape == (n, t)


def test_go2_has_extension_output_anymal_not():
    assert small_model(GO2).config.extension_dim == 1
    assert small_model(ANYMAL_D).config.extension_dim == 0


def test_epistemic_definition_and_single_head_is_zero():
    mean = torch.randn(5, 3, 45)
    expected = torch.stack([mean[:, i].std(0, unbiased=False).sum() for i in range(3)])
    assert torch.allclose(EnsembleWorldModel.epistemic(mean), expected, atol=1e-5)
    model = small_model(num_heads=1)
    pred, _ = model(torch.randn(2, 5, 45), torch.randn(2, 5, 12))
    assert torch.all(model.epistemic(pred.mean) == 0)


def test_mean_is_residual_on_last_state():
    """Zeroed output layer, no priors: every head predicts last state + mean one-step change."""
    model = small_model(prior_scale=0.0)
    with torch.no_grad():
        model.heads.layers[-1].weight.zero_()
        model.heads.layers[-1].bias.zero_()
    states = torch.randn(2, 6, 45)
    pred, _ = model(states, torch.randn(2, 6, 12))
    expected = model.state_norm.normalize(states) + model.delta_norm.mean
    assert torch.allclose(pred.mean, expected.expand_as(pred.mean), atol=1e-5)


def test_ensemble_linear_batched_equals_per_head_loop():
    layer = EnsembleLinear(4, 6, 3)
    x = torch.randn(10, 6)
    per_head = torch.stack([x @ layer.weight[b] + layer.bias[b] for b in range(4)])
    assert torch.allclose(layer.forward_shared(x), per_head, atol=1e-6)
    xb = torch.randn(4, 10, 6)
    per_head = torch.stack([xb[b] @ layer.weight[b] + layer.bias[b] for b in range(4)])
    assert torch.allclose(layer(xb), per_head, atol=1e-6)


def test_soft_clamp_bounds_and_gradient():
    low, high = torch.tensor(-5.0, requires_grad=True), torch.tensor(-4.0, requires_grad=True)
    x = torch.tensor([-100.0, -4.5, 100.0])
    y = soft_clamp(x, low, high)
    assert y[0] > -5.0 - 1e-4 and y[2] < -4.0 + 0.5 and -5 < y[1] < -4
    y[2].backward()
    assert high.grad > 0.5  # the upper bound still moves an output saturated at it


def test_normalizer_round_trip_and_floor():
    x = torch.randn(1000, 4) * torch.tensor([2.0, 0.5, 1.0, 0.0]) + torch.tensor([1.0, -3.0, 0.0, 7.0])
    norm = Normalizer(4, floor=1e-2).fit(x)
    assert torch.allclose(norm.denormalize(norm.normalize(x)), x, atol=1e-4)
    assert norm.std[3] == pytest.approx(1e-2)
    assert torch.allclose(norm.normalize(x)[:, :3].std(0, unbiased=False), torch.ones(3), atol=1e-4)
    assert Normalizer(0).fit(torch.zeros(5, 0)).normalize(torch.zeros(2, 0)).shape == (2, 0)
    with pytest.raises(ValueError):
        Normalizer(3).fit(torch.zeros(0, 3))


@pytest.mark.parametrize("prior_scale", [0.0, 1.0])
def test_stepper_matches_full_sequence_forward(prior_scale):
    """Reset on M rows then step-by-step on the true inputs equals the teacher-forced full-sequence forward."""
    model = small_model(GO2, num_heads=4, prior_scale=prior_scale)
    n, m, t = 3, 5, 12
    states, actions = torch.randn(n, t, GO2.state_dim) * 2, torch.randn(n, t, GO2.action_dim)
    with torch.no_grad():
        full, _ = model(states, actions)
    heads = torch.tensor([0, 2, 3])
    stepper = ModelStepper(model, n, deterministic=True)
    rows = torch.arange(n)
    out = stepper.reset(rows, states[:, :m], actions[:, :m], heads=heads)
    for k in range(m - 1, t):
        if k > m - 1:
            out = stepper.step(states[:, k], actions[:, k])
        mean_n = full.mean[:, :, k]
        assert torch.allclose(out.ensemble_mean, model.state_norm.denormalize(mean_n.mean(0)), atol=1e-4)
        assert torch.allclose(out.mean, model.state_norm.denormalize(mean_n[heads, rows]), atol=1e-4)
        assert torch.allclose(out.next_state, out.mean)  # deterministic
        assert torch.allclose(out.std, model.state_norm.scale(full.logstd[heads, rows, k].exp()), atol=1e-4)
        assert torch.allclose(out.epistemic, model.epistemic(mean_n), atol=1e-4)
        assert torch.allclose(out.aleatoric, full.logstd[heads, rows, k].exp().sum(-1), atol=1e-4)
        assert torch.allclose(out.contact_prob, torch.sigmoid(full.contact_logits[heads, rows, k]), atol=1e-5)
        term = torch.sigmoid(full.termination_logits[heads, rows, k, 0])
        assert torch.allclose(out.termination_prob, term, atol=1e-5)
        ext = model.extension_norm.denormalize(full.extension[heads, rows, k])
        assert torch.allclose(out.extension, ext, atol=1e-4)


def test_stepper_shapes_reset_subset_and_seeding():
    model = small_model()
    e, m = 6, 4
    stepper = ModelStepper(model, e, generator=torch.Generator().manual_seed(0))
    out = stepper.reset(torch.arange(e), torch.randn(e, m, 45), torch.randn(e, m, 12))
    shapes = {k: tuple(v.shape) for k, v in vars(out).items()}
    assert shapes == {"next_state": (e, 45), "mean": (e, 45), "ensemble_mean": (e, 45), "std": (e, 45),
                      "contact_prob": (e, 8), "termination_prob": (e,), "extension": (e, 0), "epistemic": (e,),
                      "aleatoric": (e,)}  # fmt: skip
    assert stepper.heads.dtype == torch.long and int(stepper.heads.max()) < model.num_heads
    hidden_before = stepper.hidden.clone()
    ids = torch.tensor([1, 4])
    part = stepper.reset(ids, torch.randn(2, m, 45), torch.randn(2, m, 12), heads=torch.tensor([2, 0]))
    assert part.next_state.shape == (2, 45)
    assert stepper.heads[1] == 2 and stepper.heads[4] == 0
    untouched = torch.tensor([0, 2, 3, 5])
    assert torch.equal(stepper.hidden[:, untouched], hidden_before[:, untouched])
    assert not torch.equal(stepper.hidden[:, ids], hidden_before[:, ids])
    out = stepper.step(out.next_state, torch.randn(e, 12))
    assert out.next_state.shape == (e, 45) and torch.isfinite(out.next_state).all()
    assert not torch.allclose(out.next_state, out.mean)  # stochastic by default

    def run(seed):
        s = ModelStepper(model, e, generator=torch.Generator().manual_seed(seed))
        o = s.reset(torch.arange(e), torch.ones(e, m, 45), torch.ones(e, m, 12))
        return s.heads.clone(), s.step(o.next_state, torch.ones(e, 12)).next_state

    assert all(torch.equal(a, b) for a, b in zip(run(3), run(3)))
    empty = stepper.reset(torch.zeros(0, dtype=torch.long), torch.zeros(0, m, 45), torch.zeros(0, m, 12))
    assert empty.mean.shape == (0, 45)


def test_stepper_inside_and_outside_inference_mode():
    model = small_model()
    stepper = ModelStepper(model, 3)
    window = torch.randn(3, 4, 45), torch.randn(3, 4, 12)
    with torch.inference_mode():
        out = stepper.reset(torch.arange(3), *window)
        out = stepper.step(out.next_state, torch.randn(3, 12))
    out = stepper.reset(torch.tensor([1]), window[0][:1], window[1][:1])  # outside: state is copied, not an error
    out = stepper.step(torch.randn(3, 45), torch.randn(3, 12))
    with torch.inference_mode():
        stepper.reset(torch.tensor([0]), window[0][:1], window[1][:1])
    assert torch.isfinite(out.next_state).all()


def test_prior_functions_are_fixed_and_change_the_heads():
    model = small_model(prior_scale=2.0)
    assert model.prior is not None and not any(p.requires_grad for p in model.prior.parameters())
    plain = small_model(prior_scale=0.0)
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("prior.")})
    states, actions = torch.randn(2, 5, 45), torch.randn(2, 5, 12)
    with torch.no_grad():
        a, _ = model(states, actions)
        b, _ = plain(states, actions)
    diff = (a.mean - b.mean) / model.delta_norm.std  # the prior, in units of the one-step change
    assert diff.abs().mean() > 0.05 and not torch.allclose(diff[0], diff[1])  # differs per head
    assert model.flops()["head"] > plain.flops()["head"]


def test_std_scale_applies_outside_training_only():
    model = small_model()
    model.log_std_scale.fill_(math.log(3.0))
    states, actions = torch.randn(2, 5, 45), torch.randn(2, 5, 12)
    with torch.no_grad():
        trained, _ = model.train()(states, actions)
        served, _ = model.eval()(states, actions)
    assert torch.allclose(served.std, 3.0 * trained.std, rtol=1e-5)
    assert torch.equal(served.mean, trained.mean)
