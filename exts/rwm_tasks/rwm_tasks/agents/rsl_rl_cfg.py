"""rsl-rl runner configs of the RWM stages, extending Isaac Lab's flat PPO configs of each robot.

Besides stock rsl-rl settings (``actor``/``critic``/``algorithm``/``obs_groups``) each runner carries the
world-model and imagination settings the model-based stages use. The uncertainty penalty is applied as

    penalised reward = reward - uncertainty_penalty * max(epistemic_uncertainty - uncertainty_reference, 0),

so 0 disables it (RWM / MBPO-PPO) and larger values make the policy avoid states the ensemble disagrees on
(RWM-U / MOPO-PPO). rsl-rl ignores keys it does not know, so these extra groups pass through untouched.
"""

from __future__ import annotations

from isaaclab.utils import configclass

from isaaclab_tasks.core.velocity.config.anymal_d.agents.rsl_rl_ppo_cfg import AnymalDFlatPPORunnerCfg
from isaaclab_tasks.core.velocity.config.go2.agents.rsl_rl_ppo_cfg import UnitreeGo2FlatPPORunnerCfg

from ..tasks import experiment_name, robot_task
from ..world_model.train import TrainConfig


@configclass
class WorldModelCfg:
    """Ensemble recurrent world model and its training; the trainer's defaults are
    :class:`rwm_tasks.world_model.train.TrainConfig`'s, so every entry point starts from the same values."""

    ensemble_size: int = 5
    """B heads on one recurrent base; 1 is plain RWM."""
    history_length: int = TrainConfig.history
    """M: steps the recurrent base consumes before forecasting."""
    forecast_horizon: int = TrainConfig.forecast
    """N: autoregressive forecast steps in the training loss."""
    rnn_hidden_dim: int = 256
    rnn_num_layers: int = 2
    head_hidden_dims: list[int] = [128]
    learning_rate: float = TrainConfig.learning_rate
    weight_decay: float = TrainConfig.weight_decay
    batch_size: int = TrainConfig.batch_size
    grad_clip: float = TrainConfig.grad_clip
    loss: str = TrainConfig.loss
    """'mse_nll' (the mean by squared error, the std by likelihood of one-step errors), 'nll' or 'mse'."""
    step_weight_decay: float = TrainConfig.alpha
    """alpha: weight alpha**k of forecast step k (1: plain mean)."""
    mirror: bool = TrainConfig.mirror
    """Also train on left-right mirrored windows (half of each batch)."""
    updates_per_iteration: int = 10
    """Gradient steps on the world model per runner iteration (online stages)."""
    replay_capacity_per_env: int = 1000
    """Replay buffer steps kept per real env (online stages)."""
    pretraining_data_share: float = 0.5
    """Finetune: share of each model batch and imagination reset drawn from the pretraining dataset."""
    checkpoint: str | None = None
    """Pretrained world model for Finetune/Offline (``--world_model`` overrides)."""


@configclass
class ImaginationCfg:
    """Imagined rollouts the policy learns on (Finetune and Offline)."""

    num_envs: int = 8192
    max_episode_length: int = 48
    """Imagined episode length in steps before a time-out (PPO bootstraps the value there). Short branches
    from real history windows keep the model near its data: with 48 steps the Go2 data policy's imagined
    reward per second was within 8 % of its real one (the reference's 256 steps drift far from the data)."""
    uncertainty_penalty: float = 0.0
    """lambda >= 0 of the penalised reward (module docstring)."""
    uncertainty_reference: float = 0.0
    """u0 >= 0: only uncertainty above it is penalised, ``lambda * max(u - u0, 0)``. Our u has a floor (a sum
    over every state dimension) that is lower for standing than for walking, so a strong plain penalty also
    pays for standing still; u0 (e.g. the data policy's mean u in imagination) removes that pay. 0: the
    papers' ``lambda * u``."""
    termination_threshold: float = 0.5
    """Predicted termination probability above which an imagined env terminates."""
    fall_tilt: float = 0.0
    """Base tilt (rad) at which an imagined episode ends as a fall (the task's ``bad_orientation`` term); 0:
    the task's own limit."""
    real_steps_per_iteration: int = 24
    """Finetune: real env steps collected into the replay buffer per iteration."""


INIT_ACTION_STD = 0.5
"""Initial std of the policy's Gaussian actions (Isaac Lab's flat configs start at 1.0)."""


def _rwm_runner(base, robot: str, stage: str, **overrides):
    """Subclass ``base`` with the RWM groups, stage name and experiment name."""

    stage_name = stage

    @configclass
    class Runner(base):
        stage: str = stage_name
        """RWM stage: Init, Pretrain, Finetune, Offline or Play."""
        world_model: WorldModelCfg = WorldModelCfg()
        imagination: ImaginationCfg = ImaginationCfg()

        def __post_init__(self):
            super().__post_init__()
            self.experiment_name = experiment_name(robot_task(robot, stage))
            # exploration: half Isaac Lab's initial action std, so early random actions (action x scale around
            # the default pose) cost less in action-rate, torque and body-rate penalties and fall less
            self.actor.distribution_cfg.init_std = INIT_ACTION_STD
            for key, value in overrides.items():
                group, _, field = key.partition("__")
                target = getattr(self, group) if field else self
                setattr(target, field or group, value)

    Runner.__name__ = Runner.__qualname__ = f"{robot.title().replace('_', '')}{stage}RunnerCfg"
    return Runner


# --- Go2 ---------------------------------------------------------------------------------------------------
Go2InitRunnerCfg = _rwm_runner(UnitreeGo2FlatPPORunnerCfg, "go2", "Init")
Go2PretrainRunnerCfg = _rwm_runner(UnitreeGo2FlatPPORunnerCfg, "go2", "Pretrain")
Go2FinetuneRunnerCfg = _rwm_runner(UnitreeGo2FlatPPORunnerCfg, "go2", "Finetune")
Go2OfflineRunnerCfg = _rwm_runner(
    UnitreeGo2FlatPPORunnerCfg, "go2", "Offline",
    imagination__uncertainty_penalty=1.0, world_model__learning_rate=1.0e-4, max_iterations=500,
)  # fmt: skip
Go2PlayRunnerCfg = _rwm_runner(UnitreeGo2FlatPPORunnerCfg, "go2", "Play")

# --- ANYmal D ----------------------------------------------------------------------------------------------
AnymalDInitRunnerCfg = _rwm_runner(AnymalDFlatPPORunnerCfg, "anymal_d", "Init")
AnymalDPretrainRunnerCfg = _rwm_runner(AnymalDFlatPPORunnerCfg, "anymal_d", "Pretrain")
AnymalDFinetuneRunnerCfg = _rwm_runner(AnymalDFlatPPORunnerCfg, "anymal_d", "Finetune")
AnymalDOfflineRunnerCfg = _rwm_runner(
    AnymalDFlatPPORunnerCfg, "anymal_d", "Offline",
    imagination__uncertainty_penalty=1.0, world_model__learning_rate=1.0e-4, max_iterations=500,
)  # fmt: skip
AnymalDPlayRunnerCfg = _rwm_runner(AnymalDFlatPPORunnerCfg, "anymal_d", "Play")
