"""The environment's release as the AWS and Azure app tiers deliver it: one renderer per stack (cloud-init for
AWS, the same files as one script for Azure's release extension), the artifact and identity per role and each
secret's value as a Pulumi secret (stored encrypted in the state, then in Secrets Manager / Key Vault, read by
the hosts with their own identity)."""

from __future__ import annotations

import functools

import pulumi
from opcloud.components.interfaces import ReleaseArgs, RoleDelivery
from opcloud.hosts.release import cloud_init, release_script, release_step
from opcloud.hosts.secrets import resolve

from opcloud.config.environment import Environment, SecretRef


def secret_value(ref: SecretRef) -> pulumi.Output[str]:
    """A release secret's value as a Pulumi secret: `config:` from the stack's secret config (a missing key
    fails the program with Pulumi's own one-line message), `env:`/`file:` read on the operator's machine."""
    if ref.config is not None:
        namespace, _, key = ref.config.partition(":")
        return pulumi.Config(namespace).require_secret(key)
    return pulumi.Output.secret(resolve(ref))


def release_args(environment: Environment) -> ReleaseArgs | None:
    release = environment.app.release
    if release is None:
        return None
    roles = {}
    for role in ("api", "docs"):
        step = release_step(environment, "cloud-init", role)  # the step names every secret it reads
        roles[role] = RoleDelivery(
            artifact=release.role(role).artifact,
            health_path=release.role(role).health_path,
            version=release.role(role).version,
            sha256=release.role(role).sha256,
            secrets={variable: functools.partial(secret_value, ref) for variable, ref in step.secrets.items()},
        )
    return ReleaseArgs(
        roles=roles,
        render=functools.partial(cloud_init, environment),
        render_script=functools.partial(release_script, environment),
    )
