"""A replay buffer kept on disk as it grows: append-only chunk files of the rows added since the last save.

Saving a whole buffer at every checkpoint would rewrite all rows each time; a chunk holds only the new rows,
so a save costs what was added and a killed run loses at most the rows after its last save. Each chunk is
written atomically; the list of chunks that make up a buffer is kept by the caller in its own atomically
written state file (the commit point), so a chunk written just before a kill but never listed is ignored
and overwritten on the next save.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from ..world_model.data import atomic_write
from ..world_model.replay_buffer import ReplayBuffer


class ReplayLog:
    """Chunk files ``chunk_<first step>_<end step>.npz`` of one :class:`ReplayBuffer` in ``folder``.

    ``chunks`` lists the saved chunks (``{"file", "first_step", "end_step"}``, oldest first); it is what the
    caller stores in its state file and hands back to :meth:`restore`.
    """

    def __init__(self, folder: str, chunks: list[dict] | None = None):
        self.folder = folder
        self.chunks = list(chunks or [])

    @property
    def end_step(self) -> int:
        """The buffer step up to which rows are saved."""
        return self.chunks[-1]["end_step"] if self.chunks else 0

    def append(self, buffer: ReplayBuffer) -> list[dict]:
        """Write the rows added since the last chunk (if any); drop chunks whose rows all left the ring.
        Returns the chunk list to commit."""
        if buffer.steps > self.end_step:
            first_step, columns, first = buffer.rows_since(self.end_step)
            name = f"chunk_{first_step:09d}_{buffer.steps:09d}.npz"
            arrays = {"columns": columns.cpu().numpy(), "first": first.cpu().numpy()}
            atomic_write(os.path.join(self.folder, name), lambda f: np.savez(f, **arrays, first_step=first_step))
            self.chunks.append({"file": name, "first_step": first_step, "end_step": buffer.steps})
        oldest = buffer.steps - buffer.size
        self.chunks = [c for c in self.chunks if c["end_step"] > oldest]
        return list(self.chunks)

    def remove_unlisted(self) -> None:
        """Delete chunk files not in the (committed) list: written before a kill, or dropped from the ring."""
        if not os.path.isdir(self.folder):
            return
        listed = {c["file"] for c in self.chunks}
        for name in os.listdir(self.folder):
            if name.startswith("chunk_") and name not in listed:
                os.remove(os.path.join(self.folder, name))

    def restore(self, buffer: ReplayBuffer) -> None:
        """Put the listed chunks' rows into an empty ``buffer`` (same envs, capacity and layout as saved)."""
        if buffer.steps:
            raise ValueError("restore needs an empty replay buffer")
        for chunk in self.chunks:
            path = os.path.join(self.folder, chunk["file"])
            if not os.path.isfile(path):
                raise FileNotFoundError(f"replay chunk '{path}' is missing")
            with np.load(path) as z:
                buffer.put_rows(int(z["first_step"]), torch.as_tensor(z["columns"]), torch.as_tensor(z["first"]))
