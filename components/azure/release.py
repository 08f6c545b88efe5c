"""The release on Azure hosts: where each role's artifact and secrets live, what the scale set's identity may
read, the shell commands the release extension runs to read them (curl + jq against the instance metadata
service's managed-identity tokens: nothing to install beyond Debian/Ubuntu packages, no key on the host or in
the settings) and the extension's settings."""

from __future__ import annotations

import base64
import shlex
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from opcloud.components.interfaces import UserDataRenderer

from opcloud.errors import InputError

PACKAGES = ("curl", "jq")
ROLE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
BLOB_API_VERSION = "2021-08-06"
VAULT_API_VERSION = "7.4"
EXTENSION_NAME = "release"
EXTENSION_PUBLISHER = "Microsoft.Azure.Extensions"
EXTENSION_TYPE = "CustomScript"
EXTENSION_VERSION = "2.1"
SCRIPT_LIMIT = 256 * 1024  # CustomScript's maximum length of the base64 `script`

# The identity's client id picks the user-assigned identity of the role (the scale set also has a system one).
HELPERS = rf"""
imds_token() {{
  local imds="http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01"
  curl -fsS --retry 5 -H Metadata:true "$imds&client_id=$IDENTITY_CLIENT_ID&resource=$1" | jq -er .access_token
}}
vault_secret() {{
  local token; token=$(imds_token https%3A%2F%2Fvault.azure.net) || return 1
  curl -fsS --retry 3 -H "Authorization: Bearer $token" "$1?api-version={VAULT_API_VERSION}" | jq -er .value
}}
blob_get() {{
  local token; token=$(imds_token https%3A%2F%2Fstorage.azure.com%2F) || return 1
  curl -fsSL --retry 3 --max-time 900 -H "Authorization: Bearer $token" -H "x-ms-version: {BLOB_API_VERSION}" \
    -o "$2" -- "$1"
}}
"""


def blob_location(role: str, url: str, store_account: str) -> tuple[str, str]:
    """(container, blob) of the artifact, which must lie in the platform's documents account (its key, its
    region); any other URL is refused by name."""
    parts = urlsplit(url)
    where = f"app.release.{role}.artifact"
    host = (parts.hostname or "").lower()
    expected = f"{store_account}.blob.core.windows.net"
    if parts.scheme != "https" or host != expected:
        raise InputError(f"{where}: {url!r} is not a blob of the platform's store https://{expected}/")
    container, _, blob = unquote(parts.path).lstrip("/").partition("/")
    if not container or not blob:
        raise InputError(f"{where}: {url!r} names no container and blob")
    return container, blob


def secret_name(role: str, variable: str) -> str:
    """Key Vault name (letters, digits, dashes): the TLS pair shared by both roles, the rest per role. Upper-case
    shell names never hold a dash, so `_` -> `-` cannot fold two names onto one."""
    if variable in ("TLS_CERT", "TLS_KEY"):
        return f"release-{variable.lower().replace('_', '-')}"
    return f"release-{role}-{variable.removeprefix('SECRET_').lower().replace('_', '-')}"


def secret_command(vault_name: str, name: str) -> str:
    return f"vault_secret {shlex.quote(f'https://{vault_name}.vault.azure.net/secrets/{name}')}"


def fetch_command() -> str:
    return 'blob_get "$ARTIFACT" "$tmp/artifact"'


def helpers(identity_client_id: str) -> str:
    return f"IDENTITY_CLIENT_ID={shlex.quote(identity_client_id)}\n{HELPERS.strip()}"


def blob_read_condition(container: str, blob: str) -> str:
    """ABAC condition: the role assignment reads this one blob of the container and nothing else."""
    action = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
    path = "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path]"
    return f"((!(ActionMatches{{'{action}'}})) OR ({path} StringEquals '{blob}'))"


def release_script(
    render: UserDataRenderer, role: str, vault_name: str, variables: Iterable[str], client_id: str, port: int
) -> str:
    """The script of one role's release extension: each secret read from the vault, the artifact from its blob,
    both with a token the instance metadata service gives the role's own identity; then the release step."""
    return render(
        role,
        {variable: secret_command(vault_name, secret_name(role, variable)) for variable in variables},
        port=port,
        fetch_command=fetch_command(),
        helpers=helpers(client_id),
        packages=PACKAGES,
    )


def release_identity(role: str, version: str, sha256: str) -> str:
    """The extension's forceUpdateTag: a new version or a rebuilt artifact changes it, and with it the scale
    set model, which starts a rolling upgrade."""
    return f"{role} {version} sha256:{sha256}"


def protected_settings(script: str) -> dict[str, str]:
    """CustomScript 2.1's protected `script` (base64): encrypted in the model, decrypted only on the instance,
    written to a file and run there. It names secrets by URL, never holds one."""
    if len(encoded := base64.b64encode(script.encode()).decode()) > SCRIPT_LIMIT:
        raise InputError(f"the {len(encoded)}-character release script exceeds CustomScript's {SCRIPT_LIMIT}")
    return {"script": encoded}
