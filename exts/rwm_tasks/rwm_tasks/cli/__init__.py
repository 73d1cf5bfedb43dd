"""Command-line front ends behind ``scripts/train.py`` and ``scripts/play.py``."""
