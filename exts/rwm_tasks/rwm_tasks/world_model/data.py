"""Transitions in a robot's column layout: dataset files, episode boundaries, window sampling, replay buffer.

Row t of a dataset holds ``state_t | last action | contacts_t | termination_t | extension_t`` in the column
order of :class:`rwm_tasks.layout.RobotLayout` (``layout.column_names``); the last action is the one that
led to state_t (zero at an episode start), as the reference recorder and Isaac Lab's ``last_action`` write it.
The model consumes state_t with the action applied at it (row t+1's action column) and predicts row t+1's
state, contacts, termination and extension, so a training window of ``M + N`` consecutive rows must lie
inside one episode.

File formats:
- the reference's headerless CSV (``layout.num_columns`` floats per row; 66 for ANYmal D). It stores no
  episode boundaries: they are detected (rows whose joint velocities and actions are exactly 0, as the
  reference recorder writes them after an unflagged time-out, plus rows after a termination flag) or
  declared with a fixed episode length;
- our own ``.npz``: ``data`` [T, D] float32, ``episode_starts`` [K] int64 and ``metadata`` (a JSON string:
  format and version, robot, dt, joint names, column names, layout dict). Written atomically.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from rwm_tasks.layout import LAYOUTS, RobotLayout, get_layout

from .files import atomic_write

NPZ_FORMAT = "rwm_tasks/transitions"
NPZ_FORMAT_VERSION = 1
FLAG_GROUPS = ("contact", "termination")


class DatasetError(ValueError):
    """A dataset cannot be used; the message names the file, the row and the problem."""


def resolve_layout(layout: RobotLayout | str) -> RobotLayout:
    return get_layout(layout) if isinstance(layout, str) else layout


# --- episodes ------------------------------------------------------------------------------------------------
def detect_episode_starts(array: np.ndarray, layout: RobotLayout) -> np.ndarray:
    """Episode starts of a reference recording: row 0, rows whose joint velocities and actions are all
    exactly 0 (the reference recorder's first row after an unflagged time-out) and rows after a termination."""
    jv = array[:, layout.column_slices["state"]][:, layout.state_slice("joint_vel")]
    act = array[:, layout.column_slices["action"]]
    zero_rows = np.flatnonzero((jv == 0).all(1) & (act == 0).all(1))
    return _merge_starts(len(array), zero_rows, _after_terminations(array, layout))


def episode_starts_from_length(num_rows: int, episode_length: int) -> np.ndarray:
    """Starts of back-to-back episodes of ``episode_length`` rows."""
    if episode_length <= 0:
        raise ValueError(f"episode_length must be positive, got {episode_length}")
    return np.arange(0, num_rows, episode_length, dtype=np.int64)


def _after_terminations(array: np.ndarray, layout: RobotLayout) -> np.ndarray:
    term = array[:, layout.column_slices["termination"]][:, 0]
    return np.flatnonzero(term[:-1] > 0.5) + 1


def _merge_starts(num_rows: int, *starts) -> np.ndarray:
    merged = np.unique(np.concatenate([np.zeros(1, np.int64), *[np.asarray(s, np.int64) for s in starts]]))
    return merged[merged < max(num_rows, 1)]


# --- in-memory dataset -----------------------------------------------------------------------------------------
@dataclass
class TransitionData:
    """Rows of control steps in ``layout``'s column order with explicit episode starts."""

    array: np.ndarray
    """[T, layout.num_columns] float32."""
    episode_starts: np.ndarray
    """Sorted unique row indices where an episode begins; always starts with 0."""
    layout: RobotLayout
    source: str = "<memory>"
    info: dict | None = None
    """Provenance stored with a ``.npz`` file (``write_npz``'s ``info``)."""

    def __post_init__(self):
        self.array = np.ascontiguousarray(self.array, dtype=np.float32)
        if self.array.ndim != 2 or self.array.shape[1] != self.layout.num_columns:
            raise DatasetError(
                f"{self.source}: array shape {self.array.shape} does not match the {self.layout.num_columns} "
                f"columns of robot '{self.layout.robot}'"
            )
        starts = np.asarray(self.episode_starts, dtype=np.int64).reshape(-1)
        if len(self.array) and (
            starts.size == 0 or starts[0] != 0 or np.any(np.diff(starts) <= 0) or starts[-1] >= len(self.array)
        ):
            raise DatasetError(f"{self.source}: episode starts must be sorted, unique, begin at 0 and lie in range")
        self.episode_starts = starts

    def __len__(self) -> int:
        return len(self.array)

    def group(self, name: str) -> np.ndarray:
        return self.array[:, self.layout.column_slices[name]] if name in self.layout.column_slices else (
            self.array[:, :0]
        )

    @property
    def states(self) -> np.ndarray:
        return self.group("state")

    @property
    def actions(self) -> np.ndarray:
        return self.group("action")

    @property
    def contacts(self) -> np.ndarray:
        return self.group("contact")

    @property
    def terminations(self) -> np.ndarray:
        return self.group("termination")

    @property
    def extension(self) -> np.ndarray:
        return self.group("extension")

    def episode_bounds(self) -> list[tuple[int, int]]:
        """[(start, end)) row ranges of the episodes."""
        ends = np.append(self.episode_starts[1:], len(self))
        return [(int(s), int(e)) for s, e in zip(self.episode_starts, ends)]

    def transition_index(self) -> np.ndarray:
        """Rows t whose successor t+1 is in the same episode."""
        same = np.ones(max(len(self) - 1, 0), dtype=bool)
        inner = self.episode_starts[1:]
        same[inner - 1] = False
        return np.flatnonzero(same)

    def split(self, fraction: float) -> tuple[TransitionData, TransitionData]:
        """Cut off the last ``fraction`` of the rows as a held-out part; the cut is an episode start of both."""
        cut = int(round(len(self) * (1.0 - fraction)))
        if not 0 < cut < len(self):
            raise ValueError(f"split fraction {fraction} leaves an empty part of {len(self)} rows")
        head_starts = self.episode_starts[self.episode_starts < cut]
        head = TransitionData(self.array[:cut], head_starts, self.layout, self.source)
        tail_starts = _merge_starts(len(self) - cut, self.episode_starts[self.episode_starts > cut] - cut)
        tail = TransitionData(self.array[cut:], tail_starts, self.layout, f"{self.source}[{cut}:]")
        return head, tail

    @classmethod
    def from_groups(
        cls,
        layout: RobotLayout | str,
        states,
        actions,
        contacts,
        terminations,
        extension=None,
        episode_starts=None,
        source: str = "<memory>",
    ) -> TransitionData:
        """Assemble from per-group arrays [T, dim] (terminations may be [T])."""
        layout = resolve_layout(layout)
        parts = [states, actions, contacts, np.asarray(terminations).reshape(len(states), -1)]
        if layout.extension_dim:
            if extension is None:
                raise DatasetError(
                    f"{source}: robot '{layout.robot}' needs extension columns {layout.extension_groups}"
                )
            parts.append(extension)
        array = np.concatenate([np.asarray(p, dtype=np.float32).reshape(len(states), -1) for p in parts], 1)
        starts = _merge_starts(len(array), [] if episode_starts is None else episode_starts)
        return cls(array, starts, layout, source)


# --- files -------------------------------------------------------------------------------------------------------
def _column_count_hint(count: int, layout: RobotLayout) -> str:
    others = [o.robot for o in LAYOUTS.values() if o.robot != layout.robot and o.num_columns == count]
    hint = f" (that is the layout of robot {', '.join(repr(o) for o in others)})" if others else ""
    return f"{count} columns, expected {layout.num_columns} for robot '{layout.robot}'{hint}"


def _check_values(array: np.ndarray, source: str, layout: RobotLayout, lines: np.ndarray | None = None) -> None:
    """Reject NaN/inf anywhere and contact/termination flags other than 0/1."""
    names = layout.column_names

    def where(r: int, c: int) -> str:
        line = f" (line {int(lines[r])})" if lines is not None else ""
        return f"{source}: row {r}{line}, column {c} ({names[c]})"

    bad = ~np.isfinite(array)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DatasetError(f"{where(r, c)}: value {array[r, c]} is not finite")
    for group in FLAG_GROUPS:
        sl = layout.column_slices[group]
        flags = array[:, sl]
        bad = (flags != 0) & (flags != 1)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise DatasetError(f"{where(r, sl.start + c)}: {group} flag {flags[r, c]} is not 0 or 1")


def read_csv(
    path: str | os.PathLike,
    layout: RobotLayout | str,
    episode_length: int | None = None,
    detect_starts: bool = True,
) -> TransitionData:
    """Read a reference headerless CSV (``layout.num_columns`` numbers per row).

    Episode starts: with ``episode_length`` back-to-back episodes of that length; otherwise detected (see
    :func:`detect_episode_starts`) if ``detect_starts``, else one episode. Rows after a termination flag
    always start an episode. Raises :class:`DatasetError` naming the file, row and problem.
    """
    layout, source = resolve_layout(layout), str(path)
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise DatasetError(f"{source}: file not found") from None
    except (UnicodeDecodeError, IsADirectoryError) as e:
        raise DatasetError(f"{source}: not a text CSV file ({e})") from None
    numbered = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not numbered:
        raise DatasetError(f"{source}: file is empty (no data rows)")
    lines = np.array([i for i, _ in numbered])
    rows = [line for _, line in numbered]
    first = rows[0].count(",") + 1
    if first != layout.num_columns:
        raise DatasetError(f"{source}: row 0 (line {lines[0]}) has {_column_count_hint(first, layout)}")
    try:
        array = np.loadtxt(rows, delimiter=",", dtype=np.float64, ndmin=2, comments=None)
    except ValueError as e:
        _diagnose_csv(source, rows, lines, layout)
        raise DatasetError(f"{source}: cannot parse as CSV: {e}") from None
    _check_values(array, source, layout, lines)
    if episode_length is not None:
        starts = _merge_starts(len(array), episode_starts_from_length(len(array), episode_length))
    elif detect_starts:
        starts = detect_episode_starts(array, layout)
    else:
        starts = np.zeros(1, np.int64)
    starts = _merge_starts(len(array), starts, _after_terminations(array, layout))
    return TransitionData(array, starts, layout, source)


def _diagnose_csv(source: str, rows: list[str], lines: np.ndarray, layout: RobotLayout) -> None:
    """Find the first row loadtxt choked on and raise a precise error."""
    names = layout.column_names
    for r, line in enumerate(rows):
        cells = line.split(",")
        if len(cells) != layout.num_columns:
            raise DatasetError(f"{source}: row {r} (line {lines[r]}) has {_column_count_hint(len(cells), layout)}")
        for c, cell in enumerate(cells):
            try:
                float(cell)
            except ValueError:
                raise DatasetError(
                    f"{source}: row {r} (line {lines[r]}), column {c} ({names[c]}): {cell.strip()!r} is not a number"
                ) from None


def write_csv(path: str | os.PathLike, data: TransitionData) -> None:
    """Write the reference headerless CSV (atomically). Episode starts are not stored: use .npz to keep them."""
    atomic_write(path, lambda f: np.savetxt(f, data.array, delimiter=",", fmt="%.9g"))


def write_npz(path: str | os.PathLike, data: TransitionData, info: dict | None = None) -> None:
    """Write our self-describing format (atomically): arrays plus JSON metadata (``info``: provenance such as
    the collecting policy and seed, kept under ``metadata["info"]``)."""
    layout = data.layout
    meta = {
        "format": NPZ_FORMAT,
        "format_version": NPZ_FORMAT_VERSION,
        "robot": layout.robot,
        "dt": layout.dt,
        "joint_names": list(layout.joint_names),
        "column_names": list(layout.column_names),
        "layout": layout.to_dict(),
        "num_rows": len(data),
        "info": info or {},
    }
    atomic_write(
        path,
        lambda f: np.savez(
            f, data=data.array, episode_starts=data.episode_starts.astype(np.int64), metadata=np.array(json.dumps(meta))
        ),
    )


def read_npz(path: str | os.PathLike, layout: RobotLayout | str | None = None) -> TransitionData:
    """Read our ``.npz`` format; ``layout`` (default: the file's robot) must match the file's layout."""
    source = str(path)
    if not Path(path).is_file():
        raise DatasetError(f"{source}: file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = {"data", "episode_starts", "metadata"} - set(z.files)
            if missing:
                raise DatasetError(f"{source}: not an rwm_tasks transitions file (missing arrays {sorted(missing)})")
            array, starts, meta = z["data"], z["episode_starts"], json.loads(str(z["metadata"][()]))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        if isinstance(e, DatasetError):
            raise
        raise DatasetError(f"{source}: not a readable .npz file ({e})") from None
    if meta.get("format") != NPZ_FORMAT:
        raise DatasetError(f"{source}: metadata format is {meta.get('format')!r}, expected {NPZ_FORMAT!r}")
    if int(meta.get("format_version", 0)) > NPZ_FORMAT_VERSION:
        raise DatasetError(
            f"{source}: format version {meta['format_version']} is newer than supported {NPZ_FORMAT_VERSION}"
        )
    try:
        layout = resolve_layout(layout if layout is not None else meta.get("robot", "?"))
        layout.check_compatible(meta.get("layout", {}), what=f"dataset '{source}'")
    except ValueError as e:
        raise DatasetError(str(e) if source in str(e) else f"{source}: {e}") from None
    if list(meta.get("column_names", [])) != list(layout.column_names):
        raise DatasetError(f"{source}: column names differ from the layout of robot '{layout.robot}'")
    if array.ndim != 2 or array.shape[1] != layout.num_columns:
        raise DatasetError(f"{source}: data has shape {array.shape}, {_column_count_hint(array.shape[-1], layout)}")
    if len(array) == 0:
        raise DatasetError(f"{source}: file is empty (no data rows)")
    _check_values(array, source, layout)
    return TransitionData(array, starts, layout, source, meta.get("info") or {})


def load_dataset(
    path: str | os.PathLike,
    layout: RobotLayout | str | None = None,
    episode_length: int | None = None,
    detect_starts: bool = True,
    min_window: int | None = None,
) -> TransitionData:
    """Read a ``.csv`` (``layout`` required) or ``.npz`` dataset; with ``min_window``, reject a file in which
    no episode is long enough for one training window."""
    if str(path).endswith(".npz"):
        data = read_npz(path, layout)
    else:
        if layout is None:
            raise DatasetError(f"{path}: a CSV file carries no robot name; pass the layout (e.g. --robot anymal_d)")
        data = read_csv(path, layout, episode_length=episode_length, detect_starts=detect_starts)
    if min_window is not None:
        check_window_fits(data, min_window)
    return data


def check_window_fits(data: TransitionData, window: int) -> None:
    longest = max(e - s for s, e in data.episode_bounds())
    if longest < window:
        raise DatasetError(
            f"{data.source}: too short for one window of {window} rows (history + forecast): "
            f"{len(data)} rows, longest episode {longest} rows "
            f"(episode starts at rows {data.episode_starts.tolist()[:10]})"
        )


# --- windows -----------------------------------------------------------------------------------------------------
@dataclass
class WindowBatch:
    """A batch of windows of consecutive rows: fields [n, W, dim]."""

    states: Tensor
    actions: Tensor
    contacts: Tensor
    terminations: Tensor
    extension: Tensor
    keys: Tensor | None = None
    """[n] int64 id of each window (its first row in the source), for fixed per-window bootstrap weights."""

    @classmethod
    def from_columns(cls, columns: Tensor, layout: RobotLayout, keys: Tensor | None = None) -> WindowBatch:
        sl = layout.column_slices
        ext = columns[..., sl["extension"]] if "extension" in sl else columns[..., :0]
        return cls(columns[..., sl["state"]], columns[..., sl["action"]], columns[..., sl["contact"]],
                   columns[..., sl["termination"]], ext, keys)  # fmt: skip

    def __len__(self) -> int:
        return self.states.shape[0]

    def columns(self) -> Tensor:
        """[n, W, columns] in the data-file column order."""
        return torch.cat([self.states, self.actions, self.contacts, self.terminations, self.extension], dim=-1)

    def mirrored(self, layout: RobotLayout, which: Tensor) -> WindowBatch:
        """The batch with the windows where ``which`` [n] (bool) is true mirrored left-right (same keys)."""
        source, sign = layout.mirror_index()
        columns = self.columns()
        flipped = columns[..., source] * torch.tensor(sign, dtype=columns.dtype, device=columns.device)
        return WindowBatch.from_columns(torch.where(which[:, None, None], flipped, columns), layout, self.keys)

    def select(self, idx: Tensor) -> WindowBatch:
        """The windows at ``idx``."""
        keys = None if self.keys is None else self.keys[idx]
        return WindowBatch(self.states[idx], self.actions[idx], self.contacts[idx], self.terminations[idx],
                           self.extension[idx], keys)  # fmt: skip


class TransitionStore:
    """Rows of one or more datasets as one tensor; samples windows of ``window`` rows inside one episode."""

    def __init__(
        self, data: TransitionData | Sequence[TransitionData], window: int, device: str | torch.device = "cpu"
    ):
        datas = [data] if isinstance(data, TransitionData) else list(data)
        if not datas:
            raise DatasetError("no datasets given")
        self.layout = datas[0].layout
        for d in datas[1:]:
            try:
                self.layout.check_compatible(d.layout.to_dict(), what=f"dataset '{d.source}'")
            except ValueError as e:
                raise DatasetError(str(e)) from None
        self.window = window
        self.device = torch.device(device)
        offsets = np.cumsum([0] + [len(d) for d in datas])
        starts = np.concatenate([d.episode_starts + o for d, o in zip(datas, offsets[:-1])])
        num_rows = int(offsets[-1])
        ends = np.append(starts[1:], num_rows)
        episode = np.repeat(np.arange(len(starts)), ends - starts)
        row_end = ends[episode]
        self.window_starts = torch.as_tensor(np.flatnonzero(row_end - np.arange(num_rows) >= window))
        if self.window_starts.numel() == 0:
            names = ", ".join(d.source for d in datas)
            raise DatasetError(
                f"{names}: too short for one window of {window} rows; longest episode {int((ends - starts).max())} rows"
            )
        self.columns = torch.as_tensor(np.concatenate([d.array for d in datas]), device=self.device)
        self.episode_starts = torch.as_tensor(starts)
        same = np.ones(max(num_rows - 1, 0), dtype=bool)
        same[starts[1:] - 1] = False
        self._transitions = torch.as_tensor(np.flatnonzero(same), device=self.device)

    @property
    def num_windows(self) -> int:
        return self.window_starts.numel()

    def __len__(self) -> int:
        return self.columns.shape[0]

    def get(self, starts: Tensor) -> WindowBatch:
        """Windows beginning at row indices ``starts`` [n] -> fields [n, W, dim]."""
        rows = starts.to(self.device).reshape(-1, 1) + torch.arange(self.window, device=self.device)
        return WindowBatch.from_columns(self.columns[rows], self.layout, starts.reshape(-1).long().cpu())

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> WindowBatch:
        """Uniform over all valid windows (with replacement)."""
        idx = torch.randint(self.num_windows, (batch_size,), generator=generator)
        return self.get(self.window_starts[idx])

    def evenly_spaced(self, count: int) -> WindowBatch:
        """Up to ``count`` windows spread evenly over the valid window starts (deterministic)."""
        pick = torch.linspace(0, self.num_windows - 1, min(count, self.num_windows)).round().long()
        return self.get(self.window_starts[pick.unique()])

    def normalization_tensors(self) -> dict[str, Tensor]:
        """Raw-unit samples for :meth:`EnsembleWorldModel.fit_normalization`: states, actions, one-step state
        changes within episodes (``deltas``) and extension."""
        batch = WindowBatch.from_columns(self.columns, self.layout)
        t = self._transitions
        return {
            "states": batch.states,
            "actions": batch.actions,
            "deltas": batch.states[t + 1] - batch.states[t],
            "extension": batch.extension,
        }

    def flag_rates(self) -> dict[str, Tensor]:
        """Fraction of positive rows per contact and termination channel."""
        batch = WindowBatch.from_columns(self.columns, self.layout)
        return {"contact": batch.contacts.mean(0), "termination": batch.terminations.mean(0)}
