"""cloud-init documents of the stand's VMs: pure functions from plain values to YAML text.

Nothing secret is ever rendered here: the VMs read their passwords (and the TLS certificate) from
Key Vault at every boot with their managed identity, into /run (tmpfs), so a secret never lands in
custom data, in the Pulumi state's VM inputs or on disk.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

SECRETS_DIR = "/run/jenkins-secrets"
STAND_ENV = "/etc/opcloud/stand.env"
FETCH_SCRIPT = "/usr/local/sbin/opcloud-fetch-secrets"
CASC_PATH = "/etc/jenkins/casc.yaml"
PLUGINS_PATH = "/etc/jenkins/plugins.txt"
TLS_PEM = "/etc/nginx/tls/stand.pem"
JAVA_PACKAGE = "openjdk-21-jre-headless"  # Jenkins LTS needs Java 21 (Ubuntu 24.04 ships it)
DEFAULT_PLUGINS = (
    "configuration-as-code",
    "matrix-auth",
    "swarm",
    "workflow-aggregator",
    "git",
    "credentials-binding",
    "timestamper",
)

# Reads `KEY=vault-secret-name` pairs from SECRETS in the env file and writes each secret's value to
# $SECRETS_DIR/KEY. Retries because a new role assignment takes minutes to reach Key Vault.
_FETCH = r"""#!/bin/bash
# Fetch this stand's secrets from Key Vault with the VM's managed identity (written by opcloud).
set -euo pipefail
. /etc/opcloud/stand.env
imds="http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01"
token() {
  curl -sf -H Metadata:true "${imds}&resource=https%3A%2F%2Fvault.azure.net&client_id=${IDENTITY_CLIENT_ID}" \
    | jq -er .access_token
}
fetch() {  # fetch SECRET_URI -> value on stdout
  curl -sf -H "Authorization: Bearer ${TOKEN}" "$1?api-version=7.4" | jq -er .value
}
for attempt in $(seq 1 40); do
  TOKEN="$(token)" && fetch "https://${VAULT_NAME}.vault.azure.net/secrets/${PROBE_SECRET}" >/dev/null && break
  sleep 15
done
install -d -m 0750 -o root -g "${SECRETS_GROUP}" "${SECRETS_DIR}"
umask 0027
for pair in ${SECRETS}; do
  fetch "https://${VAULT_NAME}.vault.azure.net/secrets/${pair#*=}" | tr -d '\n' > "${SECRETS_DIR}/${pair%%=*}"
  chgrp "${SECRETS_GROUP}" "${SECRETS_DIR}/${pair%%=*}"
done
if [ "${TLS_MODE:-}" = "keyvault" ]; then
  install -d -m 0700 /etc/nginx/tls
  (umask 0077; fetch "${TLS_SECRET_URI}" > /etc/nginx/tls/stand.pem)
elif [ "${TLS_MODE:-}" = "self-signed" ] && [ ! -s /etc/nginx/tls/stand.pem ]; then
  install -d -m 0700 /etc/nginx/tls
  openssl req -x509 -newkey rsa:3072 -nodes -days 30 -subj "/CN=${STAND_HOSTNAME}" \
    -addext "subjectAltName=DNS:${STAND_HOSTNAME}" -keyout /etc/nginx/tls/key.pem -out /etc/nginx/tls/cert.pem
  (umask 0077; cat /etc/nginx/tls/key.pem /etc/nginx/tls/cert.pem > /etc/nginx/tls/stand.pem)
  rm -f /etc/nginx/tls/key.pem
fi
"""

_FETCH_UNIT = """[Unit]
Description=Fetch the test stand's secrets from Key Vault (managed identity)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/opcloud-fetch-secrets

[Install]
WantedBy=multi-user.target
"""

# Jenkins only on localhost: nginx terminates TLS on 443 in front of it.
_JENKINS_OVERRIDE = f"""[Unit]
Requires=opcloud-secrets.service
After=opcloud-secrets.service

[Service]
Environment="JENKINS_LISTEN_ADDRESS=127.0.0.1"
Environment="JENKINS_PORT=8080"
Environment="CASC_JENKINS_CONFIG={CASC_PATH}"
Environment="JAVA_OPTS=-Djava.awt.headless=true -Djenkins.install.runSetupWizard=false"
"""

_NGINX_OVERRIDE = """[Unit]
Requires=opcloud-secrets.service
After=opcloud-secrets.service
"""


@dataclass(frozen=True)
class ControllerBoot:
    """Everything the controller's first boot needs, none of it secret."""

    stand: str
    hostname: str  # the public name of the stand (TLS subject and Jenkins URL)
    vault_name: str
    identity_client_id: str
    admin_secret: str  # Key Vault secret names, not values
    agent_secret: str
    expiry: str
    tls_mode: Literal["keyvault", "self-signed"] = "self-signed"
    tls_secret_uri: str | None = None
    apt_repo: str = "https://pkg.jenkins.io/debian-stable"
    apt_key_url: str = "https://pkg.jenkins.io/debian-stable/jenkins.io-2023.key"
    plugin_manager_version: str = "2.13.2"
    plugins: Sequence[str] = DEFAULT_PLUGINS
    admin_user: str = "admin"
    agent_user: str = "swarm"


@dataclass(frozen=True)
class AgentBoot:
    controller_address: str  # private IP of the controller: agents reach it inside the VNet
    vault_name: str
    identity_client_id: str
    agent_secret: str
    labels: Sequence[str] = ("linux",)
    executors: int = 2
    agent_user: str = "swarm"
    extra_packages: Sequence[str] = field(default_factory=lambda: ("git", "unzip"))


def _env_file(values: Mapping[str, str]) -> str:
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())


def _document(body: dict[str, Any]) -> str:
    # Literal blocks for multi-line files keep the rendered document readable when debugging a VM.
    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _str)
    return "#cloud-config\n" + yaml.dump(body, Dumper=_Dumper, sort_keys=False, width=200)


def jcasc(boot: ControllerBoot) -> dict[str, Any]:
    """Jenkins configuration as code: local users whose passwords JCasC reads from /run at startup."""
    agent_permissions = ["Overall/Read", "Agent/Build", "Agent/Configure", "Agent/Connect", "Agent/Create"]
    agent_permissions += ["Agent/Disconnect"]
    return {
        "jenkins": {
            "systemMessage": f"opcloud test stand {boot.stand}: destroyed at {boot.expiry} (expiry tag)",
            "numExecutors": 0,  # builds run on the agents, never on the controller
            "mode": "EXCLUSIVE",
            "slaveAgentPort": -1,  # agents connect over WebSocket through nginx, no extra TCP port
            "securityRealm": {
                "local": {
                    "allowsSignup": False,
                    "users": [
                        {"id": boot.admin_user, "password": f"${{readFile:{SECRETS_DIR}/admin-password}}"},
                        {"id": boot.agent_user, "password": f"${{readFile:{SECRETS_DIR}/agent-password}}"},
                    ],
                }
            },
            "authorizationStrategy": {
                "globalMatrix": {
                    "entries": [
                        {"user": {"name": boot.admin_user, "permissions": ["Overall/Administer"]}},
                        {"user": {"name": boot.agent_user, "permissions": agent_permissions}},
                    ]
                }
            },
            "remotingSecurity": {"enabled": True},
        },
        "unclassified": {"location": {"url": f"https://{boot.hostname}/"}},
    }


def nginx_site(hostname: str) -> str:
    return f"""server {{
    listen 443 ssl;
    server_name {hostname};
    ssl_certificate {TLS_PEM};
    ssl_certificate_key {TLS_PEM};
    ssl_protocols TLSv1.2 TLSv1.3;
    client_max_body_size 200m;
    location / {{
        proxy_pass http://127.0.0.1:8080;
        proxy_http_version 1.1;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-Proto https;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_read_timeout 300s;
    }}
}}
"""


def controller_cloud_init(boot: ControllerBoot) -> str:
    """The controller's cloud-config: Jenkins LTS from the Jenkins apt repository, JCasC, nginx on 443."""
    env = {
        "VAULT_NAME": boot.vault_name,
        "IDENTITY_CLIENT_ID": boot.identity_client_id,
        "PROBE_SECRET": boot.admin_secret,
        "SECRETS": f"admin-password={boot.admin_secret} agent-password={boot.agent_secret}",
        "SECRETS_DIR": SECRETS_DIR,
        "SECRETS_GROUP": "jenkins",
        "STAND_HOSTNAME": boot.hostname,
        "TLS_MODE": boot.tls_mode,
        "TLS_SECRET_URI": boot.tls_secret_uri or "",
    }
    jar = f"/opt/jenkins-plugin-manager-{boot.plugin_manager_version}.jar"
    jar_url = (
        "https://github.com/jenkinsci/plugin-installation-manager-tool/releases/download/"
        f"{boot.plugin_manager_version}/jenkins-plugin-manager-{boot.plugin_manager_version}.jar"
    )
    keyring = "/usr/share/keyrings/jenkins-keyring.asc"
    body: dict[str, Any] = {
        "package_update": True,
        "packages": [JAVA_PACKAGE, "fontconfig", "nginx", "curl", "jq", "openssl", "ca-certificates"],
        "write_files": [
            {"path": STAND_ENV, "permissions": "0644", "content": _env_file(env)},
            {"path": FETCH_SCRIPT, "permissions": "0755", "content": _FETCH},
            {"path": "/etc/systemd/system/opcloud-secrets.service", "content": _FETCH_UNIT},
            {"path": "/etc/systemd/system/jenkins.service.d/opcloud.conf", "content": _JENKINS_OVERRIDE},
            {"path": "/etc/systemd/system/nginx.service.d/opcloud.conf", "content": _NGINX_OVERRIDE},
            {"path": CASC_PATH, "permissions": "0644", "content": yaml.safe_dump(jcasc(boot), sort_keys=False)},
            {"path": PLUGINS_PATH, "permissions": "0644", "content": "".join(f"{p}\n" for p in boot.plugins)},
            {"path": "/etc/nginx/sites-available/jenkins", "content": nginx_site(boot.hostname)},
        ],
        "runcmd": [
            ["curl", "-fsSL", "-o", keyring, boot.apt_key_url],
            [
                "sh",
                "-c",
                f"echo 'deb [signed-by={keyring}] {boot.apt_repo} binary/' > /etc/apt/sources.list.d/jenkins.list",
            ],
            ["apt-get", "update"],
            ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "jenkins"],
            ["curl", "-fsSL", "-o", jar, jar_url],
            [
                "java",
                "-jar",
                jar,
                "--war",
                "/usr/share/java/jenkins.war",
                "--plugin-download-directory",
                "/var/lib/jenkins/plugins",
                "--plugin-file",
                PLUGINS_PATH,
            ],
            ["chown", "-R", "jenkins:jenkins", "/var/lib/jenkins/plugins"],
            ["rm", "-f", "/etc/nginx/sites-enabled/default"],
            ["ln", "-sf", "/etc/nginx/sites-available/jenkins", "/etc/nginx/sites-enabled/jenkins"],
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "--now", "opcloud-secrets.service"],
            ["systemctl", "restart", "jenkins.service"],
            ["systemctl", "restart", "nginx.service"],
        ],
    }
    return _document(body)


def _swarm_unit(boot: AgentBoot) -> str:
    url = f"https://{boot.controller_address}/"
    command = [
        "/usr/bin/java",
        "-jar",
        "/opt/swarm-client.jar",
        "-url",
        url,
        "-webSocket",
        # The certificate names the public host; inside the VNet agents dial the private IP.
        "-disableSslVerification",
        "-username",
        boot.agent_user,
        "-passwordFile",
        f"{SECRETS_DIR}/agent-password",
        "-labels",
        " ".join(boot.labels),
        "-executors",
        str(boot.executors),
        "-name",
        "%H",
        "-deleteExistingClients",
        "-fsroot",
        "/home/jenkins-agent",
    ]
    download = f"/usr/bin/curl -fsSk --retry 40 --retry-delay 15 --retry-all-errors -o /opt/swarm-client.jar {url}"
    return f"""[Unit]
Description=Jenkins swarm agent of the opcloud test stand
Requires=opcloud-secrets.service
After=opcloud-secrets.service network-online.target

[Service]
User=jenkins-agent
ExecStartPre=+{download}swarm/swarm-client.jar
ExecStart={shlex.join(command)}
Restart=always
RestartSec=15

[Install]
WantedBy=multi-user.target
"""


def agent_cloud_init(boot: AgentBoot) -> str:
    """An agent's cloud-config: Java, the swarm client joining the controller over WebSocket."""
    env = {
        "VAULT_NAME": boot.vault_name,
        "IDENTITY_CLIENT_ID": boot.identity_client_id,
        "PROBE_SECRET": boot.agent_secret,
        "SECRETS": f"agent-password={boot.agent_secret}",
        "SECRETS_DIR": SECRETS_DIR,
        "SECRETS_GROUP": "jenkins-agent",
    }
    body: dict[str, Any] = {
        "package_update": True,
        "packages": [JAVA_PACKAGE, "curl", "jq", *boot.extra_packages],
        "users": [
            "default",
            {"name": "jenkins-agent", "system": True, "shell": "/bin/bash", "homedir": "/home/jenkins-agent"},
        ],
        "write_files": [
            {"path": STAND_ENV, "permissions": "0644", "content": _env_file(env)},
            {"path": FETCH_SCRIPT, "permissions": "0755", "content": _FETCH},
            {"path": "/etc/systemd/system/opcloud-secrets.service", "content": _FETCH_UNIT},
            {"path": "/etc/systemd/system/jenkins-swarm.service", "content": _swarm_unit(boot)},
        ],
        "runcmd": [
            ["install", "-d", "-o", "jenkins-agent", "-g", "jenkins-agent", "/home/jenkins-agent"],
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "--now", "opcloud-secrets.service"],
            ["systemctl", "enable", "--now", "jenkins-swarm.service"],
        ],
    }
    return _document(body)
