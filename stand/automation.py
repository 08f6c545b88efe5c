"""`opcloud stand up|down|list|reap` through the Pulumi Automation API, one stack per stand.

Each stand is the stack `test-stand-<name>` of this project (Pulumi.yaml at the repo root): its config is
the shared `environments/Pulumi.test-stand.yaml` plus the per-stand values. Preconditions (the Pulumi CLI,
Azure credentials) are checked before Pulumi is called, each failing as one line.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from opcloud.stacks.automation import failure_line, require_pulumi_cli, select_stack
from opcloud.stacks.synth import validate
from opcloud.stand.lifecycle import Stand, expiry, format_time, parse_time, stack_name, stand_of_stack

from opcloud.config.environment import PROJECT, open_stack
from opcloud.config.project import find_project
from opcloud.errors import CheckFailed, InputError

ENVIRONMENT = "test-stand"
OnOutput = Callable[[str], None]
_SERVICE_PRINCIPAL_SECRETS = ("ARM_CLIENT_SECRET", "ARM_CLIENT_CERTIFICATE_PATH", "ARM_OIDC_TOKEN", "ARM_USE_OIDC")


def azure_credentials(environ: Mapping[str, str], az_logged_in: Callable[[], bool]) -> str:
    """How the azure-native provider will authenticate, or an InputError naming what is missing."""
    if environ.get("ARM_USE_MSI", "").lower() == "true":
        return "managed identity"
    if environ.get("ARM_CLIENT_ID") and environ.get("ARM_TENANT_ID"):
        if not any(environ.get(key) for key in _SERVICE_PRINCIPAL_SECRETS):
            raise InputError(
                "Azure credentials incomplete: ARM_CLIENT_ID is set but none of ARM_CLIENT_SECRET, "
                "ARM_CLIENT_CERTIFICATE_PATH or ARM_USE_OIDC"
            )
        if not environ.get("ARM_SUBSCRIPTION_ID"):
            raise InputError("Azure credentials incomplete: set ARM_SUBSCRIPTION_ID")
        return "service principal"
    if az_logged_in():
        return "az login"
    raise InputError(
        "no Azure credentials: set ARM_CLIENT_ID, ARM_TENANT_ID, ARM_SUBSCRIPTION_ID and ARM_CLIENT_SECRET "
        "(or ARM_USE_OIDC=true in CI), or run `az login`"
    )


def az_logged_in() -> bool:
    """True when the Azure CLI has a usable login (the provider's default credential source)."""
    az = shutil.which("az")
    if az is None:
        return False
    try:
        done = subprocess.run([az, "account", "show", "--output", "none"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def preflight() -> None:
    """The Pulumi CLI first (ToolMissingError), then Azure credentials (InputError)."""
    require_pulumi_cli()
    azure_credentials(os.environ, az_logged_in)


def stand_config(
    base: Mapping[str, Any], *, stand: str, owner: str, expires: datetime, instance: str
) -> dict[str, tuple[Any, bool]]:
    """The stack config of one stand: the environment's keys plus the per-stand ones; value and secret flag."""
    config: dict[str, tuple[Any, bool]] = {key: (value, False) for key, value in base.items()}
    config[f"{PROJECT}:standName"] = (stand, False)
    config[f"{PROJECT}:owner"] = (owner, False)
    config[f"{PROJECT}:expiresAt"] = (format_time(expires), False)
    config[f"{PROJECT}:instance"] = (instance, False)
    return config


def _config_value(value: Any, secret: bool) -> Any:
    from pulumi import automation

    text = value if isinstance(value, str) else json.dumps(value)
    return automation.ConfigValue(value=text, secret=secret)


def _failed(operation: str, stand: str, error: Exception) -> CheckFailed:
    return CheckFailed(f"pulumi {operation} of stand {stand} failed: {failure_line(error)}")


def up(stand: str, ttl: timedelta, owner: str, on_output: OnOutput, now: datetime | None = None) -> dict[str, Any]:
    """Create (or refresh and extend) the stand; returns its outputs for --json."""
    from pulumi import automation

    stack_file = open_stack(ENVIRONMENT)
    expires = expiry(now or datetime.now(UTC), ttl)
    base = {k: v for k, v in stack_file.config.items() if k not in stack_file.secret_keys}
    preflight()
    stack = select_stack(stack_name(stand))
    existing = stack.get_all_config()
    instance_key = f"{PROJECT}:instance"
    instance = existing[instance_key].value if instance_key in existing else secrets.token_hex(3)
    config = stand_config(base, stand=stand, owner=owner, expires=expires, instance=instance)
    for key in ("adminPassword", "agentPassword"):  # generated once, kept across ups, encrypted in the stack
        full = f"{PROJECT}:{key}"
        if full not in existing:
            config[full] = (secrets.token_urlsafe(24), True)
    # Validate exactly what the program will see before Pulumi creates anything.
    secret_keys = frozenset(k for k, (_, secret) in config.items() if secret) | stack_file.secret_keys
    validate(dataclasses.replace(stack_file, config={k: v for k, (v, _) in config.items()}, secret_keys=secret_keys))
    stack.set_all_config({key: _config_value(value, secret) for key, (value, secret) in config.items()})
    try:
        result = stack.up(on_output=on_output)
    except automation.errors.CommandError as error:
        raise _failed("up", stand, error) from None
    outputs = {key: ("[secret]" if value.secret else value.value) for key, value in result.outputs.items()}
    return {"name": stand, "stack": stack_name(stand), **outputs}


def down(stand: str, on_output: OnOutput) -> dict[str, Any]:
    """Destroy the stand and remove its stack (and local stack file)."""
    from pulumi import automation

    preflight()
    stack = select_stack(stack_name(stand))
    try:
        stack.destroy(on_output=on_output)
        stack.workspace.remove_stack(stack.name)
    except automation.errors.CommandError as error:
        raise _failed("destroy", stand, error) from None
    return {"name": stand, "stack": stack_name(stand), "destroyed": True}


def stand_from_outputs(name: str, outputs: Mapping[str, Any]) -> Stand:
    """A `Stand` from its stack outputs; an unreadable expiry becomes None (never reaped blindly)."""
    raw = outputs.get("expiry")
    try:
        expires = parse_time(str(raw)) if raw else None
    except InputError:
        expires = None
    return Stand(
        name=name,
        owner=outputs.get("owner"),
        expiry=expires,
        url=outputs.get("url"),
        resource_group=outputs.get("resourceGroup"),
    )


def list_stands() -> list[Stand]:
    """Every stand in the Pulumi backend this machine is logged in to, read from its outputs."""
    from pulumi import automation

    require_pulumi_cli()
    workspace = automation.LocalWorkspace(work_dir=str(find_project().directory))
    stands = []
    for summary in workspace.list_stacks():
        name = stand_of_stack(summary.name)
        if name is None:
            continue
        outputs = {key: value.value for key, value in workspace.stack_outputs(summary.name).items()}
        stands.append(stand_from_outputs(name, outputs))
    return sorted(stands, key=lambda s: s.name)


def reap(stands: Iterable[Stand], destroy: Callable[[str], Any]) -> list[tuple[Stand, str | None]]:
    """Destroy each stand; a failure is recorded and the reaper goes on to the next one."""
    results: list[tuple[Stand, str | None]] = []
    for stand in stands:
        try:
            destroy(stand.name)
            results.append((stand, None))
        except CheckFailed as error:
            results.append((stand, str(error)))
    return results
