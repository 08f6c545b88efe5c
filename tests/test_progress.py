"""The one progress display: counts as counts, bytes in IEC units, the same in bars and summaries."""

from __future__ import annotations

from rich.progress import Progress

from opcloud.progress import BYTES, AmountColumn, RateColumn, iec


def test_sizes_are_iec_everywhere() -> None:
    assert [iec(n) for n in (0, 1023, 1024, 1536, 5 * 1024**2, 3 * 1024**4)] == [
        "0 B", "1023 B", "1.0 KiB", "1.5 KiB", "5.0 MiB", "3.0 TiB",
    ]  # fmt: skip


def test_counts_are_never_shown_as_bytes() -> None:
    bars = Progress()
    objects = bars.add_task("copying", total=2000, unit="objects")
    size = bars.add_task("", total=3 * 1024**2, unit=BYTES)
    bars.advance(objects, 700)
    bars.advance(size, 1024**2)
    amount = AmountColumn()
    assert amount.render(bars.tasks[objects]).plain == "700/2,000 objects"
    assert amount.render(bars.tasks[size]).plain == "1.0 MiB/3.0 MiB"
    assert "B" not in RateColumn().render(bars.tasks[objects]).plain
