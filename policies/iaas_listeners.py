"""The network listeners IaaS host steps open, read from the files they write: the release's systemd unit,
HAProxy's binds, Patroni's REST API and etcd's URLs. Each reader returns (ok, message) verdicts."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import yaml
from opcloud.policies import iaas
from opcloud.policies.model import ResourceView, StackView, Verdict, unevaluated

TLS_VERSIONS_OK = ("TLSv1.2", "TLSv1.3")
# A plain listener is allowed only when all it does is send the client to HTTPS.
_REDIRECT = re.compile(r"^\s*(http-request\s+)?redirect\s+scheme\s+https\b", re.MULTILINE)
_SERVES = re.compile(r"^\s*(use_backend|default_backend|server)\b", re.MULTILINE)


def release_listener(step: ResourceView) -> Verdict:
    """A release serves TLS only: its unit starts with the certificate and key of release.tls, and the health
    gate probes it over HTTPS."""
    units = [text for path, text in iaas.files(step).items() if path.endswith(".service")]
    starts = [line for text in units for line in text.splitlines() if line.startswith("ExecStart=")]
    if not starts:
        return False, "the release writes no systemd unit starting the service"
    if not all("--tls-cert " in line and "--tls-key " in line for line in starts):
        return False, "the release's unit starts without --tls-cert/--tls-key: it would serve plain HTTP"
    secrets = iaas.spec_value(step, "secrets")
    if not isinstance(secrets, dict) or not {"TLS_CERT", "TLS_KEY"} <= set(secrets):
        return False, "the release is not given the TLS certificate and key of release.tls"
    probe = str(step.get("check") or "") + "\n" + str(step.get("apply") or "")
    if re.search(r"\bhttp://", probe) or "https://" not in probe:
        return False, "the release's health gate does not probe the service over HTTPS"
    return True, f"the {iaas.spec_value(step, 'role')} service listens with TLS only; health probed over HTTPS"


def haproxy_sections(config: str) -> list[tuple[str, list[str]]]:
    """(header, body lines) of each section of haproxy.cfg; comments dropped."""
    sections: list[tuple[str, list[str]]] = []
    for raw in config.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not raw[0].isspace():
            sections.append((line.strip(), []))
        elif sections:
            sections[-1][1].append(line.strip())
    return sections


def haproxy_listeners(step: ResourceView) -> list[Verdict]:
    """Every bind carries `ssl crt` (or its frontend only redirects to HTTPS); backends are reached over TLS."""
    config = iaas.file_ending(step, "haproxy.cfg")
    if not config:
        return [unevaluated(f"the load-balancer step on {step.get('host')} writes no haproxy.cfg")]
    verdicts: list[Verdict] = []
    for header, body in haproxy_sections(config):
        section = header.split()[0]
        text = "\n".join(body)
        if section in ("frontend", "listen"):
            for bind in (b for b in body if b.startswith("bind ")):
                words = bind.split()
                if "ssl" in words and "crt" in words:
                    verdicts.append((True, f"{header}: {words[1]} with TLS (ssl crt)"))
                elif _REDIRECT.search(text) and not _SERVES.search(text):
                    verdicts.append((True, f"{header}: plain {words[1]} only redirects to HTTPS"))
                else:
                    verdicts.append((False, f"{header}: {bind} serves without TLS"))
        if section in ("backend", "listen"):
            servers = [line for line in body if line.startswith(("server ", "default-server "))]
            if servers and not _backend_tls(servers):
                verdicts.append((False, f"{header}: reaches its servers without verified TLS"))
    if not verdicts:
        return [(False, "haproxy.cfg binds no listener")]
    return verdicts


def _backend_tls(lines: list[str]) -> bool:
    """`ssl` with verification (not `verify none`) on the default-server line or on every server line."""

    def tls(line: str) -> bool:
        return " ssl " in f" {line} " and "verify none" not in line

    default = [line for line in lines if line.startswith("default-server ")]
    servers = [line for line in lines if line.startswith("server ")]
    overridden = any("verify none" in line or " no-ssl" in line for line in servers)
    return (any(tls(line) for line in default) and not overridden) or all(tls(line) for line in servers)


def haproxy_tls_version(step: ResourceView) -> Verdict:
    """TLS 1.2 or newer on every bind: the global default, not lowered on a bind."""
    config = iaas.file_ending(step, "haproxy.cfg")
    if not config:
        return unevaluated(f"the load-balancer step on {step.get('host')} writes no haproxy.cfg")
    lines = [line.strip() for line in config.splitlines()]
    default = next((line for line in lines if line.startswith("ssl-default-bind-options")), "")
    versions = re.findall(r"ssl-min-ver\s+(\S+)", default)
    if not versions or versions[-1] not in TLS_VERSIONS_OK:
        return False, "haproxy's ssl-default-bind-options do not set ssl-min-ver TLSv1.2 or newer"
    lowered = [
        v
        for line in lines
        if line.startswith("bind ")
        for v in re.findall(r"ssl-min-ver\s+(\S+)", line)
        if v not in TLS_VERSIONS_OK
    ]
    if lowered:
        return False, f"a bind lowers the minimum to {lowered[0]}"
    return True, f"HAProxy binds accept {versions[-1]} or newer"


def patroni_rest_api(step: ResourceView) -> Verdict:
    """Patroni's REST API (health, switchover) serves TLS: restapi.certfile and keyfile."""
    try:
        document = yaml.safe_load(iaas.file_ending(step, ".yml") or "") or {}
    except yaml.YAMLError:
        return unevaluated(f"the patroni configuration on {step.get('host')} is not YAML")
    restapi = document.get("restapi") if isinstance(document, dict) else None
    if not isinstance(restapi, dict) or not restapi.get("listen"):
        return unevaluated(f"the patroni configuration on {step.get('host')} has no restapi.listen")
    if restapi.get("certfile") and restapi.get("keyfile"):
        return True, f"Patroni REST API on {restapi['listen']} serves TLS"
    return False, f"Patroni REST API on {restapi['listen']} serves plain HTTP (no restapi.certfile/keyfile)"


def etcd_urls(step: ResourceView) -> list[str]:
    """The URLs an etcd member listens on (peers and clients)."""
    conf = iaas.settings(iaas.file_ending(step, "/etc/default/etcd"))
    return [
        url.strip()
        for key in ("ETCD_LISTEN_PEER_URLS", "ETCD_LISTEN_CLIENT_URLS")
        for url in conf.get(key, "").split(",")
        if url.strip()
    ]


def etcd_tls(step: ResourceView) -> Verdict:
    urls = etcd_urls(step)
    if not urls:
        return unevaluated(f"the etcd step on {step.get('host')} sets no listen URLs")
    plain = [u for u in urls if urlsplit(u).scheme != "https"]
    if plain:
        return False, f"etcd serves plain HTTP on {', '.join(plain)}"
    return True, f"etcd serves TLS only on {', '.join(urls)}"


def etcd_private(step: ResourceView) -> Verdict:
    """etcd listens on the member's own private address and loopback only."""
    urls = etcd_urls(step)
    if not urls:
        return unevaluated(f"the etcd step on {step.get('host')} sets no listen URLs")
    own = {iaas.host_address(step), "127.0.0.1", "::1", "localhost"}
    foreign = [u for u in urls if urlsplit(u).hostname not in own]
    if foreign:
        return False, f"etcd listens on {', '.join(foreign)}: not the member's own address"
    public = [u for u in urls if iaas.is_global(str(urlsplit(u).hostname)) and urlsplit(u).hostname != "localhost"]
    if public:
        return False, f"etcd listens on the public address {public[0]}"
    return True, f"etcd listens on {', '.join(urls)} only"


ETCD_PORTS = (2379, 2380)


def etcd_firewall(stack: StackView, step: ResourceView) -> Verdict:
    """The member's firewall admits etcd's ports from the members' own addresses only."""
    members = {f"{a}/32" for s in iaas.steps(stack) if iaas.kind(s) == "etcd" and (a := iaas.host_address(s))}
    firewalls = iaas.same_host(stack, step, "firewall")
    if not firewalls:
        return unevaluated(f"no firewall step on {step.get('host')}: who reaches etcd cannot be shown")
    strangers = sorted(
        {
            str(source)
            for firewall in firewalls
            for service in (iaas.spec_value(firewall, "services") or [])
            if isinstance(service, list) and len(service) == 2 and int(service[0]) in ETCD_PORTS
            for source in service[1]
            if str(source) not in members
        }
    )
    if strangers:
        return False, f"the firewall on {step.get('host')} admits {', '.join(strangers)} to etcd, not a member"
    return True, f"the firewall on {step.get('host')} admits only the etcd members to ports 2379/2380"
