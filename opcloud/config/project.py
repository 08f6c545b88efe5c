"""The Pulumi project opcloud works in, found as the Pulumi CLI finds it.

`Pulumi.yaml` is looked for in the working directory and then in each parent; its `stackConfigDir` (default:
the project directory) holds one `Pulumi.<stack>.yaml` per stack. So `opcloud stack synth x` and
`pulumi up -s x` always read the same file, whether opcloud is installed editable, from a wheel, or elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from opcloud.errors import InputError

PROJECT_FILES = ("Pulumi.yaml", "Pulumi.yml")


@dataclass(frozen=True)
class Project:
    name: str
    directory: Path  # where Pulumi.yaml lies: the Automation API's work_dir
    stacks_dir: Path  # stackConfigDir, resolved

    def stack_file(self, stack: str) -> Path:
        return self.stacks_dir / f"Pulumi.{stack}.yaml"

    def stacks(self) -> list[str]:
        return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in self.stacks_dir.glob("Pulumi.*.yaml"))


def find_project_file(start: Path | None = None) -> Path | None:
    """The nearest Pulumi.yaml at or above `start` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        for name in PROJECT_FILES:
            candidate = directory / name
            if candidate.is_file():
                return candidate
    return None


def find_project(start: Path | None = None) -> Project:
    """The project around `start`; one input error when there is none or its Pulumi.yaml is malformed."""
    project_file = find_project_file(start)
    if project_file is None:
        where = (start or Path.cwd()).resolve()
        raise InputError(
            f"no Pulumi project here: no Pulumi.yaml in {where} or above (run opcloud inside your project, "
            "or pass --cwd DIR)"
        )
    try:
        document = yaml.safe_load(project_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise InputError(f"{project_file}: cannot read the Pulumi project ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("name"), str):
        raise InputError(f"{project_file}: a Pulumi project needs a 'name'")
    config_dir = document.get("stackConfigDir", ".")
    if not isinstance(config_dir, str):
        raise InputError(f"{project_file}: stackConfigDir must be a path")
    return Project(document["name"], project_file.parent, (project_file.parent / config_dir).resolve())
