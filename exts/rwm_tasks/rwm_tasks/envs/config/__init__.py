"""Robot packages of the RWM tasks; importing this package registers every robot's gym ids."""

from . import anymal_d, go2  # noqa: F401  (each registers its ids)
