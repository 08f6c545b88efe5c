"""Resolve secret references (env / file / Pulumi secret config) on the operator's machine, at run time."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from opcloud.config.environment import SecretRef
from opcloud.errors import InputError

ConfigLookup = Callable[[str], str | None]


def pulumi_config_lookup(stack: str) -> ConfigLookup:
    """Read a secret config key through the Pulumi CLI, which alone can decrypt the stack's `secure:` values."""

    @functools.cache  # one `pulumi config get` per key and run, however many hosts and steps share it
    def lookup(key: str) -> str | None:
        pulumi = shutil.which("pulumi")
        if pulumi is None:
            raise InputError(f"secret config {key} needs the pulumi CLI to decrypt it (or use an env/file reference)")
        result = subprocess.run(
            [pulumi, "config", "get", "--stack", stack, key], capture_output=True, text=True, check=False
        )
        return result.stdout.rstrip("\n") if result.returncode == 0 else None

    return lookup


def resolve(ref: SecretRef, config: ConfigLookup | Mapping[str, str] | None = None) -> str:
    """The secret's value; a missing one is a one-line InputError naming the reference, never the value."""
    if ref.env:
        value = os.environ.get(ref.env)
        if not value:
            raise InputError(f"secret {ref.describe()}: environment variable {ref.env} is not set")
        return value
    if ref.file:
        path = Path(ref.file).expanduser()
        try:
            return path.read_text(encoding="utf-8").rstrip("\n")
        except OSError as error:
            raise InputError(f"secret {ref.describe()}: {error.strerror}") from None
    assert ref.config is not None
    value = config.get(ref.config) if isinstance(config, Mapping) else config(ref.config) if config else None
    if not value:
        raise InputError(f"secret {ref.describe()}: not set (pulumi config set --secret {ref.config} ...)")
    return value
