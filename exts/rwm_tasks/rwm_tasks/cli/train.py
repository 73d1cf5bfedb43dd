"""Train a policy on an RWM task: ``python scripts/train.py --task RWM-Go2-Init-v0``.

Init trains model-free PPO with stock rsl-rl on the Isaac Lab env. The model-based stages (Pretrain,
Finetune, Offline) drive the same stock runner through :mod:`rwm_tasks.training`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from ..launch import (
    UserError, check_checkpoint, dump_configs, find_checkpoint, log_root, make_runner, new_log_dir, open_real_env,
    resolve_configs,
)  # fmt: skip
from ..tasks import stage_of
from .common import add_task_args, run_main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train a policy on an RWM task (Isaac Lab 3 + stock rsl-rl).",
        epilog="Example: python scripts/train.py --task RWM-Go2-Init-v0 --num_envs 16 --max_iterations 2",
    )
    add_task_args(parser)
    parser.add_argument("--max_iterations", type=int, default=None, help="PPO iterations (default: agent cfg).")
    parser.add_argument("--resume", action="store_true",
                        help="Continue a previous run of this experiment (--load_run, default the latest) in its own "
                             "folder, TensorBoard steps continuing. Init: --max_iterations more iterations. "
                             "Pretrain, Finetune, Offline: everything is restored (policy, PPO optimizer, world "
                             "model with its optimizer, replay buffer, RNG states); an interrupted run continues "
                             "to the iteration it was started for, a finished one trains --max_iterations more.")
    parser.add_argument("--load_run", default=None, help="Run folder (name or regex) to resume; default latest.")
    parser.add_argument("--checkpoint", default=None, help="Checkpoint file, or file-name regex within the run.")
    parser.add_argument("--logger", choices=("tensorboard", "wandb"), default="tensorboard", help="Where to log.")
    parser.add_argument("--run_name", default=None, help="Suffix of the run folder and W&B run name.")
    parser.add_argument("--max_minutes", type=float, default=None,
                        help="Init: wall-time budget; training stops at the next iteration and saves its checkpoint.")
    parser.add_argument("--world_model", default=None, help="World-model checkpoint (Finetune, Offline).")
    parser.add_argument("--dataset", default=None, help="Transitions file: Offline's data; Finetune's pretraining data (default: dataset.npz beside the world model).")
    parser.add_argument("--distributed", action="store_true",
                        help="One process per GPU under torchrun (python -m torch.distributed.run "
                             "--nproc_per_node=N scripts/train.py ... --distributed): rsl-rl all-reduces PPO, the "
                             "world model is trained data-parallel, rank 0 writes the run folder.")  # fmt: skip
    return parser


def _distributed_rank(args) -> int:
    """This process's rank under ``--distributed`` (its GPU is ``cuda:<LOCAL_RANK>``, as rsl-rl expects);
    0 otherwise. rsl-rl's multi-GPU path joins an NCCL group, so CUDA is required."""
    from ..runtime import cuda_available
    from ..world_model.distributed import launched_world_size

    world = launched_world_size()
    if not args.distributed:
        if world > 1:
            raise UserError(f"started as {world} processes (WORLD_SIZE): pass --distributed")
        return 0
    if world <= 1:
        raise UserError("--distributed needs several processes: python -m torch.distributed.run "
                        "--nproc_per_node=<GPUs> scripts/train.py ... --distributed")  # fmt: skip
    if not cuda_available():
        raise UserError("--distributed needs CUDA: rsl-rl's multi-GPU PPO uses NCCL, one GPU per process")
    if args.max_minutes is not None:
        raise UserError("--max_minutes cannot be combined with --distributed (ranks would stop apart)")
    args.device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return int(os.environ.get("RANK", "0"))


def check_train_args(args) -> None:
    """The training flags in range and their files present, before anything is built or written."""
    if args.max_iterations is not None and args.max_iterations < 1:
        raise UserError(f"--max_iterations must be a positive integer, got {args.max_iterations}")
    if args.max_minutes is not None and not args.max_minutes > 0:
        raise UserError(f"--max_minutes must be positive, got {args.max_minutes}")
    for flag in ("world_model", "dataset"):
        path = getattr(args, flag)
        if path is not None and not os.path.isfile(path):
            raise UserError(f"--{flag}: file '{path}' does not exist")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Isaac Lab's config resolver reads Hydra overrides from sys.argv: hand it only ours
    sys.argv = sys.argv[:1]
    check_train_args(args)
    rank = _distributed_rank(args)
    env_cfg, agent_cfg, choice = resolve_configs(args)
    agent_cfg.seed += rank  # each rank its own envs and samples (Isaac Lab's train script does the same)
    env_cfg.seed = agent_cfg.seed
    if args.max_iterations is not None:
        agent_cfg.max_iterations = args.max_iterations
    if args.run_name:
        agent_cfg.run_name = args.run_name
    stage = stage_of(args.task)
    if stage == "Play":
        raise UserError(f"'{args.task}' is a play task; use scripts/play.py (or train the Init task)")

    resume_path = None
    if args.resume or args.checkpoint:
        resume_path = find_checkpoint(log_root(agent_cfg), args.load_run, args.checkpoint)
        if stage == "Init" or not args.resume:  # a stage's saved state names the checkpoint it resumes
            check_checkpoint(resume_path)
    if args.logger == "wandb":
        from ..runtime import apply_wandb_env, wandb_settings

        settings = wandb_settings(args.task, stage, args.run_name)
        apply_wandb_env(settings)
        agent_cfg.logger = "wandb"
        agent_cfg.wandb_project = settings["runner"]["wandb_project"]
    log_dir = new_log_dir(agent_cfg)
    if args.resume:
        log_dir = os.path.dirname(resume_path)  # --resume continues the run in its own folder

    if stage == "Init":
        return _train_model_free(args, env_cfg, agent_cfg, log_dir, resume_path)
    from ..training import run_stage

    return run_stage(stage, args, env_cfg, agent_cfg, log_dir, resume_path)


def _train_model_free(args, env_cfg, agent_cfg, log_dir, resume_path) -> int:
    from ..training.stage_state import continue_tensorboard
    from ..training.vec_envs import RolloutHookEnv, TimeBudgetExceeded, deadline_hook

    with open_real_env(args, env_cfg, agent_cfg) as env:
        if args.max_minutes:
            env = RolloutHookEnv(env, agent_cfg.num_steps_per_env, deadline_hook(args.max_minutes))
        runner = make_runner(env, agent_cfg, log_dir)
        if resume_path:
            print(f"[rwm_tasks] resuming from {resume_path}")
            runner.load(resume_path, map_location=agent_cfg.device)
            runner.current_learning_iteration += 1  # the loaded iteration is done: log and save from the next
            continue_tensorboard(runner, runner.current_learning_iteration)
        if not os.path.isdir(os.path.join(log_dir, "params")):
            dump_configs(log_dir, env_cfg, agent_cfg)
        start = time.time()
        try:
            runner.learn(agent_cfg.max_iterations, init_at_random_ep_len=True)
        except TimeBudgetExceeded as stop:
            print(f"[rwm_tasks] {stop}")
            runner.save(os.path.join(log_dir, f"model_{runner.current_learning_iteration}.pt"))
            runner.logger.stop_logging_writer()
        print(f"[rwm_tasks] trained up to iteration {runner.current_learning_iteration} on {args.sim} in "
              f"{time.time() - start:.1f} s; checkpoints in {log_dir}")  # fmt: skip
    return 0


if __name__ == "__main__":
    run_main(main)
