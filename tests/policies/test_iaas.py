"""Rules over IaaS host steps (components/iaas/steps.py): the files they write are the evidence."""

from dataclasses import replace

from opcloud.policies.iaas import calendar_days, pg_hba_plain_lines
from opcloud.policies.rules.backups import backup_log_interval, backup_schedule
from opcloud.policies.rules.encryption_at_rest import encryption_at_rest
from opcloud.policies.rules.encryption_in_transit import postgres_ssl_required
from opcloud.policies.rules.public_access import no_world_open_data_ports

from tests.policies.conftest import EU_AWS, make, run, verdict

STEP = "pulumi-python:dynamic:Resource"
UA = replace(EU_AWS, jurisdiction="UA", cloud="iaas", region="denovo-kyiv-1")
CONF = "/etc/postgresql/15/main/conf.d/50-opcloud.conf"
HBA = "/etc/postgresql/15/main/pg_hba.conf"


def _pg(conf: str, hba: str = "hostssl all all 10.0.0.1/32 scram-sha-256\n") -> object:
    return make(STEP, "pg", kind="postgresql", host="db-1", spec={"files": {HBA: hba, CONF: conf}})


def test_calendar_and_pg_hba_parsing() -> None:
    assert calendar_days("OnCalendar=Sun *-*-* 01:00:00 UTC") == {"sunday"}
    assert len(calendar_days("OnCalendar=Mon..Sat *-*-* 01:00:00 UTC")) == 6
    assert pg_hba_plain_lines("host all all 0.0.0.0/0 reject\nhost all all 10.0.0.0/8 md5") == [
        "host all all 10.0.0.0/8 md5"
    ]


def test_self_managed_postgres_tls() -> None:
    assert verdict(postgres_ssl_required, _pg("ssl = on\n"), context=UA) is True
    assert verdict(postgres_ssl_required, _pg("ssl = off\n"), context=UA) is False
    plain = "host all all 10.0.0.0/8 scram-sha-256\n"
    assert verdict(postgres_ssl_required, _pg("ssl = on\n", plain), context=UA) is False


def test_wal_archiving_interval() -> None:
    good = "archive_mode = on\narchive_command = 'pgbackrest archive-push %p'\narchive_timeout = 300\n"
    assert verdict(backup_log_interval, _pg(good), context=UA) is True
    slow = good.replace("300", "3600")
    assert verdict(backup_log_interval, _pg(slow), context=UA) is False
    assert verdict(backup_log_interval, _pg("archive_mode = off\n"), context=UA) is False


def test_pgbackrest_timers_give_the_schedule() -> None:
    timers = {
        "/etc/systemd/system/pgbackrest-full.timer": "[Timer]\nOnCalendar=Sun *-*-* 01:00:00 UTC\n",
        "/etc/systemd/system/pgbackrest-diff.timer": "[Timer]\nOnCalendar=Mon,Tue,Wed,Thu,Fri,Sat *-*-* 01:00:00 UTC\n",
    }
    step = make(STEP, "bk", kind="pgbackrest", host="db-1", spec={"files": timers})
    assert all(f.ok for f in run(backup_schedule, step, context=UA))
    only_full = make(STEP, "bk", kind="pgbackrest", host="db-1", spec={"files": dict(list(timers.items())[:1])})
    assert not run(backup_schedule, only_full, context=UA)[0].ok


def test_filesystem_must_sit_on_luks() -> None:
    fs = make(STEP, "fs", kind="filesystem", host="db-1", spec={"device": "/dev/mapper/opcloud-pgdata", "volume": "pg"})
    luks = make(STEP, "luks", kind="luks", host="db-1", spec={"volume": "pg", "key": "config:iaas:key"})
    assert verdict(encryption_at_rest, fs, luks, context=UA) is True
    raw = make(STEP, "fs", kind="filesystem", host="db-1", spec={"device": "/dev/sdb", "volume": "pg"})
    assert verdict(encryption_at_rest, raw, luks, context=UA) is False


def test_nftables_world_open_postgres() -> None:
    open_pg = make(STEP, "fw", kind="firewall", host="db-1", spec={"admin": [], "services": [[5432, ["0.0.0.0/0"]]]})
    assert verdict(no_world_open_data_ports, open_pg, context=UA) is False
    limited = make(STEP, "fw", kind="firewall", host="db-1", spec={"admin": ["192.0.2.0/28"], "services": []})
    assert verdict(no_world_open_data_ports, limited, context=UA) is True
