"""Explicit PD actuators of an Isaac Lab articulation cfg, evaluated on numpy arrays each physics step.

Reads ``env_cfg.scene.robot.actuators`` (the values the Isaac Lab env really uses, e.g. the stand-ins'
stiffness) and reproduces Isaac Lab's explicit models: ``IdealPDActuator`` (torque = kp (q* - q) +
kd (0 - qd), clipped to the effort limit) and ``DCMotor`` (the same torque clipped to the four-quadrant
torque-speed curve set by saturation effort, effort limit and velocity limit). Other actuator models
(implicit drives, actuator networks, delays) are refused with the actuator group's name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..mdp.extract import class_name

SUPPORTED = ("IdealPDActuator", "DCMotor")


class ActuatorError(ValueError):
    """The task's actuator cfg asks for something this executor cannot run."""


def _resolve(value, names: Sequence[str], default: float | None, what: str) -> np.ndarray:
    """Per-joint values of a float or {regex: float} parameter (first matching pattern wins)."""
    if value is None:
        if default is None:
            raise ActuatorError(f"{what} is not set")
        return np.full(len(names), float(default))
    if isinstance(value, (int, float)):
        return np.full(len(names), float(value))
    out = []
    for name in names:
        match = [v for k, v in value.items() if re.fullmatch(k, name)]
        if not match:
            if default is None:
                raise ActuatorError(f"{what}: no entry of {list(value)} matches joint '{name}'")
            match = [default]
        out.append(float(match[0]))
    return np.asarray(out)


class PDActuators:
    """Torques of all joints (layout order) from position targets, as Isaac Lab's explicit actuators."""

    def __init__(self, actuators: dict, joint_names: Sequence[str], task: str = "task"):
        n = len(joint_names)
        self.kp, self.kd = np.zeros(n), np.zeros(n)
        self.effort_limit, self.saturation = np.full(n, np.inf), np.full(n, np.inf)
        self.velocity_limit = np.full(n, np.inf)
        self.armature = np.full(n, np.nan)
        self.dc_motor = np.zeros(n, dtype=bool)
        covered = np.zeros(n, dtype=bool)
        for group, cfg in actuators.items():
            kind = class_name(cfg)
            where = f"task '{task}': actuator group '{group}' ({kind})"
            if kind not in SUPPORTED:
                raise ActuatorError(f"{where} is not supported by the MuJoCo executor (supported: {SUPPORTED})")
            exprs = getattr(cfg, "joint_names_expr", [".*"])
            ids = [i for i, j in enumerate(joint_names) if any(re.fullmatch(e, j) for e in exprs) and not covered[i]]
            covered[ids] = True
            names = [joint_names[i] for i in ids]
            for attr in ("friction", "dynamic_friction", "viscous_friction"):
                if np.any(_resolve(getattr(cfg, attr, None), names, 0.0, f"{where} {attr}") != 0.0):
                    raise ActuatorError(f"{where}: joint {attr} is not supported")
            self.kp[ids] = _resolve(cfg.stiffness, names, None, f"{where} stiffness")
            self.kd[ids] = _resolve(cfg.damping, names, None, f"{where} damping")
            effort = getattr(cfg, "actuator_effort_limit", None) or getattr(cfg, "effort_limit", None)
            self.effort_limit[ids] = _resolve(effort, names, np.inf, f"{where} effort limit")
            # armature: the cfg's value; NaN = the robot description's own (applied by the model builder)
            self.armature[ids] = _resolve(getattr(cfg, "armature", None), names, np.nan, f"{where} armature")
            if kind == "DCMotor":
                velocity = getattr(cfg, "actuator_velocity_limit", None) or getattr(cfg, "velocity_limit", None)
                self.saturation[ids] = _resolve(cfg.saturation_effort, names, None, f"{where} saturation effort")
                self.velocity_limit[ids] = _resolve(velocity, names, None, f"{where} velocity limit")
                self.dc_motor[ids] = True
        if not covered.all():
            missing = [j for j, c in zip(joint_names, covered) if not c]
            raise ActuatorError(f"task '{task}': joints {missing} have no actuator")
        # velocity where the torque-speed curve meets the effort limit (Isaac Lab clamps the speed there)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.vel_at_effort_limit = np.where(
                self.dc_motor, self.velocity_limit * (1.0 + self.effort_limit / self.saturation), np.inf
            )

    def torque(self, target: np.ndarray, q: np.ndarray, qd: np.ndarray) -> np.ndarray:
        """Applied torques [E, J] for position targets ``target`` at joint state (``q``, ``qd``)."""
        computed = self.kp * (target - q) - self.kd * qd
        if not self.dc_motor.any():
            return np.clip(computed, -self.effort_limit, self.effort_limit)
        v = np.clip(qd, -self.vel_at_effort_limit, self.vel_at_effort_limit)
        ratio = np.where(self.dc_motor, v / self.velocity_limit, 0.0)
        sat = np.where(self.dc_motor, self.saturation, self.effort_limit)
        upper = np.minimum(sat * (1.0 - ratio), self.effort_limit)
        lower = np.maximum(sat * (-1.0 - ratio), -self.effort_limit)
        return np.clip(computed, lower, upper)
