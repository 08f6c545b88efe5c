"""Backup schedules as each cloud writes them: pure functions, tested without Pulumi.

One policy (full weekly, differential daily, logs every 5-10 minutes) becomes AWS Backup cron rules,
Azure recurrence strings and pgBackRest timers, so every cloud runs the same schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_AWS_DAY = {
    "monday": "MON",
    "tuesday": "TUE",
    "wednesday": "WED",
    "thursday": "THU",
    "friday": "FRI",
    "saturday": "SAT",
    "sunday": "SUN",
}
_CRON_DAY = {"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6}


@dataclass(frozen=True)
class BackupSchedule:
    full_weekday: str
    start: time
    log_interval_minutes: int
    retention_days: int

    def __post_init__(self) -> None:
        if self.full_weekday not in WEEKDAYS:
            raise ValueError(f"unknown weekday {self.full_weekday!r}")
        if not 5 <= self.log_interval_minutes <= 10:
            raise ValueError("log backups run every 5 to 10 minutes")

    @property
    def differential_weekdays(self) -> list[str]:
        """Every day but the full backup's day."""
        return [day for day in WEEKDAYS if day != self.full_weekday]


def aws_full_cron(schedule: BackupSchedule) -> str:
    """AWS Backup rule (UTC): the weekly full backup."""
    return f"cron({schedule.start.minute} {schedule.start.hour} ? * {_AWS_DAY[schedule.full_weekday]} *)"


def aws_differential_cron(schedule: BackupSchedule) -> str:
    """AWS Backup rule (UTC): the daily backup on the six other days.

    AWS snapshots after the first are incremental, so these are the daily differentials.
    """
    days = ",".join(_AWS_DAY[d] for d in schedule.differential_weekdays)
    return f"cron({schedule.start.minute} {schedule.start.hour} ? * {days} *)"


def azure_full_repeating_interval(schedule: BackupSchedule, anchor_date: str | None = None) -> str:
    """ISO 8601 repeating interval of Azure Backup: weekly from an anchor date on the full day.

    The anchor defaults to a date falling on `schedule.full_weekday`, so the week repeats on that day.
    """
    anchor = anchor_date or azure_anchor_date(schedule.full_weekday)
    return f"R/{anchor}T{schedule.start.strftime('%H:%M:%S')}+00:00/P1W"


def systemd_full_calendar(schedule: BackupSchedule) -> str:
    """systemd OnCalendar of the weekly full backup on an IaaS host."""
    return f"{schedule.full_weekday[:3].capitalize()} *-*-* {schedule.start.strftime('%H:%M')}:00 UTC"


def systemd_differential_calendar(schedule: BackupSchedule) -> str:
    days = ",".join(d[:3].capitalize() for d in schedule.differential_weekdays)
    return f"{days} *-*-* {schedule.start.strftime('%H:%M')}:00 UTC"


def cron_full(schedule: BackupSchedule) -> str:
    """Classic crontab line fields (minute hour dom month dow) of the weekly full backup."""
    return f"{schedule.start.minute} {schedule.start.hour} * * {_CRON_DAY[schedule.full_weekday]}"


def archive_timeout_seconds(schedule: BackupSchedule) -> int:
    """PostgreSQL archive_timeout: a WAL segment is shipped at least this often."""
    return schedule.log_interval_minutes * 60


def azure_retention_duration(days: int) -> str:
    """ISO 8601 duration of an Azure Backup retention rule (`P35D`)."""
    if days < 1:
        raise ValueError(f"retention must be at least one day, got {days}")
    return f"P{days}D"


def azure_anchor_date(weekday: str) -> str:
    """A date falling on `weekday`, to anchor an Azure weekly repeating interval on the right day."""
    if weekday not in WEEKDAYS:
        raise ValueError(f"unknown weekday {weekday!r}")
    return f"2024-01-{1 + WEEKDAYS.index(weekday):02d}"  # 2024-01-01 was a Monday
