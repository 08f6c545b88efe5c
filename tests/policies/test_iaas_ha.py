"""The pack reads the HA host steps of issue 19: Patroni's patroni.yml as the database's settings, the release,
the HAProxy pair and etcd. Each reading: the shipped prod stack passes, a broken step is caught."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import yaml
from opcloud.stacks.synth import Manifest, ManifestResource

from tests.policies.conftest import check

Synth = Callable[[str], Manifest]
PROD = "prozorro-ua-prod"
PATRONI = "/etc/patroni/config.yml"
HAPROXY = "/etc/haproxy/haproxy.cfg"
DATABASE_RULES = (
    "tls-minimum-version",
    "postgres-ssl-required",
    "database-not-public",
    "backup-log-interval",
    "point-in-time-restore",
    "data-access-logging",
    "backup-coverage",
)


def _steps(manifest: Manifest, kind: str) -> list[tuple[int, ManifestResource]]:
    found = [(i, r) for i, r in enumerate(manifest.resources) if r.inputs.get("kind") == kind]
    assert found, f"the stack has no {kind} step"
    return found


def _edit_file(manifest: Manifest, kind: str, path: str, edit: Callable[[str], str]) -> None:
    """Rewrite one file of the first `kind` step; the edit must change it."""
    i, step = _steps(manifest, kind)[0]
    files = dict(step.inputs["spec"]["files"])
    changed = edit(files[path])
    assert changed != files[path], "the edit changed nothing"
    files[path] = changed
    manifest.resources[i] = replace(step, inputs={**step.inputs, "spec": {**step.inputs["spec"], "files": files}})


def _edit_patroni(manifest: Manifest, edit: Callable[[dict[str, Any]], None]) -> None:
    def rewrite(text: str) -> str:
        document = yaml.safe_load(text)
        edit(document)
        return yaml.safe_dump(document, sort_keys=False)

    _edit_file(manifest, "patroni", PATRONI, rewrite)


def _dcs_parameters(document: dict[str, Any]) -> dict[str, Any]:
    return document["bootstrap"]["dcs"]["postgresql"]["parameters"]


def _results(manifest: Manifest) -> dict[str, Any]:
    return {r.rule.name: r for r in check(manifest).results}


def _status(manifest: Manifest, rule: str) -> str:
    return _results(manifest)[rule].status


def test_prod_patroni_members_are_judged_by_every_database_rule(synthesized: Synth) -> None:
    manifest = synthesized(PROD)
    patroni_urns = {r.urn for _, r in _steps(manifest, "patroni")}
    results = _results(manifest)
    for rule in DATABASE_RULES:
        judged = {f.urn for f in results[rule].findings if f.ok}
        assert results[rule].status == "passed", (rule, [f.message for f in results[rule].findings])
        assert patroni_urns <= judged, f"{rule} does not judge the Patroni members"


def test_prod_release_balancer_and_patroni_api_are_judged_for_tls(synthesized: Synth) -> None:
    manifest = synthesized(PROD)
    result = _results(manifest)["no-plaintext-listeners"]
    assert result.status == "passed"
    judged = {f.urn for f in result.findings}
    for kind in ("release", "load-balancer", "patroni"):
        assert {r.urn for _, r in _steps(manifest, kind)} <= judged, kind


def test_staging_single_server_still_judged(synthesized: Synth) -> None:
    results = _results(synthesized("prozorro-ua-staging"))
    for rule in (*DATABASE_RULES, "no-plaintext-listeners"):
        assert results[rule].status == "passed", rule


@pytest.mark.parametrize(
    ("rule", "edit"),
    [
        ("postgres-ssl-required", lambda d: _dcs_parameters(d).update(ssl=False)),  # `ssl: off` as YAML reads it
        ("postgres-ssl-required", lambda d: d["postgresql"]["parameters"].update(ssl="off")),  # local override
        ("postgres-ssl-required", lambda d: d["postgresql"]["pg_hba"].insert(0, "hostssl all all 10.0.0.0/8 trust")),
        ("postgres-ssl-required", lambda d: d["postgresql"]["pg_hba"].insert(0, "host all all 10.0.0.0/8 md5")),
        ("postgres-ssl-required", lambda d: d["postgresql"]["pg_hba"].insert(0, "hostssl all all 10.0.0.0/8 md5")),
        ("tls-minimum-version", lambda d: _dcs_parameters(d).update(ssl_min_protocol_version="TLSv1")),
        ("backup-log-interval", lambda d: _dcs_parameters(d).update(archive_timeout=3600)),
        ("backup-log-interval", lambda d: _dcs_parameters(d).update(archive_command="cp %p /tmp/%f")),
        ("point-in-time-restore", lambda d: _dcs_parameters(d).update(archive_mode="off")),
        ("data-access-logging", lambda d: _dcs_parameters(d).update(log_connections="off")),
        ("database-not-public", lambda d: d["postgresql"].update(listen="0.0.0.0:5432")),
        ("database-not-public", lambda d: d["postgresql"].update(listen="203.0.113.5,127.0.0.1:5432")),
        ("no-plaintext-listeners", lambda d: d["restapi"].pop("certfile")),
    ],
)
def test_a_broken_patroni_member_is_caught(
    rule: str, edit: Callable[[dict[str, Any]], None], synthesized: Synth
) -> None:
    manifest = synthesized(PROD)
    _edit_patroni(manifest, edit)
    assert _status(manifest, rule) == "violated"


def test_patroni_without_pg_hba_is_incomplete_not_compliant(synthesized: Synth) -> None:
    manifest = synthesized(PROD)
    _edit_patroni(manifest, lambda d: d["postgresql"].pop("pg_hba"))
    assert _status(manifest, "postgres-ssl-required") == "incomplete"
    assert check(manifest).mandatory_incomplete


def test_unreadable_patroni_config_is_incomplete(synthesized: Synth) -> None:
    manifest = synthesized(PROD)
    _edit_file(manifest, "patroni", PATRONI, lambda text: text + "\n  : [unbalanced\n")
    for rule in ("postgres-ssl-required", "tls-minimum-version", "point-in-time-restore"):
        assert _status(manifest, rule) == "incomplete", rule


@pytest.mark.parametrize(
    ("rule", "edit"),
    [
        (
            "no-plaintext-listeners",
            lambda t: t.replace(
                "frontend public", "frontend plain\n    bind :80\n    default_backend api\nfrontend public"
            ),
        ),
        ("no-plaintext-listeners", lambda t: t.replace(" ssl crt ", " crt-ignored ")),
        ("no-plaintext-listeners", lambda t: t.replace("ssl verify required", "ssl verify none")),
        ("tls-minimum-version", lambda t: t.replace("ssl-min-ver TLSv1.2 no-tls", "ssl-min-ver TLSv1.0 no-tls")),
    ],
)
def test_a_broken_balancer_is_caught(rule: str, edit: Callable[[str], str], synthesized: Synth) -> None:
    manifest = synthesized(PROD)
    _edit_file(manifest, "load-balancer", HAPROXY, edit)
    assert _status(manifest, rule) == "violated"


def test_a_plain_listener_that_only_redirects_is_accepted(synthesized: Synth) -> None:
    manifest = synthesized(PROD)
    redirect = "frontend redirect\n    bind :80\n    http-request redirect scheme https code 301\nfrontend public"
    _edit_file(manifest, "load-balancer", HAPROXY, lambda t: t.replace("frontend public", redirect))
    assert _status(manifest, "no-plaintext-listeners") == "passed"


def test_a_release_without_tls_is_caught(synthesized: Synth) -> None:
    manifest = synthesized(PROD)
    (i, step), *_ = _steps(manifest, "release")
    unit = next(p for p in step.inputs["spec"]["files"] if p.endswith(".service"))
    _edit_file(manifest, "release", unit, lambda t: t.replace(" --tls-cert ", " --no-tls-cert "))
    assert _status(manifest, "no-plaintext-listeners") == "violated"

    manifest = synthesized(PROD)
    (i, step), *_ = _steps(manifest, "release")
    secrets = {k: v for k, v in step.inputs["spec"]["secrets"].items() if k != "TLS_KEY"}
    manifest.resources[i] = replace(step, inputs={**step.inputs, "spec": {**step.inputs["spec"], "secrets": secrets}})
    assert _status(manifest, "no-plaintext-listeners") == "violated"

    manifest = synthesized(PROD)
    (i, step), *_ = _steps(manifest, "release")
    check_script = str(step.inputs["check"]).replace("https://$DOMAIN", "http://$DOMAIN")
    manifest.resources[i] = replace(step, inputs={**step.inputs, "check": check_script})
    assert _status(manifest, "no-plaintext-listeners") == "violated"


def test_etcd_speaks_tls_and_plain_http_is_a_violation(synthesized: Synth) -> None:
    manifest = synthesized(PROD)
    result = _results(manifest)["cluster-traffic-encrypted"]
    assert result.status == "passed" and result.rule.enforcement == "mandatory"  # a violation now fails the check
    for i, step in _steps(manifest, "etcd"):
        files = {p: t.replace("https://", "http://") for p, t in step.inputs["spec"]["files"].items()}
        manifest.resources[i] = replace(step, inputs={**step.inputs, "spec": {**step.inputs["spec"], "files": files}})
    result = _results(manifest)["cluster-traffic-encrypted"]
    assert result.status == "violated" and all("plain HTTP" in f.message for f in result.violations)
    assert len(result.violations) == len(_steps(manifest, "etcd"))


def test_etcd_listening_beyond_its_member_address_is_caught(synthesized: Synth) -> None:
    manifest = synthesized(PROD)
    assert _status(manifest, "database-not-public") == "passed"
    _edit_file(
        manifest,
        "etcd",
        "/etc/default/etcd",
        lambda t: t.replace("ETCD_LISTEN_CLIENT_URLS=https://", "ETCD_LISTEN_CLIENT_URLS=https://0.0.0.0:2379,https://"),
    )
    assert _status(manifest, "database-not-public") == "violated"


def test_an_unknown_step_kind_still_fails_closed(synthesized: Synth) -> None:
    manifest = synthesized(PROD)
    assert _status(manifest, "known-resource-types") == "passed"
    i, step = _steps(manifest, "etcd")[0]
    manifest.resources[i] = replace(step, inputs={**step.inputs, "kind": "consul"})
    assert _status(manifest, "known-resource-types") == "violated"


def test_prod_without_standby_or_balancer_pair_is_caught(synthesized: Synth) -> None:
    manifest = synthesized(PROD)
    assert _status(manifest, "iaas-high-availability") == "passed"
    db2 = [r for r in manifest.resources if r.inputs.get("kind") == "patroni" and r.inputs.get("host") == "db-2"]
    manifest.resources = [r for r in manifest.resources if r not in db2]
    assert _status(manifest, "iaas-high-availability") == "violated"

    manifest = synthesized(PROD)
    manifest.resources = [
        r
        for r in manifest.resources
        if not (r.inputs.get("kind") == "load-balancer" and r.inputs.get("host") == "lb-2")
    ]
    assert _status(manifest, "iaas-high-availability") == "violated"

    manifest = synthesized(PROD)
    manifest.resources = [
        r for r in manifest.resources if not (r.inputs.get("kind") == "etcd" and r.inputs.get("host") == "lb-1")
    ]
    assert _status(manifest, "iaas-high-availability") == "violated"


def test_staging_single_server_is_not_judged_for_high_availability(synthesized: Synth) -> None:
    assert _status(synthesized("prozorro-ua-staging"), "iaas-high-availability") == "not-applicable"


def test_etcd_reachable_by_a_non_member_is_caught(synthesized: Synth) -> None:
    manifest = synthesized(PROD)
    i, firewall = next((i, r) for i, r in _steps(manifest, "firewall") if r.inputs["host"] == "db-1")
    services = [
        [port, [*sources, "10.60.1.11/32"]] if port == 2379 else [port, sources]
        for port, sources in firewall.inputs["spec"]["services"]
    ]
    assert services != firewall.inputs["spec"]["services"]
    spec = {**firewall.inputs["spec"], "services": services}
    manifest.resources[i] = replace(firewall, inputs={**firewall.inputs, "spec": spec})
    assert _status(manifest, "database-not-public") == "violated"
