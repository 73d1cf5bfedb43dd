"""Windows drawn from several sources (a fixed dataset and an online replay buffer) in fixed shares."""

from __future__ import annotations

import torch

from ..world_model.data import WindowBatch


SOURCE_KEY_SHIFT = 56
"""Window ids of source i are offset by i << 56 (a replay buffer's ids use the bits below 2**56)."""


class MixedWindows:
    """Samples ``share[i]`` of every batch from ``sources[i]`` (a ``TransitionStore`` or ``ReplayBuffer``).

    Finetune keeps the pretraining data in every world-model batch and every imagination reset, so the model
    does not forget it while a few real envs add new rows. A source without windows yet gives its share to
    the others. Same ``sample`` / ``num_windows`` interface as the sources.
    """

    def __init__(self, sources: list, shares: list[float]):
        if len(sources) != len(shares) or not sources or min(shares) < 0 or sum(shares) <= 0:
            raise ValueError(f"need one non-negative share per source, got {shares} for {len(sources)} sources")
        self.sources, self.shares = sources, [s / sum(shares) for s in shares]
        self.layout = sources[0].layout

    @property
    def num_windows(self) -> int:
        return sum(s.num_windows for s in self.sources)

    def __len__(self) -> int:
        return sum(len(s) for s in self.sources)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> WindowBatch:
        ready = [(i, s, w) for i, (s, w) in enumerate(zip(self.sources, self.shares)) if s.num_windows > 0 and w > 0]
        if not ready:
            raise ValueError("no source holds a window yet")
        total = sum(w for _, _, w in ready)
        counts = [int(round(batch_size * w / total)) for _, _, w in ready]
        counts[-1] = batch_size - sum(counts[:-1])
        batches = [(i, s.sample(n, generator)) for (i, s, _), n in zip(ready, counts) if n > 0]
        fields = [torch.cat([getattr(b, f) for _, b in batches]) for f in
                  ("states", "actions", "contacts", "terminations", "extension")]  # fmt: skip
        keys = None
        if all(b.keys is not None for _, b in batches):  # window ids stay distinct across sources
            keys = torch.cat([b.keys.long() + (i << SOURCE_KEY_SHIFT) for i, b in batches])
        return WindowBatch(*fields, keys)
