"""Dependencies run one way (ARCHITECTURE.md): the ground floor (config, residency, errors, console) at the
bottom, the hosts engine on it, components on those, stack programs and the stand on components, policies on
manifests, migrate beside them on the ground floor only, the CLI on top. Imports inside functions count too."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
FOLDERS: dict[str, str] = {name: folder for name, folder in PYPROJECT["tool"]["setuptools"]["package-dir"].items()}

GROUND = ("opcloud.errors", "opcloud.console", "opcloud.logs", "opcloud.residency", "opcloud.config", "opcloud")
LAYERS: dict[str, tuple[str, ...]] = {  # layer -> the prefixes it consists of
    "ground": GROUND,
    "hosts": ("opcloud.hosts",),
    "components": ("opcloud.components",),
    "programs": ("opcloud.stacks", "opcloud.stand"),
    "policies": ("opcloud.policies",),
    "migrate": ("opcloud.migrate",),
    "cli": ("opcloud.cli",),
}
MAY_IMPORT: dict[str, set[str]] = {
    "ground": {"ground"},
    "hosts": {"ground", "hosts"},
    "components": {"ground", "hosts", "components"},
    "programs": {"ground", "hosts", "components", "programs"},
    "policies": {"ground", "components", "programs", "policies"},
    "migrate": {"ground", "migrate"},
    "cli": set(LAYERS),
}
LEGACY = {"stacks", "components", "policies", "migrate", "hosts", "stand"}


def layer_of(module: str) -> str:
    best, best_len = "", -1
    for layer, prefixes in LAYERS.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = layer, len(prefix)
    return best


def modules() -> dict[str, Path]:
    found = {}
    for name, folder in FOLDERS.items():
        base = REPO / folder
        for path in base.rglob("*.py"):
            parts = path.relative_to(base).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((name, *parts))] = path
    return found


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def test_every_module_belongs_to_a_layer() -> None:
    assert all(layer_of(name) for name in modules()), [n for n in modules() if not layer_of(n)]


def test_imports_run_one_way() -> None:
    wrong = []
    for name, path in modules().items():
        layer = layer_of(name)
        for line, imported in imports(path):
            if not imported.startswith("opcloud"):
                continue
            target = layer_of(imported)
            if target not in MAY_IMPORT[layer]:
                wrong.append(f"{path.relative_to(REPO)}:{line}: {layer} imports {imported} ({target})")
    assert wrong == []


def test_one_top_level_import_name() -> None:
    legacy = []
    for path in modules().values():
        for line, imported in imports(path):
            if imported.split(".")[0] in LEGACY:
                legacy.append(f"{path.relative_to(REPO)}:{line}: import {imported}")
    assert legacy == []
    assert {name.split(".")[0] for name in FOLDERS} == {"opcloud"}
