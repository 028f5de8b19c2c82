"""IAM enforced: the function under the role the template gives it, the CLI under the README's
operator policy, in an embedded AWS that authorizes every call (``local_aws.enforced_aws``).

The stack is synthesized with a team output bucket; its buckets, table and queues are made
as the template declares them (``iam_harness``); the function's role holds every statement
of the template's policies, resolved to those resources. Each run asserts what a user sees
(objects, items, exit codes) and that the enforced AWS denied nothing; the negative
controls take one needed action out and see the run fail with exactly that action denied,
so enforcement is known to be on.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from archiver import contract
from archiver.cli import main
from archiver.contract import JobKind
from archiver.handler import handler
from archiver.store.archive_bucket import PART_SIZE

from local_aws.enforced_aws import Credentials, EnforcedAWS
from local_aws.event_source_mapping import EventSourceMapping, send_events
from local_aws.lambda_context import FakeLambdaContext
from local_aws.transcribe import FakeTranscribe, GeneratedContent
from tests.conftest import serving
from tests.infra.conftest import synthesize
from tests.integration.helpers import assert_archived_whole, keys_under, only_run, runs
from tests.integration.iam_harness import Deployed, deploy, readme_operator_policy

pytestmark = pytest.mark.integration

STACK = "TranscribeArchiver"
TEAM_BUCKET = "team-transcribe-output"

#: How a run of each job kind is made in the double; a kind added to the contract without a
#: way to make it here fails test_every_job_kind_runs_under_the_role.
KIND_JOBS: dict[JobKind, Callable[[FakeTranscribe, str], object]] = {
    JobKind.TRANSCRIPTION: lambda fake, name: fake.add_job(
        name, redaction="redacted_and_unredacted", subtitle_formats=["vtt", "srt"]
    ),
    JobKind.CALL_ANALYTICS: lambda fake, name: fake.add_call_analytics_job(
        name, redaction="redacted_and_unredacted"
    ),
    # Medical and HealthScribe write only to the team's bucket, and send no event of their
    # own: the sweep finds them.
    JobKind.MEDICAL: lambda fake, name: fake.add_medical_job(name, output_bucket=TEAM_BUCKET),
    JobKind.MEDICAL_SCRIBE: lambda fake, name: fake.add_medical_scribe_job(
        name, output_bucket=TEAM_BUCKET
    ),
}


# -- the enforced AWS and the deployed stack (once per module) -------------------------------


@pytest.fixture(scope="module")
def enforced() -> Iterator[EnforcedAWS]:
    with EnforcedAWS() as aws:
        yield aws


@pytest.fixture(scope="module")
def deployed(enforced: EnforcedAWS, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    synth = synthesize({"sourceBuckets": TEAM_BUCKET}, tmp_path_factory.mktemp("enforced"))
    s3 = enforced.client("s3")
    s3.create_bucket(Bucket=TEAM_BUCKET)
    # Versioned, as team buckets often are: a copy then names the version it measured.
    s3.put_bucket_versioning(Bucket=TEAM_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return deploy(enforced, synth.json, STACK)


@pytest.fixture(scope="module")
def function_role(enforced: EnforcedAWS, deployed: Deployed) -> Credentials:
    return enforced.assume(enforced.create_role("archiver-function", deployed.function_policies()))


def operator_placeholders(enforced: EnforcedAWS, deployed: Deployed) -> dict[str, str]:
    outputs = deployed.outputs()
    return {
        "region": enforced.region,
        "account": "123456789012",
        "stackName": STACK,
        "JobsTableName": outputs["JobsTableName"],
        "ArchiveBucketName": outputs["ArchiveBucketName"],
        "archivePrefix": contract.DEFAULT_ARCHIVE_PREFIX,
        "callAnalyticsPrefix": contract.DEFAULT_CALL_ANALYTICS_PREFIX,
        "medicalPrefix": contract.DEFAULT_MEDICAL_PREFIX,
        "medicalScribePrefix": contract.DEFAULT_MEDICAL_SCRIBE_PREFIX,
        "sourceBucket": TEAM_BUCKET,
    }


@pytest.fixture(scope="module")
def operator(enforced: EnforcedAWS, deployed: Deployed) -> Credentials:
    policy = readme_operator_policy(operator_placeholders(enforced, deployed))
    return enforced.assume(enforced.create_role("operator", {"readme": policy}))


# -- one test's world ------------------------------------------------------------------------


class Enforced:
    """The enforced AWS as a test drives it: the double, the archive, and who is calling."""

    def __init__(
        self, aws: EnforcedAWS, deployed: Deployed, fake: FakeTranscribe, mp: pytest.MonkeyPatch
    ) -> None:
        self.aws, self.deployed, self.fake, self._mp = aws, deployed, fake, mp
        self.s3, self.db, self.sqs = aws.client("s3"), aws.client("dynamodb"), aws.client("sqs")
        outputs = deployed.outputs()
        self.bucket, self.table = outputs["ArchiveBucketName"], outputs["JobsTableName"]
        self.queue_url, self.dlq_url = outputs["EventQueueUrl"], outputs["OnFailureDlqUrl"]

    def act_as(self, credentials: Credentials, *, function: bool) -> None:
        """Point boto3 (and so the archiver or the CLI) at the enforced AWS as ``credentials``,
        with the function's own environment from the template when ``function``."""
        for key in list(os.environ):
            if key.startswith("AWS_ENDPOINT_URL_") or key in {
                "AWS_PROFILE",
                "AWS_SESSION_TOKEN",
                "JOBS_TABLE",
                "ARCHIVE_BUCKET",
                "DLQ_URL",
            }:
                self._mp.delenv(key)
        values = {
            **self.aws.env(credentials),
            **self.fake.env(),
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": contract.METRICS_NAMESPACE,
            "POWERTOOLS_SERVICE_NAME": contract.METRICS_SERVICE,
        }
        if function:
            values.update(self.deployed.function_environment())
        # The double's links are on loopback, not an AWS S3 host.
        values[contract.ENV_ALLOWED_SOURCE_HOSTS] = self.fake.link_host
        for key, value in values.items():
            self._mp.setenv(key, value)

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = handler(event, FakeLambdaContext())
        return result

    def whole(self, name: str, kind: Any = None) -> dict[str, Any]:
        return assert_archived_whole(
            self.s3, self.db, self.bucket, self.table, self.fake, name, kind=kind
        )

    def cli(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
        return code, out.getvalue(), " ".join(err.getvalue().split())

    def denials(self) -> list[dict[str, str]]:
        return self.aws.denials()


@pytest.fixture
def world(
    enforced: EnforcedAWS, deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Enforced]:
    fake = FakeTranscribe(s3_client=enforced.client("s3"), region=enforced.region)
    fake.authorizer = enforced.authorize
    with serving(fake):
        world = Enforced(enforced, deployed, fake, monkeypatch)
        enforced.denials()  # forget what earlier tests were denied
        yield world


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


# -- the function, under the template's role -------------------------------------------------


def test_every_job_kind_runs_under_the_role(world: Enforced, function_role: Credentials) -> None:
    assert set(KIND_JOBS) == set(JobKind), "a job kind the enforced test cannot make"
    world.act_as(function_role, function=True)
    names = {}
    for kind, make in KIND_JOBS.items():
        names[kind] = unique(kind.option)
        make(world.fake, names[kind])

    for kind, name in names.items():
        if kind in contract.EVENT_PATTERNS:
            assert world.invoke(world.fake.event_for(name))["outcome"] == "ARCHIVED", kind
    sweep = world.invoke(world.deployed.sweep_input())
    assert "errors" not in sweep, sweep

    for name in names.values():
        world.whole(name)
    assert world.denials() == []


def test_given_large_team_bucket_and_failed_jobs_then_each_is_archived_under_the_role(
    world: Enforced, function_role: Credentials
) -> None:
    world.act_as(function_role, function=True)
    fake = world.fake
    large, team, team_call, failed = (unique(s) for s in ("large", "team", "team-call", "failed"))
    fake.add_job(large, outputs={"transcript": GeneratedContent(PART_SIZE * 2 + 1234)})
    fake.add_job(team, output_bucket=TEAM_BUCKET, subtitle_formats=["srt"])
    fake.add_call_analytics_job(
        team_call, output_location=f"s3://{TEAM_BUCKET}/calls/", redaction="redacted"
    )
    fake.add_job(failed, status="FAILED")

    outcomes = [world.invoke(fake.event_for(name))["outcome"] for name in (large, team, team_call)]
    failed_outcome = world.invoke(fake.event_for(failed))["outcome"]

    assert outcomes == ["ARCHIVED"] * 3
    assert failed_outcome == "ARCHIVED"
    big = world.whole(large)
    assert big["Outputs"]["transcript.json"]["Bytes"] > PART_SIZE  # a multipart upload
    world.whole(team)
    world.whole(team_call)
    item = world.whole(failed)
    assert set(item["Outputs"]) == {"job.json"}
    assert world.denials() == []


def test_given_a_duplicate_event_then_it_copies_nothing_and_nothing_is_denied(
    world: Enforced, function_role: Credentials
) -> None:
    world.act_as(function_role, function=True)
    name = unique("twice")
    world.fake.add_job(name)
    event = world.fake.event_for(name)

    first = world.invoke(event)
    second = world.invoke(copy.deepcopy(event))

    assert first["outcome"] == "ARCHIVED"
    assert second["outcome"] == "DUPLICATE"
    world.whole(name)
    assert world.denials() == []


def test_given_events_in_the_queue_then_the_mapping_under_the_role_archives_each(
    world: Enforced, function_role: Credentials
) -> None:
    names = [unique("queued") for _ in range(3)]
    for name in names:
        world.fake.add_job(name)
    call = unique("queued-call")
    world.fake.add_call_analytics_job(call)
    # EventBridge puts the events into the queue (not the role: the rule does).
    send_events(world.sqs, world.queue_url, [world.fake.event_for(n) for n in [*names, call]])
    world.act_as(function_role, function=True)

    # Lambda's mapping polls the queue with the function's role.
    with ThreadPoolExecutor(max_workers=2) as pool:
        report = EventSourceMapping(
            world.aws.client("sqs", function_role),
            world.queue_url,
            executor=pool,
            handler=handler,
            max_concurrency=2,
            batch_size=contract.QUEUE_BATCH_SIZE,
            invocation_timeout=60,
        ).run(timeout=60)

    assert report.failed_batches == []
    assert sum(report.deleted.values()) == 4
    for name in [*names, call]:
        world.whole(name)
    assert world.denials() == []


def test_given_the_schedules_own_input_then_the_sweep_archives_under_the_role(
    world: Enforced, function_role: Credentials
) -> None:
    lost = [unique("lost"), unique("lost-call")]
    world.fake.add_job(lost[0])
    world.fake.add_call_analytics_job(lost[1])
    world.act_as(function_role, function=True)
    sweep = world.deployed.sweep_input()
    assert sweep["kinds"] == [kind.value for kind in JobKind]

    world.invoke(sweep)

    for name in lost:
        world.whole(name)
    assert world.denials() == []


# -- negative controls: enforcement is on ----------------------------------------------------


def without(policies: dict[str, dict[str, Any]], action: str) -> dict[str, dict[str, Any]]:
    """The policies with ``action`` taken out of every statement (and no statement emptied)."""
    stripped = copy.deepcopy(policies)
    removed = False
    for document in stripped.values():
        for statement in document["Statement"]:
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            if action in actions:
                removed = True
                statement["Action"] = [a for a in actions if a != action] or [
                    "sts:GetCallerIdentity"
                ]
    assert removed, f"{action} is not in the policies"
    return stripped


@pytest.mark.parametrize(
    "action",
    [
        "transcribe:GetTranscriptionJob",  # the double, through moto's evaluation
        "s3:PutObjectTagging",  # asked as AWS asks it, where moto would not
        "dynamodb:PutItem",  # on the table's ARN, where moto would use *
    ],
)
def test_given_one_needed_action_removed_then_the_run_fails_with_it_denied(
    world: Enforced, enforced: EnforcedAWS, deployed: Deployed, action: str
) -> None:
    policies = without(deployed.function_policies(), action)
    role = enforced.create_role(unique("weakened"), policies)
    world.act_as(enforced.assume(role), function=True)
    name = unique("denied")
    world.fake.add_job(name)

    with contextlib.suppress(Exception):  # a denied lease raises: Lambda would retry
        world.invoke(world.fake.event_for(name))

    items = runs(world.db, world.table, name)
    assert not any(item.get("ArchiveStatus") == "ARCHIVED" for item in items)
    denied = {denial["action"] for denial in world.denials()}
    assert action in denied


def test_given_the_queue_actions_removed_then_the_mapping_is_denied(
    world: Enforced, enforced: EnforcedAWS, deployed: Deployed
) -> None:
    policies = without(deployed.function_policies(), "sqs:DeleteMessage")
    creds = enforced.assume(enforced.create_role(unique("no-delete"), policies))
    name = unique("undeleted")
    world.fake.add_job(name)
    send_events(world.sqs, world.queue_url, [world.fake.event_for(name)])
    world.act_as(creds, function=True)

    with ThreadPoolExecutor(max_workers=1) as pool, pytest.raises(RuntimeError):
        EventSourceMapping(
            enforced.client("sqs", creds),
            world.queue_url,
            executor=pool,
            handler=handler,
            max_concurrency=1,
            batch_size=contract.QUEUE_BATCH_SIZE,
            invocation_timeout=60,
        ).run(timeout=30)

    assert "sqs:DeleteMessage" in {d["action"] for d in world.denials()}
    world.sqs.purge_queue(QueueUrl=world.queue_url)


# -- the CLI, under the README's operator policy ---------------------------------------------


def test_given_the_readme_policy_then_every_cli_command_runs_without_an_access_error(
    world: Enforced, operator: Credentials, function_role: Credentials
) -> None:
    fake = world.fake
    # Runs the function archived, to ask about and to purge.
    world.act_as(function_role, function=True)
    asked, purged, purged_call = unique("asked"), unique("purged"), unique("purged-call")
    fake.add_job(asked, language_code="de-DE")
    fake.add_job(purged)
    fake.add_call_analytics_job(purged_call)
    for name in (asked, purged, purged_call):
        assert world.invoke(fake.event_for(name))["outcome"] == "ARCHIVED"
    # Jobs only the operator's backfill, sweep and replay find.
    backfilled, swept, team = unique("backfilled"), unique("swept"), unique("team-backfilled")
    fake.add_job(backfilled)
    fake.add_job(team, output_bucket=TEAM_BUCKET)
    replayed = unique("replayed")
    fake.add_job(replayed)
    world.sqs.send_message(QueueUrl=world.dlq_url, MessageBody=json.dumps(fake.event_for(replayed)))
    world.denials()

    world.act_as(operator, function=False)  # no table, no bucket: the stack's outputs
    results = {}
    for argv in (
        ["history", "list"],
        ["history", "list", "--status", "COMPLETED", "--output", "json"],
        ["history", "list", "--language", "de-DE"],
        ["history", "list", "--kind", "call-analytics", "--output", "csv"],
        ["history", "show", asked],
        ["history", "show", asked, "--all-runs", "--output", "json"],
        ["backfill", "--dry-run"],
        ["backfill"],
        ["replay", "--queue-url", world.dlq_url, "--dry-run"],
        ["replay", "--queue-url", world.dlq_url],
        ["sweep", "--dry-run"],
    ):
        results[" ".join(argv)] = world.cli(*argv)
    fake.add_job(swept)  # after the backfill: only the sweep finds it
    results["sweep"] = world.cli("sweep")
    results["purge --dry-run"] = world.cli("purge", purged, "--dry-run")
    results["purge"] = world.cli("purge", purged, "--yes", "--reason", "test")
    results["purge --also-transcribe"] = world.cli(
        "purge", purged_call, "--yes", "--also-transcribe", "--reason", "test"
    )

    failed = {command: err for command, (code, _, err) in results.items() if code != 0}
    assert failed == {}
    assert world.denials() == []
    # ... and each command did its work.
    assert asked in results["history show " + asked][1]
    for name in (backfilled, team, replayed, swept):
        assert only_run(world.db, world.table, name)["ArchiveStatus"] == "ARCHIVED"
    assert keys_under(world.s3, world.bucket, f"transcripts/{purged}/") == []
    assert keys_under(world.s3, world.bucket, f"call-analytics/{purged_call}/") == []
    assert purged_call not in fake.jobs("call-analytics")
    assert [r["ArchiveStatus"] for r in runs(world.db, world.table, purged)] == ["PURGED"]


def test_given_the_readme_policy_without_query_then_history_list_is_denied(
    world: Enforced, enforced: EnforcedAWS, deployed: Deployed
) -> None:
    policy = readme_operator_policy(operator_placeholders(enforced, deployed))
    weakened = without({"readme": policy}, "dynamodb:Query")
    world.act_as(
        enforced.assume(enforced.create_role(unique("no-query"), weakened)), function=False
    )

    code, _, err = world.cli("history", "list")

    assert code == 1
    assert "not allowed to call Query" in err
    assert "dynamodb:Query" in {d["action"] for d in world.denials()}


def test_given_the_readme_policy_without_call_analytics_then_kind_bound_commands_still_run(
    world: Enforced, enforced: EnforcedAWS, deployed: Deployed
) -> None:
    # A region whose jobKinds leaves Call Analytics out, and an operator policy that does too.
    policy = readme_operator_policy(operator_placeholders(enforced, deployed))
    policy["Statement"] = [
        statement
        for statement in policy["Statement"]
        if statement["Sid"] != "ReadCallAnalyticsJobs"
    ]
    narrowed = without({"readme": policy}, "transcribe:ListCallAnalyticsJobs")
    role = enforced.create_role(unique("no-call-analytics"), narrowed)
    name = unique("transcription-only")
    world.fake.add_job(name)
    world.act_as(enforced.assume(role), function=False)

    results = {
        command: world.cli(*command.split())
        for command in (
            "history list",
            "backfill --kind transcription",
            "sweep --kind transcription --dry-run",
        )
    }

    assert {command: err for command, (code, _, err) in results.items() if code != 0} == {}
    assert world.denials() == []
    assert only_run(world.db, world.table, name)["ArchiveStatus"] == "ARCHIVED"
