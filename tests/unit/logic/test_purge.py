"""Where purge looks for a run's objects: never beyond the run's own folder."""

from __future__ import annotations

from typing import Any

import pytest
from archiver.contract import ARCHIVED, INCOMPLETE, JobKind
from archiver.errors import PurgeRefusedError
from archiver.logic.purge import Purger, base_created_at
from archiver.store.archive_versions import ArchiveVersions
from archiver.store.history_table import HistoryTable
from archiver.store.record import HistoryRecord

PREFIXES = {JobKind.TRANSCRIPTION: "transcripts/", JobKind.CALL_ANALYTICS: "call-analytics/"}
CREATED = "2026-11-23T10:15:02.123Z"
FOLDER = "transcripts/call-1/20261123T101502Z/"


def purger(aws: dict[str, Any]) -> Purger:
    aws["s3"].put_bucket_versioning(
        Bucket=aws["bucket"], VersioningConfiguration={"Status": "Enabled"}
    )
    return Purger(
        HistoryTable(aws["dynamodb"], aws["table"]),
        ArchiveVersions(aws["s3"], aws["bucket"]),
        PREFIXES,
        identity=lambda: "arn:aws:iam::123456789012:user/dpo",
    )


def record(aws: dict[str, Any], **fields: Any) -> None:
    table = HistoryTable(aws["dynamodb"], aws["table"])
    assert table.put_if_absent(HistoryRecord(job_name="call-1", **fields))


def test_given_an_archive_uri_wider_than_the_runs_folder_then_purge_refuses_it(
    aws: dict[str, Any],
) -> None:
    """An item naming ``transcripts/`` would otherwise erase every job's archive."""
    for key in (FOLDER + "transcript.json", "transcripts/someone-else/20261123T101502Z/a"):
        aws["s3"].put_object(Bucket=aws["bucket"], Key=key, Body=b"x")
    record(
        aws,
        created_at=CREATED,
        archive_status=ARCHIVED,
        archive_uri=f"s3://{aws['bucket']}/transcripts/",
    )

    with pytest.raises(PurgeRefusedError, match="not a folder of that run"):
        purger(aws).plan("call-1")


def test_given_a_run_keyed_with_its_kind_and_no_archive_uri_then_its_kinds_folder_is_used(
    aws: dict[str, Any],
) -> None:
    key = f"{CREATED}#CALL_ANALYTICS"
    record(aws, created_at=key, job_kind=JobKind.CALL_ANALYTICS, archive_status=INCOMPLETE)
    folder = "call-analytics/call-1/20261123T101502Z/"
    aws["s3"].put_object(Bucket=aws["bucket"], Key=folder + "job.json", Body=b"x")

    plan = purger(aws).plan("call-1", CREATED, JobKind.CALL_ANALYTICS)

    (run,) = plan.runs
    assert base_created_at(run.created_at) == CREATED
    assert run.folders == [folder]
    assert [v.key for v in run.versions] == [folder + "job.json"]
