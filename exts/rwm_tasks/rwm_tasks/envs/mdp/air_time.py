"""Air and contact timers of Isaac Lab's ``ContactSensor``, advanced from binary contacts."""

from __future__ import annotations

import torch


class AirTimeTracker:
    """Per-env air/contact timers advanced from binary contacts, as Isaac Lab's ``ContactSensor`` does.

    Semantics (``track_air_time=True``), applied once per :meth:`update` with elapsed time ``dt``:
    a body touching down after being airborne stores ``last_air_time = current_air_time + dt``; a body
    lifting off stores ``last_contact_time = current_contact_time + dt``; the current timer of the active
    mode grows by ``dt`` and the other is zeroed. :meth:`first_contact` is true while
    ``0 < current_contact_time < dt + tol`` (tol = half an update period), i.e. on the step of touchdown.
    Resets zero all four timers, as the sensor does on episode reset.
    """

    def __init__(self, num_envs: int, num_bodies: int, device: torch.device | str = "cpu"):
        shape = (num_envs, num_bodies)
        self.current_air_time = torch.zeros(shape, device=device)
        self.current_contact_time = torch.zeros(shape, device=device)
        self.last_air_time = torch.zeros(shape, device=device)
        self.last_contact_time = torch.zeros(shape, device=device)
        self.update_period: float | None = None
        """Sensor update period; the first-contact tolerance is half of it (last ``dt`` when None)."""

    def update(self, contacts: torch.Tensor, dt: float) -> None:
        """Advance all envs by ``dt`` with binary ``contacts`` [E, B]."""
        in_contact = contacts.bool()
        touchdown = in_contact & (self.current_air_time > 0.0)
        liftoff = ~in_contact & (self.current_contact_time > 0.0)
        self.last_air_time = torch.where(touchdown, self.current_air_time + dt, self.last_air_time)
        self.last_contact_time = torch.where(liftoff, self.current_contact_time + dt, self.last_contact_time)
        self.current_contact_time = torch.where(in_contact, self.current_contact_time + dt, 0.0)
        self.current_air_time = torch.where(in_contact, 0.0, self.current_air_time + dt)
        self.update_period = dt

    def tolerance(self, dt: float, abs_tol: float | None = None) -> float:
        """``abs_tol`` if given, else half the update period."""
        if abs_tol is not None:
            return abs_tol
        return 0.5 * (self.update_period if self.update_period is not None else dt)

    def first_contact(self, dt: float, abs_tol: float | None = None) -> torch.Tensor:
        """Bodies that touched down within the last ``dt`` seconds, bool [E, B]."""
        t = self.current_contact_time
        return (t > 0.0) & (t < dt + self.tolerance(dt, abs_tol))

    def first_air(self, dt: float, abs_tol: float | None = None) -> torch.Tensor:
        """Bodies that lifted off within the last ``dt`` seconds, bool [E, B]."""
        t = self.current_air_time
        return (t > 0.0) & (t < dt + self.tolerance(dt, abs_tol))

    def reset(self, env_ids: torch.Tensor | slice | None = None) -> None:
        """Zero all timers of ``env_ids`` (all envs if None)."""
        ids = slice(None) if env_ids is None else env_ids
        for buf in (self.current_air_time, self.current_contact_time, self.last_air_time, self.last_contact_time):
            buf[ids] = 0.0
