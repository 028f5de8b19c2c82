"""How history items look on a terminal, in JSON and in CSV."""

from __future__ import annotations

import csv
import json
import sys
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from rich import box
from rich.table import Table
from rich.text import Text

from archiver.contract import JobKind

if TYPE_CHECKING:
    from archiver.logic.backfill import JobResult

CSV_COLUMNS: Final = (
    "JobName",
    "CreatedAt",
    "CompletedAt",
    "JobStatus",
    "ArchiveStatus",
    "LanguageCode",
    "MediaFileUri",
    "ArchiveUri",
    "FailureReason",
    "ArchiveError",
    "Tags",
    "JobKind",
)
#: Order of the attributes in ``history show``; any others follow alphabetically.
SHOW_ORDER: Final = (
    "JobName",
    "CreatedAt",
    "JobKind",
    "JobStatus",
    "ArchiveStatus",
    "ArchiveError",
    "FailureReason",
    "StartedAt",
    "CompletedAt",
    "ArchivedAt",
    "LanguageCode",
    "LanguageCodes",
    "IdentifiedLanguageScore",
    "MediaFileUri",
    "MediaFormat",
    "MediaSampleRateHertz",
    "Specialty",
    "Type",
    "ContentIdentificationType",
    "SubtitleFormats",
    "ChannelDefinitions",
    "AnalyticsSkipped",
    "Tags",
    "Settings",
    "ContentRedaction",
    "ArchiveUri",
    "Outputs",
)
REASON_WIDTH: Final = 60


def print_json(runs: list[dict[str, Any]]) -> None:
    sys.stdout.write(json.dumps(runs, indent=2, ensure_ascii=False) + "\n")


def print_csv(runs: list[dict[str, Any]]) -> None:
    # Values are written as stored: no spreadsheet-formula escaping, which would change them.
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for run in runs:
        writer.writerow([_csv_cell(name, run.get(name)) for name in CSV_COLUMNS])


def _csv_cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name == "Tags" or isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def runs_table(runs: list[dict[str, Any]]) -> Table:
    table = Table(
        # Compact, so that an 80-column terminal shows every column.
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        caption=f"{len(runs)} job run{'s' if len(runs) != 1 else ''}, newest first",
    )
    table.add_column("Completed (UTC)", no_wrap=True)
    table.add_column("Job · tags", overflow="fold", min_width=12, ratio=1)
    table.add_column("Lang", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Archive", no_wrap=True)
    table.add_column("Reason", min_width=12, ratio=1)
    for run in runs:
        job = text(run.get("JobName"))
        # Transcription is the common case; only the other kind is spelled out.
        kind = _kind_label(run.get("JobKind"))
        note = " · ".join(part for part in (kind, _tags(run.get("Tags"))) if part)
        if note:
            job.append_text(text("\n" + note, "dim"))
        reason = run.get("FailureReason") or run.get("ArchiveError") or ""
        table.add_row(
            text(_short_time(run.get("CompletedAt"))),
            job,
            text(run.get("LanguageCode") or ",".join(run.get("LanguageCodes") or [])),
            text(run.get("JobStatus"), "red" if run.get("JobStatus") == "FAILED" else ""),
            text(
                run.get("ArchiveStatus"),
                "green" if run.get("ArchiveStatus") == "ARCHIVED" else "yellow",
            ),
            text(shorten(str(reason), REASON_WIDTH)),
        )
    return table


def run_table(run: dict[str, Any], title: str | None) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("attribute", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    others = sorted(k for k in run if k not in SHOW_ORDER)
    for name in (*SHOW_ORDER, *others):
        if name not in run:
            continue
        value = run[name]
        if name == "Outputs" and isinstance(value, dict):
            for output, stored in sorted(value.items()):
                table.add_row(text(f"Outputs · {output}"), text(_output_line(stored)))
        elif name == "Tags" and isinstance(value, dict):
            table.add_row(text(name), text(_tags(value)))
        elif isinstance(value, dict | list):
            table.add_row(text(name), text(json.dumps(value, sort_keys=True)))
        else:
            table.add_row(text(name), text(value))
    return table


def _short_time(value: Any) -> str:
    """``2026-11-23T10:15:02.123Z`` as ``2026-11-23 10:15:02``: tables are for reading."""
    raw = "" if value is None else str(value)
    return raw[:19].replace("T", " ") if len(raw) >= 19 else raw


def _kind_label(value: Any) -> str:
    if value is None or value == JobKind.TRANSCRIPTION.value:
        return ""
    try:
        return JobKind(value).option
    except ValueError:
        return str(value)


def _tags(value: Any) -> str:
    if not isinstance(value, dict):
        return "" if value is None else str(value)
    return ", ".join(f"{k}={v}" for k, v in sorted(value.items()))


def _output_line(stored: Any) -> str:
    if not isinstance(stored, dict):
        return str(stored)
    parts = [
        str(stored.get("S3Uri", "")),
        f"{stored['Bytes']} bytes" if "Bytes" in stored else "",
        f"sha256 {stored['Sha256']}" if "Sha256" in stored else "",
        str(stored.get("ContentType", "")),
    ]
    return "\n".join(p for p in parts if p)


def text(value: Any, style: str = "") -> Text:
    """Cell text taken literally: no rich markup, no terminal control characters."""
    raw = "" if value is None else str(value)
    clean = "".join(ch if ch == "\n" or unicodedata.category(ch) != "Cc" else " " for ch in raw)
    return Text(clean, style=style)


def shorten(value: str, width: int) -> str:
    value = " ".join(value.split())
    return value if len(value) <= width else value[: width - 1] + "…"


def pending_table(pending: Iterable[JobResult], title: str) -> Table:
    """What a ``--dry-run`` of ``backfill`` or ``sweep`` would archive, a job a row."""
    table = Table(title=title)
    for column in ("Job", "Created", "Status", "In the table now"):
        table.add_column(column, overflow="fold")
    for result in pending:
        job = result.job
        table.add_row(text(job.name), text(job.created_at), text(job.status), text(result.reason))
    return table
