"""ANYmal D RWM tasks: Isaac Lab 3.0's flat ANYmal D velocity task plus :func:`apply_rwm` per stage."""

from isaaclab.utils import configclass

from isaaclab_tasks.core.velocity.config.anymal_d.flat_env_cfg import AnymalDFlatEnvCfg

from ....layout import ANYMAL_D
from ...rwm_env_cfg import apply_rwm


@configclass
class AnymalDInitEnvCfg(AnymalDFlatEnvCfg):
    stage = "Init"

    def __post_init__(self):
        super().__post_init__()
        apply_rwm(self, ANYMAL_D, self.stage)


@configclass
class AnymalDPretrainEnvCfg(AnymalDInitEnvCfg):
    stage = "Pretrain"


@configclass
class AnymalDFinetuneEnvCfg(AnymalDInitEnvCfg):
    stage = "Finetune"


@configclass
class AnymalDOfflineEnvCfg(AnymalDInitEnvCfg):
    stage = "Offline"


@configclass
class AnymalDPlayEnvCfg(AnymalDInitEnvCfg):
    stage = "Play"
