"""rwm_tasks: Robotic World Model (RWM) and RWM-U tasks for Isaac Lab 3 and stock rsl-rl.

Importing the package registers the gym ids ``RWM-{AnymalD,Go2}-{Init,Pretrain,Finetune,Offline,Play}-v0``.
Registration uses string entry points only, so ``import rwm_tasks`` does not import Isaac Lab; the world
model (``rwm_tasks.world_model``) is pure PyTorch.
"""

__version__ = "0.1.0"

from . import envs  # noqa: F401  (registers the task ids)
