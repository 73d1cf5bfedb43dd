"""Layering of the package, read from its source (ast): imports follow the flow, no import cycle, no private
name imported from another module, and the pure-PyTorch world model imports neither gymnasium nor Isaac Lab.

    robots <- layout <- tasks <- envs (mdp <- imagination, mujoco, config) <- launch <- training, evaluation
                 ^-- world_model (pure torch)        agents, runtime             pipeline <- cli
"""

import ast
import subprocess
import sys

import pytest

from conftest import REPO

PACKAGE = REPO / "exts" / "rwm_tasks" / "rwm_tasks"
ROOT = "rwm_tasks"

RULES = [
    # (modules the rule covers, imported modules it forbids, imported modules it still allows)
    ("rwm_tasks.robots", ("rwm_tasks",), ("rwm_tasks.robots",)),
    ("rwm_tasks.layout", ("rwm_tasks",), ("rwm_tasks.robots", "rwm_tasks.layout")),
    ("rwm_tasks.tasks", ("rwm_tasks",), ("rwm_tasks.robots", "rwm_tasks.layout")),
    ("rwm_tasks.world_model", ("rwm_tasks",), ("rwm_tasks.world_model", "rwm_tasks.layout")),
    ("rwm_tasks.envs.mdp", ("rwm_tasks", "isaaclab", "isaaclab_tasks", "gymnasium"),
     ("rwm_tasks.envs.mdp", "rwm_tasks.layout")),  # fmt: skip
    ("rwm_tasks.envs", ("rwm_tasks.training", "rwm_tasks.cli", "rwm_tasks.evaluation", "rwm_tasks.launch",
                        "rwm_tasks.pipeline"), ()),  # fmt: skip
    ("rwm_tasks.launch", ("rwm_tasks.training", "rwm_tasks.cli", "rwm_tasks.evaluation", "rwm_tasks.pipeline"), ()),
    ("rwm_tasks.training", ("rwm_tasks.cli", "rwm_tasks.evaluation", "rwm_tasks.pipeline"), ()),
    ("rwm_tasks.evaluation", ("rwm_tasks.cli", "rwm_tasks.training", "rwm_tasks.pipeline"), ()),
    ("rwm_tasks.cli", (), ()),  # the front ends may import anything
    ("rwm_tasks", ("rwm_tasks.cli",), ()),  # nothing else imports cli (scripts/ do)
]

ALLOWED: set[tuple[str, str]] = set()
"""(module, imported module) pairs exempt from the rules while a known violation is being fixed."""


def _module_name(path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _imports(name: str, tree: ast.Module) -> list[tuple[str, list[str], int]]:
    """(imported module, imported names, line) of every import in a module, lazy ones included; relative
    imports resolved, ``from pkg import submodule`` resolved to the submodule."""
    is_package = (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists()
    package = name if is_package else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            names = [a.name for a in node.names]
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            out += [(s, [], node.lineno) for s in subs] or [(target, names, node.lineno)]
    return out


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_modules_found():
    assert {"rwm_tasks.layout", "rwm_tasks.world_model.model", "rwm_tasks.envs.mdp.spec"} <= set(MODULES)


def test_imports_follow_the_flow():
    bad = []
    for name, tree in MODULES.items():
        for target, _, line in _imports(name, tree):
            if (name, target) in ALLOWED:
                continue
            for scope, forbidden, allowed in RULES:
                if not _within(name, scope):
                    continue
                if any(_within(target, f) for f in forbidden) and not any(_within(target, a) for a in allowed):
                    bad.append(f"{name}:{line} imports {target} (rule for {scope})")
                break  # the first (most specific) rule covering the module decides
    assert not bad, "imports against the layering:\n  " + "\n  ".join(bad)


def test_allow_list_is_still_needed():
    used = {(n, t) for n, tree in MODULES.items() for t, _, _ in _imports(n, tree)}
    assert ALLOWED <= used, f"remove fixed entries from ALLOWED: {sorted(ALLOWED - used)}"


def test_no_import_cycle():
    graph = {
        name: {t for t, _, _ in _imports(name, tree) if t in MODULES and t != name and not _within(name, t)}
        for name, tree in MODULES.items()
    }
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_no_private_name_imported_from_another_module():
    bad = [
        f"{name}:{line} imports {n} from {target}"
        for name, tree in MODULES.items()
        for target, names, line in _imports(name, tree)
        if _within(target, ROOT) and target != name
        for n in names
        if n.startswith("_") and not n.startswith("__")
    ]
    assert not bad, "\n".join(bad)


def test_world_model_imports_neither_gymnasium_nor_isaaclab():
    code = (
        "import sys, rwm_tasks.world_model\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('gymnasium', 'isaaclab', 'isaaclab_tasks'))\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_import_registers_ids_once_gymnasium_is_imported():
    code = (
        "import sys, rwm_tasks\n"
        "assert 'gymnasium' not in sys.modules\n"
        "import gymnasium as gym\n"
        "ids = sorted(k for k in gym.registry if k.startswith('RWM-'))\n"
        "assert len(ids) == 10 and 'RWM-Go2-Init-v0' in ids, ids\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
