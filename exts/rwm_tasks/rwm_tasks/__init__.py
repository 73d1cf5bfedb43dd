"""rwm_tasks: Robotic World Model (RWM) and RWM-U tasks for Isaac Lab 3 and stock rsl-rl.

Importing the package registers the gym ids ``RWM-{AnymalD,Go2}-{Init,Pretrain,Finetune,Offline,Play}-v0``
(at once if gymnasium is imported, else as soon as it is). Registration uses string entry points only, so
``import rwm_tasks`` imports neither Isaac Lab nor gymnasium; the world model (``rwm_tasks.world_model``)
is pure PyTorch.
"""

__version__ = "0.1.0"

from .envs.registration import register_on_gymnasium_import

register_on_gymnasium_import()
