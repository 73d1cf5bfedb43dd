"""Shared test set-up: stand-in assets (no network probe) and paths to the shared data."""

import os
import pathlib

import pytest

# Tests exercise the project's stand-in assets; the cloud probe itself is unit-tested in test_runtime.py.
os.environ.setdefault("RWM_LOCAL_ASSETS", "1")

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    """``../shared/data`` beside the repository (CI clones it there); a missing folder is a failure."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.fail(f"shared data folder not found at {path}: clone the repo with ../shared beside it")
    return path
