"""How a scale set rolls a new model (a new release, a new OS image): one host per batch, each gated by the
health extension, stopped at the first unhealthy upgraded host with that host rolled back."""

from __future__ import annotations

import math

from pulumi_azure_native import compute

from opcloud.errors import InputError

SMALLEST_BATCH_PERCENT = 5  # Azure accepts maxBatchInstancePercent from 5 to 100
PAUSE_BETWEEN_BATCHES = "PT2M"  # like the AWS instance refresh's warm-up: the gateway probe sees the host first


def one_host_percent(role: str, max_size: int) -> int:
    """maxBatchInstancePercent that makes a batch one host at any capacity up to `max_size`: capacity x percent
    stays at or below 100, so a batch is a single host whichever way Azure rounds."""
    percent = 100 // max_size
    if percent < SMALLEST_BATCH_PERCENT:
        raise InputError(
            f"app.{role}.max: {max_size} hosts cannot roll one at a time on Azure (the smallest batch is "
            f"{SMALLEST_BATCH_PERCENT}% of the scale set, so at most {100 // SMALLEST_BATCH_PERCENT} hosts)"
        )
    return percent


def rolling_upgrade_policy(role: str, min_size: int, max_size: int) -> compute.RollingUpgradePolicyArgs:
    return compute.RollingUpgradePolicyArgs(
        max_batch_instance_percent=one_host_percent(role, max_size),
        # Before each batch: one host of the smallest group may be down (the one being upgraded, or one already
        # unhealthy, which prioritize_unhealthy_instances upgrades first).
        max_unhealthy_instance_percent=max(math.ceil(100 / min_size), one_host_percent(role, max_size)),
        # After each batch: any unhealthy upgraded host stops the roll.
        max_unhealthy_upgraded_instance_percent=0,
        pause_time_between_batches=PAUSE_BETWEEN_BATCHES,
        prioritize_unhealthy_instances=True,
        rollback_failed_instances_on_policy_breach=True,
        max_surge=False,  # upgrade in place: the release extension runs again, the old version stays to go back to
    )
