"""Recurrent ensemble world model of RWM / RWM-U: one shared GRU base, B small heads computed together.

Design (what and why):
- The GRU base is shared by all heads, so a history window is encoded ONCE for the whole ensemble; the
  reference re-runs the history through its GRUs for every head. Heads are small per-head MLPs whose weights
  are stacked in [B, in, out] tensors: one batched matmul per layer for all heads, no Python loop.
- Inputs are normalised state and action (statistics from training data, see :meth:`fit_normalization`).
- State mean is a residual on the last input state in normalised space:
  ``mean_n = s_n + delta_mean + delta_std * out``, where ``delta_*`` are the per-dimension statistics of
  the one-step change of the normalised state. The head output is therefore unit-scale for every dimension
  (on ANYmal D data projected gravity changes by ~1 % of its std per step, joint efforts by ~50 %).
- Log-std (per head and dimension, normalised-state space) is ``log(delta_std) + soft_clamp(raw, lo, hi)``
  with ``soft_clamp(x) = lo + softplus((hi - softplus(hi - x)) - lo)`` and per-dimension learnable bounds
  ``lo``/``hi`` initialised at -5/+1, relative to the typical one-step change: a head starts at std =
  ``delta_std`` and the NLL can reach a std that matches the one-step errors without first dragging a bound
  upwards. (Bounds of -5/-4 here held the std at 0.7-1.8 % of ``delta_std``, far below the
  errors: sampled imagination was deterministic in effect and its std uncalibrated.) The clamp keeps
  gradients alive at the bounds; the trainer adds a small penalty on ``hi - lo``.
- Held-out std calibration: trained on its own windows a head's std matches its training errors, which on
  small datasets are several times smaller than its errors on new data. ``log_std_scale`` (per dimension,
  fitted on held-out windows by :func:`~rwm_tasks.world_model.uncertainty.fit_std_scale`, 0 = none) is added
  to the log-std outside training (``model.eval()``).
- Heads start diverse: every layer keeps PyTorch's default init (a head's output layer scaled down would
  shrink the heads' initial disagreement, the seed of the epistemic signal, by the same factor).
- Randomised prior functions (``prior_scale > 0``, the default): every head adds ``prior_scale * p_b(x)`` to its
  state output, ``p_b`` a fixed random MLP of the current normalised input x = (state, action). Trained heads
  learn to cancel their prior on the data; away from it they cannot, so the heads disagree there even when
  the shared GRU features drift the same way for all heads.
- Contact and termination heads are trained with BCE positive-class weights ``w``; the logit then estimates
  ``logit(p) + log w``. The weights are buffers of the model and :meth:`contact_prob` /
  :meth:`termination_prob` return the calibrated ``sigmoid(logit - log w)``.
- Speed: imagination steps the GRU with :meth:`step_base` (same maths as ``nn.GRU``, fewer elementwise
  passes), the shared first head layer is one [E, H] x [H, B*128] matmul with fused bias, and odd output
  widths are zero-padded to a multiple of 8 for the batched matmul.
- Extra outputs per head: contact logits, termination logits and an optional extension (continuous extra
  quantities rewards need, e.g. Go2's base height; normalised, MSE loss). ``extension_dim`` is 0 for ANYmal D.

Uncertainty definitions (one scalar per env/sample):
- epistemic ``u = sum_d std_b(mean_n[b, d])``: population standard deviation (ddof 0) over the B heads of
  the heads' predicted means in normalised state units, summed over state dimensions (0 for B = 1); with
  prior functions the means include each head's prior.
- aleatoric ``sum_d mean_b(std_n[b, d])``: the heads' predicted standard deviations in normalised state
  units, averaged over the given heads and summed over state dimensions (the stepper reports it for each
  env's own head).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .normalizer import Normalizer


@dataclass
class WorldModelConfig:
    """Sizes of the model. Dimensions come from the robot layout (:meth:`from_layout`); the model itself is
    layout-agnostic."""

    state_dim: int
    action_dim: int
    contact_dim: int = 0
    termination_dim: int = 1
    extension_dim: int = 0
    hidden_dim: int = 256
    num_layers: int = 2
    num_heads: int = 5
    """B; 1 is plain RWM (no epistemic uncertainty)."""
    head_hidden_dims: tuple[int, ...] = (128,)
    logstd_min_init: float = -5.0
    """Initial lower log-std bound, relative to each dimension's one-step-change std."""
    logstd_max_init: float = 1.0
    """Initial upper log-std bound, relative to each dimension's one-step-change std."""
    prior_scale: float = 1.0
    """Randomised prior functions: scale of each head's fixed random prior (0: off)."""
    prior_hidden_dim: int = 64
    norm_floor: float = 1e-2
    """Floor of the per-dimension std of states, actions and extensions (raw units)."""
    delta_norm_floor: float = 1e-3
    """Floor of the std of one-step changes (normalised state units)."""

    @classmethod
    def from_layout(cls, layout, **overrides) -> WorldModelConfig:
        """Config with the dimensions of ``layout`` (a :class:`rwm_tasks.layout.RobotLayout`)."""
        dims = dict(
            state_dim=layout.state_dim,
            action_dim=layout.action_dim,
            contact_dim=layout.contact_dim,
            termination_dim=layout.termination_dim,
            extension_dim=layout.extension_dim,
        )
        return cls(**{**dims, **overrides})

    def to_dict(self) -> dict:
        d = asdict(self)
        d["head_hidden_dims"] = list(self.head_hidden_dims)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> WorldModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown world-model config keys: {sorted(unknown)}")
        d = dict(d)
        if "head_hidden_dims" in d:
            d["head_hidden_dims"] = tuple(int(x) for x in d["head_hidden_dims"])
        return cls(**d)


@dataclass
class HeadOutput:
    """Per-head predictions in normalised units; leading dims [B, ...]."""

    mean: Tensor  # [B, ..., S] normalised state
    logstd: Tensor  # [B, ..., S] log std in normalised state units
    contact_logits: Tensor  # [B, ..., C]
    termination_logits: Tensor  # [B, ..., T]
    extension: Tensor  # [B, ..., X] normalised extension

    @property
    def std(self) -> Tensor:
        return self.logstd.exp()


def soft_clamp(x: Tensor, low: Tensor, high: Tensor) -> Tensor:
    """Smooth clamp of ``x`` into about [low, high]; identity well inside, gradients reach the bounds."""
    x = high - F.softplus(high - x)
    return low + F.softplus(x - low)


class EnsembleLinear(nn.Module):
    """B independent linear layers stored as one weight [B, in, out] (one batched matmul for all heads)."""

    def __init__(self, num_heads: int, in_dim: int, out_dim: int):
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)
        self.weight = nn.Parameter(torch.empty(num_heads, in_dim, out_dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(num_heads, 1, out_dim).uniform_(-bound, bound))

    def forward(self, x: Tensor) -> Tensor:
        """Per-head inputs: x [B, n, in] -> [B, n, out] (head b applied to x[b]). Output widths that are not a
        multiple of 8 are zero-padded for the matmul (99 -> 104 columns runs ~1.8x faster on AVX-512)."""
        out_dim = self.weight.shape[-1]
        pad = -out_dim % 8
        if pad:
            return torch.baddbmm(F.pad(self.bias, (0, pad)), x, F.pad(self.weight, (0, pad)))[..., :out_dim]
        return torch.baddbmm(self.bias, x, self.weight)

    def forward_shared(self, x: Tensor) -> Tensor:
        """One input for every head: x [n, in] -> [B, n, out] (a strided view of one [n, B*out] result), as a
        single [n, in] x [in, B*out] matmul with the bias fused."""
        num_heads, in_dim, out_dim = self.weight.shape
        w = self.weight.transpose(0, 1).reshape(in_dim, num_heads * out_dim)
        y = torch.addmm(self.bias.reshape(num_heads * out_dim), x, w)
        return y.view(-1, num_heads, out_dim).transpose(0, 1)


class EnsembleMLP(nn.Module):
    """B MLPs with ELU hidden layers evaluated together."""

    def __init__(self, num_heads: int, in_dim: int, hidden_dims: tuple[int, ...], out_dim: int):
        super().__init__()
        dims = [in_dim, *hidden_dims, out_dim]
        self.layers = nn.ModuleList(EnsembleLinear(num_heads, a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: Tensor, shared: bool) -> Tensor:
        """``shared``: x [n, in] goes to every head; else x [B, n, in], one slice per head. -> [B, n, out]."""
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer.forward_shared(x) if (shared and i == 0) else layer(x)
            if i < last:
                x = F.elu(x, inplace=not torch.is_grad_enabled())
        return x


class EnsembleWorldModel(nn.Module):
    """Shared GRU base + B heads. All methods with ``_n`` arguments work in normalised units.

    Typical use: :meth:`forward` for teacher-forced one-step predictions of whole sequences,
    :class:`~rwm_tasks.world_model.stepper.ModelStepper` for imagination, the trainer for the
    dual-autoregressive forecast (:meth:`encode` + :meth:`predict` / :meth:`predict_per_head`).
    """

    def __init__(self, config: WorldModelConfig):
        super().__init__()
        self.config = c = config
        s, a = c.state_dim, c.action_dim
        self.state_norm = Normalizer(s, c.norm_floor)
        self.action_norm = Normalizer(a, c.norm_floor)
        self.delta_norm = Normalizer(s, c.delta_norm_floor)
        self.extension_norm = Normalizer(c.extension_dim, c.norm_floor)
        self.base = nn.GRU(s + a, c.hidden_dim, c.num_layers, batch_first=True)
        self._split = [s, s, c.contact_dim, c.termination_dim, c.extension_dim]
        self.heads = EnsembleMLP(c.num_heads, c.hidden_dim, tuple(c.head_hidden_dims), sum(self._split))
        self.logstd_min = nn.Parameter(torch.full((s,), float(c.logstd_min_init)))
        self.logstd_max = nn.Parameter(torch.full((s,), float(c.logstd_max_init)))
        self.register_buffer("log_std_scale", torch.zeros(s))
        self.register_buffer("contact_pos_weight", torch.ones(c.contact_dim))
        self.register_buffer("termination_pos_weight", torch.ones(c.termination_dim))
        self.prior = None
        if c.prior_scale > 0:
            self.prior = EnsembleMLP(c.num_heads, s + a, (c.prior_hidden_dim,), s).requires_grad_(False)

    @property
    def num_heads(self) -> int:
        return self.config.num_heads

    # --- normalisation -------------------------------------------------------------------------------------
    @torch.no_grad()
    def fit_normalization(
        self, states: Tensor, actions: Tensor, deltas: Tensor, extension: Tensor | None = None
    ) -> None:
        """Statistics from training data (raw units): states [T, S], actions [T, A], one-step state changes
        within episodes ``s[t+1] - s[t]`` [T', S], extension [T, X]."""
        self.state_norm.fit(states)
        self.action_norm.fit(actions)
        self.delta_norm.fit(deltas.to(self.state_norm.std) / self.state_norm.std)
        if self.config.extension_dim:
            self.extension_norm.fit(extension)

    def normalize_inputs(self, states: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        return self.state_norm.normalize(states), self.action_norm.normalize(actions)

    # --- building blocks -----------------------------------------------------------------------------------
    def initial_hidden(self, batch: int) -> Tensor:
        c = self.config
        return self.logstd_min.new_zeros(c.num_layers, batch, c.hidden_dim)

    def encode(self, states_n: Tensor, actions_n: Tensor, hidden: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run the shared GRU over [n, T, S] / [n, T, A] -> features [n, T, H], hidden [L, n, H]."""
        return self.base(torch.cat([states_n, actions_n], -1), hidden)

    @torch.no_grad()
    def step_base(self, inputs_n: Tensor, hidden: Tensor) -> tuple[Tensor, Tensor]:
        """One GRU step without autograd, the maths of ``nn.GRU`` with fewer passes over memory (imagination hot
        path): the hidden-to-gate matmul of the reset/update gates accumulates straight into the input gates,
        so their sum needs no extra pass. inputs [E, S + A], hidden [L, E, H] -> features [E, H], hidden."""
        h_dim, x, new = self.config.hidden_dim, inputs_n, torch.empty_like(hidden)
        for layer in range(self.config.num_layers):
            h = hidden[layer]
            w_ih, w_hh = getattr(self.base, f"weight_ih_l{layer}"), getattr(self.base, f"weight_hh_l{layer}")
            b_ih, b_hh = getattr(self.base, f"bias_ih_l{layer}"), getattr(self.base, f"bias_hh_l{layer}")
            bias = torch.cat([b_ih[: 2 * h_dim] + b_hh[: 2 * h_dim], b_ih[2 * h_dim :]])
            gates = torch.addmm(bias, x, w_ih.t())
            rz = gates[:, : 2 * h_dim].addmm_(h, w_hh[: 2 * h_dim].t()).sigmoid_()  # reset, update gates
            hn = torch.addmm(b_hh[2 * h_dim :], h, w_hh[2 * h_dim :].t())
            n = torch.addcmul(gates[:, 2 * h_dim :], rz[:, :h_dim], hn).tanh_()
            x = torch.addcmul(n, rz[:, h_dim:], h.sub(n), out=new[layer])  # (1 - z) * n + z * h
        return x, new

    # --- flag probabilities ------------------------------------------------------------------------------
    @torch.no_grad()
    def set_flag_weights(self, contact: Tensor | None, termination: Tensor | None) -> None:
        """Store the BCE positive-class weights the flag heads are trained with (None: keep)."""
        for buf, w in ((self.contact_pos_weight, contact), (self.termination_pos_weight, termination)):
            if w is not None:
                buf.copy_(torch.as_tensor(w, dtype=buf.dtype).reshape(buf.shape))

    def contact_prob(self, logits: Tensor) -> Tensor:
        """Calibrated contact probabilities ``sigmoid(logit - log w)`` [..., C]."""
        return torch.sigmoid(logits - self.contact_pos_weight.log())

    def termination_prob(self, logits: Tensor) -> Tensor:
        """Calibrated termination probabilities ``sigmoid(logit - log w)`` [..., T]."""
        return torch.sigmoid(logits - self.termination_pos_weight.log())

    # --- heads -------------------------------------------------------------------------------------------
    def _with_prior(self, raw: Tensor, last_state_n: Tensor, last_action_n: Tensor | None, shared: bool) -> Tensor:
        """Add each head's fixed random prior to its state output (no-op without priors). ``shared``: the
        inputs [..., S] are the same for every head, else [B, ..., S]."""
        if self.prior is None:
            return raw
        if last_action_n is None:
            raise ValueError("a model with prior functions needs the last input action")
        x = torch.cat([last_state_n, last_action_n.expand(*last_state_n.shape[:-1], -1)], -1)
        lead = x.shape[:-1] if shared else x.shape[1:-1]
        x = x.reshape(-1, x.shape[-1]) if shared else x.reshape(self.num_heads, -1, x.shape[-1])
        s = self.config.state_dim
        p = self.prior(x, shared=shared).reshape(self.num_heads, *lead, s)
        return torch.cat([raw[..., :s] + self.config.prior_scale * p, raw[..., s:]], -1)

    def _decode(self, raw: Tensor, last_state_n: Tensor) -> HeadOutput:
        mu, raw_logstd, contact, termination, extension = raw.split(self._split, -1)
        mean = last_state_n + self.delta_norm.denormalize(mu)
        logstd = soft_clamp(raw_logstd, self.logstd_min, self.logstd_max) + self.delta_norm.std.log()
        if not self.training:
            logstd = logstd + self.log_std_scale
        return HeadOutput(mean, logstd, contact, termination, extension)

    def predict(self, features: Tensor, last_state_n: Tensor, last_action_n: Tensor | None = None) -> HeadOutput:
        """All B heads on shared features [..., H] with the last input states [..., S] (and actions [..., A],
        needed with prior functions) -> fields [B, ..., *]."""
        lead = features.shape[:-1]
        raw = self.heads(features.reshape(-1, features.shape[-1]), shared=True)
        raw = raw.reshape(self.num_heads, *lead, raw.shape[-1])
        return self._decode(self._with_prior(raw, last_state_n, last_action_n, True), last_state_n)

    def predict_for_heads(
        self, features: Tensor, last_state_n: Tensor, heads: Tensor, last_action_n: Tensor | None = None
    ) -> tuple[Tensor, Tensor, HeadOutput]:
        """Imagination: from features [E, H] and last states [E, S] (actions [E, A]), the ensemble-mean
        prediction [E, S] (normalised), the epistemic u [E] over all heads and the full output of each env's
        own head ``heads`` [E] (fields [E, *]; only that head's log-std and extra outputs are decoded). Every
        head's mean is ``s + delta_mean + delta_std * out_b``, so the spread over heads is
        ``delta_std * std_b(out_b)``: computed on the head outputs directly, without forming the B means."""
        raw = self._with_prior(self.heads(features, shared=True), last_state_n, last_action_n, True)
        out = raw[..., : self.config.state_dim]
        out_mean = out.mean(0)
        spread = (out - out_mean).square_().mean(0).sqrt_()
        epistemic = (spread * self.delta_norm.std).sum(-1)
        ensemble_mean = last_state_n + self.delta_norm.denormalize(out_mean)
        own = self._decode(raw[heads, torch.arange(heads.numel(), device=heads.device)], last_state_n)
        return ensemble_mean, epistemic, own

    def predict_per_head(
        self, features: Tensor, last_state_n: Tensor, last_action_n: Tensor | None = None
    ) -> HeadOutput:
        """Head b on row b only: features [B, n, H], last states [B, n, S] (actions [B, n, A]) -> [B, n, *]."""
        raw = self._with_prior(self.heads(features, shared=False), last_state_n, last_action_n, False)
        return self._decode(raw, last_state_n)

    def forward(self, states: Tensor, actions: Tensor, hidden: Tensor | None = None) -> tuple[HeadOutput, Tensor]:
        """Teacher-forced one-step predictions for raw sequences [n, T, S] / [n, T, A]: output at t predicts
        step t+1 for every head (fields [B, n, T, *], normalised); returns the final hidden state too."""
        states_n, actions_n = self.normalize_inputs(states, actions)
        features, hidden = self.encode(states_n, actions_n, hidden)
        return self.predict(features, states_n, actions_n), hidden

    # --- uncertainty -----------------------------------------------------------------------------------------
    @staticmethod
    def epistemic(mean_n: Tensor) -> Tensor:
        """Sum over state dims of the population std over heads of the normalised means: [B, ..., S] -> [...]."""
        # Written out: torch.std over the (outermost) head dim is ~20x slower on CPU than these three passes.
        centred = mean_n - mean_n.mean(0)
        return centred.square().mean(0).sqrt().sum(-1)

    @staticmethod
    def aleatoric(logstd_n: Tensor) -> Tensor:
        """Sum over state dims of the head-averaged predicted std (normalised): [B, ..., S] -> [...]."""
        return logstd_n.exp().mean(0).sum(-1)

    def flops(self) -> dict[str, int]:
        """FLOPs (2 x multiply-adds) of one step for one env: the GRU and ONE head; elementwise work (gates,
        activations) is ignored."""
        c = self.config
        macs, in_dim = 0, c.state_dim + c.action_dim
        for _ in range(c.num_layers):
            macs += 3 * c.hidden_dim * (in_dim + c.hidden_dim)
            in_dim = c.hidden_dim
        dims = [c.hidden_dim, *c.head_hidden_dims, sum(self._split)]
        head_macs = sum(a * b for a, b in zip(dims[:-1], dims[1:]))
        if self.prior is not None:
            head_macs += (c.state_dim + c.action_dim) * c.prior_hidden_dim + c.prior_hidden_dim * c.state_dim
        return {"gru": 2 * macs, "head": 2 * head_macs}

    def flops_per_step(self, all_heads: bool = True) -> int:
        """FLOPs of one imagination step for one env: GRU once plus all heads (or one)."""
        f = self.flops()
        return f["gru"] + f["head"] * (self.num_heads if all_heads else 1)
