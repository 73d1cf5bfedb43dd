"""What the MuJoCo executor's observation groups read: the robot state snapshot and the ``system_*`` terms.

Policy and critic terms are the shared ones (:mod:`rwm_tasks.envs.mdp.observations`), read from
:class:`SimObsInputs`. The world-model groups (``system_*``) also use terms only a simulator can evaluate
(:func:`system_terms`): binary contacts over the contact sensor's history, the base-contact flag and the
base height.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..mdp.names import scene_entity
from ..mdp.observations import Binder, ObsInputs


@dataclass
class SimState:
    """Robot state of all envs, float32 tensors, joints in layout order (Isaac Lab's conventions)."""

    root_pos: torch.Tensor  # [E, 3] world
    root_quat: torch.Tensor  # [E, 4] (w, x, y, z)
    lin_vel_b: torch.Tensor  # [E, 3] centre-of-mass velocity in the base frame
    ang_vel_b: torch.Tensor  # [E, 3]
    projected_gravity: torch.Tensor  # [E, 3]
    heading: torch.Tensor  # [E]
    joint_pos: torch.Tensor  # [E, J] absolute
    joint_vel: torch.Tensor  # [E, J]


@dataclass
class SimObsInputs(ObsInputs):
    """:class:`ObsInputs` plus the root position the ``base_height`` term reads."""

    root_pos: torch.Tensor | None = None


def system_terms(env) -> dict[str, Binder]:
    """Binders of the simulator-only observation terms of ``env`` (a :class:`MujocoVecEnv`)."""

    def contacts(params, any_body: bool):
        ids = env.index.bodies(scene_entity(params, "sensor_cfg").get("body_names") or ".*", "sensor_cfg")
        threshold = float(params.get("threshold", 1.0))
        if any_body:
            return lambda x: (env.contact_history[:, :, ids].amax(dim=(1, 2)) > threshold).float().unsqueeze(1)
        return lambda x: (env.contact_history[:, :, ids].amax(dim=1) > threshold).float()

    return {
        "contact_flags": lambda params, ctx: contacts(params, any_body=False),
        "any_contact": lambda params, ctx: contacts(params, any_body=True),
        "base_height": lambda params, ctx: (lambda x: x.root_pos[:, 2:3]),
    }
