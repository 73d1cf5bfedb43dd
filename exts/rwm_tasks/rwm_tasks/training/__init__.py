"""Model-based training stages (Pretrain, Finetune, Offline) driving stock rsl-rl's ``OnPolicyRunner``."""

from __future__ import annotations


def run_stage(stage: str, args, env_cfg, agent_cfg, log_dir: str, resume_path: str | None) -> int:
    """Run ``stage`` of ``args.task``; the Init stage is plain PPO in :mod:`rwm_tasks.cli.train`."""
    from . import stages

    runners = {"Pretrain": stages.pretrain, "Finetune": stages.finetune, "Offline": stages.offline}
    return runners[stage](args, env_cfg, agent_cfg, log_dir, resume_path)
