"""Recurrent ensemble world model of RWM / RWM-U in pure PyTorch (no Isaac Lab import).

- :mod:`.model`: :class:`EnsembleWorldModel` (shared GRU base, B batched heads) and :class:`WorldModelConfig`.
- :mod:`.stepper`: :class:`ModelStepper` / :class:`StepOutput`, stateful stepping for imagination.
- :mod:`.data`: dataset files (reference CSV, our .npz), :class:`TransitionStore` and :class:`WindowBatch`.
- :mod:`.replay_buffer`: :class:`ReplayBuffer`, per-env rings of online transitions.
- :mod:`.train`: dual-autoregressive loss, :class:`Trainer`, checkpoints.
- :mod:`.evaluate`: open-loop rollouts, errors vs baselines, uncertainty correlation, plots.
- :mod:`.uncertainty`: strided windows, correlation intervals, OOD AUROC, std calibration.
- :mod:`.benchmark`: speed and memory measurements.
- :mod:`.distributed`: data-parallel training under torchrun (one model on all ranks, gradients all-reduced).
"""

from .data import (
    DatasetError,
    TransitionData,
    TransitionStore,
    WindowBatch,
    detect_episode_starts,
    load_dataset,
    read_csv,
    read_npz,
    write_csv,
    write_npz,
)
from .replay_buffer import ReplayBuffer
from .model import EnsembleWorldModel, HeadOutput, WorldModelConfig
from .normalizer import Normalizer
from .stepper import ModelStepper, StepOutput
from .train import Trainer, TrainConfig, make_model
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint

__all__ = [
    "Checkpoint",
    "DatasetError",
    "EnsembleWorldModel",
    "HeadOutput",
    "ModelStepper",
    "Normalizer",
    "ReplayBuffer",
    "StepOutput",
    "TrainConfig",
    "Trainer",
    "TransitionData",
    "TransitionStore",
    "WindowBatch",
    "WorldModelConfig",
    "detect_episode_starts",
    "load_checkpoint",
    "load_dataset",
    "make_model",
    "read_csv",
    "read_npz",
    "save_checkpoint",
    "write_csv",
    "write_npz",
]
