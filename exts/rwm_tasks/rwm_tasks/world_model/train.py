"""Dual-autoregressive training of the ensemble world model (checkpoint files: :mod:`.checkpoint`).

Forecast (one minibatch of windows of M + N rows):
1. the shared GRU encodes the M history rows ONCE for all heads (teacher forcing inside the window);
2. every head predicts row M from the same post-history features;
3. for the remaining N - 1 steps each head feeds back its own reparameterised sample
   ``mean + std * eps`` (not detached, so gradients flow through the rollout) with the true action; the GRU
   then runs on B x n rows, every head's branch starting from the SAME post-history hidden state (the
   reference leaks hidden state between heads).
Loss per step k (0-based) and head: the state term (default 'mse_nll': squared error of the mean in units of
the one-step change at every step, plus the Gaussian NLL of the std on the one-step errors, see
:attr:`TrainConfig.loss`), contact and termination BCE with positive-class weights from the data (capped;
the model stores them to undo them at inference) and extension MSE, weighted ``alpha**k`` (weights
normalised to sum 1, so alpha = 1 is the plain mean).

Bootstrap: every head trains on its own fixed bootstrap replicate of the data. Head b weighs window w by a
Poisson(1) count that is a fixed function of (seed, b, block of w's key), so over many epochs each head keeps
seeing its own resample (a weight redrawn per minibatch averages out and all heads end up fitting the same
data). Blocks of ``bootstrap_block`` consecutive window starts share one weight (default: one window length):
neighbouring windows overlap in all but a row, so single-window blocks would leave every row in the data of
every head with nearly the same weight. About e^-1 = 37 % of the blocks weigh 0 for a head. (Blocks of four
windows made the heads disagree more but cost accuracy in a short run: each head then fits 63 % of the data.) The minibatch is shared by all heads and the
weights scale the per-window losses, so the history runs through the GRU once for all heads.

Defaults are set for the small datasets this project trains on (thousands to a few 100k transitions) and
a CPU budget of minutes: Adam lr 3e-3 with minibatch 128 (on the 3k-row ANYmal D slice this reached a
held-out 8-step error of 0.77 in 300 steps, lr 1e-3 / batch 256 needed several times more; the RWM-U
paper's lr 1e-4 and batch 1024 are for 6M transitions and an hour of GPU), weight decay 1e-5, grad-norm
clip 1.0, an auxiliary teacher-forced loss on the history rows (``history_weight``), Gaussian NLL.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rwm_tasks.layout import RobotLayout

from . import distributed
from .data import WindowBatch, resolve_layout
from .model import EnsembleWorldModel, HeadOutput, WorldModelConfig

LOSSES = ("mse_nll", "nll", "mse")


@dataclass
class TrainConfig:
    history: int = 32
    """M: rows encoded by the GRU before the first prediction."""
    forecast: int = 8
    """N: autoregressive prediction steps in the loss."""
    alpha: float = 1.0
    """Step weight base: step k weighs alpha**k (normalised)."""
    loss: str = "mse_nll"
    """'mse_nll': the mean by squared error in units of each dimension's one-step-change std (the scale the
    heads predict in) at every step, the std by the Gaussian NLL of the one-step errors with the mean held
    fixed (teacher-forced history rows and the first forecast step, whose input is true), samples fed back.
    'nll': Gaussian negative log-likelihood of mean and std at every step, samples fed back (the std soon
    matches the large early errors and the 1 / std^2 weighting then slows the mean's learning).
    'mse': the squared error only, means fed back, std untrained."""
    batch_size: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 1e-5
    """Adam's L2 penalty. On the ANYmal D split (part0 -> part1) with mirror and a cosine schedule, 1e-3
    lowered part1's one-step error from 0.270 to 0.245 and 0.246 (seeds 0, 1; steps 8 / 32 / 100 within
    0.389-0.437) while the in-distribution one rose (0.116 -> 0.136): it trades fit for generalisation
    across the shift. Not the default: untried on the Go2 pipeline."""
    grad_clip: float = 1.0
    bootstrap: bool = True
    bootstrap_block: int = 0
    """Window starts per bootstrap block (one weight per head and block); 0: one window length."""
    contact_weight: float = 1.0
    termination_weight: float = 1.0
    extension_weight: float = 1.0
    pos_weight_cap: float = 100.0
    """Cap of the positive-class weight (negatives/positives) of contact and termination BCE."""
    history_weight: float = 1.0
    """Weight of an auxiliary teacher-forced one-step loss on the history rows (0: the pure RWM loss). The GRU
    has computed the history features anyway, so 31 extra targets per window cost only the heads; on the
    ANYmal D slice it lowered the held-out 8-step error after 300 steps from 0.84 to 0.77."""
    mirror: bool = False
    """Mirror a random half of each minibatch left-right (the robot's mirrored motion is a motion of the
    robot, so this doubles the data for free). On the ANYmal D split it lowered the one-step error on part1
    from 0.350 to 0.270 and the 8-step error from 0.492 to 0.362 in the same iterations, but u then ranked
    part1's windows by error less well (Spearman 0.945 -> 0.717); with a cosine learning-rate decay over the
    same iterations the ranking came back (0.894, 0.868 on two seeds) at the same accuracy. Off by
    default: a schedule needs a known iteration count, and time-budgeted runs have none."""
    logstd_bound_weight: float = 0.01
    """Penalty on the width of the learnable log-std bounds (they widen only where the NLL needs it)."""
    seed: int = 0

    @property
    def window(self) -> int:
        return self.history + self.forecast

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def pos_weight_from_rate(rate: Tensor, cap: float) -> Tensor:
    """BCE positive-class weight negatives/positives per channel, clamped to [1/cap, cap]; channels that are
    never positive get 1 (nothing to weigh). Without it the rare termination flag collapses to 'never'."""
    weight = ((1.0 - rate) / rate.clamp_min(1e-12)).clamp(1.0 / cap, cap)
    return torch.where(rate > 0, weight, torch.ones_like(rate))


def bootstrap_weights(num_heads: int, n: int, generator: torch.Generator | None = None) -> Tensor:
    """[B, n] counts of n draws with replacement per head (each row sums to n): a per-minibatch resample,
    the fallback for batches without window keys."""
    idx = torch.randint(n, (num_heads, n), generator=generator)
    return torch.zeros(num_heads, n).scatter_add_(1, idx, torch.ones(num_heads, n))


_POISSON1_CDF = np.cumsum([math.exp(-1.0) / math.factorial(k) for k in range(16)])


def _mix64(x: np.ndarray) -> np.ndarray:
    """A 64-bit integer hash (splitmix64 finaliser): nearby inputs give unrelated outputs."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def window_bootstrap_weights(keys: Tensor, num_heads: int, seed: int = 0, block: int = 1) -> Tensor:
    """[B, n] Poisson(1) weights of windows with integer ``keys`` [n] (window start ids): a fixed function of
    (seed, head, key // block), so a window weighs the same for a head in every epoch and heads differ."""
    block_ids = (keys.detach().cpu().long() // max(int(block), 1)).numpy().astype(np.uint64)
    heads = np.arange(num_heads, dtype=np.uint64)[:, None]
    with np.errstate(over="ignore"):
        h = _mix64(block_ids[None, :] * np.uint64(0x9E3779B97F4A7C15) + _mix64(heads + np.uint64(seed) * np.uint64(
            0x632BE59BD9B4E019) + np.uint64(1)))  # fmt: skip
    u = (h >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return torch.as_tensor(np.searchsorted(_POISSON1_CDF, u, side="right"), dtype=torch.float32)


def _randn(shape, like: Tensor, generator: torch.Generator | None) -> Tensor:
    if generator is None:
        return torch.randn(shape, device=like.device, dtype=like.dtype)
    return torch.randn(shape, generator=generator, device=generator.device).to(like)


def dual_autoregressive_forecast(
    model: EnsembleWorldModel,
    batch: WindowBatch,
    history: int,
    forecast: int,
    sample: bool = True,
    generator: torch.Generator | None = None,
    teacher_forced: bool = False,
) -> tuple[list[HeadOutput], HeadOutput | None]:
    """Forecast rows ``history .. history + forecast - 1`` of each window: one HeadOutput per step, fields
    [B, n, *]. With ``teacher_forced`` also every head's one-step predictions of rows 1 .. history - 1 from
    the true history (fields [B, n, history - 1, *]; nearly free, the GRU has computed the features)."""
    states_n, actions_n = model.normalize_inputs(batch.states, batch.actions)
    heads, n = model.num_heads, states_n.shape[0]
    # a row holds the last applied action, so the action applied at row t's state is in row t + 1
    features, hidden = model.encode(states_n[:, :history], actions_n[:, 1 : history + 1])
    inner = None
    if teacher_forced:
        inner = model.predict(features[:, :-1], states_n[:, : history - 1], actions_n[:, 1:history])
    pred = model.predict(features[:, -1], states_n[:, history - 1], actions_n[:, history])
    outputs = [pred]
    # Every head's branch starts from the same post-history hidden state: [L, n, H] -> [L, B * n, H].
    hidden = hidden.unsqueeze(1).expand(-1, heads, -1, -1).reshape(hidden.shape[0], heads * n, -1)
    for k in range(1, forecast):
        x = pred.mean + pred.std * _randn(pred.mean.shape, pred.mean, generator) if sample else pred.mean
        a = actions_n[:, history + k].expand(heads, -1, -1)
        features, hidden = model.encode(x.reshape(heads * n, 1, -1), a.reshape(heads * n, 1, -1), hidden)
        pred = model.predict_per_head(features.view(heads, n, -1), x, a)
        outputs.append(pred)
    return outputs, inner


def _gaussian_nll(err2: Tensor, logstd: Tensor) -> Tensor:
    return (0.5 * err2 * torch.exp(-2.0 * logstd) + logstd).mean(-1)


def _step_losses(p: HeadOutput, state_n, contacts, terminations, extension_n, mode: str, delta_std, cpw, tpw,
                 one_step: bool = False) -> dict[str, Tensor]:  # fmt: skip
    """Per-sample losses of predictions ``p`` [B, ...] against targets [...] (broadcast over heads);
    ``one_step``: the inputs were true states (the std is trained there in 'mse_nll' mode)."""
    err2 = (state_n - p.mean).square()
    out = {"state_mse": err2.mean(-1)}
    if mode == "nll":
        out["state"] = _gaussian_nll(err2, p.logstd)
    else:  # squared error in units of the typical one-step change, the scale the heads predict in
        out["state"] = (err2 / delta_std.square()).mean(-1)
        if mode == "mse_nll" and one_step:
            out["std_nll"] = _gaussian_nll(err2.detach(), p.logstd)
    zero = torch.zeros_like(out["state_mse"])
    out["contact_bce"] = F.binary_cross_entropy_with_logits(
        p.contact_logits, contacts.expand_as(p.contact_logits), reduction="none", pos_weight=cpw
    ).mean(-1) if contacts.shape[-1] else zero  # fmt: skip
    out["termination_bce"] = F.binary_cross_entropy_with_logits(
        p.termination_logits, terminations.expand_as(p.termination_logits), reduction="none", pos_weight=tpw
    ).mean(-1)  # fmt: skip
    out["extension_mse"] = (extension_n - p.extension).square().mean(-1) if extension_n.shape[-1] else zero
    return out


def forecast_loss(
    model: EnsembleWorldModel,
    batch: WindowBatch,
    config: TrainConfig,
    contact_pos_weight: Tensor | None = None,
    termination_pos_weight: Tensor | None = None,
    sample_weights: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Dual-autoregressive loss of one minibatch; ``sample_weights`` [B, n] are bootstrap weights."""
    m, n = config.history, config.forecast
    if config.loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {config.loss!r}")
    mode, sample = config.loss, config.loss != "mse"
    outputs, inner = dual_autoregressive_forecast(model, batch, m, n, sample, generator, config.history_weight > 0)
    states_n = model.state_norm.normalize(batch.states)
    ext_n = model.extension_norm.normalize(batch.extension)

    def combine(parts: dict[str, Tensor]) -> Tensor:
        return (parts["state"] + config.contact_weight * parts["contact_bce"]
                + config.termination_weight * parts["termination_bce"]
                + config.extension_weight * parts["extension_mse"])  # fmt: skip

    step_w = torch.tensor([config.alpha**k for k in range(n)], dtype=torch.float64)
    step_w = (step_w / step_w.sum()).tolist()
    total, std_total, logs = 0.0, 0.0, {}
    for k, p in enumerate(outputs):
        t = m + k
        parts = _step_losses(p, states_n[:, t], batch.contacts[:, t], batch.terminations[:, t], ext_n[:, t], mode,
                             model.delta_norm.std, contact_pos_weight, termination_pos_weight, k == 0)  # fmt: skip
        total = total + step_w[k] * combine(parts)
        std_total = std_total + step_w[k] * parts.get("std_nll", 0.0)
        for name, v in parts.items():
            logs[name] = logs.get(name, 0.0) + step_w[k] * float(v.detach().mean())
    if inner is not None:
        parts = _step_losses(inner, states_n[:, 1:m], batch.contacts[:, 1:m], batch.terminations[:, 1:m],
                             ext_n[:, 1:m], mode, model.delta_norm.std, contact_pos_weight,
                             termination_pos_weight, True)  # fmt: skip
        history_loss = combine(parts).mean(-1)
        total = total + config.history_weight * history_loss
        if "std_nll" in parts:
            std_total = std_total + config.history_weight * parts["std_nll"].mean(-1)
        logs["history_loss"] = float(history_loss.detach().mean())
    if sample_weights is not None:
        w = sample_weights.to(total)
        loss = (w * total).sum() / w.sum()
        if torch.is_tensor(std_total):
            loss = loss + (w * std_total).sum() / w.sum()
    else:
        loss = total.mean() + (std_total.mean() if torch.is_tensor(std_total) else 0.0)
    if sample and config.logstd_bound_weight:
        loss = loss + config.logstd_bound_weight * (model.logstd_max - model.logstd_min).mean()
    logs["loss"] = float(loss.detach())
    with torch.no_grad():
        last, tgt = outputs[-1].mean.mean(0), states_n[:, m + n - 1]
        logs["epistemic"] = float(model.epistemic(outputs[-1].mean).mean())
        logs["rel_l1_last"] = float(
            model.state_norm.scale(last - tgt).abs().sum() / model.state_norm.denormalize(tgt).abs().sum()
        )
    return loss, logs


class Trainer:
    """Adam on the forecast loss with grad-norm clipping; owns the RNG for windows, bootstrap and samples."""

    def __init__(
        self,
        model: EnsembleWorldModel,
        config: TrainConfig,
        contact_pos_weight: Tensor | None = None,
        termination_pos_weight: Tensor | None = None,
    ):
        self.model, self.config = model, config
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.contact_pos_weight = contact_pos_weight
        self.termination_pos_weight = termination_pos_weight
        model.set_flag_weights(contact_pos_weight, termination_pos_weight)
        self.iteration = 0
        self._synced, self._rank_generator = False, None  # see train_step under torch.distributed

    @classmethod
    def for_store(cls, model: EnsembleWorldModel, config: TrainConfig, store) -> Trainer:
        """Positive-class weights computed from a :class:`TransitionStore`'s flag rates."""
        rates = store.flag_rates()
        return cls(
            model,
            config,
            pos_weight_from_rate(rates["contact"], config.pos_weight_cap),
            pos_weight_from_rate(rates["termination"], config.pos_weight_cap),
        )

    def train_step(self, batch: WindowBatch) -> dict[str, float]:
        """One step on ``batch``. Under torch.distributed (``batch`` is this rank's share): the first step
        takes rank 0's model, gradients and logs are averaged over ranks, and the forecast noise comes from a
        per-rank generator so that :attr:`generator` (which draws the windows) stays the same on all ranks."""
        self.model.train()
        sync = distributed.is_distributed()
        if sync and not self._synced:
            distributed.broadcast_module(self.model)
            distributed.broadcast_tensors([self.contact_pos_weight, self.termination_pos_weight])
            self._synced = True
        generator = self._noise_generator() if sync else self.generator
        weights = None
        if self.config.bootstrap and self.model.num_heads > 1:
            weights = self.bootstrap_weights(batch, generator)
        loss, logs = forecast_loss(self.model, batch, self.config, self.contact_pos_weight,
                                   self.termination_pos_weight, weights, generator)  # fmt: skip
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if sync:  # weighted by this rank's share of the loss normaliser: the gradient of the union's loss
            mass = float(weights.sum()) if weights is not None else float(len(batch))
            if mass == 0:  # every window of this share weighs 0 (0/0 loss): contribute nothing
                logs = {k: 0.0 for k in logs}
                self.optimizer.zero_grad(set_to_none=False)
            logs = distributed.average_gradients(self.model.parameters(), mass, logs)
        logs["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip))
        self.optimizer.step()
        self.iteration += 1
        return logs

    def _noise_generator(self) -> torch.Generator:
        if self._rank_generator is None:
            seed = self.config.seed * 1_000_003 + 7919 * (distributed.rank() + 1) + self.iteration
            self._rank_generator = torch.Generator().manual_seed(seed)
        return self._rank_generator

    def bootstrap_weights(self, batch: WindowBatch, generator: torch.Generator | None = None) -> Tensor:
        """[B, n] fixed per-window weights of each head (keyed batches), else a per-minibatch resample."""
        if batch.keys is None:
            return bootstrap_weights(self.model.num_heads, len(batch), generator or self.generator)
        block = self.config.bootstrap_block or self.config.window
        return window_bootstrap_weights(batch.keys, self.model.num_heads, self.config.seed, block)

    def update(self, source) -> dict[str, float]:
        """Sample a minibatch from a TransitionStore / ReplayBuffer and take one step. Under torch.distributed
        each rank draws ``batch_size`` windows and trains on its strided share (ranks with one seed and the
        same data draw the same windows, so the shares split one total batch)."""
        batch = source.sample(self.config.batch_size, self.generator)
        if self.config.mirror:
            batch = batch.mirrored(source.layout, torch.rand(len(batch), generator=self.generator) < 0.5)
        if distributed.is_distributed():
            batch = batch.select(distributed.shard_indices(len(batch)))
        return self.train_step(batch)

    @torch.no_grad()
    def validation_loss(self, batch: WindowBatch, seed: int = 0) -> dict[str, float]:
        """Forecast loss without bootstrap, samples drawn from a fixed seed (comparable across calls)."""
        self.model.eval()
        _, logs = forecast_loss(self.model, batch, self.config, self.contact_pos_weight,
                                self.termination_pos_weight, None, torch.Generator().manual_seed(seed))  # fmt: skip
        return logs

    def fit(self, source, iterations: int, time_budget_s: float | None = None, callback=None) -> int:
        """Up to ``iterations`` steps or ``time_budget_s`` seconds; ``callback(iteration, logs)`` after each.
        Returns the number of steps taken."""
        start, done = time.perf_counter(), 0
        while done < iterations and (time_budget_s is None or time.perf_counter() - start < time_budget_s):
            logs = self.update(source)
            done += 1
            if callback is not None:
                callback(self.iteration, logs)
        return done

    def state_dict(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "iteration": self.iteration,
            "contact_pos_weight": self.contact_pos_weight,
            "termination_pos_weight": self.termination_pos_weight,
        }

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.iteration = int(state["iteration"])
        self.contact_pos_weight = state.get("contact_pos_weight")
        self.termination_pos_weight = state.get("termination_pos_weight")
        self.model.set_flag_weights(self.contact_pos_weight, self.termination_pos_weight)
        self._synced, self._rank_generator = False, None  # a resumed run takes rank 0's model again


def make_model(layout: RobotLayout | str, store=None, seed: int = 0, **config) -> EnsembleWorldModel:
    """Seeded model for ``layout``; normalisation fitted on ``store`` (a TransitionStore) if given."""
    layout = resolve_layout(layout)
    torch.manual_seed(seed)
    model = EnsembleWorldModel(WorldModelConfig.from_layout(layout, **config))
    if store is not None:
        model.fit_normalization(**store.normalization_tensors())
    return model


def cosine_lr(trainer: Trainer, total: int, final_fraction: float = 0.1) -> None:
    """Set the learning rate for the trainer's current iteration on a cosine decay to ``final_fraction``."""
    progress = min(trainer.iteration / max(total, 1), 1.0)
    scale = final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))
    for group in trainer.optimizer.param_groups:
        group["lr"] = trainer.config.learning_rate * scale
