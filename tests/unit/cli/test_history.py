"""`transcribe-archiver history`: questions answered from the table (moto in-process).

Each test writes history items as the archiver stores them, runs the command line and
reads what a person (or a script) gets on stdout, stderr and in the exit status.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from archiver import cli
from archiver.cli import main
from archiver.contract import JobKind
from archiver.logic.history import HistoryRepository
from archiver.store.history_queries import HistoryQueries
from archiver.store.record import to_dynamo
from botocore.exceptions import EndpointConnectionError

TABLE = "jobs"


def put_run(
    db: Any,
    name: str,
    completed: str,
    *,
    status: str = "COMPLETED",
    created: str | None = None,
    archive: str = "ARCHIVED",
    language: str | None = "en-US",
    tags: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A history item shaped like the archiver's records."""
    created = created or completed.replace("T1", "T0", 1)
    item: dict[str, Any] = {
        "JobName": name,
        "CreatedAt": created,
        "JobStatus": status,
        "ArchiveStatus": archive,
        "StartedAt": created,
        "CompletedAt": completed,
        "ArchivedAt": completed,
        "LanguageCode": language,
        "MediaSampleRateHertz": 44100,
        "ArchiveUri": f"s3://archive-bucket/transcripts/{name}/{created[:4]}/",
        "Tags": tags,
    } | extra
    if status == "FAILED":
        item.setdefault("FailureReason", "Invalid sample rate for audio file")
    item = {k: v for k, v in item.items() if v is not None}
    db.put_item(TableName=TABLE, Item=to_dynamo(item))
    return item


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def names_in(out: str) -> list[str]:
    return [item["JobName"] for item in json.loads(out)]


@pytest.fixture
def calls(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every DynamoDB operation the command makes (recorded before it is sent)."""
    recorded: list[str] = []
    real_init = HistoryQueries.__init__

    def init(self: HistoryQueries, client: Any, table_name: str) -> None:
        real_init(self, client, table_name)
        client.meta.events.register(
            "before-call.dynamodb", lambda model, **_: recorded.append(model.name)
        )

    monkeypatch.setattr(HistoryQueries, "__init__", init)
    return recorded


@pytest.fixture
def db(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps tables at 80 columns off a terminal
    monkeypatch.setenv("JOBS_TABLE", TABLE)
    return aws["dynamodb"]


# -- list ---------------------------------------------------------------------------------


def test_given_runs_of_both_statuses_when_listing_then_they_come_newest_completed_first(
    db: Any, capsys: pytest.CaptureFixture[str], calls: list[str]
) -> None:
    put_run(db, "a-done", "2026-11-20T10:00:00.000Z")
    put_run(db, "b-failed", "2026-11-21T10:00:00.000Z", status="FAILED")
    put_run(db, "c-done", "2026-11-22T10:00:00.000Z")
    put_run(db, "d-failed", "2026-11-23T10:00:00.000Z", status="FAILED")
    put_run(db, "e-done", "2026-11-23T10:00:00.001Z")

    code, out, err = run_cli(capsys, "history", "list", "--output", "json")

    assert code == 0, err
    assert names_in(out) == ["e-done", "d-failed", "c-done", "b-failed", "a-done"]
    assert set(calls) == {"Query"}


def test_given_json_output_then_it_is_one_array_of_items_with_numbers_as_numbers(
    db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    stored = put_run(
        db,
        "call-1",
        "2026-11-23T10:15:02.123Z",
        IdentifiedLanguageScore=0.9876,
        Outputs={
            "transcript.json": {
                "S3Uri": "s3://archive-bucket/transcripts/call-1/x/transcript.json",
                "Bytes": 2048,
                "Sha256": "ab" * 32,
                "ContentType": "application/json",
            }
        },
        Tags={"Department": "Sales"},
    )

    code, out, _ = run_cli(capsys, "history", "list", "--output", "json")

    assert code == 0
    items = json.loads(out)
    assert items == [stored]
    assert isinstance(items[0]["MediaSampleRateHertz"], int)
    assert isinstance(items[0]["IdentifiedLanguageScore"], float)
    assert items[0]["Outputs"]["transcript.json"]["Bytes"] == 2048


def test_given_a_status_when_listing_then_only_that_partition_is_read(
    db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    put_run(db, "done", "2026-11-22T10:00:00.000Z")
    put_run(db, "failed-1", "2026-11-21T10:00:00.000Z", status="FAILED")
    put_run(db, "failed-2", "2026-11-23T10:00:00.000Z", status="FAILED")

    code, out, _ = run_cli(capsys, "history", "list", "--status", "failed", "--output", "json")

    assert code == 0
    assert names_in(out) == ["failed-2", "failed-1"]


def test_given_since_and_until_then_completed_at_is_bounded_inclusively(
    db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    put_run(db, "before", "2026-11-21T23:59:59.999Z")
    put_run(db, "at-start", "2026-11-22T00:00:00.000Z", status="FAILED")
    put_run(db, "inside", "2026-11-22T12:00:00.000Z")
    put_run(db, "at-end", "2026-11-23T09:00:00.000Z")
    put_run(db, "after", "2026-11-23T09:00:00.001Z", status="FAILED")

    code, out, _ = run_cli(
        capsys,
        "history",
        "list",
        "--since",
        "2026-11-22",  # a date alone: midnight UTC
        "--until",
        "2026-11-23T10:00:00+01:00",  # an offset: converted to UTC
        "--output",
        "json",
    )

    assert code == 0
    assert names_in(out) == ["at-end", "inside", "at-start"]


def test_given_only_since_or_only_until_then_the_other_side_is_open(
    db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    put_run(db, "old", "2026-10-01T10:00:00.000Z")
    put_run(db, "new", "2026-11-23T10:00:00.000Z")

    _, since_out, _ = run_cli(
        capsys, "history", "list", "--since", "2026-11-01T00:00:00Z", "--output", "json"
    )
    _, until_out, _ = run_cli(
        capsys, "history", "list", "--until", "2026-11-01", "--output", "json"
    )

    assert names_in(since_out) == ["new"]
    assert names_in(until_out) == ["old"]


@pytest.mark.parametrize("day", ["2026-11-22", "20261122"])
def test_given_a_date_alone_as_until_then_that_whole_day_is_included(
    db: Any, capsys: pytest.CaptureFixture[str], day: str
) -> None:
    put_run(db, "morning", "2026-11-22T00:00:00.000Z", status="FAILED")
    put_run(db, "last-ms", "2026-11-22T23:59:59.999Z", status="FAILED")
    put_run(db, "next-day", "2026-11-23T00:00:00.000Z", status="FAILED")

    code, out, _ = run_cli(
        capsys,
        "history",
        "list",
        "--status",
        "FAILED",
        "--since",
        day,
        "--until",
        day,
        "--output",
        "json",
    )

    assert code == 0
    assert names_in(out) == ["last-ms", "morning"]


def test_given_a_language_when_listing_then_the_language_index_answers_with_status_filtered(
    db: Any, capsys: pytest.CaptureFixture[str], calls: list[str]
) -> None:
    put_run(db, "german-done", "2026-11-20T10:00:00.000Z", language="de-DE")
    put_run(db, "german-failed", "2026-11-21T10:00:00.000Z", language="de-DE", status="FAILED")
    put_run(db, "english-done", "2026-11-22T10:00:00.000Z")

    _, german, _ = run_cli(capsys, "history", "list", "--language", "de-DE", "--output", "json")
    _, german_done, _ = run_cli(
        capsys,
        "history",
        "list",
        "--language",
        "de-DE",
        "--status",
        "COMPLETED",
        "--output",
        "json",
    )

    assert names_in(german) == ["german-failed", "german-done"]
    assert names_in(german_done) == ["german-done"]
    assert set(calls) == {"Query"}


def test_given_tags_when_filtering_by_one_then_only_runs_carrying_it_are_listed(
    db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    put_run(db, "sales-1", "2026-11-20T10:00:00.000Z", tags={"Department": "Sales"})
    put_run(db, "support", "2026-11-21T10:00:00.000Z", tags={"Department": "Support"})
    put_run(db, "untagged", "2026-11-22T10:00:00.000Z")
    put_run(
        db,
        "sales-2",
        "2026-11-23T10:00:00.000Z",
        status="FAILED",
        tags={"Department": "Sales", "cost center": "4711"},
    )

    _, sales, _ = run_cli(
        capsys, "history", "list", "--tag", "Department=Sales", "--output", "json"
    )
    # Any key works, even one with a space or a DynamoDB reserved word's spelling.
    _, cost, _ = run_cli(capsys, "history", "list", "--tag", "cost center=4711", "--output", "json")

    assert names_in(sales) == ["sales-2", "sales-1"]
    assert names_in(cost) == ["sales-2"]


def test_given_many_runs_when_limited_then_the_newest_n_come_and_reading_stops(
    db: Any, capsys: pytest.CaptureFixture[str], calls: list[str]
) -> None:
    for day in range(1, 29):
        status = "FAILED" if day % 3 == 0 else "COMPLETED"
        put_run(db, f"job-{day:02d}", f"2026-11-{day:02d}T10:00:00.000Z", status=status)

    code, out, _ = run_cli(capsys, "history", "list", "--limit", "3", "--output", "json")

    assert code == 0
    assert names_in(out) == ["job-28", "job-27", "job-26"]
    assert calls == ["Query", "Query"]  # one small page per status, nothing more


def test_given_csv_output_then_a_header_row_and_one_row_per_run(
    db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    put_run(db, "done", "2026-11-22T10:00:00.000Z", tags={"Department": "Sales"})
    put_run(db, "failed", "2026-11-23T10:00:00.000Z", status="FAILED")

    code, out, _ = run_cli(capsys, "history", "list", "--output", "csv")

    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == list(cli.CSV_COLUMNS)
    assert [r["JobName"] for r in rows] == ["failed", "done"]
    assert rows[0]["FailureReason"] == "Invalid sample rate for audio file"
    assert json.loads(rows[1]["Tags"]) == {"Department": "Sales"}
    assert rows[0]["Tags"] == ""


def test_given_table_output_then_runs_and_reasons_are_shown_literally(
    db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    put_run(
        db,
        "call-7",
        "2026-11-23T10:15:02.123Z",
        status="FAILED",
        FailureReason="Unsupported media format [bold]x[/bold]",
        tags={"Department": "Sales"},
    )
    put_run(db, "call-8", "2026-11-22T08:00:00.000Z", archive="INCOMPLETE", ArchiveError="x")

    code, out, _ = run_cli(capsys, "history", "list")

    assert code == 0
    assert "call-7" in out and "call-8" in out
    assert "2026-11-23 10:15:02" in out
    assert "Unsupported media format [bold]x[/bold]" in out  # not taken as rich markup
    assert "Department=Sales" in out
    assert "2 job runs" in out
    assert out.index("call-7") < out.index("call-8")


def test_given_no_matching_runs_then_json_is_an_empty_array_and_the_table_says_so(
    db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(capsys, "history", "list", "--output", "json")[:2] == (0, "[]\n")
    code, out, err = run_cli(capsys, "history", "list")
    assert (code, out) == (0, "")
    assert "No job runs match" in err


def test_given_a_run_still_being_archived_then_it_is_not_listed_and_nothing_breaks(
    db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    put_run(db, "done", "2026-11-22T10:00:00.000Z")
    db.put_item(
        TableName=TABLE,
        Item=to_dynamo(
            {
                "JobName": "leased",
                "CreatedAt": "2026-11-23T10:00:00.000Z",
                "LeaseOwner": "abc",
                "LeaseExpiresAt": 1.5e9,
            }
        ),
    )

    code, out, _ = run_cli(capsys, "history", "list", "--output", "json")

    assert code == 0
    assert names_in(out) == ["done"]


# -- show ---------------------------------------------------------------------------------


def two_runs(db: Any) -> None:
    put_run(
        db,
        "reused",
        "2026-11-01T10:00:00.000Z",
        created="2026-11-01T09:00:00.000Z",
        status="FAILED",
    )
    put_run(
        db,
        "reused",
        "2026-11-23T10:00:00.000Z",
        created="2026-11-23T09:00:00.000Z",
        Outputs={
            "transcript.json": {
                "S3Uri": "s3://archive-bucket/transcripts/reused/20261123T090000Z/transcript.json",
                "Bytes": 5120,
                "Sha256": "0f" * 32,
                "ContentType": "application/json",
            }
        },
    )


def test_given_a_job_with_two_runs_when_shown_then_the_latest_run_and_its_outputs_appear(
    db: Any, capsys: pytest.CaptureFixture[str], calls: list[str]
) -> None:
    two_runs(db)

    code, out, _ = run_cli(capsys, "history", "show", "reused")

    assert code == 0
    assert "2026-11-23T09:00:00.000Z" in out
    assert "2026-11-01T09:00:00.000Z" not in out
    assert "s3://archive-bucket/transcripts/reused/20261123T090000Z/transcript.json" in out
    assert "5120 bytes" in out
    assert "0f" * 32 in out.replace("\n", "").replace(" ", "").replace("│", "")
    assert calls == ["Query"]


def test_given_all_runs_when_shown_as_json_then_every_run_comes_newest_first(
    db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    two_runs(db)

    code, out, _ = run_cli(capsys, "history", "show", "reused", "--all-runs", "--output", "json")

    assert code == 0
    runs = json.loads(out)
    assert [r["CreatedAt"] for r in runs] == [
        "2026-11-23T09:00:00.000Z",
        "2026-11-01T09:00:00.000Z",
    ]
    assert runs[1]["FailureReason"] == "Invalid sample rate for audio file"


def test_given_an_unknown_job_when_shown_then_exit_1_with_a_clear_message(
    db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "history", "show", "nobody")

    assert (code, out) == (1, "")
    assert "no runs of job 'nobody' in table 'jobs'" in err


# -- job kinds ------------------------------------------------------------------------------


def mixed_kinds(db: Any) -> None:
    """A legacy item (no JobKind), one of each kind, and a Call Analytics job that shares
    a transcription job's name."""
    put_run(db, "legacy", "2026-11-20T10:00:00.000Z")
    put_run(db, "dictation", "2026-11-21T10:00:00.000Z", JobKind="TRANSCRIPTION")
    put_run(
        db,
        "call-1",
        "2026-11-22T10:00:00.000Z",
        JobKind="CALL_ANALYTICS",
        ChannelDefinitions=[
            {"ChannelId": 0, "ParticipantRole": "AGENT"},
            {"ChannelId": 1, "ParticipantRole": "CUSTOMER"},
        ],
        tags={"Queue": "Billing"},
    )
    put_run(
        db,
        "shared",
        "2026-11-23T10:00:00.000Z",
        created="2026-11-23T09:00:00.000Z",
        JobKind="TRANSCRIPTION",
        status="FAILED",
    )
    put_run(
        db,
        "shared",
        "2026-11-23T11:00:00.000Z",
        created="2026-11-23T09:00:00.000Z#CALL_ANALYTICS",
        JobKind="CALL_ANALYTICS",
        language="es-US",
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--kind", "call-analytics"], ["shared", "call-1"]),
        (["--kind", "CALL_ANALYTICS"], ["shared", "call-1"]),
        # Items written before job kinds existed are transcription runs.
        (["--kind", "transcription"], ["shared", "dictation", "legacy"]),
        ([], ["shared", "shared", "call-1", "dictation", "legacy"]),
        (["--kind", "call-analytics", "--status", "COMPLETED"], ["shared", "call-1"]),
        (["--kind", "transcription", "--status", "FAILED"], ["shared"]),
        (["--kind", "call-analytics", "--language", "en-US"], ["call-1"]),
        (["--kind", "transcription", "--language", "es-US"], []),
        (["--kind", "call-analytics", "--tag", "Queue=Billing"], ["call-1"]),
        (["--kind", "call-analytics", "--limit", "1"], ["shared"]),
    ],
)
def test_given_both_kinds_when_listing_by_kind_then_only_that_kind_comes_by_query(
    db: Any,
    capsys: pytest.CaptureFixture[str],
    calls: list[str],
    argv: list[str],
    expected: list[str],
) -> None:
    mixed_kinds(db)

    code, out, err = run_cli(capsys, "history", "list", *argv, "--output", "json")

    assert code == 0, err
    runs = json.loads(out)
    assert [r["JobName"] for r in runs] == expected
    kinds = {r.get("JobKind", "TRANSCRIPTION") for r in runs}
    if "call-analytics" in argv:
        assert kinds == {"CALL_ANALYTICS"}
    if "transcription" in argv and runs:
        assert kinds == {"TRANSCRIPTION"}
    assert set(calls) == {"Query"}


def test_given_both_kinds_when_listed_as_a_table_or_csv_then_call_analytics_runs_are_marked(
    db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    mixed_kinds(db)

    code, out, _ = run_cli(capsys, "history", "list")
    assert code == 0
    assert "call-analytics · Queue=Billing" in out
    assert out.count("call-analytics") == 2

    code, out, _ = run_cli(capsys, "history", "list", "--output", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["JobName"], r["JobKind"]) for r in rows] == [
        ("shared", "CALL_ANALYTICS"),
        ("shared", "TRANSCRIPTION"),
        ("call-1", "CALL_ANALYTICS"),
        ("dictation", "TRANSCRIPTION"),
        ("legacy", ""),
    ]


def test_given_a_name_both_kinds_used_when_shown_then_each_kinds_latest_run_says_its_kind(
    db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    mixed_kinds(db)
    put_run(
        db,
        "shared",
        "2026-11-02T10:00:00.000Z",
        created="2026-11-02T09:00:00.000Z",
        JobKind="CALL_ANALYTICS",
    )

    code, out, _ = run_cli(capsys, "history", "show", "shared", "--output", "json")
    assert code == 0
    runs = json.loads(out)
    assert [(r["JobKind"], r["CreatedAt"]) for r in runs] == [
        ("CALL_ANALYTICS", "2026-11-23T09:00:00.000Z#CALL_ANALYTICS"),
        ("TRANSCRIPTION", "2026-11-23T09:00:00.000Z"),
    ]

    code, out, _ = run_cli(capsys, "history", "show", "shared")
    assert code == 0
    assert "run 1 of 2" in out and "run 2 of 2" in out
    assert out.index("CALL_ANALYTICS") < out.index("TRANSCRIPTION")
    assert "2026-11-02" not in out  # an older Call Analytics run of the name

    code, out, _ = run_cli(capsys, "history", "show", "call-1")
    assert code == 0
    assert "CALL_ANALYTICS" in out and "CUSTOMER" in out and "run 1 of" not in out


def medical_kinds(db: Any) -> None:
    """A Medical and a HealthScribe run of one name, beside the mixed kinds above."""
    mixed_kinds(db)
    put_run(
        db,
        "visit-7",
        "2026-11-24T10:00:00.000Z",
        JobKind="MEDICAL",
        Specialty="PRIMARYCARE",
        Type="DICTATION",
        ContentIdentificationType="PHI",
        tags={"Clinic": "North"},
    )
    put_run(
        db,
        "visit-7",
        "2026-11-24T11:00:00.000Z",
        created="2026-11-24T00:00:00.000Z#MEDICAL_SCRIBE",
        JobKind="MEDICAL_SCRIBE",
        ChannelDefinitions=[
            {"ChannelId": 0, "ParticipantRole": "CLINICIAN"},
            {"ChannelId": 1, "ParticipantRole": "PATIENT"},
        ],
    )


@pytest.mark.parametrize(
    ("kind", "stored"),
    [("medical", "MEDICAL"), ("medical-scribe", "MEDICAL_SCRIBE"), ("MEDICAL", "MEDICAL")],
)
def test_given_medical_kinds_when_listing_by_kind_then_only_that_kind_comes(
    db: Any, capsys: pytest.CaptureFixture[str], calls: list[str], kind: str, stored: str
) -> None:
    medical_kinds(db)

    code, out, err = run_cli(capsys, "history", "list", "--kind", kind, "--output", "json")

    assert code == 0, err
    assert [(r["JobName"], r["JobKind"]) for r in json.loads(out)] == [("visit-7", stored)]
    assert set(calls) == {"Query"}


def test_given_medical_kinds_when_shown_then_each_runs_fields_and_kind_are_printed(
    db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    medical_kinds(db)

    code, out, _ = run_cli(capsys, "history", "show", "visit-7", "--output", "json")
    assert code == 0
    runs = json.loads(out)
    assert [r["JobKind"] for r in runs] == ["MEDICAL_SCRIBE", "MEDICAL"]
    assert runs[1]["Specialty"] == "PRIMARYCARE" and runs[1]["Type"] == "DICTATION"

    code, out, _ = run_cli(capsys, "history", "show", "visit-7")
    assert code == 0
    assert "run 1 of 2" in out and "CLINICIAN" in out
    for field in ("Specialty", "PRIMARYCARE", "ContentIdentificationType", "PHI", "DICTATION"):
        assert field in out

    code, out, _ = run_cli(capsys, "history", "list")
    assert "medical-scribe" in out and "medical · Clinic=North" in out


def test_given_the_python_api_then_kind_takes_names_and_job_kinds(db: Any) -> None:
    mixed_kinds(db)
    repository = HistoryRepository(TABLE, dynamodb_client=db)

    by_name = [r["JobName"] for r in repository.list_runs(kind="call-analytics")]
    by_enum = [r["JobName"] for r in repository.list_runs(kind=JobKind.CALL_ANALYTICS)]

    assert by_name == by_enum == ["shared", "call-1"]
    assert [r["JobKind"] for r in repository.latest_runs("shared")] == [
        "CALL_ANALYTICS",
        "TRANSCRIPTION",
    ]
    with pytest.raises(ValueError, match="call-analytics or medical or medical-scribe"):
        repository.list_runs(kind="voicemail")


# -- failures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["--since", "last tuesday"], "--since"),
        (["--until", "2026-13-01"], "--until"),
        (["--until", "2026-W47"], "calendar date"),
        (["--until", "2026-W47-7"], "calendar date"),
        (["--since", "2026-W47"], "calendar date"),
        (["--status", "IN_PROGRESS"], "--status"),
        (["--tag", "Department"], "KEY=VALUE"),
        (["--tag", "=Sales"], "KEY=VALUE"),
        (["--since", "2026-11-23", "--until", "2026-11-22"], "later than --until"),
        (["--limit", "0"], "--limit"),
        (["--output", "xml"], "--output"),
        (["--kind", "voicemail"], "--kind"),
    ],
)
def test_given_bad_usage_when_listing_then_exit_2_says_what_is_wrong(
    db: Any, capsys: pytest.CaptureFixture[str], argv: list[str], complaint: str
) -> None:
    code, out, err = run_cli(capsys, "history", "list", *argv)

    assert (code, out) == (2, "")
    assert complaint in err
    assert "Traceback" not in err


def test_given_no_table_anywhere_then_exit_2_asks_for_it(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JOBS_TABLE", raising=False)

    code, _, err = run_cli(capsys, "history", "list")

    assert code == 2
    assert "--table" in err and "JOBS_TABLE" in err


def test_given_an_unknown_table_then_exit_1_names_table_and_region(
    db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "history", "list", "--table", "no-such-table")

    assert (code, out) == (1, "")
    assert "table 'no-such-table' not found in region us-east-1" in err
    assert "Traceback" not in err


def test_given_no_credentials_then_exit_1_explains_how_to_provide_them(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    # A region of its own gets a fresh client; the dead endpoint guards against real AWS.
    code, out, err = run_cli(
        capsys,
        "history",
        "list",
        "--table",
        TABLE,
        "--region",
        "eu-north-1",
        "--endpoint-url",
        "http://127.0.0.1:9",
    )

    assert (code, out) == (1, "")
    assert "no AWS credentials found" in err
    assert "Traceback" not in err


def test_given_an_unreachable_endpoint_then_exit_1_names_it(
    db: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # botocore retries connection errors for a while; the tool's part is the message.
    def unreachable(self: HistoryRepository, **_: Any) -> Any:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")

    monkeypatch.setattr(HistoryRepository, "list_runs", unreachable)

    code, out, err = run_cli(capsys, "history", "list")

    assert (code, out) == (1, "")
    assert "cannot reach http://127.0.0.1:9" in err
    assert "Traceback" not in err


def test_given_no_command_then_usage_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys)[0] == 2
    assert run_cli(capsys, "history")[0] == 2
    code, out, _ = run_cli(capsys, "history", "list", "--help")
    assert code == 0
    assert "--since" in out


# -- the Python API -----------------------------------------------------------------------


def test_given_the_python_api_then_datetimes_and_tag_strings_are_accepted(
    db: Any, calls: list[str]
) -> None:
    put_run(db, "sales-old", "2026-11-01T10:00:00.000Z", tags={"Department": "Sales"})
    put_run(db, "sales-new", "2026-11-23T10:00:00.000Z", tags={"Department": "Sales"})
    put_run(db, "other", "2026-11-24T10:00:00.000Z")
    repository = HistoryRepository(TABLE, dynamodb_client=db)

    runs = list(
        repository.list_runs(since=datetime(2026, 11, 20, tzinfo=UTC), tag="Department=Sales")
    )

    assert [r["JobName"] for r in runs] == ["sales-new"]
    assert repository.latest_run("sales-old") is not None
    assert repository.latest_run("nobody") is None
    assert repository.runs_of("nobody") == []
    with pytest.raises(ValueError, match="status"):
        repository.list_runs(status="DONE")
