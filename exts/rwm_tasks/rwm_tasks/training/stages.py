"""The model-based stages on stock rsl-rl:

- Pretrain: PPO on the real env; every real transition enters a replay buffer and the world model trains
  on it each iteration. Checkpoints: the runner's ``model_<it>.pt`` and ``world_model.pt``.
- Finetune (MBPO-PPO): resume a policy and a pretrained model; each iteration a few real envs add real steps
  to the buffer, the model trains on it, and PPO learns on imagined rollouts (:class:`ImaginationEnv`).
- Offline (MOPO-PPO): a frozen ensemble and a dataset file, no simulator; PPO on imagination with the
  uncertainty-penalised reward.
"""

from __future__ import annotations

import json
import os
import time

import torch

from ..launch import (
    UserError, check_checkpoint, dump_configs, find_checkpoint, log_root, make_runner, open_real_env,
)  # fmt: skip
from ..envs.divergence import state_bounds_from_data, state_bounds_from_stats
from ..envs.imagination import ImaginationEnv
from ..envs.mdp import TaskSpec
from ..layout import RobotLayout
from ..tasks import experiment_name, layout_of, with_stage
from ..world_model import distributed
from ..world_model.data import DatasetError, TransitionStore, load_dataset, write_npz
from ..world_model.replay_buffer import ReplayBuffer
from ..world_model.stepper import ModelStepper
from ..world_model.train import load_checkpoint
from .mixed_windows import MixedWindows
from .recorder import TransitionRecorder, buffer_to_dataset
from .vec_envs import RolloutHookEnv
from .world_model_learner import WorldModelLearner, new_model, train_config

WORLD_MODEL_FILE = "world_model.pt"
DATASET_FILE = "dataset.npz"


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
        uncertainty_penalty=im.uncertainty_penalty, termination_threshold=im.termination_threshold,
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


def _save_run_info(log_dir: str, spec: TaskSpec, info: dict) -> None:
    if not distributed.is_main():
        return
    os.makedirs(log_dir, exist_ok=True)
    with open(os.path.join(log_dir, "task_spec.json"), "w") as f:
        json.dump(spec.to_dict(), f, indent=1)
    with open(os.path.join(log_dir, "rwm_run.json"), "w") as f:
        json.dump(info, f, indent=1)


def _real_env(args, env_cfg, agent_cfg):
    """The real env (Isaac Lab or MuJoCo), reporting terminal observations for the world model's rows."""
    env_cfg.compute_final_obs = True
    return open_real_env(args, env_cfg, agent_cfg)


# --- Pretrain ----------------------------------------------------------------------------------------------
def pretrain(args, env_cfg, agent_cfg, log_dir, resume_path) -> int:
    layout, wm = layout_of(args.task), agent_cfg.world_model
    spec = TaskSpec.from_env_cfg(env_cfg, task=args.task)
    config = train_config(wm, agent_cfg.seed)
    with _real_env(args, env_cfg, agent_cfg) as env:
        buffer = ReplayBuffer(layout, env.num_envs, wm.replay_capacity_per_env, config.window + 1, agent_cfg.device)
        learner = WorldModelLearner(layout, new_model(layout, wm, agent_cfg.seed), config, buffer,
                                    wm.updates_per_iteration, fitted=False)  # fmt: skip
        recorder = TransitionRecorder(buffer, layout)
        runner = None

        def before_rollout(it: int) -> None:
            if it == 0:
                return
            learner.update()
            learner.log_to(runner.logger.writer, it - 1)
            if (it - 1) % agent_cfg.save_interval == 0:
                learner.save(os.path.join(log_dir, WORLD_MODEL_FILE), {"task_spec": spec.to_dict(), "iteration": it})

        vec = RolloutHookEnv(env, agent_cfg.num_steps_per_env, before_rollout,
                             lambda obs, rew, dones, extras: recorder.record(obs, dones, extras))  # fmt: skip
        runner = make_runner(vec, agent_cfg, log_dir)
        if resume_path:
            runner.load(resume_path, map_location=agent_cfg.device)
        dump_configs(log_dir, env_cfg, agent_cfg)
        _save_run_info(log_dir, spec, {"stage": "Pretrain", "task": args.task, "resumed_from": resume_path})
        start = time.time()
        runner.learn(agent_cfg.max_iterations, init_at_random_ep_len=True)
        learner.update()
        learner.save(os.path.join(log_dir, WORLD_MODEL_FILE), {"task_spec": spec.to_dict(), "iteration": runner.current_learning_iteration})
        if distributed.is_main():  # rank 0's replay data (each rank's buffer holds its own envs' rows)
            write_npz(os.path.join(log_dir, DATASET_FILE), buffer_to_dataset(buffer, args.task))
        print(f"[rwm_tasks] Pretrain: {agent_cfg.max_iterations} iterations, {len(buffer)} real steps in the "
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
    try:
        return path, TransitionStore(load_dataset(path, layout, min_window=window), window=window, device=device)
    except DatasetError as err:
        raise UserError(str(err)) from err


def finetune(args, env_cfg, agent_cfg, log_dir, resume_path) -> int:
    layout, wm, im = layout_of(args.task), agent_cfg.world_model, agent_cfg.imagination
    policy_path = resume_path or _default_checkpoint(args.task, agent_cfg, "Init", r"model_.*\.pt", "an Init policy")
    check_checkpoint(policy_path)
    model_path = args.world_model or wm.checkpoint or _default_checkpoint(
        args.task, agent_cfg, "Pretrain", WORLD_MODEL_FILE, "a pretrained world model (--world_model FILE)")  # fmt: skip
    ckpt = load_world_model(model_path, layout, "Finetune")
    spec = TaskSpec.from_env_cfg(env_cfg, task=args.task)
    config = ckpt.train_config or train_config(wm, agent_cfg.seed)
    data_path, pretraining = _pretraining_data(args, model_path, layout, config.window + 1, agent_cfg.device)
    with _real_env(args, env_cfg, agent_cfg) as real:
        buffer = ReplayBuffer(layout, real.num_envs, wm.replay_capacity_per_env, config.window + 1, agent_cfg.device)
        # pretraining data stays in every model batch and imagination reset, beside the new real rows
        source = buffer if pretraining is None else MixedWindows(
            [pretraining, buffer], [wm.pretraining_data_share, 1.0 - wm.pretraining_data_share])  # fmt: skip
        learner = WorldModelLearner(layout, ckpt.model, config, source, wm.updates_per_iteration, fitted=True)
        if ckpt.trainer_state and "optimizer" in ckpt.trainer_state:  # shipped models carry no optimizer state
            learner.trainer.load_state_dict(ckpt.trainer_state)
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
        if pretraining is None:
            collect(buffer.window)  # standing still (no policy yet): enough rows for the first reset windows
        sample = history_sampler(source, config.history, torch.Generator(device=agent_cfg.device).manual_seed(agent_cfg.seed))
        bounds = state_bounds_from_stats(ckpt.model.state_norm.mean, ckpt.model.state_norm.std)
        imagination = make_imagination(spec, layout, ckpt.model, sample, agent_cfg, bounds, agent_cfg.seed)

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
            if it % agent_cfg.save_interval == 0:
                learner.save(os.path.join(log_dir, WORLD_MODEL_FILE), {"task_spec": spec.to_dict(), "iteration": it})

        vec = RolloutHookEnv(imagination, agent_cfg.num_steps_per_env, before_rollout)
        runner = make_runner(vec, agent_cfg, log_dir)
        runner.load(policy_path, map_location=agent_cfg.device)
        collect(buffer.window)  # the loaded policy's own data, then restart imagination from it
        imagination.reset()
        print(f"[rwm_tasks] Finetune: policy {policy_path}, world model {model_path}, pretraining data {data_path}")
        dump_configs(log_dir, env_cfg, agent_cfg)
        before = (len(pretraining) if pretraining is not None else 0) + len(buffer)
        _save_run_info(log_dir, spec, {
            "stage": "Finetune", "task": args.task, "policy": policy_path, "world_model": model_path,
            "dataset": data_path, "real_transitions_before": before,
            "iteration_offset": runner.current_learning_iteration,
            "real_transitions_per_iteration": real.num_envs * im.real_steps_per_iteration,
        })  # fmt: skip
        start = time.time()
        runner.learn(agent_cfg.max_iterations, init_at_random_ep_len=True)
        learner.save(os.path.join(log_dir, WORLD_MODEL_FILE), {"task_spec": spec.to_dict(), "iteration": runner.current_learning_iteration})
        print(f"[rwm_tasks] Finetune: {agent_cfg.max_iterations} iterations in {time.time() - start:.1f} s; "
              f"{len(buffer)} new real steps; checkpoints in {log_dir}")  # fmt: skip
    return 0


# --- Offline -----------------------------------------------------------------------------------------------
def offline(args, env_cfg, agent_cfg, log_dir, resume_path) -> int:
    layout, im = layout_of(args.task), agent_cfg.imagination
    ckpt = load_world_model(args.world_model or agent_cfg.world_model.checkpoint, layout, "Offline training")
    if not args.dataset:
        raise UserError("Offline training needs a dataset: pass --dataset FILE (.csv or .npz)")
    history = ckpt.train_config.history if ckpt.train_config else agent_cfg.world_model.history_length
    try:
        data = load_dataset(args.dataset, layout, min_window=history + 1)
        store = TransitionStore(data, window=history + 1, device=agent_cfg.device)
    except (DatasetError, FileNotFoundError) as err:
        raise UserError(str(err)) from err
    spec = TaskSpec.from_env_cfg(env_cfg, task=args.task)
    generator = torch.Generator(device=agent_cfg.device).manual_seed(agent_cfg.seed)
    bounds = state_bounds_from_data(store.normalization_tensors()["states"])
    imagination = make_imagination(spec, layout, ckpt.model, history_sampler(store, history, generator), agent_cfg,
                               bounds, agent_cfg.seed)  # fmt: skip
    runner = make_runner(imagination, agent_cfg, log_dir)
    if resume_path:
        runner.load(resume_path, map_location=agent_cfg.device)
    dump_configs(log_dir, env_cfg, agent_cfg)
    _save_run_info(log_dir, spec, {
        "stage": "Offline", "task": args.task, "world_model": ckpt.path, "dataset": os.path.abspath(args.dataset),
        "resumed_from": resume_path, "real_transitions_before": len(store), "real_transitions_per_iteration": 0,
    })  # fmt: skip
    start = time.time()
    runner.learn(agent_cfg.max_iterations, init_at_random_ep_len=True)
    print(f"[rwm_tasks] Offline: {agent_cfg.max_iterations} iterations on {im.num_envs} imagined envs in "
          f"{time.time() - start:.1f} s; checkpoints in {log_dir}")  # fmt: skip
    return 0
