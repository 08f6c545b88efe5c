"""Human-readable reports (the `--json` form is each report's to_dict())."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from opcloud.console import console
from opcloud.progress import iec

DRY_RUN_SHOWN = 50


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
    table = Table(title=f"{data['source']} -> {data['target']}" + (" (dry run)" if data["dryRun"] else ""))
    table.add_column("")
    table.add_column("objects", justify="right")
    table.add_column("bytes", justify="right")
    table.add_row("in source", str(data["listed"]), iec(data["listedBytes"]))
    table.add_row("would copy" if data["dryRun"] else "copied", str(data["copied"]), iec(data["copiedBytes"]))
    table.add_row("unchanged", str(data["unchanged"]), "")
    table.add_row("deleted" if not data["dryRun"] else "would delete", str(data["deleted"]), "")
    if not data["dryRun"]:
        in_transit = str(data["verifiedInTransit"])
        table.add_row("verified: the target checked our checksum of every byte (properties by HEAD)", in_transit, "")
        on_write = str(data["verifiedOnWrite"])
        table.add_row("verified: hashed as written to the file, not read back (properties by HEAD)", on_write, "")
        by_digest = str(data["verifiedByServiceDigest"])
        table.add_row("verified: the service's MD5 of what it stored is ours (properties listed)", by_digest, "")
        table.add_row("verified: read back (SHA-256 and properties)", str(data["verifiedReadBack"]), "")
        if data["resent"]:
            table.add_row("sent again (read back different right after the write)", str(data["resent"]), "")
        if data["verifiedPartially"]:
            table.add_row("verified only in part (see not carried)", str(data["verifiedPartially"]), "")
        table.add_row("resumed parts", str(data["resumedParts"]), "")
    console.print(table)
    if data["metadataKeysMapped"]:
        keys = ", ".join(data["metadataKeysMapped"])
        console.print(f"metadata keys renamed for the target (restored when copied back): {keys}", markup=False)
    console.print(f"carried and compared: key, bytes, {', '.join(data['carried'])}", markup=False)
    if data["notCarried"]:
        console.print(f"the target cannot hold: {', '.join(data['notCarried'])}", markup=False)
    _failures("refused (the target cannot hold these keys faithfully; nothing written for them)", data["refused"])
    _failures("failed", data["failed"])
    if data["dryRun"] and data["would"]:
        shown = data["would"][:DRY_RUN_SHOWN]
        console.print(f"[bold]would ({data['copied']:,} to copy, {data['deleted']:,} to delete):[/]")
        for item in shown:
            console.print(f"  {item['action']:<7} {item['key']}", markup=False)
        if data["copied"] + data["deleted"] > len(shown):
            console.print(f"  ... ({len(data['would']):,} named in --json)")
    if "shards" in data:  # a sharded run: its counts come from the state of record
        state = data["state"]
        console.print(f"{data['shards']:,} shards; the state records {state['objects']:,} objects, "
                      f"{state['verified']:,} verified, {state['uploadsInFlight']:,} uploads in flight")  # fmt: skip
    console.print(f"{'[green]ok[/]' if data['ok'] else '[red]NOT complete[/]'} in {data['seconds']:.1f} s")


def verify_report(data: dict[str, Any]) -> None:
    console.print(f"verify {data['source']} -> {data['target']}", markup=False)
    console.print(
        f"  {data['verified']} of {data['objects']} objects ({iec(data['bytes'])}) are the same: bytes (SHA-256), "
        f"{', '.join(data['carried'])}"
    )
    if data["verifiedPartially"]:
        partly, lacking = data["verifiedPartially"], data["notCarried"]
        console.print(f"  {partly} match only in part: the target cannot hold {lacking}", markup=False)
    if data["extra"]:
        console.print(f"  {data['extra']} objects in the target are not in the source")
    _failures("missing in the target", data["missing"])
    _failures("different", data["mismatched"])
    console.print("[green]ok[/]" if data["ok"] else "[red]verification FAILED[/]")


def _plain(value: Any) -> str:
    """A value as people read it: never Python's True, None or [..]."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(_plain(item) for item in value) or "none"
    return str(value)


def _offline_pair(report: dict[str, Any]) -> None:
    if "source" in report:
        source = f"{report['source']} ({report.get('sourceCountry') or 'location unknown'})"
        target = f"{report['target']} ({report.get('targetCountry') or 'location unknown'})"
        console.print(f"  {source}\n  -> {target}", markup=False, soft_wrap=True)
    for problem in report["problems"]:
        console.print(f"  [red]problem:[/] {escape(problem)}")
    if report["ok"]:
        console.print("  [green]ok[/]")


def status_report(data: dict[str, Any]) -> None:
    """One pair's recorded progress."""
    if data["state"] is None:
        console.print("no copy of this pair is recorded in this state directory (see --state-dir)")
        return
    console.print(f"state: {data['state']}", markup=False)
    console.print(
        f"  {data['verified']:,} of {data['objects']:,} objects verified ({iec(data['bytes'])}), "
        f"{data['uploadsInFlight']:,} large uploads in flight"
    )
    # The state knows only what a run recorded: a run stopped before listing everything may have recorded less.
    console.print(
        "  [green]every recorded object verified[/] (the state only: a copy run again says whether anything is left)"
        if data["ok"]
        else "  [yellow]not complete[/]: run the copy again"
    )


def plan_report(data: dict[str, Any]) -> None:
    console.print(f"plan {data['plan']} ({data['action']}), jurisdiction {data['jurisdiction'] or 'not set'}")
    for pair in data["pairs"]:
        console.print(f"\n[bold]{pair['kind']}.{pair['name']}[/]")
        report = pair["report"]
        if report.get("kind") == "copy":
            copy_report(report)
        elif report.get("kind") == "verify":
            verify_report(report)
        elif "problems" in report:
            _offline_pair(report)
        else:
            for key, value in report.items():
                console.print(f"  {key}: {_plain(value)}", markup=False)
    console.print("\n[green]plan ok[/]" if data["ok"] else "\n[red]plan NOT complete[/]")
