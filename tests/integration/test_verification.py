"""Issue 13: whatever the checksum scheme, a stored object that is not what was read never
makes a run ARCHIVED: S3 is made to answer, for the archive's keys, with another length or
another checksum than the bytes the function read (a multipart upload) or than the source it
copied (a server-side copy). Over real HTTP, through the handler."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from archiver.aws import clients
from archiver.errors import RetryableArchiveError
from archiver.handler import handler

from local_aws.lambda_context import FakeLambdaContext
from local_aws.transcribe import GeneratedContent
from tests.integration.helpers import assert_archived_whole, only_run

MiB = 1024 * 1024
TEAM_BUCKET = "team-output-verify"
WRONG = base64.b64encode(b"\x00\x01\x02\x03").decode()

#: How S3's answer about a stored object is falsified: (answer fields, archive key) -> None.
Lie = Callable[[dict[str, Any]], None]
LIES: dict[str, Lie] = {
    "length": lambda head: head.update(ContentLength=head["ContentLength"] + 1),
    "crc32": lambda head: head.update(ChecksumCRC32=WRONG),
    "sha256": lambda head: head.update(ChecksumSHA256=base64.b64encode(bytes(32)).decode()),
}


@pytest.fixture
def world(archive_env: Any, embedded_aws: Any, fake_transcribe: Any) -> dict[str, Any]:
    return {
        "s3": embedded_aws.client("s3"),
        "db": embedded_aws.client("dynamodb"),
        "bucket": archive_env.bucket,
        "table": archive_env.table,
        "fake": fake_transcribe,
        "aws": embedded_aws,
    }


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole-output retries without their jittered pauses (the retries themselves stay)."""
    monkeypatch.setattr("archiver.logic.copying.random.random", lambda: 0.0)


@pytest.fixture
def s3_lies(world: dict[str, Any]) -> Iterator[Callable[[str, Lie], None]]:
    """Make S3 misreport the stored transcript: HeadObject of the archive key says ``lie``.

    Hooked on the very client the handler uses (botocore's events, after the real answer
    arrived), so everything else S3 does stays real.
    """
    s3 = clients().s3
    hooks: list[tuple[str, Callable[..., None]]] = []

    def install(name: str, lie: Lie) -> None:
        def mark(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            context["lie"] = params["Bucket"] == world["bucket"] and params["Key"].endswith(name)

        def falsify(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            if context.get("lie"):
                lie(parsed)

        for event, hook in (
            ("before-parameter-build.s3.HeadObject", mark),
            ("after-call.s3.HeadObject", falsify),
        ):
            s3.meta.events.register(event, hook)
            hooks.append((event, hook))

    yield install
    for event, hook in hooks:
        s3.meta.events.unregister(event, hook)


def deliver(world: dict[str, Any], name: str) -> dict[str, Any]:
    result: dict[str, Any] = handler(world["fake"].event_for(name), FakeLambdaContext())
    return result


def assert_not_archived(world: dict[str, Any], name: str, output: str) -> None:
    with pytest.raises(RetryableArchiveError):
        deliver(world, name)  # Lambda retries the event, then parks it in the DLQ
    item = only_run(world["db"], world["table"], name)
    assert item["ArchiveStatus"] != "ARCHIVED"
    assert output not in item["Outputs"]
    assert output in item["ArchiveError"]


@pytest.mark.parametrize("lie", ["length", "crc32"])
def test_given_s3_stored_other_bytes_for_a_multipart_output_then_the_run_is_not_archived(
    world: dict[str, Any], s3_lies: Callable[[str, Lie], None], no_backoff: None, lie: str
) -> None:
    world["fake"].add_job("mp-lie", outputs={"transcript": GeneratedContent(12 * MiB, seed=13)})
    s3_lies("transcript.json", LIES[lie])
    assert_not_archived(world, "mp-lie", "transcript.json")
    assert (
        "does not match the bytes read"
        in only_run(world["db"], world["table"], "mp-lie")["ArchiveError"]
    )


def test_given_s3_answers_truthfully_then_the_same_multipart_output_is_archived(
    world: dict[str, Any], s3_lies: Callable[[str, Lie], None]
) -> None:
    """The control: the hook alone (answering truthfully) changes nothing."""
    world["fake"].add_job("mp-true", outputs={"transcript": GeneratedContent(12 * MiB, seed=13)})
    s3_lies("transcript.json", lambda head: None)
    assert deliver(world, "mp-true")["outcome"] == "ARCHIVED"
    w = world
    assert_archived_whole(w["s3"], w["db"], w["bucket"], w["table"], w["fake"], "mp-true")


@pytest.mark.parametrize("lie", ["length", "sha256"])
def test_given_s3_stored_other_bytes_for_a_server_side_copy_then_the_run_is_not_archived(
    world: dict[str, Any], s3_lies: Callable[[str, Lie], None], no_backoff: None, lie: str
) -> None:
    world["aws"].create_bucket(TEAM_BUCKET)
    world["fake"].add_job(
        "copy-lie",
        output_bucket=TEAM_BUCKET,
        outputs={"transcript": GeneratedContent(MiB, seed=17)},
    )
    world["fake"].clear_requests()
    s3_lies("transcript.json", LIES[lie])
    assert_not_archived(world, "copy-lie", "transcript.json")
    assert world["fake"].link_requests() == 0  # still never through the function
