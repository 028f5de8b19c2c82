"""The CLI finds a deployed stack's table and bucket when nothing else names them."""

from __future__ import annotations

import contextlib
import io
import json
import uuid

import pytest
from archiver.cli import main
from archiver.handler import handler

from local_aws.archive_env import ArchiveEnv
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.lambda_context import FakeLambdaContext
from local_aws.transcribe import FakeTranscribe


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), " ".join(err.getvalue().split())


def deploy(embedded_aws: EmbeddedAWS, name: str, outputs: dict[str, str]) -> None:
    """A stack whose outputs are what the real one publishes (moto runs the template)."""
    template = {
        "Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    embedded_aws.client("cloudformation").create_stack(
        StackName=name, TemplateBody=json.dumps(template)
    )


@pytest.fixture
def archived(
    archive_env: ArchiveEnv, fake_transcribe: FakeTranscribe, monkeypatch: pytest.MonkeyPatch
) -> ArchiveEnv:
    fake_transcribe.add_job("found-by-stack")
    assert (
        handler(fake_transcribe.event_for("found-by-stack"), FakeLambdaContext())["outcome"]
        == "ARCHIVED"
    )
    # From here on, nothing in the environment names the table or the bucket.
    monkeypatch.delenv("JOBS_TABLE")
    monkeypatch.delenv("ARCHIVE_BUCKET")
    return archive_env


def test_given_no_table_anywhere_then_the_stacks_outputs_name_it(
    archived: ArchiveEnv, embedded_aws: EmbeddedAWS
) -> None:
    stack = f"Archiver-{uuid.uuid4().hex[:6]}"
    deploy(
        embedded_aws,
        stack,
        {"JobsTableName": archived.table, "ArchiveBucketName": archived.bucket},
    )

    code, out, err = cli("history", "list", "--stack", stack, "--output", "json")
    assert code == 0, err
    assert [r["JobName"] for r in json.loads(out)] == ["found-by-stack"]

    # Commands that need the bucket too read it from the same outputs.
    code, out, err = cli("purge", "found-by-stack", "--dry-run", "--stack", stack)
    assert code == 0, err
    assert "transcript.json" in out


def test_given_no_such_stack_then_exit_2_says_what_to_pass(archived: ArchiveEnv) -> None:
    code, out, err = cli("history", "list", "--stack", "NoSuchArchiver")
    assert (code, out) == (2, "")
    assert "--table" in err and "JOBS_TABLE" in err and "--stack" in err
    assert "NoSuchArchiver" in err


def test_given_a_stack_without_the_outputs_then_exit_2_names_the_missing_output(
    archived: ArchiveEnv, embedded_aws: EmbeddedAWS
) -> None:
    stack = f"Other-{uuid.uuid4().hex[:6]}"
    deploy(embedded_aws, stack, {"Something": "else"})
    code, _, err = cli("history", "list", "--stack", stack)
    assert code == 2
    assert "JobsTableName" in err


def test_given_the_table_option_then_no_stack_is_read(archived: ArchiveEnv) -> None:
    # The named stack does not exist: reading it would end in exit 2.
    code, out, err = cli("history", "list", "--table", archived.table, "--stack", "NoSuchArchiver")
    assert code == 0, err
    assert "found-by-stack" in out
