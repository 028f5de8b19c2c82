"""What a newcomer trips over first: a bad endpoint, help texts, usage lines, long errors.

Every test goes through ``archiver.cli.main`` as the console script does and reads what a
user reads on stdout and stderr.
"""

from __future__ import annotations

from typing import Any

import pytest
from archiver.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _bucket_help(help_text: str) -> str:
    """--bucket's own line of a command's help (past the usage line, which names it too)."""
    return help_text.split("AWS:", 1)[1].split("--bucket BUCKET", 1)[1].split("--stack", 1)[0]


@pytest.mark.parametrize(
    "endpoint", ["localhost:4566", "not a url", "ftp://example.com", "http://", "http://host:99999"]
)
def test_given_a_bad_endpoint_url_then_it_is_a_usage_error_naming_the_option(
    capsys: pytest.CaptureFixture[str], endpoint: str
) -> None:
    code, _, err = run(capsys, "history", "list", "--table", "jobs", "--endpoint-url", endpoint)

    assert code == 2
    assert "--endpoint-url" in err
    assert "unexpected" not in err
    # The usage shown is the command's own.
    assert "usage: transcribe-archiver history list" in err


def test_given_a_bad_endpoint_in_the_environment_then_it_is_a_usage_error_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "localhost:4566")

    code, _, err = run(capsys, "history", "list", "--table", "jobs")

    assert code == 2
    assert "AWS_ENDPOINT_URL" in err
    assert "unexpected" not in err


def test_given_demo_help_then_only_the_demo_options_are_shown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "demo", "--help")

    assert code == 0
    assert "usage: transcribe-archiver demo" in out
    for option in ("--table", "--bucket", "--stack", "--region", "--endpoint-url"):
        assert option not in out


def test_given_bucket_help_then_it_names_every_command_that_reads_the_bucket(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "backfill", "--help")

    assert code == 0
    help_text = " ".join(out.split())
    bucket_help = _bucket_help(help_text)
    for command in ("backfill", "sweep", "replay", "purge"):
        assert command in bucket_help, bucket_help


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["history", "list", "--bogus"], "usage: transcribe-archiver history list"),
        (["history", "show", "job-1", "--bogus"], "usage: transcribe-archiver history show"),
        (["backfill", "--bogus"], "usage: transcribe-archiver backfill"),
        (["sweep", "--bogus", "x"], "usage: transcribe-archiver sweep"),
        (["replay", "--bogus"], "usage: transcribe-archiver replay"),
        (["purge", "job-1", "--bogus"], "usage: transcribe-archiver purge"),
        (["demo", "--bogus"], "usage: transcribe-archiver demo"),
    ],
)
def test_given_an_unknown_option_of_a_command_then_that_commands_usage_is_shown(
    capsys: pytest.CaptureFixture[str], argv: list[str], usage: str
) -> None:
    code, _, err = run(capsys, *argv)

    assert code == 2
    assert usage in err
    assert "unrecognized arguments: --bogus" in err


def test_given_stderr_is_not_a_terminal_then_a_long_error_stays_on_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, aws: dict[str, Any]
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("JOBS_TABLE", raising=False)
    # A stack name long enough that the message runs far past any line width.
    stack = "Stack" + "x" * 200

    code, _, err = run(capsys, "history", "list", "--stack", stack)

    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("transcribe-archiver: error: the history table is needed")
    assert stack in lines[0]


def test_given_a_bucket_is_needed_then_exactly_the_commands_the_help_names_ask_for_it(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    aws: dict[str, Any],
) -> None:
    monkeypatch.delenv("ARCHIVE_BUCKET", raising=False)
    monkeypatch.setenv("DLQ_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue")
    table = "rough-edges-no-such-table"
    asking = set()
    for argv in (
        ["history", "list"],
        ["history", "show", "job-1"],
        ["backfill", "--dry-run"],
        ["sweep", "--dry-run"],
        ["replay", "--dry-run"],
        ["purge", "job-1", "--dry-run"],
    ):
        code, _, err = run(capsys, *argv, "--table", table, "--stack", "NoSuchStack")
        if "the archive bucket is needed" in " ".join(err.split()):
            assert code == 2
            asking.add(argv[0])

    code, out, _ = run(capsys, "history", "list", "--help")
    bucket_help = _bucket_help(" ".join(out.split()))
    named = {c for c in ("history", "backfill", "sweep", "replay", "purge") if c in bucket_help}
    assert asking == named == {"backfill", "sweep", "replay", "purge"}
