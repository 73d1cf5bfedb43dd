"""Command-line front ends behind ``scripts/*.py``: argument parsing, run-time choices, clear errors."""
