"""The three IaaS stacks under Pulumi's mocks: every DESIGN.md row, every host step with its inputs, secrets
masked; and the environment's inventory validation."""

from __future__ import annotations

import json

import pytest

from components.iaas.components import COMPONENT_TYPES
from components.iaas.plan import plan
from stacks.environment import from_config, open_stack
from stacks.synth import synth

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
    assert kinds == {"packages", "firewall", "iscsi-attach", "luks", "filesystem", "nfs-mount", "postgresql",
                     "pgbackrest", "documents-backup", "app-unit", "audit-rules", "log-shipping"}  # fmt: skip
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
    pg = manifest.named("prozorro-prod-database-db-1-postgresql").inputs["spec"]["files"]
    conf, hba = pg["/etc/postgresql/15/main/conf.d/50-opcloud.conf"], pg["/etc/postgresql/15/main/pg_hba.conf"]
    assert "ssl = on" in conf and "archive_timeout = 300" in conf and "archive_mode = on" in conf
    remote = [line for line in hba.splitlines() if line.startswith("host")]
    assert remote[-2:] == ["host    all   all   0.0.0.0/0   reject", "host    all   all   ::/0        reject"]
    assert all(line.startswith("hostssl") for line in remote[:-2])
    assert "hostssl procurement all 10.60.1.11/32 scram-sha-256" in hba
    backup = manifest.named("prozorro-prod-backups-db-1-pgbackrest").inputs["spec"]["files"]
    assert "OnCalendar=Sun *-*-* 01:00:00 UTC" in backup["/etc/systemd/system/pgbackrest-full.timer"]
    assert (
        "OnCalendar=Mon,Tue,Wed,Thu,Fri,Sat *-*-* 01:00:00 UTC" in backup["/etc/systemd/system/pgbackrest-diff.timer"]
    )
    assert "repo1-retention-full=5" in backup["/etc/pgbackrest/pgbackrest.conf"]
    assert "10.61.250.20" not in json.dumps(manifest.named("prozorro-prod-app-api-1-app-api").inputs["spec"])


def test_mtender_schedule_and_no_bastion() -> None:
    manifest = synth("mtender-md-prod")
    pg = manifest.named("mtender-prod-database-db-1-postgresql").inputs["spec"]["files"]
    assert "archive_timeout = 600" in pg["/etc/postgresql/15/main/conf.d/50-opcloud.conf"]
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
        (lambda inv: inv["nfs"][1].update(hosts=["db-1"]), "inventory.nfs[0].hosts: docs host docs-1 runs"),
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
    from components.iaas.plan import host_steps
    from policies.check import check_manifest, context_of
    from policies.rules.encryption_in_transit import iaas_storage_protocols

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
    assert messages == ["iSCSI volume pgdata: mutual CHAP as prozorro-db-1, target answers as denovo-kyiv1"]


def test_mutual_chap_needs_both_name_and_secret() -> None:
    from opcloud.errors import InputError

    stack_file = open_stack("prozorro-ua-prod")
    config = json.loads(json.dumps(stack_file.config))
    config["opcloud:inventory"]["iscsi"][0]["chap"]["targetUsername"] = "denovo-kyiv1"
    with pytest.raises(InputError, match="mutual CHAP needs both targetUsername and targetPassword"):
        from_config(config, "Pulumi.x.yaml")
