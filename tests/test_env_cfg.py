"""Env configs have no side effects: building every task's config touches no network and writes no file.

The command line chooses the robot assets; stand-in USDs are written when an env is launched
(``rwm_tasks.envs.assets``), never when a config is built."""

import os
import subprocess
import sys

from conftest import REPO

BUILD_ALL = """
import socket, sys, urllib.request

def refuse(*args, **kwargs):
    raise AssertionError(f"network access while building a config: {args[:2]}")

urllib.request.urlopen = refuse
socket.socket.connect = refuse
socket.create_connection = refuse
sys.argv = sys.argv[:1]
import rwm_tasks
from isaaclab_tasks.utils import resolve_task_config
from rwm_tasks.tasks import all_task_ids

for task in all_task_ids():
    env_cfg, _ = resolve_task_config(task, "rsl_rl_cfg_entry_point", overrides=[])
print("built", len(all_task_ids()))
"""


def test_building_env_configs_touches_no_network_and_writes_no_file(tmp_path):
    home, cache, work = tmp_path / "home", tmp_path / "cache", tmp_path / "work"
    for d in (home, work):
        d.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "RWM_LOCAL_ASSETS"}  # the asset probe must not run
    env.update(HOME=str(home), RWM_CACHE_DIR=str(cache), PYTHONPATH=os.pathsep.join(
        [str(REPO / "exts" / "rwm_tasks"), env.get("PYTHONPATH", "")]))  # fmt: skip
    out = subprocess.run([sys.executable, "-c", BUILD_ALL], cwd=work, env=env, capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "built 10" in out.stdout
    written = [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()]
    assert not written, f"building configs wrote {written}"
    assert "stand-in" not in out.stdout and "official" not in out.stdout  # the choice is printed at launch
