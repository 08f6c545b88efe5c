#!/usr/bin/env bash
# Type-check opcloud under its installed module names. mypy cannot follow setuptools' package-dir mapping
# (the editable install maps folders with an import hook), so lay the mapping out as symlinks under
# build/typecheck/opcloud - read from pyproject.toml, the one place it is written - and check `-p opcloud`.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python - <<'PY'
import pathlib, shutil, tomllib

root = pathlib.Path.cwd()
mapping = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
tree = root / "build" / "typecheck"
shutil.rmtree(tree, ignore_errors=True)
top = tree / "opcloud"
top.mkdir(parents=True)
for entry in (root / mapping["opcloud"]).iterdir():
    if entry.name != "__pycache__":
        (top / entry.name).symlink_to(entry)
for name, folder in mapping.items():
    if name != "opcloud":
        (top / name.removeprefix("opcloud.")).symlink_to(root / folder, target_is_directory=True)
PY
exec .venv/bin/mypy -p opcloud "$@"
