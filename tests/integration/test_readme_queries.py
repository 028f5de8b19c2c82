"""The README's plain `aws dynamodb` requests answer the history questions they promise.

Each command is read from the README itself, turned into the boto3 call the AWS CLI makes,
and run against the embedded AWS over a small history.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from archiver.store.record import from_dynamo, to_dynamo

from local_aws.archive_env import ArchiveEnv
from local_aws.embedded_aws import EmbeddedAWS

README = Path(__file__).resolve().parents[2] / "README.md"

#: The AWS CLI's options and the API parameters they stand for.
OPTIONS = {
    "--table-name": "TableName",
    "--index-name": "IndexName",
    "--key-condition-expression": "KeyConditionExpression",
    "--filter-expression": "FilterExpression",
    "--projection-expression": "ProjectionExpression",
    "--expression-attribute-names": "ExpressionAttributeNames",
    "--expression-attribute-values": "ExpressionAttributeValues",
    "--statement": "Statement",
    "--limit": "Limit",
}
JSON_OPTIONS = {"--expression-attribute-names", "--expression-attribute-values"}

#: The README's questions and the runs that answer them over HISTORY, in order.
EXPECTED = {
    "What failed yesterday, and why?": ["failed-yesterday"],
    "Where is the transcript of job sales-call-0042? (its newest run)": ["sales-call-0042"],
    "What did we transcribe in German last week?": ["german-2", "german-1"],
    "Which jobs of the Sales department completed this month?": ["sales-call-0042"],
    "Every run of a reused name, in PartiQL": ["sales-call-0042", "sales-call-0042"],
}


def run(name: str, created: str, completed: str, **attributes: Any) -> dict[str, Any]:
    item = {
        "JobName": name,
        "CreatedAt": created,
        "CompletedAt": completed,
        "JobStatus": "COMPLETED",
        "ArchiveStatus": "ARCHIVED",
    }
    return item | attributes


HISTORY = [
    run(
        "failed-yesterday",
        "2026-11-23T09:00:00.000Z",
        "2026-11-23T09:05:00.000Z",
        JobStatus="FAILED",
        FailureReason="Unsupported media format",
    ),
    run(
        "failed-earlier", "2026-11-20T09:00:00.000Z", "2026-11-20T09:05:00.000Z", JobStatus="FAILED"
    ),
    run("german-1", "2026-11-17T09:00:00.000Z", "2026-11-17T09:05:00.000Z", LanguageCode="de-DE"),
    run("german-2", "2026-11-21T09:00:00.000Z", "2026-11-21T09:05:00.000Z", LanguageCode="de-DE"),
    run(
        "german-later", "2026-11-25T09:00:00.000Z", "2026-11-25T09:05:00.000Z", LanguageCode="de-DE"
    ),
    run(
        "sales-call-0042",
        "2026-10-01T09:00:00.000Z",
        "2026-10-01T09:05:00.000Z",
        Tags={"Department": "Sales"},
    ),
    run(
        "sales-call-0042",
        "2026-11-24T09:00:00.000Z",
        "2026-11-24T09:05:00.000Z",
        Tags={"Department": "Sales"},
        Outputs={
            "transcript.json": {
                "S3Uri": "s3://a/t.json",
                "Bytes": 1,
                "Sha256": "ab",
                "ContentType": "application/json",
            }
        },
    ),
    run(
        "support-7",
        "2026-11-24T10:00:00.000Z",
        "2026-11-24T10:05:00.000Z",
        Tags={"Department": "Support"},
    ),
]


def readme_commands() -> dict[str, str]:
    """Question (the comment line above it) -> the command, continuation lines joined."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Without the CLI") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the README lost its plain-AWS examples"
    commands: dict[str, str] = {}
    question = ""
    for chunk in block.group(1).replace("\\\n", " ").splitlines():
        line = chunk.strip()
        if line.startswith("#"):
            question = line.lstrip("# ").strip()
        elif line.startswith("aws dynamodb"):
            commands[question] = line
    return commands


def to_request(command: str, table: str) -> tuple[str, dict[str, Any]]:
    words = shlex.split(command.replace("$JOBS_TABLE", table))
    assert words[:2] == ["aws", "dynamodb"], command
    operation, args = words[2], words[3:]
    request: dict[str, Any] = {}
    index = 0
    while index < len(args):
        option = args[index]
        if option == "--no-scan-index-forward":
            request["ScanIndexForward"] = False
            index += 1
            continue
        value = args[index + 1]
        assert option in OPTIONS, f"the test does not know {option} (from {command!r})"
        if option in JSON_OPTIONS:
            request[OPTIONS[option]] = json.loads(value)
        elif option == "--limit":
            request[OPTIONS[option]] = int(value)
        else:
            request[OPTIONS[option]] = value
        index += 2
    return operation, request


@pytest.fixture
def history(archive_env: ArchiveEnv, embedded_aws: EmbeddedAWS) -> Any:
    db = embedded_aws.client("dynamodb")
    for item in HISTORY:
        db.put_item(TableName=archive_env.table, Item=to_dynamo(item))
    return db


def test_given_the_readme_then_every_question_has_its_command() -> None:
    assert set(readme_commands()) == set(EXPECTED)


@pytest.mark.parametrize("question", sorted(EXPECTED))
def test_given_a_readme_command_when_run_then_it_answers_its_question(
    question: str, history: Any, archive_env: ArchiveEnv
) -> None:
    operation, request = to_request(readme_commands()[question], archive_env.table)
    if operation == "query":
        items = history.query(**request)["Items"]
    else:
        assert operation == "execute-statement"
        items = history.execute_statement(**request)["Items"]

    runs = [from_dynamo(item) for item in items]
    assert [r["JobName"] for r in runs] == EXPECTED[question]
    if question.startswith("Where is the transcript"):
        assert runs[0]["Outputs"]["transcript.json"]["S3Uri"] == "s3://a/t.json"
