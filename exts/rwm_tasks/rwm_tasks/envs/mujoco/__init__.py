"""Plain-MuJoCo executor of the RWM tasks: the same env cfgs, two orders of magnitude faster on a CPU.

* :class:`MujocoVecEnv` (``env.py``): rsl-rl ``VecEnv`` running a task's Isaac Lab env cfg on ``mujoco.batch``;
  :func:`make_env` (``tasks.py``) builds it from a task id.
* :func:`record` (``video.py``): roll a policy out and write an mp4 (offscreen EGL) and a velocity plot.
* ``benchmark.py``: env-steps/s vs Isaac Lab; ``reference.py``: the Isaac Lab env it is checked against.

Needs ``mujoco>=4.0`` (``mujoco.batch``); submodules import it lazily so ``import rwm_tasks`` does not.
"""

from __future__ import annotations


def __getattr__(name):
    if name == "MujocoVecEnv":
        from .env import MujocoVecEnv

        return MujocoVecEnv
    if name == "make_env":
        from .tasks import make_env

        return make_env
    if name == "record":
        from .video import record

        return record
    raise AttributeError(name)
