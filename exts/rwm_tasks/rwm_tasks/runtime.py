"""Run-time choices: device, physics preset, robot assets, env counts and the W&B logger.

The same command line (``scripts/train.py --task RWM-Go2-Finetune-v0``) has to do the right thing on a
GPU workstation with internet access (CUDA, PhysX, NVIDIA's cloud assets, full-scale env counts) and on a
CPU-only machine without access to the cloud assets (Newton / MuJoCo-Warp, local stand-in robots, small
env counts). This module holds that decision as plain Python, so it imports nothing from Isaac Lab at
import time and is unit-tested without a GPU or a network.

Decision table (explicit requests always win, see :func:`select_runtime`):

======  ============  ==========  =================  ========================
CUDA    cloud assets  device      physics preset     robot assets
======  ============  ==========  =================  ========================
yes     reachable     ``cuda:0``  ``physx``          official (NVIDIA cloud)
yes     unreachable   ``cuda:0``  ``newton_mjwarp``  local stand-ins
no      reachable     ``cpu``     ``newton_mjwarp``  official (NVIDIA cloud)
no      unreachable   ``cpu``     ``newton_mjwarp``  local stand-ins
======  ============  ==========  =================  ========================

Why Newton on a GPU without the cloud assets: the stand-in robots are converted and tuned for Newton /
MuJoCo-Warp (contact limits, collision shapes), and Newton runs on CUDA as well, so an air-gapped
workstation still trains at full scale. PhysX is only picked by default with the official assets it was
tuned with, and never on CPU (the kit-less CPU path is Newton's).

Environment variables:

* ``RWM_FORCE_CPU=1``: behave as if CUDA were absent (an explicit ``--device cuda`` still wins).
* ``RWM_LOCAL_ASSETS=1``: use the local stand-ins; ``RWM_LOCAL_ASSETS=0``: use the official assets
  without probing the network.
* ``RWM_PHYSICS=physx|newton_mjwarp``: force the physics preset.
* ``WANDB_MODE``, ``WANDB_DIR``, ``WANDB_PROJECT``: respected by :func:`wandb_settings` when set.
"""

from __future__ import annotations

import functools
import netrc
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from .tasks import CPU_ENV_COUNTS, GPU_ENV_COUNTS, normalize_stage, robot_of

PHYSICS_PRESETS = ("physx", "newton_mjwarp")
"""Isaac Lab physics presets this project selects between (``physics=<name>`` in Isaac Lab's CLI)."""

FALLBACK_ASSET_ROOT = "https://omniverse-content-production.s3-us-west-2.amazonaws.com/Assets/Isaac/6.2/Isaac/IsaacLab"
"""Isaac Lab 3.0's default ``ISAACLAB_NUCLEUS_DIR``, used when Isaac Lab cannot be imported."""

ASSET_PROBE = "Robots/Unitree/Go2/go2.usd"
"""A small official asset under ``ISAACLAB_NUCLEUS_DIR`` whose HEAD request tells whether the root answers."""

WANDB_DEFAULT_URL = "https://api.wandb.ai"


# --------------------------------------------------------------------------------------------------
# Probes
# --------------------------------------------------------------------------------------------------


def _env_flag(name: str) -> bool | None:
    """Read a boolean environment variable: True for 1/true/yes/on, False for 0/false/no/off, else None."""
    value = os.environ.get(name, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return None


def cuda_available() -> bool:
    """Whether training may use CUDA: ``torch.cuda.is_available()`` unless ``RWM_FORCE_CPU=1``."""
    if _env_flag("RWM_FORCE_CPU"):
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


@functools.lru_cache(maxsize=None)
def _head_ok(url: str, timeout_s: float, any_status: bool) -> bool:
    """HEAD ``url``; True on a 2xx/3xx answer (or on any HTTP answer when ``any_status``). Cached per process."""
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status < 400 or any_status
    except urllib.error.HTTPError as error:
        return any_status or error.code < 400
    except (OSError, ValueError):  # URLError, timeouts, DNS failures and malformed URLs
        return False


def official_asset_root() -> str:
    """Isaac Lab's ``ISAACLAB_NUCLEUS_DIR`` (imported lazily), or its 3.0 default if Isaac Lab is missing."""
    try:
        from isaaclab.utils.assets import ISAACLAB_NUCLEUS_DIR
    except Exception:  # Isaac Lab absent or broken: fall back to the known public root
        return FALLBACK_ASSET_ROOT
    return ISAACLAB_NUCLEUS_DIR or FALLBACK_ASSET_ROOT


def assets_reachable(timeout_s: float = 3.0) -> bool:
    """Whether NVIDIA's official robot assets can be loaded; ``RWM_LOCAL_ASSETS`` overrides the probe.

    An http(s) root is probed with one HEAD request for a known file (cached per process); a local
    directory root (``ISAACSIM_ASSET_ROOT=/path``) is checked on disk; any other scheme (a Nucleus
    ``omniverse://`` server) is trusted as configured.
    """
    forced = _env_flag("RWM_LOCAL_ASSETS")
    if forced is not None:
        return not forced
    root = official_asset_root().rstrip("/")
    scheme = urllib.parse.urlparse(root).scheme
    if scheme in ("http", "https"):
        return _head_ok(f"{root}/{ASSET_PROBE}", float(timeout_s), False)
    if scheme in ("", "file"):
        return os.path.exists(os.path.join(root.removeprefix("file://"), ASSET_PROBE))
    return True


# --------------------------------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------------------------------


@dataclass
class RuntimeChoice:
    """What a run uses and why; ``reasons`` lists one short phrase per decision."""

    device: str
    physics: str
    use_official_assets: bool
    num_envs: int
    num_imagined_envs: int
    stage: str = "Init"
    reasons: list[str] = field(default_factory=list)

    @property
    def sim_device(self) -> str:
        """Device for the simulator; the agent and the world model use the same one."""
        return self.device

    def describe(self) -> str:
        """One line for the start of a run, e.g. ``[rwm] Pretrain on cuda:0 | physx | ... (why)``."""
        assets = "official assets" if self.use_official_assets else "local stand-in assets"
        counts = [f"{self.num_envs} real envs"] if self.stage != "Offline" else []
        if self.num_imagined_envs:
            counts.append(f"{self.num_imagined_envs} imagined envs")
        envs = ", ".join(counts)
        if self.stage == "Offline":
            return f"[rwm] Offline on {self.device} | no simulator | {envs} ({'; '.join(self.reasons)})"
        return f"[rwm] {self.stage} on {self.device} | {self.physics} | {assets} | {envs} ({'; '.join(self.reasons)})"


def _choose_device(requested: str | None, cuda: bool, reasons: list[str]) -> str:
    """Explicit device wins; otherwise CUDA device 0 when available, else CPU."""
    if requested:
        if requested.startswith("cuda") and not cuda:
            reasons.append(f"--device {requested} requested although CUDA looks unavailable")
        else:
            reasons.append(f"--device {requested} requested")
        return "cuda:0" if requested == "cuda" else requested
    if cuda:
        reasons.append("CUDA available")
        return "cuda:0"
    reasons.append("RWM_FORCE_CPU=1" if _env_flag("RWM_FORCE_CPU") else "no CUDA")
    return "cpu"


def _choose_physics(device: str, official: bool, requested: str | None, reasons: list[str]) -> str:
    """Explicit preset wins; PhysX only on CUDA with the official assets, Newton otherwise."""
    requested = requested or os.environ.get("RWM_PHYSICS") or None
    if requested:
        if requested not in PHYSICS_PRESETS:
            raise ValueError(f"unknown physics preset {requested!r}; expected one of {PHYSICS_PRESETS}")
        reasons.append(f"physics {requested} requested")
        return requested
    if device.startswith("cuda") and official:
        return "physx"
    return "newton_mjwarp"


def select_runtime(
    requested_device: str | None,
    stage: str,
    requested_num_envs: int | None,
    cuda: bool | None = None,
    assets: bool | None = None,
    *,
    requested_imagined_envs: int | None = None,
    requested_physics: str | None = None,
    executor: str = "isaaclab",
) -> RuntimeChoice:
    """Choose device, physics preset, assets and env counts for ``stage``.

    ``cuda`` / ``assets`` default to the probes :func:`cuda_available` / :func:`assets_reachable` (tests
    pass them in). ``requested_num_envs`` (``--num_envs``) sets the real env count of the simulator stages
    and the imagined env count of Offline, which has no simulator; ``requested_imagined_envs`` sets the
    imagined count of Finetune / Offline explicitly. Offline and the MuJoCo ``executor`` (which always
    simulates the project's robot descriptions) never probe the assets.
    """
    stage = normalize_stage(stage)
    reasons: list[str] = []
    cuda = cuda_available() if cuda is None else cuda
    device = _choose_device(requested_device, cuda, reasons)

    if stage == "Offline":
        official = False
    elif executor == "mujoco":
        official = False
        reasons.append("stand-in robots (the MuJoCo executor simulates the project's descriptions)")
    else:
        official = assets_reachable() if assets is None else assets
        forced = os.environ.get("RWM_LOCAL_ASSETS") if _env_flag("RWM_LOCAL_ASSETS") is not None else None
        state = f"RWM_LOCAL_ASSETS={forced}" if forced else ("reachable" if official else "unreachable")
        reasons.append(f"official assets {'used' if official else 'not used'} ({state})")
    physics = _choose_physics(device, official, requested_physics, reasons)

    on_gpu = device.startswith("cuda")
    num_envs, num_imagined = (GPU_ENV_COUNTS if on_gpu else CPU_ENV_COUNTS)[stage]
    if not on_gpu:
        reasons.append("env counts scaled down for CPU")
    if requested_num_envs is not None:
        if stage == "Offline":
            num_imagined = int(requested_num_envs)
        else:
            num_envs = int(requested_num_envs)
        reasons.append(f"--num_envs {requested_num_envs} requested")
    if requested_imagined_envs is not None and num_imagined:
        num_imagined = int(requested_imagined_envs)
        reasons.append(f"{requested_imagined_envs} imagined envs requested")
    return RuntimeChoice(device, physics, official, num_envs, num_imagined, stage, reasons)


# --------------------------------------------------------------------------------------------------
# Weights & Biases
# --------------------------------------------------------------------------------------------------


def _wandb_key_present() -> bool:
    """Whether W&B credentials exist: ``WANDB_API_KEY`` or a ``wandb login`` entry in ``$NETRC`` / ``~/.netrc``."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urllib.parse.urlparse(os.environ.get("WANDB_BASE_URL", WANDB_DEFAULT_URL)).hostname or ""
    try:
        return netrc.netrc(os.environ.get("NETRC") or None).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def wandb_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the W&B server answers at all (any HTTP status counts); cached per process."""
    return _head_ok(os.environ.get("WANDB_BASE_URL", WANDB_DEFAULT_URL), float(timeout_s), True)


def wandb_settings(task: str, stage: str, run_name: str | None, *, log_root: str = "logs") -> dict:
    """Runner-cfg fields and environment for ``--logger wandb``, falling back to offline mode.

    Project ``rwm-<robot>`` (``WANDB_PROJECT`` wins), group and job type = stage, run name
    ``<stage>[_<run_name>]`` (rsl-rl names the W&B run after the log directory, which the train script
    builds as ``<timestamp>_<run_name>``). Offline when ``WANDB_API_KEY`` / a login is missing or the
    server does not answer; an explicit ``WANDB_MODE`` is kept. Local run files go under
    ``<log_root>/wandb/`` unless ``WANDB_DIR`` is set. The caller applies ``env`` to ``os.environ``
    before the runner starts and prints ``message``.
    """
    stage = normalize_stage(stage)
    robot = robot_of(task)
    project = os.environ.get("WANDB_PROJECT") or f"rwm-{robot.lower()}"
    name = stage.lower() + (f"_{run_name}" if run_name else "")
    wandb_dir = os.environ.get("WANDB_DIR") or os.path.abspath(log_root)

    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if mode:
        why = f"WANDB_MODE={mode} set"
    elif not _wandb_key_present():
        mode, why = "offline", "no WANDB_API_KEY and no wandb login"
    elif not wandb_reachable():
        mode, why = "offline", "W&B server does not answer"
    else:
        mode, why = "online", "API key present and server reachable"

    message = f"[rwm] W&B {mode} ({why}): project {project}, run {name}, files under {wandb_dir}/wandb"
    if mode == "offline":
        message += f"; upload later with `wandb sync {wandb_dir}/wandb/offline-run-*`"
    return {
        "runner": {"logger": "wandb", "wandb_project": project, "run_name": name},
        "env": {
            "WANDB_MODE": mode,
            "WANDB_DIR": wandb_dir,
            "WANDB_RUN_GROUP": stage,
            "WANDB_JOB_TYPE": stage.lower(),
            "WANDB_TAGS": f"{robot},{stage}",
        },
        "mode": mode,
        "project": project,
        "run_name": name,
        "message": message,
    }


def apply_wandb_env(settings: dict) -> None:
    """Export ``settings["env"]``, create the local W&B directory and print ``settings["message"]``."""
    os.environ.update(settings["env"])
    os.makedirs(settings["env"]["WANDB_DIR"], exist_ok=True)
    print(settings["message"], flush=True)
