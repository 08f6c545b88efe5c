"""Human-readable reports (the `--json` form is each report's to_dict())."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from opcloud.console import console


def _size(value: int) -> str:
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return str(value)


def _failures(title: str, items: list[Any], limit: int = 20) -> None:
    if not items:
        return
    console.print(f"[bold red]{title} ({len(items)}):[/]")
    for item in items[:limit]:
        if isinstance(item, dict):
            console.print(f"  {item['key']}: {item['reason']}", markup=False)
        else:
            console.print(f"  {item}", markup=False)
    if len(items) > limit:
        console.print(f"  ... and {len(items) - limit} more (see --json)")


def copy_report(data: dict[str, Any]) -> None:
    table = Table(title=f"{data['source']} -> {data['target']}" + (" (dry run)" if data["dry_run"] else ""))
    table.add_column("")
    table.add_column("objects", justify="right")
    table.add_column("bytes", justify="right")
    table.add_row("in source", str(data["listed"]), _size(data["listed_bytes"]))
    table.add_row("would copy" if data["dry_run"] else "copied", str(data["copied"]), _size(data["copied_bytes"]))
    table.add_row("unchanged", str(data["unchanged"]), "")
    table.add_row("deleted" if not data["dry_run"] else "would delete", str(data["deleted"]), "")
    if not data["dry_run"]:
        in_transit = str(data["verified_in_transit"])
        table.add_row("verified in transit (target checked our MD5; properties by HEAD)", in_transit, "")
        table.add_row("verified by reading back (SHA-256 and properties)", str(data["verified_read_back"]), "")
        if data["verified_partially"]:
            table.add_row("verified only in part (see not carried)", str(data["verified_partially"]), "")
        table.add_row("resumed parts", str(data["resumed_parts"]), "")
    console.print(table)
    if data["metadata_keys_mapped"]:
        keys = ", ".join(data["metadata_keys_mapped"])
        console.print(f"metadata keys renamed for the target (restored when copied back): {keys}", markup=False)
    console.print(f"carried and compared: key, bytes, {', '.join(data['carried'])}", markup=False)
    if data["not_carried"]:
        console.print(f"the target cannot hold: {', '.join(data['not_carried'])}", markup=False)
    _failures("refused (the target cannot hold these keys faithfully; nothing written for them)", data["refused"])
    _failures("failed", data["failed"])
    console.print(f"{'[green]ok[/]' if data['ok'] else '[red]NOT complete[/]'} in {data['seconds']:.1f} s")


def verify_report(data: dict[str, Any]) -> None:
    console.print(f"verify {data['source']} -> {data['target']}", markup=False)
    console.print(
        f"  {data['verified']} of {data['objects']} objects ({_size(data['bytes'])}) are the same: bytes (SHA-256), "
        f"{', '.join(data['carried'])}"
    )
    if data["verified_partially"]:
        partly, lacking = data["verified_partially"], data["not_carried"]
        console.print(f"  {partly} match only in part: the target cannot hold {lacking}", markup=False)
    if data["extra"]:
        console.print(f"  {data['extra']} objects in the target are not in the source")
    _failures("missing in the target", data["missing"])
    _failures("different", data["mismatched"])
    console.print("[green]ok[/]" if data["ok"] else "[red]verification FAILED[/]")


def plan_report(data: dict[str, Any]) -> None:
    console.print(f"plan {data['plan']} ({data['action']}), jurisdiction {data['jurisdiction'] or 'not set'}")
    for pair in data["pairs"]:
        console.print(f"\n[bold]{pair['kind']}.{pair['name']}[/]")
        report = pair["report"]
        if report.get("kind") == "copy":
            copy_report(report)
        elif report.get("kind") == "verify":
            verify_report(report)
        else:
            for key, value in report.items():
                console.print(f"  {key}: {value}", markup=False)
    console.print("\n[green]plan ok[/]" if data["ok"] else "\n[red]plan NOT complete[/]")
