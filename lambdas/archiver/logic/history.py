"""Questions about job history, answered from the history table with Query only.

A small public API for scripts as well as the CLI::

    from archiver.logic.history import HistoryRepository

    history = HistoryRepository("transcribe-jobs", region="eu-west-1")
    for run in history.list_runs(status="FAILED", since="2026-11-22", limit=20):
        print(run["JobName"], run.get("FailureReason"))
    calls = list(history.list_runs(kind="call-analytics", since="2026-11-22"))

Every method reads with ``Query`` on the table or one of its indexes (never ``Scan``), so
the cost of a question grows with the size of its answer, not of the table. Items come
back as plain Python (numbers as ``int``/``float``) with the contract's attribute names.
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from archiver import contract
from archiver.aws import clients
from archiver.contract import FINISHED_STATUSES, JobKind
from archiver.store.history_queries import Filter, HistoryQueries
from archiver.store.record import HistoryRecord
from archiver.timefmt import iso_ms, parse_iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

STATUSES: Final = FINISHED_STATUSES

TimeBound = str | datetime
#: The date-only forms that name one day: extended (2026-11-23) and basic (20261123).
_DATE_ONLY = re.compile(r"\d{4}-?\d{2}-?\d{2}")
Tag = tuple[str, str]


def normalize_time(value: TimeBound, *, end_of_day: bool = False) -> str:
    """A time as the table stores it (``2026-11-23T10:15:02.123Z``).

    Accepts ISO 8601 with ``Z`` or an offset (converted to UTC), a naive time (taken as
    UTC), or a date alone (``2026-11-23`` or ``20261123``): midnight UTC, or with
    ``end_of_day`` (an upper bound) the day's last millisecond, so ``--until 2026-11-23``
    includes the 23rd. Other date-only forms (week dates such as ``2026-W48``) are no
    calendar day and are refused. Raises ValueError naming the bad value.
    """
    if isinstance(value, datetime):
        return iso_ms(value)
    text = value.strip()
    if _is_date_only(text):
        if not _DATE_ONLY.fullmatch(text):
            raise ValueError(
                f"{value!r}: a date alone must be a calendar date "
                "(2026-11-23 or 20261123), not a week or ordinal date"
            )
        day = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        if end_of_day:
            day += timedelta(days=1, milliseconds=-1)
        return iso_ms(day)
    try:
        return iso_ms(parse_iso(text))
    except ValueError:
        raise ValueError(
            f"{value!r} is not an ISO 8601 date or time "
            "(e.g. 2026-11-23, 2026-11-23T10:15:02Z or 2026-11-23T11:15:02+01:00)"
        ) from None


def _is_date_only(text: str) -> bool:
    """Whether ``text`` is any ISO 8601 date without a time (which Python reads as midnight)."""
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def parse_kind(value: JobKind | str) -> JobKind:
    """A job kind as the CLI spells it (``call-analytics``) or as items store it."""
    if isinstance(value, JobKind):
        return value
    for kind in JobKind:
        if value.strip().lower() in (kind.option, kind.value.lower()):
            return kind
    choices = " or ".join(kind.option for kind in JobKind)
    raise ValueError(f"{value!r} is not a job kind: use {choices}")


def parse_tag(text: str) -> Tag:
    """``KEY=VALUE`` (split at the first ``=``; the value may be empty) to a pair."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"{text!r} is not KEY=VALUE (e.g. Department=Sales)")
    return key.strip(), value


class HistoryRepository:
    """Read-only access to the history table's job runs."""

    def __init__(
        self,
        table_name: str,
        *,
        dynamodb_client: DynamoDBClient | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        """``dynamodb_client``: a client to use; otherwise one with the archiver's retries
        for ``region``/``endpoint_url`` (None: boto3's own resolution from the environment).
        """
        self.table_name = table_name
        self._queries = HistoryQueries(
            dynamodb_client or clients(region, endpoint_url).dynamodb, table_name
        )

    def list_runs(
        self,
        *,
        status: str | None = None,
        since: TimeBound | None = None,
        until: TimeBound | None = None,
        language: str | None = None,
        tag: Tag | str | None = None,
        limit: int | None = None,
        kind: JobKind | str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Job runs, newest ``CompletedAt`` first, read lazily page by page.

        ``status``: COMPLETED or FAILED (None: both). ``since``/``until``: inclusive bounds
        on ``CompletedAt``. ``language``: a language code such as ``de-DE``. ``tag``:
        ``(key, value)`` or ``"key=value"``. ``kind``: ``"transcription"``,
        ``"call-analytics"``, ``"medical"`` or ``"medical-scribe"`` (or a :class:`JobKind`;
        None: every kind; items written before job kinds existed are transcription runs).
        ``limit``: stop after this many runs (and read no further pages). Runs without
        ``CompletedAt`` (not finished) are in no index and therefore never listed. Raises
        ValueError for a bad argument before any request.
        """
        if status is not None and status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        if isinstance(tag, str):
            tag = parse_tag(tag)
        job_kind = parse_kind(kind) if kind is not None else None
        low = normalize_time(since) if since is not None else None
        high = normalize_time(until, end_of_day=True) if until is not None else None
        if low is not None and high is not None and low > high:
            raise ValueError(f"since ({low}) is later than until ({high})")

        where = Filter()
        if job_kind is JobKind.TRANSCRIPTION:
            where.equals_or_missing("JobKind", job_kind.value)
        elif job_kind is not None:
            where.equals(("JobKind",), job_kind.value)
        if tag is not None:
            where.equals(("Tags", tag[0]), tag[1])
        if language is not None:
            partitions = [(contract.INDEX_BY_LANGUAGE, language)]
            if status is not None:
                where.equals((contract.INDEXES[contract.INDEX_BY_STATUS][0],), status)
        else:
            partitions = [
                (contract.INDEX_BY_STATUS, s) for s in ((status,) if status else STATUSES)
            ]

        streams = [
            self._queries.by_index(
                index,
                key_value,
                low=low,
                high=high,
                where=where,
                # A filter is applied after Limit counts items, so Limit would only shorten
                # pages; without one, no stream can contribute more than `limit` items.
                page_size=limit if not where else None,
            )
            for index, key_value in partitions
        ]
        merged: Iterator[HistoryRecord] = (
            streams[0]
            if len(streams) == 1
            else heapq.merge(*streams, key=lambda r: str(r.completed_at), reverse=True)
        )
        runs = (r.to_plain() for r in merged)
        return itertools.islice(runs, limit) if limit is not None else runs

    def runs_of(self, job_name: str) -> list[dict[str, Any]]:
        """Every recorded run of a job name, newest ``CreatedAt`` first."""
        return [r.to_plain() for r in self._queries.runs_of(job_name)]

    def latest_runs(self, job_name: str) -> list[dict[str, Any]]:
        """The newest recorded run of each job kind that has used the name, newest first.

        Jobs of different kinds (transcription, Call Analytics, Medical, HealthScribe) may
        share a name; each is its own job. A purge tombstone counts for the kind it records;
        one written before tombstones kept ``JobKind`` belongs to no kind we can tell, so it
        is shown beside the others (the newest such) rather than in place of a kind's live run.
        """
        latest: dict[JobKind | None, HistoryRecord] = {}
        for run in self._queries.runs_of(job_name):
            unknown = run.job_kind is None and run.archive_status == contract.PURGED
            latest.setdefault(None if unknown else run.kind, run)
            if len(latest) == len(JobKind) + 1:
                break
        return [r.to_plain() for r in latest.values()]

    def latest_run(self, job_name: str) -> dict[str, Any] | None:
        """The newest recorded run of a job name, or None when the table has none."""
        latest = next(self._queries.runs_of(job_name, page_size=1), None)
        return latest.to_plain() if latest is not None else None
