"""Which config keys exist, to name a misspelt one and suggest the key that was meant.

Provider namespaces (`aws:`, `azure-native:`) are read from the installed provider package's own config module
(`pulumi_aws/config/vars.py` lists every key it reads), as text: importing a provider package takes seconds.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import re
from pathlib import Path

# Pulumi config namespace -> the Python package of that provider.
PROVIDER_PACKAGES = {"aws": "pulumi_aws", "azure-native": "pulumi_azure_native"}
# Keys every Pulumi stack may carry whatever the provider.
PULUMI_KEYS = frozenset({"pulumi:tags", "pulumi:disable-default-providers"})


@functools.cache
def provider_keys(namespace: str) -> frozenset[str] | None:
    """The config keys the provider of `namespace` reads, or None where we cannot tell (then nothing is refused)."""
    package = PROVIDER_PACKAGES.get(namespace)
    spec = importlib.util.find_spec(package) if package else None
    if spec is None or not spec.submodule_search_locations:
        return None
    variables = Path(next(iter(spec.submodule_search_locations))) / "config" / "vars.py"
    try:
        text = variables.read_text(encoding="utf-8")
    except OSError:
        return None
    return frozenset(re.findall(r"__config__\.get\w*\('([A-Za-z0-9_]+)'", text))


def closest(name: str, known: frozenset[str] | set[str]) -> str | None:
    """The known name `name` was probably meant to be (a typo away), or None."""
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return close[0] if close else None
