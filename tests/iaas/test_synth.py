"""The three IaaS stacks under Pulumi's mocks: every DESIGN.md row, every host step with its inputs, secrets
masked; and the environment's inventory validation."""

from __future__ import annotations

import json

import pytest
import yaml
from opcloud.components.iaas.components import COMPONENT_TYPES
from opcloud.hosts.plan import plan
from opcloud.stacks.synth import synth

from opcloud.config.environment import from_config, open_stack

PATRONI = "/etc/patroni/config.yml"
STACKS = ("prozorro-ua-prod", "prozorro-ua-staging", "mtender-md-prod")


@pytest.mark.parametrize("stack", STACKS)
def test_every_row_and_every_step(stack: str) -> None:
    manifest = synth(stack)
    stack_file = open_stack(stack)
    environment = from_config(stack_file.config, str(stack_file.path))
    for type_ in COMPONENT_TYPES.values():
        manifest.one(type_)
    steps = {(r.inputs["host"], r.inputs["step"]): r for r in manifest.of_type("pulumi-python:dynamic:Resource")}
    expected = {(p.host.name, s.name) for p in plan(environment) for s in p.steps}
    assert set(steps) == expected
    kinds = {r.inputs["kind"] for r in steps.values()}
    ha = {"load-balancer", "etcd", "patroni"} if environment.is_production else {"postgresql"}
    assert kinds == {"packages", "firewall", "iscsi-attach", "luks", "filesystem", "nfs-mount",
                     "pgbackrest", "documents-backup", "release", "audit-rules", "log-shipping",
                     "vulnerability-scan", *ha}  # fmt: skip
    # Each step sits in its row's component and waits for the previous step of its host.
    for resource in steps.values():
        parent = next(r for r in manifest.resources if r.urn == resource.parent)
        assert parent.type == COMPONENT_TYPES[resource.inputs["row"]]
    assert manifest.outputs["networkId"] == environment.region
    assert manifest.outputs["backupVault"].endswith(f"({environment.backup.copy_region})")


def test_step_inputs_and_masked_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = synth("prozorro-ua-prod")
    luks = manifest.named("prozorro-prod-keys-db-1-luks-pgdata").inputs
    assert luks["spec"]["key"] == "config:iaas:pgdataLuksKey"
    assert luks["secretRefs"] == {"LUKS_KEY": {"config": "iaas:pgdataLuksKey"}}
    assert luks["secretConfig"] == "[secret]" and luks["__provider"] == "[secret]"
    assert luks["connection"]["bastion"]["address"] == "203.0.113.10"
    iscsi = manifest.named("prozorro-prod-keys-db-1-iscsi-pgdata").inputs
    assert iscsi["spec"]["target"] == "iqn.2024-01.ua.denovo:kyiv1.prozorro-prod.pgdata" and iscsi["spec"]["lun"] == 1
    assert "node.startup -v automatic" in iscsi["apply"]
    nfs = manifest.named("prozorro-prod-backups-db-1-nfs-backups").inputs
    assert nfs["spec"]["server"] == "10.61.250.20" and nfs["spec"]["sec"] == "krb5p"
    assert "nfsvers=4.2" in nfs["check"] and ",hard," in nfs["check"] and "_netdev" in nfs["check"]
    # prod runs Patroni: PostgreSQL's settings and pg_hba live in its configuration.
    patroni = yaml.safe_load(manifest.named("prozorro-prod-database-db-1-patroni").inputs["spec"]["files"][PATRONI])
    conf = patroni["bootstrap"]["dcs"]["postgresql"]["parameters"]
    assert conf["ssl"] == "on" and conf["archive_timeout"] == 300 and conf["archive_mode"] == "on"
    assert conf["password_encryption"] == "scram-sha-256" and patroni["bootstrap"]["dcs"]["synchronous_mode"] is True
    hba = patroni["postgresql"]["pg_hba"]
    assert hba[-2:] == ["host all all 0.0.0.0/0 reject", "host all all ::/0 reject"]
    assert all(line.startswith(("hostssl", "local")) for line in hba[:-2])
    assert "hostssl procurement all 10.60.1.11/32 scram-sha-256" in hba
    assert "hostssl replication replicator 10.60.2.12/32 scram-sha-256" in hba
    assert "password" not in json.dumps(patroni["postgresql"]["authentication"])  # only in /run, from stdin
    secrets = manifest.named("prozorro-prod-database-db-1-patroni").inputs["secretRefs"]
    assert secrets == {"PG_SUPERUSER_PASSWORD": {"config": "iaas:pgSuperuserPassword"},
                       "PG_REPLICATION_PASSWORD": {"config": "iaas:pgReplicationPassword"}}  # fmt: skip
    backup = manifest.named("prozorro-prod-backups-db-1-pgbackrest").inputs["spec"]["files"]
    assert "OnCalendar=Sun *-*-* 01:00:00 UTC" in backup["/etc/systemd/system/pgbackrest-full.timer"]
    assert (
        "OnCalendar=Mon,Tue,Wed,Thu,Fri,Sat *-*-* 01:00:00 UTC" in backup["/etc/systemd/system/pgbackrest-diff.timer"]
    )
    assert "repo1-retention-full=5" in backup["/etc/pgbackrest/pgbackrest.conf"]
    assert "10.61.250.20" not in json.dumps(manifest.named("prozorro-prod-app-api-1-release-api").inputs["spec"])


def test_mtender_schedule_and_no_bastion() -> None:
    manifest = synth("mtender-md-prod")
    patroni = yaml.safe_load(manifest.named("mtender-prod-database-db-1-patroni").inputs["spec"]["files"][PATRONI])
    assert patroni["bootstrap"]["dcs"]["postgresql"]["parameters"]["archive_timeout"] == 600
    assert "bastion" not in manifest.named("mtender-prod-network-db-1-firewall").inputs["connection"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda inv: inv["iscsi"][0].update(luksKey={"value": "inline"}), "unknown key"),
        (lambda inv: inv["iscsi"][0].update(luksKey={"env": "A", "file": "/k"}), "exactly one of env, file or config"),
        (lambda inv: inv["nfs"][1].update(site="mcloud-chisinau-2"), "backups go to backup.copyRegion"),
        (lambda inv: inv["hosts"][0].update(bastion="nowhere"), "unknown bastion"),
        (lambda inv: inv["hosts"][0].update(address="192.168.1.1"), "outside network.cidr"),
        (lambda inv: inv.update(iscsi=[]), "needs an iscsi volume"),
        # The documents backup runs on docs-1: it must mount the second-site backup share, and have a password.
        (lambda inv: inv["nfs"][1].update(hosts=[h for h in inv["nfs"][1]["hosts"] if h != "docs-1"]),
         "inventory.nfs[0].hosts: docs host docs-1 runs"),
        (lambda inv: inv["nfs"][0].pop("backupPassword"), "inventory.nfs[0].backupPassword: required"),
        (
            lambda inv: inv["nfs"].append({**inv["nfs"][0], "name": "scans", "export": "/scans", "hosts": ["api-1"]}),
            "inventory.nfs[2].hosts: no docs host mounts the share",
        ),
        (
            lambda inv: inv["nfs"][1].update(backupPassword={"env": "X"}),
            "only a documents share is backed up by restic",
        ),
    ],
)
def test_inventory_errors_are_one_line(change, message: str) -> None:  # type: ignore[no-untyped-def]
    from opcloud.errors import InputError

    stack_file = open_stack("prozorro-ua-prod")
    config = json.loads(json.dumps(stack_file.config))
    change(config["opcloud:inventory"])
    with pytest.raises(InputError) as error:
        from_config(config, "Pulumi.x.yaml")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_backup_site_must_stay_in_the_country() -> None:
    stack_file = open_stack("prozorro-ua-prod")
    config = json.loads(json.dumps(stack_file.config))
    config["opcloud:backup"]["copyRegion"] = "mcloud-chisinau-2"
    with pytest.raises(Exception, match="outside jurisdiction UA"):
        from_config(config, "Pulumi.x.yaml")


def test_documents_backup_runs_from_one_docs_host_with_its_password_masked() -> None:
    manifest = synth("prozorro-ua-prod")
    steps = [r for r in manifest.of_type("pulumi-python:dynamic:Resource") if r.inputs["kind"] == "documents-backup"]
    assert [s.inputs["host"] for s in steps] == ["docs-1"]  # not api-1/api-2, which mount the share too
    backup = steps[0].inputs
    assert backup["row"] == "backups" and backup["spec"]["repository"] == "/srv/pgbackrest/restic/documents"
    assert backup["spec"]["password"] == "config:iaas:documentsResticPassword"
    assert backup["secretRefs"] == {"RESTIC_PASSWORD": {"config": "iaas:documentsResticPassword"}}
    assert backup["secretConfig"] == "[secret]"
    files = backup["spec"]["files"]
    timer = files["/etc/systemd/system/opcloud-docs-backup-documents.timer"]
    assert "OnCalendar=*-*-* 01:00:00 UTC" in timer
    assert (
        "OnCalendar=Sun *-*-* 01:00:00 UTC" in files["/etc/systemd/system/opcloud-docs-backup-documents-maintain.timer"]
    )
    script = files["/usr/local/sbin/opcloud-docs-backup-documents"]
    assert "--keep-daily 35 --keep-weekly 5 --prune" in script and "restic check" in script
    assert "RESTIC_PASSWORD_FILE=/etc/opcloud/restic-documents.password" in script


def test_mutual_chap_in_the_attach_step_and_the_policy_report() -> None:
    from opcloud.hosts.plan import host_steps
    from opcloud.policies.check import check_manifest, context_of
    from opcloud.policies.rules.encryption_in_transit import iaas_storage_protocols

    stack_file = open_stack("prozorro-ua-prod")
    config = json.loads(json.dumps(stack_file.config))
    chap = config["opcloud:inventory"]["iscsi"][0]["chap"]
    chap.update(targetUsername="denovo-kyiv1", targetPassword={"config": "iaas:pgdataTargetChapPassword"})
    environment = from_config(config, "Pulumi.x.yaml")
    assert environment.inventory is not None
    attach = next(s for s in host_steps(environment, environment.inventory.host("db-1")) if s.kind == "iscsi-attach")
    assert "node.session.auth.username_in -v denovo-kyiv1" in attach.apply
    assert 'node.session.auth.password_in -v "$CHAP_TARGET_PASSWORD"' in attach.apply
    assert 'grep -qx "node.session.auth.username_in = denovo-kyiv1"' in attach.check
    assert {k: v.describe() for k, v in attach.secrets.items()} == {
        "CHAP_PASSWORD": "config:iaas:pgdataChapPassword",
        "CHAP_TARGET_PASSWORD": "config:iaas:pgdataTargetChapPassword",
    }
    assert attach.inputs["chap_target_password"] == "config:iaas:pgdataTargetChapPassword"
    manifest = synth("prozorro-ua-prod")
    for i, r in enumerate(manifest.resources):
        if r.inputs.get("kind") == "iscsi-attach":
            spec = {
                **r.inputs["spec"],
                **{k: attach.inputs[k] for k in ("chap_target_username", "chap_target_password")},
            }
            manifest.resources[i] = type(r)(r.urn, r.type, r.name, r.parent, {**r.inputs, "spec": spec})
    result = check_manifest(manifest, context_of("prozorro-ua-prod"), [iaas_storage_protocols])
    messages = [f.message for f in result.results[0].passes if "iSCSI" in f.message]
    assert "iSCSI volume pgdata: mutual CHAP as prozorro-db-1, target answers as denovo-kyiv1" in messages


def test_mutual_chap_needs_both_name_and_secret() -> None:
    from opcloud.errors import InputError

    stack_file = open_stack("prozorro-ua-prod")
    config = json.loads(json.dumps(stack_file.config))
    config["opcloud:inventory"]["iscsi"][0]["chap"]["targetUsername"] = "denovo-kyiv1"
    with pytest.raises(InputError, match="mutual CHAP needs both targetUsername and targetPassword"):
        from_config(config, "Pulumi.x.yaml")
@pytest.mark.parametrize("stack", STACKS)
def test_release_with_its_health_gate_rolls_host_by_host(stack: str) -> None:
    manifest = synth(stack)
    stack_file = open_stack(stack)
    environment = from_config(stack_file.config, str(stack_file.path))
    release = environment.app.release
    assert release is not None
    steps = [r.inputs for r in manifest.of_type("pulumi-python:dynamic:Resource") if r.inputs["kind"] == "release"]
    app_hosts = [(h.name, role) for h in environment.inventory.hosts for role in ("api", "docs") if role in h.roles]
    assert [(s["host"], s["spec"]["role"]) for s in steps] == app_hosts
    for inputs in steps:
        role = release.role(inputs["spec"]["role"])
        spec = inputs["spec"]
        assert (spec["artifact"], spec["sha256"], spec["version"]) == (role.artifact, role.sha256, role.version)
        assert spec["healthPath"] == role.health_path == "/health"
        # The gate: the apply waits for the health path over TLS and switches back when it does not answer.
        assert "svc_wait_healthy" in inputs["apply"] and 'svc_switch "$previous"' in inputs["apply"]
        assert "--cacert" in inputs["apply"] and "https://$DOMAIN:$PORT$HEALTH_PATH" in inputs["apply"]
        assert 'if [ "$got" != "$SHA256" ]' in inputs["apply"]
        # Secrets by reference only, masked in the manifest.
        assert inputs["secretRefs"]["TLS_KEY"] == release.tls.key.model_dump(exclude_none=True)
        assert inputs["secretConfig"] == "[secret]"
        unit = spec["files"][f"/etc/systemd/system/{environment.platform}-{spec['role']}.service"]
        assert all(line in unit.splitlines() for line in ("NoNewPrivileges=yes", "ProtectSystem=strict"))
    # Each release waits for the one before it: one host at a time, as `opcloud hosts apply` rolls.
    ids = [f"{s['host']}/release-{s['spec']['role']}" for s in steps]
    assert [s["rollAfter"] for s in steps] == ["", *ids[:-1]]
    assert all(s["kind"] != "app-unit" for s in (r.inputs for r in manifest.of_type("pulumi-python:dynamic:Resource")))


@pytest.mark.parametrize("stack", ["prozorro-ua-prod", "mtender-md-prod"])
def test_prod_has_a_balancer_pair_in_front_of_the_services(stack: str) -> None:
    manifest = synth(stack)
    stack_file = open_stack(stack)
    environment = from_config(stack_file.config, str(stack_file.path))
    inventory = environment.inventory
    assert inventory is not None and inventory.load_balancers is not None
    steps = {(r.inputs["host"], r.inputs["step"]): r.inputs for r in manifest.of_type("pulumi-python:dynamic:Resource")}
    lb_1, lb_2 = (inventory.host(n) for n in inventory.load_balancers.hosts)
    for lb, peer in ((lb_1, lb_2), (lb_2, lb_1)):
        spec = steps[(lb.name, "load-balancer")]["spec"]
        haproxy, keepalived = (
            spec["files"]["/etc/haproxy/haproxy.cfg"],
            spec["files"]["/etc/keepalived/keepalived.conf"],
        )
        assert f"sc_http_req_rate(0) gt {environment.app.rate_limit}" in haproxy and "http_req_rate(5m)" in haproxy
        assert "bind :443 ssl crt" in haproxy and "ssl verify required" in haproxy
        assert "http-check send meth GET uri /health" in haproxy and "http-check expect status 200" in haproxy
        for host in inventory.hosts:
            if {"api", "docs"} & set(host.roles):
                assert f"server {host.name} {host.address}:443" in haproxy
        assert f"unicast_peer {{\n        {peer.address}\n    }}" in keepalived
        assert f"{inventory.load_balancers.virtual_address}/32" in keepalived
        # Validated by the daemons on the host before going live.
        apply = steps[(lb.name, "load-balancer")]["apply"]
        assert 'haproxy -c -q -f "$candidate"' in apply and 'keepalived -t -f "$candidate"' in apply
        rules = steps[(lb.name, "firewall")]["spec"]
        assert [443, [str(c) for c in environment.network.allowed_cidrs]] in rules["services"]
        assert rules["vrrp_peers"] == [f"{peer.address}/32"]
    # The services answer the balancers only.
    api = next(h for h in inventory.hosts if "api" in h.roles)
    assert [443, [f"{lb_1.address}/32", f"{lb_2.address}/32"]] in steps[(api.name, "firewall")]["spec"]["services"]


@pytest.mark.parametrize("stack", ["prozorro-ua-prod", "mtender-md-prod"])
def test_prod_has_a_standby_with_fenced_failover(stack: str) -> None:
    manifest = synth(stack)
    stack_file = open_stack(stack)
    environment = from_config(stack_file.config, str(stack_file.path))
    cluster = environment.inventory.database_cluster
    assert cluster is not None and environment.database.high_availability
    steps = {(r.inputs["host"], r.inputs["step"]): r.inputs for r in manifest.of_type("pulumi-python:dynamic:Resource")}
    members = [*cluster.hosts, cluster.witness]
    addresses = [f"{environment.inventory.host(n).address}/32" for n in members]
    assert {h for h, s in steps if s == "etcd"} == set(members)
    assert {h for h, s in steps if s == "patroni"} == set(cluster.hosts)
    assert {h for h, s in steps if s == "postgresql"} == set()  # Patroni alone runs PostgreSQL
    for name in members:
        services = dict((port, sources) for port, sources in steps[(name, "firewall")]["spec"]["services"])
        assert services[2379] == addresses and services[2380] == addresses
    for name in cluster.hosts:
        timers = steps[(name, "pgbackrest")]["spec"]["files"]
        full = timers["/etc/systemd/system/pgbackrest-full.service"]
        assert (
            f"ExecCondition=/usr/bin/curl -fsk -o /dev/null https://{environment.inventory.host(name).address}:8008/primary"
            in full
        )
        patroni = yaml.safe_load(steps[(name, "patroni")]["spec"]["files"][PATRONI])
        assert patroni["postgresql"]["data_dir"].startswith("/srv/pgdata/")  # on the encrypted volume
        assert "mountpoint -q /srv/pgdata" in steps[(name, "patroni")]["apply"]
        # Patroni reaches etcd over TLS with the member's client certificate.
        assert patroni["etcd3"]["protocol"] == "https"
        assert (patroni["etcd3"]["cacert"], patroni["etcd3"]["cert"]) == (
            "/run/opcloud/etcd/ca.crt",
            "/run/opcloud/etcd/member.crt",
        )
    for name in members:
        etcd = steps[(name, "etcd")]
        # The cluster CA by reference only (its key signs on the member, in RAM), masked in the manifest.
        assert etcd["secretRefs"] == {
            "ETCD_CA_CERT": cluster.ca_certificate.model_dump(exclude_none=True),
            "ETCD_CA_KEY": cluster.ca_key.model_dump(exclude_none=True),
        }
        assert etcd["secretConfig"] == "[secret]"
        settings = etcd["spec"]["files"]["/etc/default/etcd"]
        assert "ETCD_CLIENT_CERT_AUTH=true" in settings and "ETCD_PEER_CLIENT_CERT_AUTH=true" in settings
        assert "http://" not in settings


def test_single_primary_postgresql_where_there_is_no_cluster() -> None:
    pg = synth("prozorro-ua-staging").named("prozorro-staging-database-db-1-postgresql").inputs["spec"]["files"]
    conf, hba = pg["/etc/postgresql/15/main/conf.d/50-opcloud.conf"], pg["/etc/postgresql/15/main/pg_hba.conf"]
    assert "ssl = on" in conf and "archive_mode = on" in conf
    remote = [line for line in hba.splitlines() if line.startswith("host")]
    assert remote[-2:] == ["host    all   all   0.0.0.0/0   reject", "host    all   all   ::/0        reject"]
    assert all(line.startswith("hostssl") for line in remote[:-2])
