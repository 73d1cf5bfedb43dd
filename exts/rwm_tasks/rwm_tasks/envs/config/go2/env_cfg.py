"""Unitree Go2 RWM tasks: Isaac Lab 3.0's flat Go2 velocity task plus :func:`apply_rwm` per stage."""

from isaaclab.utils import configclass

from isaaclab_tasks.core.velocity.config.go2.flat_env_cfg import UnitreeGo2FlatEnvCfg

from ....layout import GO2
from ...rwm_env_cfg import apply_rwm


@configclass
class Go2InitEnvCfg(UnitreeGo2FlatEnvCfg):
    stage = "Init"

    def __post_init__(self):
        super().__post_init__()
        apply_rwm(self, GO2, self.stage)


@configclass
class Go2PretrainEnvCfg(Go2InitEnvCfg):
    stage = "Pretrain"


@configclass
class Go2FinetuneEnvCfg(Go2InitEnvCfg):
    stage = "Finetune"


@configclass
class Go2OfflineEnvCfg(Go2InitEnvCfg):
    stage = "Offline"


@configclass
class Go2PlayEnvCfg(Go2InitEnvCfg):
    stage = "Play"
