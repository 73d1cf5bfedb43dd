"""Ring buffer of real transitions, one ring per env, for online (MBPO) world-model training."""

from __future__ import annotations

import torch
from torch import Tensor

from ..layout import RobotLayout
from .data import WindowBatch, resolve_layout


class ReplayBuffer:
    """Ring buffer of real transitions, one ring per env, for online (MBPO) model training.

    :meth:`add` appends one control step for every env; ``episode_start`` marks rows that begin a new
    episode (the env was reset before this row), and a row after a termination flag is a start too. Windows
    sampled by :meth:`sample` never contain a start except at their first row and never wrap over the
    overwritten end of the ring. Same ``sample`` / ``num_windows`` interface as :class:`TransitionStore`.
    """

    def __init__(self, layout: RobotLayout | str, num_envs: int, capacity_per_env: int, window: int,
                 device: str | torch.device = "cpu"):  # fmt: skip
        self.layout = resolve_layout(layout)
        self.num_envs, self.capacity, self.window = num_envs, capacity_per_env, window
        self.device = torch.device(device)
        self.columns = torch.zeros(num_envs, capacity_per_env, self.layout.num_columns, device=self.device)
        self.first = torch.zeros(num_envs, capacity_per_env, dtype=torch.bool, device=self.device)
        self.ptr = 0
        self.size = 0
        self.steps = 0
        """Steps added since creation (absolute time of the next row)."""
        self._valid: tuple[Tensor, Tensor] | None = None

    def __len__(self) -> int:
        """Rows stored over all envs."""
        return self.num_envs * self.size

    @torch.no_grad()
    def add(self, states: Tensor, actions: Tensor, contacts: Tensor, terminations: Tensor,
            extension: Tensor | None = None, episode_start: Tensor | None = None) -> None:  # fmt: skip
        """Append one step for all envs: states [E, S], actions [E, A], contacts [E, C], terminations [E] or
        [E, 1], extension [E, X] (robots with an extension group), episode_start [E] bool."""
        e = self.num_envs
        parts = [states, actions, contacts, terminations.reshape(e, -1)]
        if self.layout.extension_dim:
            if extension is None:
                raise ValueError(f"robot '{self.layout.robot}' needs extension {self.layout.extension_groups}")
            parts.append(extension)
        row = torch.cat([p.to(self.device, torch.float32).reshape(e, -1) for p in parts], -1)
        if row.shape[1] != self.layout.num_columns:
            raise ValueError(f"step has {row.shape[1]} columns, expected {self.layout.num_columns}")
        first = torch.zeros(e, dtype=torch.bool, device=self.device)
        if episode_start is not None:
            first |= episode_start.to(self.device).reshape(e).bool()
        if self.size:
            prev = (self.ptr - 1) % self.capacity
            first |= self.columns[:, prev, self.layout.column_slices["termination"]][:, 0] > 0.5
        self.columns[:, self.ptr] = row
        self.first[:, self.ptr] = first
        self.ptr = (self.ptr + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)
        self.steps += 1
        self._valid = None

    def rows_since(self, step: int) -> tuple[int, Tensor, Tensor]:
        """Stored rows of the steps from ``step`` on, oldest first: (their first step, columns [E, n, D],
        episode-start flags [E, n]). Rows already overwritten are not returned (the first step is then later)."""
        first_step = max(int(step), self.steps - self.size)
        order = torch.arange(first_step, self.steps, device=self.device) % self.capacity
        return first_step, self.columns[:, order].clone(), self.first[:, order].clone()

    @torch.no_grad()
    def put_rows(self, first_step: int, columns: Tensor, first: Tensor) -> None:
        """Store rows of :meth:`rows_since` again (restoring a saved buffer): each at the ring position it had,
        so the buffer continues as if it had never stopped. ``first_step`` must not lie before the next step;
        a later one (older rows were dropped) starts the buffer over at that step."""
        n = columns.shape[1]
        if columns.shape[0] != self.num_envs or columns.shape[2] != self.layout.num_columns:
            raise ValueError(f"rows of shape {tuple(columns.shape)} do not fit a buffer of {self.num_envs} envs and "
                             f"{self.layout.num_columns} columns")  # fmt: skip
        if first_step < self.steps:
            raise ValueError(f"rows from step {first_step} overlap the stored ones (next step {self.steps})")
        if first_step > self.steps:
            self.size, self.steps = 0, first_step
        keep = min(n, self.capacity)
        pos = torch.arange(first_step + n - keep, first_step + n, device=self.device) % self.capacity
        self.columns[:, pos] = columns[:, n - keep :].to(self.device, torch.float32)
        self.first[:, pos] = first[:, n - keep :].to(self.device, torch.bool)
        self.steps += n
        self.size = min(self.size + n, self.capacity)
        self.ptr = self.steps % self.capacity
        self._valid = None

    def _valid_windows(self) -> tuple[Tensor, Tensor]:
        """(env, ring position of the first row) of every valid window."""
        if self._valid is None:
            w, size = self.window, self.size
            if size < w:
                empty = torch.zeros(0, dtype=torch.long, device=self.device)
                self._valid = (empty, empty)
            else:
                order = (self.ptr - size + torch.arange(size, device=self.device)) % self.capacity
                first = self._chronological()[1]
                count = first.long().cumsum(1)
                j = torch.arange(size - w + 1, device=self.device)
                env, jj = ((count[:, j + w - 1] - count[:, j]) == 0).nonzero(as_tuple=True)
                self._valid = (env, order[jj])
        return self._valid

    @property
    def num_windows(self) -> int:
        return self._valid_windows()[0].numel()

    def _chronological(self) -> tuple[Tensor, Tensor]:
        """Stored rows oldest first, [E, size, D], and their episode-start flags [E, size]."""
        order = (self.ptr - self.size + torch.arange(self.size, device=self.device)) % self.capacity
        first = self.first[:, order].clone()
        first[:, :1] = True
        return self.columns[:, order], first

    def normalization_tensors(self) -> dict[str, Tensor]:
        """Like :meth:`TransitionStore.normalization_tensors`, over the stored rows (for a model that starts
        from online data)."""
        if self.size < 2:
            raise ValueError("replay buffer needs at least two steps per env for normalisation statistics")
        rows, first = self._chronological()
        batch = WindowBatch.from_columns(rows, self.layout)
        deltas = (batch.states[:, 1:] - batch.states[:, :-1])[~first[:, 1:]]
        flat = WindowBatch.from_columns(rows.reshape(-1, rows.shape[-1]), self.layout)
        return {"states": flat.states, "actions": flat.actions, "deltas": deltas, "extension": flat.extension}

    def flag_rates(self) -> dict[str, Tensor]:
        """Fraction of positive stored rows per contact and termination channel."""
        flat = WindowBatch.from_columns(self._chronological()[0].reshape(-1, self.layout.num_columns), self.layout)
        return {"contact": flat.contacts.mean(0), "termination": flat.terminations.mean(0)}

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> WindowBatch:
        env, pos = self._valid_windows()
        if env.numel() == 0:
            raise ValueError(f"replay buffer holds no window of {self.window} rows yet ({self.size} steps per env)")
        idx = torch.randint(env.numel(), (batch_size,), generator=generator).to(self.device)
        rows = (pos[idx].unsqueeze(1) + torch.arange(self.window, device=self.device)) % self.capacity
        oldest = self.steps - self.size  # absolute time of the oldest stored row
        age = (pos[idx] - (self.ptr - self.size)) % self.capacity
        keys = env[idx].cpu().long() * (1 << 40) + (oldest + age).cpu().long()
        return WindowBatch.from_columns(self.columns[env[idx].unsqueeze(1), rows], self.layout, keys)
