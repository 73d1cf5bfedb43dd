"""The model-based stages on stock rsl-rl:

- Pretrain: PPO on the real env; every real transition enters a replay buffer and the world model trains
  on it each iteration. Checkpoints: the runner's ``model_<it>.pt`` and ``world_model.pt``.
- Finetune (MBPO-PPO): resume a policy and a pretrained model; each iteration a few real envs add real steps
  to the buffer, the model trains on it, and PPO learns on imagined rollouts (:class:`ImaginationEnv`).
- Offline (MOPO-PPO): a frozen ensemble and a dataset file, no simulator; PPO on imagination with the
  uncertainty-penalised reward.

Every runner checkpoint also saves the stage's own state (:mod:`.stage_state`: world-model learner, replay
buffer, RNG states, statistics); ``--resume`` continues the run in its folder from there, so a killed run
ends as an uninterrupted one would.
"""

from __future__ import annotations

import json
import os
import time

import torch

from ..launch import (
    RUN_INFO_FILE, UserError, check_checkpoint, checkpoint_iteration, dump_configs, find_checkpoint, log_root,
    make_runner, open_real_env, real_transitions_at,
)  # fmt: skip
from ..envs.divergence import state_bounds_from_data, state_bounds_from_stats
from ..envs.imagination import ImaginationEnv
from ..envs.mdp import TaskSpec
from ..layout import RobotLayout
from ..tasks import experiment_name, layout_of, with_stage
from ..world_model import distributed
from ..world_model.data import DatasetError, TransitionStore, load_dataset, write_npz
from ..world_model.files import write_json
from ..world_model.replay_buffer import ReplayBuffer
from ..world_model.stepper import ModelStepper
from ..world_model.checkpoint import load_checkpoint
from .mixed_windows import MixedWindows
from .recorder import TransitionRecorder, buffer_to_dataset
from .stage_state import WORLD_MODEL_FILE, StageState, real_env_generators
from .vec_envs import RolloutHookEnv
from .world_model_learner import WorldModelLearner, new_model, train_config

DATASET_FILE = "dataset.npz"


def chained_transitions(policy_path: str, dataset: str | None, dataset_rows: int) -> int:
    """Real transitions a Finetune run's policy already used beyond this run's dataset: a checkpoint of
    another Finetune run brings that run's count up to it (its dataset counted once when it is this run's
    too); any other checkpoint brings none (the data policy's own training is not the model-based cost)."""
    info_path = os.path.join(os.path.dirname(os.path.abspath(policy_path)), RUN_INFO_FILE)
    it = checkpoint_iteration(policy_path)
    if it is None or not os.path.isfile(info_path):
        return 0
    with open(info_path) as f:
        info = json.load(f)
    if info.get("stage") != "Finetune":
        return 0
    used = real_transitions_at(info, it)
    same = bool(dataset and info.get("dataset")) and os.path.abspath(dataset) == os.path.abspath(info["dataset"])
    return used - dataset_rows if same else used


def history_sampler(source, history: int, generator: torch.Generator):
    """Reset windows for imagination: ``history`` states with the actions applied at them.

    A data row holds a state and the *last* applied action (the one that led to it), so the action applied
    at state ``t`` is the action column of row ``t + 1``; windows therefore need ``history + 1`` rows.
    """

    def sample(n: int):
        batch = source.sample(n, generator)
        return batch.states[:, :history], batch.actions[:, 1 : history + 1]

    return sample


def make_imagination(spec, layout, model, sample, agent_cfg, bounds, seed):
    im = agent_cfg.imagination
    num_envs = distributed.local_share(im.num_envs)  # under torch.distributed the ranks split the imagined envs
    generator = torch.Generator(device=agent_cfg.device).manual_seed(seed)
    stepper = ModelStepper(model.to(agent_cfg.device).eval(), num_envs, generator=generator)
    return ImaginationEnv(
        spec, layout, stepper, sample, num_envs, max_episode_length=im.max_episode_length, device=agent_cfg.device,
        uncertainty_penalty=im.uncertainty_penalty, uncertainty_reference=im.uncertainty_reference,
        termination_threshold=im.termination_threshold, fall_tilt=im.fall_tilt or None,
        state_bounds=bounds, clip_actions=agent_cfg.clip_actions, seed=seed,
    )  # fmt: skip


def load_world_model(path: str | None, layout: RobotLayout, what: str):
    if not path:
        raise UserError(f"{what} needs a world-model checkpoint: pass --world_model FILE")
    if not os.path.isfile(path):
        raise UserError(f"world-model checkpoint '{path}' does not exist")
    try:
        return load_checkpoint(path, layout)
    except (ValueError, KeyError, RuntimeError) as err:
        raise UserError(str(err)) from err


def _write_run_files(log_dir: str, env_cfg, agent_cfg, spec: TaskSpec, info: dict, state: StageState,
                     resumed: dict) -> None:  # fmt: skip
    """Configs, task spec and run facts of a new run; a resumed run keeps its own and records the resume."""
    if not distributed.is_main():
        return
    path = os.path.join(log_dir, RUN_INFO_FILE)
    if state.resuming and os.path.isfile(path):
        with open(path) as f:
            info = json.load(f)
        info.setdefault("resumes", []).append(resumed)
    else:
        dump_configs(log_dir, env_cfg, agent_cfg)
        write_json(os.path.join(log_dir, "task_spec.json"), spec.to_dict(), indent=1)
    write_json(path, info, indent=1)


def _real_env(args, env_cfg, agent_cfg):
    """The real env (Isaac Lab or MuJoCo), reporting terminal observations for the world model's rows."""
    env_cfg.compute_final_obs = True
    return open_real_env(args, env_cfg, agent_cfg)


# --- Pretrain ----------------------------------------------------------------------------------------------
def pretrain(args, env_cfg, agent_cfg, log_dir, resume_path) -> int:
    layout, wm = layout_of(args.task), agent_cfg.world_model
    spec = TaskSpec.from_env_cfg(env_cfg, task=args.task)
    config = train_config(wm, agent_cfg.seed)
    state = StageState.begin("Pretrain", log_dir, resuming=bool(args.resume))
    saved = state.world_model(layout)
    with _real_env(args, env_cfg, agent_cfg) as env:
        buffer = ReplayBuffer(layout, env.num_envs, wm.replay_capacity_per_env, config.window + 1, agent_cfg.device)
        model = (saved.model if saved else new_model(layout, wm, agent_cfg.seed)).to(agent_cfg.device)
        learner = WorldModelLearner(layout, model, config, buffer, wm.updates_per_iteration, fitted=False)
        learner.load_trainer_state(saved.trainer_state if saved else None)
        state.learner, state.buffer, state.generators = learner, buffer, real_env_generators(env)
        state.world_model_extra = {"task_spec": spec.to_dict()}
        state.restore_buffer()
        # the model trains on an iteration's real rows at the start of the next rollout
        state.counters.setdefault("world_model_data_through", -1)
        recorder = TransitionRecorder(buffer, layout)
        runner = None

        def train_world_model(through: int) -> bool:
            if state.counters["world_model_data_through"] >= through:
                return False
            learner.update()
            state.counters["world_model_data_through"] = through
            return True

        def before_rollout(it: int) -> None:
            if train_world_model(it - 1):
                learner.log_to(runner.logger.writer, it)

        vec = RolloutHookEnv(env, agent_cfg.num_steps_per_env, before_rollout,
                             lambda obs, rew, dones, extras: recorder.record(obs, dones, extras))  # fmt: skip
        runner = make_runner(vec, agent_cfg, log_dir)
        checkpoint = state.checkpoint(resume_path) if resume_path else None
        if checkpoint:
            runner.load(checkpoint, map_location=agent_cfg.device)
        iterations = state.start(runner, agent_cfg.max_iterations, vec)
        _write_run_files(log_dir, env_cfg, agent_cfg, spec, {"stage": "Pretrain", "task": args.task,
                         "resumed_from": resume_path}, state, state.resume_record(checkpoint))  # fmt: skip
        start = time.time()
        runner.learn(iterations, init_at_random_ep_len=True)
        train_world_model(runner.current_learning_iteration)
        last = runner.current_learning_iteration
        learner.save(os.path.join(log_dir, WORLD_MODEL_FILE), {**state.world_model_extra, "iteration": last})
        if distributed.is_main():  # rank 0's replay data (each rank's buffer holds its own envs' rows)
            write_npz(os.path.join(log_dir, DATASET_FILE), buffer_to_dataset(buffer, args.task))
        print(f"[rwm_tasks] Pretrain: {iterations} iterations, {len(buffer)} real steps in the "
              f"buffer, {time.time() - start:.1f} s; world model and replay data: "
              f"{os.path.join(log_dir, WORLD_MODEL_FILE)}, {DATASET_FILE}")  # fmt: skip
    return 0


# --- Finetune ----------------------------------------------------------------------------------------------
def _default_checkpoint(task: str, agent_cfg, stage: str, pattern: str, what: str) -> str:
    """The latest ``pattern`` file of the same robot's ``stage`` runs (beside this run's experiment folder)."""
    root = os.path.join(os.path.dirname(log_root(agent_cfg)), experiment_name(with_stage(task, stage)))
    try:
        return find_checkpoint(root, None, pattern)
    except UserError as err:
        raise UserError(f"Finetune needs {what}: {err}") from err


def _pretraining_data(args, model_path: str, layout: RobotLayout, window: int, device: str):
    """The dataset the world model was pretrained on: ``--dataset``, else ``dataset.npz`` beside the model."""
    path = args.dataset or os.path.join(os.path.dirname(os.path.abspath(model_path)), DATASET_FILE)
    if not os.path.isfile(path):
        if args.dataset:
            raise UserError(f"dataset '{args.dataset}' does not exist")
        print(f"[rwm_tasks] Finetune: no pretraining data beside {model_path}; the replay buffer starts empty")
        return None, None
    return path, _window_store(path, layout, window, device)


def _window_store(path: str, layout: RobotLayout, window: int, device: str) -> TransitionStore:
    try:
        return TransitionStore(load_dataset(path, layout, min_window=window), window=window, device=device)
    except (DatasetError, FileNotFoundError) as err:
        raise UserError(str(err)) from err


def finetune(args, env_cfg, agent_cfg, log_dir, resume_path) -> int:
    layout, wm, im = layout_of(args.task), agent_cfg.world_model, agent_cfg.imagination
    state = StageState.begin("Finetune", log_dir, resuming=bool(args.resume))
    ckpt = state.world_model(layout)
    if ckpt is not None:  # a resumed run: its own finetuned model, policy and data
        policy_path, model_path = state.checkpoint(resume_path), state.inputs["world_model"]
    else:
        policy_path = resume_path or _default_checkpoint(args.task, agent_cfg, "Init", r"model_.*\.pt",
                                                         "an Init policy")  # fmt: skip
        check_checkpoint(policy_path)
        own = os.path.join(log_dir, WORLD_MODEL_FILE) if state.resuming else ""
        own = own if os.path.isfile(own) else None  # a resumed run without saved state: its own model if any
        model_path = args.world_model or own or wm.checkpoint or _default_checkpoint(
            args.task, agent_cfg, "Pretrain", WORLD_MODEL_FILE, "a pretrained world model (--world_model FILE)")  # fmt: skip
        ckpt = load_world_model(model_path, layout, "Finetune")
    ckpt.model.to(agent_cfg.device)  # before its optimizer state is loaded
    spec = TaskSpec.from_env_cfg(env_cfg, task=args.task)
    config = ckpt.train_config or train_config(wm, agent_cfg.seed)
    if state.saved:
        data_path = state.inputs.get("dataset")
        pretraining = _window_store(data_path, layout, config.window + 1, agent_cfg.device) if data_path else None
    else:
        data_path, pretraining = _pretraining_data(args, model_path, layout, config.window + 1, agent_cfg.device)
    state.inputs = {"policy": policy_path, "world_model": model_path, "dataset": data_path, **state.inputs}
    with _real_env(args, env_cfg, agent_cfg) as real:
        buffer = ReplayBuffer(layout, real.num_envs, wm.replay_capacity_per_env, config.window + 1, agent_cfg.device)
        # pretraining data stays in every model batch and imagination reset, beside the new real rows
        source = buffer if pretraining is None else MixedWindows(
            [pretraining, buffer], [wm.pretraining_data_share, 1.0 - wm.pretraining_data_share])  # fmt: skip
        learner = WorldModelLearner(layout, ckpt.model, config, source, wm.updates_per_iteration, fitted=True)
        learner.load_trainer_state(ckpt.trainer_state)  # shipped models carry no optimizer state
        state.learner, state.buffer, state.world_model_extra = learner, buffer, {"task_spec": spec.to_dict()}
        state.restore_buffer()
        recorder = TransitionRecorder(buffer, layout)
        real_obs = {"obs": real.get_observations(), "reward": torch.zeros(real.num_envs)}
        real_return, real_terminated = [], []

        def collect(steps: int) -> None:
            """Real steps with the current policy (stochastic, as PPO acts) into the buffer."""
            policy = runner.alg.get_policy() if runner is not None else None
            for _ in range(steps):
                obs = real_obs["obs"]
                with torch.inference_mode():
                    actions = policy(obs.to(agent_cfg.device), stochastic_output=True) if policy else \
                        torch.zeros(real.num_envs, real.num_actions)  # fmt: skip
                obs, rew, dones, extras = real.step(actions.to(real.device))
                recorder.record(obs, dones, extras)
                real_return.append(float(rew.mean()))
                real_terminated.append(float((dones.bool() & ~extras["time_outs"].bool()).float().mean()))
                real_obs["obs"] = obs

        runner = None
        if pretraining is None and not state.saved:
            collect(buffer.window)  # standing still (no policy yet): enough rows for the first reset windows
        history = torch.Generator(device=agent_cfg.device).manual_seed(agent_cfg.seed)
        bounds = state_bounds_from_stats(ckpt.model.state_norm.mean, ckpt.model.state_norm.std)
        imagination = make_imagination(spec, layout, ckpt.model, history_sampler(source, config.history, history),
                                       agent_cfg, bounds, agent_cfg.seed)  # fmt: skip
        state.imagination = imagination
        state.generators = {**_imagination_generators(imagination, history), **real_env_generators(real)}

        def before_rollout(it: int) -> None:
            real_return.clear()
            real_terminated.clear()
            collect(im.real_steps_per_iteration)
            learner.update()
            writer = runner.logger.writer
            learner.log_to(writer, it)
            if writer is not None:  # beside Imagination/terminated: the real per-step termination rate
                writer.add_scalar("Real/mean_step_reward", sum(real_return) / max(len(real_return), 1), it)
                writer.add_scalar("Real/terminated", sum(real_terminated) / max(len(real_terminated), 1), it)

        vec = RolloutHookEnv(imagination, agent_cfg.num_steps_per_env, before_rollout)
        runner = make_runner(vec, agent_cfg, log_dir)
        runner.load(policy_path, map_location=agent_cfg.device)
        if not state.saved:
            collect(buffer.window)  # the loaded policy's own data, then restart imagination from it
            imagination.reset()
        iterations = state.start(runner, agent_cfg.max_iterations, vec)
        print(f"[rwm_tasks] Finetune: policy {policy_path}, world model {model_path}, pretraining data {data_path}")
        rows = len(pretraining) if pretraining is not None else 0
        earlier = 0 if state.resuming else chained_transitions(policy_path, data_path, rows)
        before = rows + len(buffer) + earlier
        _write_run_files(log_dir, env_cfg, agent_cfg, spec, {
            "stage": "Finetune", "task": args.task, "policy": policy_path, "world_model": model_path,
            "dataset": data_path, "real_transitions_before": before,
            "iteration_offset": runner.current_learning_iteration,
            "real_transitions_per_iteration": real.num_envs * im.real_steps_per_iteration,
        }, state, state.resume_record(policy_path))  # fmt: skip
        start = time.time()
        runner.learn(iterations, init_at_random_ep_len=True)
        print(f"[rwm_tasks] Finetune: {iterations} iterations in {time.time() - start:.1f} s; "
              f"{len(buffer)} new real steps; checkpoints in {log_dir}")  # fmt: skip
    return 0


def _imagination_generators(imagination: ImaginationEnv, history: torch.Generator) -> dict:
    """The RNGs of imagination: the env's, the model stepper's and the history-window sampler's."""
    return {"imagination": imagination.generator, "stepper": imagination.stepper.generator, "history": history}


# --- Offline -----------------------------------------------------------------------------------------------
def offline(args, env_cfg, agent_cfg, log_dir, resume_path) -> int:
    layout, im = layout_of(args.task), agent_cfg.imagination
    state = StageState.begin("Offline", log_dir, resuming=bool(args.resume))
    recorded = state.inputs  # a resumed run's own world model and dataset, unless given again
    ckpt = load_world_model(args.world_model or recorded.get("world_model") or agent_cfg.world_model.checkpoint,
                            layout, "Offline training")  # fmt: skip
    dataset = args.dataset or recorded.get("dataset")
    if not dataset:
        raise UserError("Offline training needs a dataset: pass --dataset FILE (.csv or .npz)")
    history = ckpt.train_config.history if ckpt.train_config else agent_cfg.world_model.history_length
    store = _window_store(dataset, layout, history + 1, agent_cfg.device)
    state.inputs = {"world_model": os.path.abspath(ckpt.path), "dataset": os.path.abspath(dataset)}
    spec = TaskSpec.from_env_cfg(env_cfg, task=args.task)
    generator = torch.Generator(device=agent_cfg.device).manual_seed(agent_cfg.seed)
    bounds = state_bounds_from_data(store.normalization_tensors()["states"])
    imagination = make_imagination(spec, layout, ckpt.model, history_sampler(store, history, generator), agent_cfg,
                                   bounds, agent_cfg.seed)  # fmt: skip
    state.imagination, state.generators = imagination, _imagination_generators(imagination, generator)
    runner = make_runner(imagination, agent_cfg, log_dir)
    checkpoint = state.checkpoint(resume_path) if resume_path else None
    if checkpoint:
        runner.load(checkpoint, map_location=agent_cfg.device)
    iterations = state.start(runner, agent_cfg.max_iterations)
    _write_run_files(log_dir, env_cfg, agent_cfg, spec, {
        "stage": "Offline", "task": args.task, "world_model": ckpt.path, "dataset": os.path.abspath(dataset),
        "resumed_from": resume_path, "real_transitions_before": len(store), "real_transitions_per_iteration": 0,
    }, state, state.resume_record(checkpoint))  # fmt: skip
    start = time.time()
    runner.learn(iterations, init_at_random_ep_len=True)
    print(f"[rwm_tasks] Offline: {iterations} iterations on {im.num_envs} imagined envs in "
          f"{time.time() - start:.1f} s; checkpoints in {log_dir}")  # fmt: skip
    return 0
