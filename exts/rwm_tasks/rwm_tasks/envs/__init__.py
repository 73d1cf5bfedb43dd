"""The RWM tasks on Isaac Lab's velocity task, and the executors that run them.

* ``config/<robot>/``: the gym ids of each robot (registered by ``import rwm_tasks``) and its named stage
  configs; :mod:`.rwm_env_cfg`: what RWM adds to Isaac Lab's flat velocity configs.
* :mod:`.mdp`: the task logic as plain tensor code (spec, observations, commands, actions, terminations,
  rewards), shared by both executors.
* :mod:`.imagination`: :class:`~.imagination.ImaginationEnv`, the task on a learned world model;
  :mod:`.mujoco`: :class:`~.mujoco.env.MujocoVecEnv`, the task on plain MuJoCo.
* :mod:`.assets`: official or stand-in robot assets, chosen when an env is launched.
"""
