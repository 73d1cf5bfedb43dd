"""Device / physics / asset / env-count selection and the W&B offline decision, without CUDA or network."""

import glob
import os
import urllib.error

import pytest

from rwm_tasks import runtime
from rwm_tasks.tasks import STAGES

RUNTIME_VARS = (
    "RWM_FORCE_CPU",
    "RWM_LOCAL_ASSETS",
    "RWM_PHYSICS",
    "WANDB_API_KEY",
    "WANDB_MODE",
    "WANDB_DIR",
    "WANDB_PROJECT",
    "WANDB_BASE_URL",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No user settings, no real network, no ~/.netrc, fresh probe cache for every test."""
    for name in RUNTIME_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no_netrc"))
    monkeypatch.setenv("HOME", str(tmp_path))

    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(runtime.urllib.request, "urlopen", no_network)
    runtime._head_ok.cache_clear()
    yield
    runtime._head_ok.cache_clear()


class _Response:
    """Minimal stand-in for the object ``urlopen`` returns."""

    def __init__(self, status):
        self.status = status

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ---------------------------------------------------------------------------------------------- selection


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("cuda", [True, False])
@pytest.mark.parametrize("assets", [True, False])
def test_matrix(stage, cuda, assets):
    choice = runtime.select_runtime(None, stage, None, cuda=cuda, assets=assets)
    assert choice.stage == stage
    assert choice.device == ("cuda:0" if cuda else "cpu")
    offline = stage == "Offline"
    assert choice.use_official_assets is (assets and not offline)
    assert choice.physics == ("physx" if cuda and assets and not offline else "newton_mjwarp")
    table = runtime.GPU_ENV_COUNTS if cuda else runtime.CPU_ENV_COUNTS
    assert (choice.num_envs, choice.num_imagined_envs) == table[stage]
    assert choice.reasons and choice.describe().startswith(f"[rwm] {stage} on {choice.device}")


def test_full_scale_counts_on_gpu_and_small_on_cpu():
    gpu = {s: runtime.select_runtime(None, s, None, cuda=True, assets=True) for s in STAGES}
    assert gpu["Pretrain"].num_envs == 4096 and gpu["Init"].num_envs == 4096
    assert gpu["Finetune"].num_imagined_envs == 8192 and gpu["Offline"].num_imagined_envs == 8192
    assert gpu["Init"].num_imagined_envs == 0 and gpu["Offline"].num_envs == 0
    cpu = runtime.select_runtime(None, "Pretrain", None, cuda=False, assets=False)
    assert cpu.num_envs == 16 and "scaled down" in cpu.describe()
    assert runtime.select_runtime(None, "Finetune", None, cuda=False, assets=False).num_imagined_envs == 256


def test_stage_from_task_id_and_any_case():
    assert runtime.select_runtime(None, "RWM-Go2-Finetune-v0", None, cuda=True, assets=True).stage == "Finetune"
    assert runtime.normalize_stage("pretrain") == "Pretrain"
    assert runtime.robot_of("RWM-AnymalD-Offline-v0") == "AnymalD"
    with pytest.raises(ValueError):
        runtime.normalize_stage("Walk")
    with pytest.raises(ValueError):
        runtime.robot_of("Isaac-Velocity-Flat-AnymalD")


def test_explicit_device_wins():
    choice = runtime.select_runtime("cpu", "Pretrain", None, cuda=True, assets=True)
    assert choice.device == "cpu" and choice.physics == "newton_mjwarp" and choice.num_envs == 16
    choice = runtime.select_runtime("cuda", "Pretrain", None, cuda=False, assets=True)
    assert choice.device == "cuda:0" and choice.physics == "physx" and choice.num_envs == 4096
    assert any("unavailable" in r for r in choice.reasons)
    assert runtime.select_runtime("cuda:1", "Init", None, cuda=True, assets=True).device == "cuda:1"


def test_explicit_env_counts_win():
    choice = runtime.select_runtime(None, "Pretrain", 128, cuda=True, assets=True)
    assert choice.num_envs == 128 and "--num_envs 128" in choice.describe()
    choice = runtime.select_runtime(None, "Finetune", 2, cuda=False, assets=False, requested_imagined_envs=64)
    assert (choice.num_envs, choice.num_imagined_envs) == (2, 64)
    offline = runtime.select_runtime(None, "Offline", 512, cuda=False, assets=None)
    assert (offline.num_envs, offline.num_imagined_envs) == (0, 512)
    init = runtime.select_runtime(None, "Init", None, cuda=False, assets=False, requested_imagined_envs=9)
    assert init.num_imagined_envs == 0


def test_explicit_physics_wins(monkeypatch):
    choice = runtime.select_runtime(None, "Init", None, cuda=True, assets=True, requested_physics="newton_mjwarp")
    assert choice.physics == "newton_mjwarp"
    monkeypatch.setenv("RWM_PHYSICS", "physx")
    assert runtime.select_runtime(None, "Init", None, cuda=True, assets=False).physics == "physx"
    monkeypatch.setenv("RWM_PHYSICS", "bullet")
    with pytest.raises(ValueError):
        runtime.select_runtime(None, "Init", None, cuda=True, assets=True)


def test_offline_never_probes_assets(monkeypatch):
    monkeypatch.setattr(runtime, "assets_reachable", lambda *a, **k: pytest.fail("probed assets"))
    choice = runtime.select_runtime(None, "Offline", None, cuda=True)
    assert choice.use_official_assets is False and "no simulator" in choice.describe()


def test_probes_used_when_not_given(monkeypatch):
    monkeypatch.setattr(runtime, "cuda_available", lambda: True)
    monkeypatch.setattr(runtime, "assets_reachable", lambda *a, **k: True)
    choice = runtime.select_runtime(None, "Pretrain", None)
    assert (choice.device, choice.physics, choice.use_official_assets) == ("cuda:0", "physx", True)


# ---------------------------------------------------------------------------------------------- probes


def test_force_cpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.cuda_available() is True
    monkeypatch.setenv("RWM_FORCE_CPU", "1")
    assert runtime.cuda_available() is False
    monkeypatch.setenv("RWM_FORCE_CPU", "0")
    assert runtime.cuda_available() is True


@pytest.mark.parametrize("value,expected", [("1", False), ("true", False), ("0", True), ("no", True)])
def test_local_assets_env_forces(monkeypatch, value, expected):
    monkeypatch.setenv("RWM_LOCAL_ASSETS", value)
    assert runtime.assets_reachable() is expected  # no network: urlopen would fail the test


def test_assets_probe_head_and_cache(monkeypatch):
    calls = []

    def fake_urlopen(request, timeout):
        calls.append((request.get_method(), request.full_url, timeout))
        return _Response(200)

    monkeypatch.setattr(runtime.urllib.request, "urlopen", fake_urlopen)
    monkeypatch.setattr(runtime, "official_asset_root", lambda: "https://assets.example/Isaac/IsaacLab")
    assert runtime.assets_reachable(timeout_s=1.5) is True
    assert runtime.assets_reachable(timeout_s=1.5) is True
    assert calls == [("HEAD", f"https://assets.example/Isaac/IsaacLab/{runtime.ASSET_PROBE}", 1.5)]


@pytest.mark.parametrize(
    "error",
    [
        urllib.error.URLError("no route"),
        TimeoutError("slow"),
        urllib.error.HTTPError("u", 403, "forbidden", {}, None),
    ],
)
def test_assets_probe_failures(monkeypatch, error):
    def fake_urlopen(request, timeout):
        raise error

    monkeypatch.setattr(runtime.urllib.request, "urlopen", fake_urlopen)
    assert runtime.assets_reachable() is False


def test_asset_root_from_isaaclab_or_local_dir(monkeypatch, tmp_path):
    root = runtime.official_asset_root()
    assert root.endswith("/Isaac/IsaacLab")
    probe = tmp_path / runtime.ASSET_PROBE
    monkeypatch.setattr(runtime, "official_asset_root", lambda: str(tmp_path))
    assert runtime.assets_reachable() is False
    probe.parent.mkdir(parents=True)
    probe.write_text("#usda 1.0\n")
    assert runtime.assets_reachable() is True


# ---------------------------------------------------------------------------------------------- wandb


def test_wandb_offline_without_key(tmp_path, capsys):
    settings = runtime.wandb_settings("RWM-Go2-Finetune-v0", "Finetune", None, log_root=str(tmp_path / "logs"))
    assert settings["mode"] == "offline" and settings["env"]["WANDB_MODE"] == "offline"
    assert settings["runner"] == {"logger": "wandb", "wandb_project": "rwm-go2", "run_name": "finetune"}
    assert settings["env"]["WANDB_DIR"] == str(tmp_path / "logs")
    assert settings["env"]["WANDB_RUN_GROUP"] == "Finetune" and settings["env"]["WANDB_TAGS"] == "Go2,Finetune"
    assert "no WANDB_API_KEY" in settings["message"] and "wandb sync" in settings["message"]
    runtime.apply_wandb_env(settings)
    assert os.environ["WANDB_MODE"] == "offline" and (tmp_path / "logs").is_dir()
    assert "W&B offline" in capsys.readouterr().out


def test_wandb_offline_when_server_silent(monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)

    def fake_urlopen(request, timeout):
        raise urllib.error.URLError("unreachable")

    monkeypatch.setattr(runtime.urllib.request, "urlopen", fake_urlopen)
    settings = runtime.wandb_settings("RWM-AnymalD-Pretrain-v0", "Pretrain", "seed1")
    assert settings["mode"] == "offline" and "does not answer" in settings["message"]
    assert settings["runner"]["wandb_project"] == "rwm-anymald" and settings["run_name"] == "pretrain_seed1"


def test_wandb_online_with_key_and_server(monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setattr(runtime.urllib.request, "urlopen", lambda request, timeout: _Response(200))
    assert runtime.wandb_settings("RWM-Go2-Init-v0", "Init", None)["mode"] == "online"
    runtime._head_ok.cache_clear()

    def unauthorized(request, timeout):  # any HTTP answer means the network works
        raise urllib.error.HTTPError("u", 401, "unauthorized", {}, None)

    monkeypatch.setattr(runtime.urllib.request, "urlopen", unauthorized)
    assert runtime.wandb_settings("RWM-Go2-Init-v0", "Init", None)["mode"] == "online"


def test_wandb_login_in_netrc_counts_as_key(monkeypatch, tmp_path):
    netrc_file = tmp_path / "netrc"
    netrc_file.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    netrc_file.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc_file))
    monkeypatch.setattr(runtime.urllib.request, "urlopen", lambda request, timeout: _Response(200))
    assert runtime.wandb_settings("RWM-Go2-Init-v0", "Init", None)["mode"] == "online"


def test_wandb_user_settings_win(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("WANDB_PROJECT", "mine")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    settings = runtime.wandb_settings("RWM-Go2-Play-v0", "Play", None)
    assert (settings["mode"], settings["project"], settings["env"]["WANDB_DIR"]) == ("disabled", "mine", str(tmp_path))


def test_wandb_offline_run_writes_local_directory(monkeypatch, tmp_path):
    """rsl-rl's W&B writer, set up by wandb_settings without a key, leaves an offline run on disk."""
    pytest.importorskip("wandb")
    from rsl_rl.utils.wandb_log_writer import WandbLogWriter

    monkeypatch.chdir(tmp_path)
    settings = runtime.wandb_settings("RWM-Go2-Finetune-v0", "Finetune", "test")
    for key, value in settings["env"].items():
        monkeypatch.setenv(key, value)
    os.makedirs(settings["env"]["WANDB_DIR"], exist_ok=True)
    log_dir = tmp_path / "logs" / "rsl_rl" / "go2_finetune" / f"2026-01-01_00-00-00_{settings['run_name']}"
    writer = WandbLogWriter(log_dir=str(log_dir), project_name=settings["runner"]["wandb_project"])
    writer.add_scalar("World_model/loss", 0.5, global_step=0)
    writer.stop()
    writer.close()
    runs = glob.glob(str(tmp_path / "logs" / "wandb" / "offline-run-*"))
    assert len(runs) == 1 and glob.glob(os.path.join(runs[0], "*.wandb"))
    assert any(log_dir.iterdir())  # tensorboard events beside it
