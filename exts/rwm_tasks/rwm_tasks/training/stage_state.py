"""What a model-based stage saves beside the runner checkpoint so that ``--resume`` continues the run as if it
had never stopped: the world-model learner (model, normalisation, optimizer, trainer RNG and step count), the
replay buffer (append-only chunk files, :mod:`.replay_log`), the RNG states (torch, numpy, python and the
stage's own generators), imagination and logger statistics, and the iteration the run is meant to reach.

Consistency: the state is written right after each runner checkpoint (``model_<it>.pt``), from a wrapper of
``runner.save``, and records that iteration; ``stage_state.pt`` is written last and atomically, so it is the
commit point. A kill between the runner's file and the state leaves a newer ``model_<it>.pt``; a resume then
loads the checkpoint of the state's iteration, and the run repeats the iterations after it.
"""

from __future__ import annotations

import hashlib
import os
import random
import re

import numpy as np
import torch

from ..launch import UserError, check_checkpoint
from ..world_model.data import atomic_write
from ..world_model.checkpoint import Checkpoint, checkpoint_from_payload, checkpoint_payload
from .replay_log import ReplayLog

STATE_FILE = "stage_state.pt"
REPLAY_DIR = "replay"
WORLD_MODEL_FILE = "world_model.pt"
STATE_FORMAT = "rwm_tasks/stage_state"


def rng_state(generators: dict[str, torch.Generator] | None = None) -> dict:
    """The global RNG states (torch, CUDA, numpy, python) and those of ``generators``."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "generators": {name: g.get_state() for name, g in (generators or {}).items()},
    }


def set_rng_state(state: dict, generators: dict[str, torch.Generator] | None = None) -> None:
    """Restore :func:`rng_state`; generators missing from ``state`` keep theirs."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    for name, g in (generators or {}).items():
        if name in state["generators"]:
            g.set_state(state["generators"][name])


def real_env_generators(env) -> dict[str, torch.Generator]:
    """The real env's own RNG, if it has one (the MuJoCo executor's commands, events and noise)."""
    gen = getattr(env, "gen", None)
    return {"real_env": gen} if isinstance(gen, torch.Generator) else {}


def continue_tensorboard(runner, first_iteration: int) -> None:
    """Make TensorBoard drop the earlier events of a resumed run from ``first_iteration`` on (they were logged
    after the checkpoint and are logged again), as ``SummaryWriter(purge_step=...)`` does: each step is then
    counted once. rsl-rl creates its writer inside ``learn``, so the event is added right after that."""
    logger, init = runner.logger, runner.logger.init_logging_writer

    def init_and_purge() -> None:
        init()
        from torch.utils.tensorboard import SummaryWriter

        if isinstance(logger.writer, SummaryWriter):
            from tensorboard.compat.proto.event_pb2 import Event, SessionLog

            start = Event(step=first_iteration, session_log=SessionLog(status=SessionLog.START))
            logger.writer._get_file_writer().add_event(start)

    logger.init_logging_writer = init_and_purge


def parameters_digest(module: torch.nn.Module) -> str:
    """SHA-256 of a module's parameters and buffers (names, shapes, values): equal digests, equal models."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _checkpoint_iteration(path: str) -> int | None:
    match = re.fullmatch(r"model_(\d+)\.pt", os.path.basename(path))
    return int(match.group(1)) if match else None


def read_state(path: str) -> dict:
    """A saved stage state; a :class:`UserError` when ``path`` is unreadable or not one."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001  (any unreadable file is the same user error)
        raise UserError(f"stage state '{path}' cannot be read ({type(err).__name__}: {err})") from err
    if not isinstance(saved, dict) or saved.get("format") != STATE_FORMAT:
        raise UserError(f"'{path}' is not an rwm_tasks stage state")
    return saved


class StageState:
    """The saved state of one stage run in ``run_dir``; ``saved`` is the loaded state of a resumed run.

    A stage registers what it has (:attr:`learner`, :attr:`buffer`, :attr:`imagination`, named RNG
    :attr:`generators`, :attr:`counters`, :attr:`inputs`), then calls :meth:`start` after building the
    runner; every runner checkpoint from then on also commits this state.
    """

    def __init__(self, stage: str, run_dir: str, saved: dict | None = None, resuming: bool = False):
        self.stage, self.run_dir, self.saved, self.resuming = stage, run_dir, saved, resuming or saved is not None
        self.replay = ReplayLog(os.path.join(run_dir, REPLAY_DIR), saved["replay"] if saved else None)
        self.learner = self.buffer = self.imagination = None
        self.generators: dict[str, torch.Generator] = {}
        self.counters: dict = dict(saved["counters"]) if saved else {}
        self.inputs: dict = dict(saved["inputs"]) if saved else {}
        self.end_iteration = saved["end_iteration"] if saved else None
        self.world_model_extra: dict = {}

    # -- resume --------------------------------------------------------------------------------------------
    @classmethod
    def begin(cls, stage: str, run_dir: str, resuming: bool) -> StageState:
        """The state of a resumed run (``resuming``: ``run_dir`` is the folder of the resumed checkpoint), or a
        fresh one. A resumed folder without a saved state (a run of an older version, or killed before its
        first checkpoint) continues with the policy only, as before."""
        path = os.path.join(run_dir, STATE_FILE)
        if not resuming:
            return cls(stage, run_dir)
        if not os.path.isfile(path):
            print(f"[rwm_tasks] {stage}: no {STATE_FILE} in {run_dir}: resuming the policy only")
            return cls(stage, run_dir, resuming=True)
        saved = read_state(path)
        if saved["stage"] != stage:
            raise UserError(f"'{run_dir}' is a {saved['stage']} run, not a {stage} run")
        return cls(stage, run_dir, saved)

    def checkpoint(self, resume_path: str) -> str:
        """The runner checkpoint to resume: the one of the saved state's iteration (the latest checkpoint may
        be newer, or half written, when the run was killed between the two files)."""
        if self.saved is None:
            check_checkpoint(resume_path)
            return resume_path
        it = self.saved["iteration"]
        path = os.path.join(self.run_dir, self.saved["checkpoint"])
        requested = _checkpoint_iteration(resume_path)
        if requested is not None and requested < it:
            raise UserError(f"{self.run_dir} holds the stage's state of iteration {it} (world model, replay "
                            f"buffer): resume from that iteration (omit --checkpoint), not {resume_path}")  # fmt: skip
        if not os.path.isfile(path):
            raise UserError(f"the checkpoint of the saved stage state, '{path}', is missing")
        if os.path.abspath(path) != os.path.abspath(resume_path):
            print(f"[rwm_tasks] {self.stage}: the stage state is of iteration {it}: resuming {path}")
        check_checkpoint(path)
        return path

    def world_model(self, layout) -> Checkpoint | None:
        """The saved world model (with its trainer state), or None."""
        if not self.saved or self.saved["world_model"] is None:
            return None
        return checkpoint_from_payload(self.saved["world_model"], os.path.join(self.run_dir, STATE_FILE), layout)

    def restore_buffer(self) -> int:
        """Refill the registered (empty) replay buffer from its chunks; returns the rows restored."""
        if self.saved and self.buffer is not None:
            try:
                self.replay.restore(self.buffer)
            except (OSError, ValueError, KeyError) as err:
                raise UserError(f"the replay buffer saved in {self.run_dir} cannot be restored: {err}") from err
        return len(self.buffer) if self.buffer is not None else 0

    # -- running -------------------------------------------------------------------------------------------
    def start(self, runner, max_iterations: int, hook_env=None) -> int:
        """Set the runner's first iteration (after its checkpoint, when resuming), restore RNG and statistics,
        and commit this state at every runner checkpoint. Returns the iterations left to run: an interrupted
        run continues to the iteration it was started for, a finished one trains ``max_iterations`` more."""
        if self.resuming:
            last = runner.current_learning_iteration
            runner.current_learning_iteration = first = last + 1
            if self.end_iteration is None or self.end_iteration <= last:
                self.end_iteration = last + max_iterations
            continue_tensorboard(runner, first)
        else:
            first = runner.current_learning_iteration
            self.end_iteration = first + max_iterations - 1
        self.first_iteration = first
        if hook_env is not None:
            hook_env.first_iteration = first
        if self.saved is not None:
            set_rng_state(self.saved["rng"], self.generators)
            self._restore_statistics(runner, self.saved["statistics"])
        inner = runner.save

        def save(path: str, infos: dict | None = None) -> None:
            inner(path, infos)
            self.commit(runner, os.path.basename(path))

        runner.save = save
        return self.end_iteration - first + 1

    def resume_record(self, checkpoint: str | None) -> dict:
        """What a resume started from (kept in the run's facts): checkpoint, iterations, replay rows and a
        digest of the world-model parameters, comparable with :func:`parameters_digest` of the saved state."""
        if not self.resuming:
            return {}
        learner = self.learner
        return {"checkpoint": checkpoint, "first_iteration": self.first_iteration, "end_iteration": self.end_iteration,
                "replay_rows": len(self.buffer) if self.buffer is not None else None,
                "world_model_sha256": parameters_digest(learner.model) if learner is not None else None,
                "state_saved": self.saved is not None}  # fmt: skip

    def commit(self, runner, checkpoint_name: str) -> None:
        """Write the replay chunk of the new rows, then the state file (atomically), then ``world_model.pt``."""
        it = runner.current_learning_iteration
        learner = self.learner
        payload = None
        if learner is not None:
            payload = checkpoint_payload(learner.model, learner.layout, learner.trainer,
                                         {**self.world_model_extra, "iteration": it})  # fmt: skip
        state = {
            "format": STATE_FORMAT, "version": 1, "stage": self.stage, "iteration": it,
            "checkpoint": checkpoint_name, "end_iteration": self.end_iteration, "inputs": self.inputs,
            "counters": dict(self.counters), "world_model": payload,
            "replay": self.replay.append(self.buffer) if self.buffer is not None else None,
            "rng": rng_state(self.generators), "statistics": self._statistics(runner),
        }  # fmt: skip
        atomic_write(os.path.join(self.run_dir, STATE_FILE), lambda f: torch.save(state, f))
        self.replay.remove_unlisted()
        if learner is not None:
            learner.save(os.path.join(self.run_dir, WORLD_MODEL_FILE), {**self.world_model_extra, "iteration": it})

    def _statistics(self, runner) -> dict:
        logger = runner.logger
        stats = {"rewards": list(logger.rewbuffer), "lengths": list(logger.lenbuffer),
                 "total_steps": logger.tot_timesteps, "total_time": logger.tot_time}  # fmt: skip
        if self.imagination is not None:
            stats["imagination_diverged"] = self.imagination.num_diverged_total
        return stats

    def _restore_statistics(self, runner, stats: dict) -> None:
        logger = runner.logger
        logger.rewbuffer.extend(stats["rewards"])
        logger.lenbuffer.extend(stats["lengths"])
        logger.tot_timesteps, logger.tot_time = stats["total_steps"], stats["total_time"]
        if self.imagination is not None and "imagination_diverged" in stats:
            self.imagination.num_diverged_total = stats["imagination_diverged"]
