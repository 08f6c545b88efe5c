"""The load-balancer pair of a VM-only cloud: HAProxy (TLS, health checks, a per-client rate limit equivalent to
the WAF rule) and keepalived (the virtual address, VRRP by unicast to the peer only), from Debian's packages.

Both configurations are validated by the daemons themselves (`haproxy -c`, `keepalived -t`) on the host before
they replace the running ones: a configuration a daemon refuses never goes live.
"""

from __future__ import annotations

import base64

from opcloud.hosts.release import ROLE_PORTS
from opcloud.hosts.script import ManagedFile, Step

from opcloud.config.environment import Environment, LoadBalancerPair, SshHost

LB_PACKAGES = ("haproxy", "keepalived", "ca-certificates")
HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"
RATE_WINDOW = "5m"  # the WAF rule's evaluation window (300 s)
# Paths routed to the document service, as the ALB's listener rule does; everything else goes to the API.
DOCS_PREFIX = "/documents/"


def pair(environment: Environment) -> LoadBalancerPair:
    assert environment.inventory is not None and environment.inventory.load_balancers is not None
    return environment.inventory.load_balancers


def secrets_dir(environment: Environment) -> str:
    return f"/run/opcloud/{environment.platform}-lb"


def haproxy_config(environment: Environment) -> str:
    inventory = environment.inventory
    release = environment.app.release
    assert inventory is not None and release is not None
    run = secrets_dir(environment)
    domain = environment.app.domain
    allowed = " ".join(str(c) for c in environment.network.allowed_cidrs)
    lines = [
        "# managed by opcloud: TLS for the platform, health-checked backends, per-client rate limit",
        "global",
        "    log /dev/log local0",
        "    user haproxy",
        "    group haproxy",
        "    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets",
        "    ssl-default-server-options ssl-min-ver TLSv1.2",
        "defaults",
        "    mode http",
        "    log global",
        "    option httplog",
        "    timeout connect 5s",
        "    timeout client 30s",
        "    timeout server 60s",
        "frontend public",
        f"    bind :443 ssl crt {run}/site.pem alpn h2,http/1.1",
        f"    acl allowed src {allowed}",
        "    http-request deny deny_status 403 if !allowed",
        # As the WAF's rate-based rule: more than rateLimit requests from one address in 5 minutes are refused.
        f"    stick-table type ipv6 size 1m expire {RATE_WINDOW} store http_req_rate({RATE_WINDOW})",
        "    http-request track-sc0 src",
        f"    http-request deny deny_status 429 if {{ sc_http_req_rate(0) gt {environment.app.rate_limit} }}",
        "    http-response set-header Strict-Transport-Security max-age=31536000",
        f"    use_backend docs if {{ path_beg {DOCS_PREFIX} }}",
        "    default_backend api",
    ]
    for role in ("api", "docs"):
        hosts = [h for h in inventory.hosts if role in h.roles]
        lines += [
            f"backend {role}",
            "    balance roundrobin",
            "    option httpchk",
            f"    http-check send meth GET uri {release.role(role).health_path} hdr Host {domain}",
            "    http-check expect status 200",
            # The hosts' certificate is the platform's: checked against the system roots and the certificate
            # itself (a private or self-signed one), for the platform's name.
            f"    default-server check inter 2s fall 2 rise 2 ssl verify required ca-file {run}/backend-ca.pem "
            f"verifyhost {domain} sni str({domain})",
            *(f"    server {h.name} {h.address}:{ROLE_PORTS[role]}" for h in hosts),
        ]
    return "\n".join(lines) + "\n"


def keepalived_config(environment: Environment, host: SshHost) -> str:
    lbs = pair(environment)
    assert environment.inventory is not None
    peer = environment.inventory.host(next(n for n in lbs.hosts if n != host.name))
    priority = 150 if host.name == lbs.hosts[0] else 100
    return "\n".join(
        [
            "# managed by opcloud: the virtual address follows a host whose HAProxy runs",
            "global_defs {",
            f"    router_id {host.name}",
            "    enable_script_security",
            "    script_user root",
            "}",
            "vrrp_script haproxy_alive {",
            '    script "/bin/systemctl is-active --quiet haproxy.service"',
            "    interval 1",
            "    fall 2",
            "    rise 2",
            "}",
            f"vrrp_instance {environment.platform}_{environment.environment} {{",
            "    state BACKUP",
            f"    interface {lbs.interface}",
            f"    virtual_router_id {lbs.virtual_router_id}",
            f"    priority {priority}",
            "    advert_int 1",
            f"    unicast_src_ip {host.address}",
            "    unicast_peer {",
            f"        {peer.address}",
            "    }",
            "    virtual_ipaddress {",
            f"        {lbs.virtual_address}/32 dev {lbs.interface}",
            "    }",
            "    track_script {",
            "        haproxy_alive",
            "    }",
            "}",
            "",
        ]
    )


def balancer_step(environment: Environment, host: SshHost) -> Step:
    release = environment.app.release
    assert release is not None
    run = secrets_dir(environment)
    haproxy = ManagedFile(HAPROXY_CFG, haproxy_config(environment), "640", "root:haproxy")
    keepalived = ManagedFile(KEEPALIVED_CONF, keepalived_config(environment, host), "640")
    check = "\n".join(
        [
            f'[ -s {run}/site.pem ] || drift "the TLS material is not in {run} (a reboot clears it: apply again)"',
            haproxy.check(),
            keepalived.check(),
            f'haproxy -c -q -f {HAPROXY_CFG} >/dev/null 2>&1 || drift "haproxy refuses {HAPROXY_CFG}"',
            *(f'unit_enabled {u} || drift "{u} is not enabled"' for u in ("haproxy.service", "keepalived.service")),
            *(f"unit_active_or_offline {u}" for u in ("haproxy.service", "keepalived.service")),
        ]
    )
    # Each file is written beside its target, validated by its daemon, and only then renamed over it.
    apply = "\n".join(
        [
            "changed=0",
            f"install -d -m 700 -o root -g root {run}",
            "umask 077",
            f'site=$(mktemp {run}/.site.XXXXXX); printf "%s\\n%s\\n" "$TLS_CERT" "$TLS_KEY" > "$site"',
            f'if [ "$(sha_of "$site")" != "$(sha_of {run}/site.pem)" ]; then mv -f "$site" {run}/site.pem; changed=1; '
            'else rm -f "$site"; fi',
            f'ca=$(mktemp {run}/.ca.XXXXXX); {{ cat /etc/ssl/certs/ca-certificates.crt; printf "%s\\n" "$TLS_CERT"; }} '
            f'> "$ca"; mv -f "$ca" {run}/backend-ca.pem',
            "umask 022",
            f"if ! ( {haproxy.check()} ) >/dev/null; then",
            f"  candidate=$(mktemp {HAPROXY_CFG}.opcloud.XXXXXX)",
            f"  base64 -d > \"$candidate\" <<'OPCLOUD_EOF'\n{_b64(haproxy.content)}\nOPCLOUD_EOF",
            '  haproxy -c -q -f "$candidate" || { rm -f "$candidate"; '
            'echo "haproxy refuses the new configuration" >&2; exit 1; }',
            f'  chmod 640 "$candidate"; chown root:haproxy "$candidate"; mv -f "$candidate" {HAPROXY_CFG}; changed=1',
            "fi",
            f"if ! ( {keepalived.check()} ) >/dev/null; then",
            f"  candidate=$(mktemp {KEEPALIVED_CONF}.opcloud.XXXXXX)",
            f"  base64 -d > \"$candidate\" <<'OPCLOUD_EOF'\n{_b64(keepalived.content)}\nOPCLOUD_EOF",
            '  keepalived -t -f "$candidate" >/dev/null 2>&1 || { rm -f "$candidate"; '
            'echo "keepalived refuses the new configuration" >&2; exit 1; }',
            f'  chmod 640 "$candidate"; mv -f "$candidate" {KEEPALIVED_CONF}; changed=1',
            "fi",
            "unit_enable haproxy.service",
            "unit_enable keepalived.service",
            "if systemd_up; then",
            "  systemctl daemon-reload",
            '  if [ "$changed" = 1 ]; then systemctl restart haproxy.service keepalived.service; fi',
            "  systemctl is-active --quiet haproxy.service || systemctl start haproxy.service",
            "  systemctl is-active --quiet keepalived.service || systemctl start keepalived.service",
            "fi",
        ]
    )
    lbs = pair(environment)
    inputs = {
        "virtualAddress": str(lbs.virtual_address),
        "virtualRouterId": lbs.virtual_router_id,
        "rateLimit": environment.app.rate_limit,
        "rateWindow": RATE_WINDOW,
        "files": {HAPROXY_CFG: haproxy.content, KEEPALIVED_CONF: keepalived.content},
    }
    return Step(
        host=host.name,
        name="load-balancer",
        kind="load-balancer",
        row="app",
        check=check,
        apply=apply,
        inputs=inputs,
        secrets={"TLS_CERT": release.tls.certificate, "TLS_KEY": release.tls.key},
    )


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
