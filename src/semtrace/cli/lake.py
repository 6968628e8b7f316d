"""``semtrace lake compact|status``: look after a Parquet lake that owners feed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from semtrace.cli import app
from semtrace.cli._common import console, fail
from semtrace.exceptions import SemtraceError
from semtrace.integrations.parquet import parse_since
from semtrace.lake.compact import DEFAULT_GRACE_S, DEFAULT_TARGET_ROWS, compact
from semtrace.lake.status import lake_status

lake_app = typer.Typer(
    name="lake",
    help="A Parquet lake fed by owners (`semtrace serve --lake DIR`): compact it, see it.",
    no_args_is_help=True,
)
app.add_typer(lake_app)

LakeDir = Annotated[Path, typer.Argument(help="The lake's folder.", show_default=False)]


def _instant(option: str, value: str) -> datetime:
    """The instant a duration (30d, 2w, 12h) or ISO date before now names."""
    try:
        instant = parse_since(value)
    except SemtraceError:
        raise fail(f"{option} {value!r} is not a duration like 30d, 2w, 12h, 0s") from None
    assert instant is not None
    return instant


@lake_app.command("compact")
def compact_command(
    lake: LakeDir,
    retention: Annotated[
        str | None,
        typer.Option(help="Delete days older than this (30d, 2w, 12h); default: keep all."),
    ] = None,
    target_rows: Annotated[
        int, typer.Option(min=1, help="Rows per merged file at most.")
    ] = DEFAULT_TARGET_ROWS,
    grace: Annotated[
        str,
        typer.Option(
            help="Keep replaced files this long for queries still reading them (10m, 0s)."
        ),
    ] = f"{int(DEFAULT_GRACE_S)}s",
) -> None:
    """Merge each partition's small files and apply a retention window (safe while owners
    write; one compaction at a time)."""
    now = datetime.now(UTC)
    keep = now - _instant("--retention", retention) if retention else None
    grace_s = max(0.0, (now - _instant("--grace", grace)).total_seconds())
    try:
        report = compact(lake, retention=keep, target_rows=target_rows, grace_s=grace_s, now=now)
    except SemtraceError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot compact {lake}: {exc}") from None
    console.print(
        f"merged {report.files_in} files into {report.files_out} in {report.partitions} "
        f"partitions ({report.rows} rows); removed {report.removed_files} replaced files"
        + (
            f"; expired {len(report.expired_partitions)} day partitions"
            if report.expired_partitions
            else ""
        ),
        highlight=False,
    )


@lake_app.command("status")
def status_command(lake: LakeDir) -> None:
    """Owners writing the lake (how far each has published) and files per table."""
    try:
        status = lake_status(lake)
    except SemtraceError as exc:
        raise fail(str(exc)) from None
    for table, (files, size) in status.tables.items():
        console.print(f"{table}: {files} files, {size / 1e6:.1f} MB", highlight=False)
    for owner in status.owners:
        age = datetime.now(UTC).timestamp() - owner.updated_at
        console.print(
            f"owner {owner.owner} ({owner.host}, {owner.db}): last published {age:.0f} s ago, "
            f"{owner.watermarks.get('spans', 0)} spans"
            + (" [cycle pending: rolled forward by its next start]" if owner.pending else ""),
            highlight=False,
        )
