"""Installs the rwm_tasks extension; name, version and description come from extension.toml."""

import pathlib
import tomllib

from setuptools import find_packages, setup

ROOT = pathlib.Path(__file__).parent
META = tomllib.loads((ROOT / "extension.toml").read_text())["package"]

setup(
    name="rwm_tasks",
    version=META["version"],
    description=META["description"],
    keywords=META["keywords"],
    python_requires=">=3.11",
    package_dir={"": "exts/rwm_tasks"},
    packages=find_packages("exts/rwm_tasks"),
    # Pure-PyTorch parts need only these; Isaac Lab, rsl-rl and mujoco are installed by `make setup`
    # (Isaac Lab 3.0 on Python 3.11 needs a no-deps install, see the Makefile).
    install_requires=["torch>=2.5", "numpy", "tqdm", "matplotlib", "tensorboard"],
    package_data={"rwm_tasks": ["**/*.xml", "**/*.yaml", "**/LICENSE*"]},
    entry_points={"isaaclab.tasks": ["rwm_tasks = rwm_tasks"]},
    zip_safe=False,
)
