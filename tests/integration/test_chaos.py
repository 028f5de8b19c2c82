"""Issues 3 (item 8) and 14: chaos. Hundreds of job runs through the real handler, over
real HTTP (moto's server and the Transcribe double), with every fault the archiver
promises to survive injected into a good share of them, duplicate events and shuffled
order, delivered the way the stack delivers them: through an SQS queue (moto's) and the
emulated event source mapping (``local_aws.event_source_mapping``), in batches of
contract.QUEUE_BATCH_SIZE handled side by side, at most CONCURRENCY invocations at a time,
partial batch responses, retries after the visibility timeout, redrive to the DLQ.

Each of the CONCURRENCY execution environments is its own spawned process: its own warm
boto3 clients, adaptive rate limiter and retry quota (one shared in-process client would
let every injected throttle slow all of them). The fault mix stays inside the retry budget
the contract gives (at most two expiries and three transient faults per output, API faults
one at a time), so every job must end ARCHIVED, whole, with one history item, archived once
(one version of each object in the versioned bucket), and nothing may be left for the
dead-letter queue. The events of a share of the jobs are withheld, as when EventBridge
drops one: the sweep (issue 9), run as the stack's schedule runs it, archives exactly those,
each once, and a second sweep right after archives nothing. A second, small test drives the
same path past the budget to show that a retry resumes a run and that an event failing
every receive ends as a dead letter.
"""

from __future__ import annotations

import contextlib
import math
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

import pytest
from archiver import contract
from archiver.handler import handler
from archiver.logic.archive import RetryPolicy

from infra.config import DEFAULT_MAX_CONCURRENCY
from local_aws.archive_env import ArchiveEnv
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.event_source_mapping import (
    EventQueue,
    EventSourceMapping,
    MappingReport,
    create_event_queue,
    send_events,
)
from local_aws.lambda_context import FakeLambdaContext, lambda_environments
from local_aws.transcribe import ApiFaultKind, FakeTranscribe, Fault, GeneratedContent, OutputName
from tests.conftest import serving
from tests.integration.helpers import (
    archive_names,
    assert_archived_whole,
    keys_under,
    only_run,
    runs,
)

pytestmark = pytest.mark.integration

JOBS: Final = 500
#: The event source mapping's maximum concurrency (the stack's default).
CONCURRENCY: Final = DEFAULT_MAX_CONCURRENCY
#: Share of jobs that get each kind of fault, and share of events delivered twice.
FAULT_SHARE: Final = 0.10
DUPLICATE_SHARE: Final = 0.06
#: Share of jobs whose event never arrives (left for the sweep).
WITHHELD_SHARE: Final = 0.06
#: Retry budget per output that the injected faults stay within (archive.RetryPolicy
#: allows 3 fresh links and 5 attempts per output).
MAX_EXPIRIES_PER_OUTPUT: Final = 2
MAX_TRANSIENT_PER_OUTPUT: Final = 3
#: Hard bound on the delivery phase; the whole test is meant to take about 2 minutes.
DELIVERY_BUDGET_S: Final = 240.0
#: Scaled down from the stack's 90 minutes, still longer than any invocation here, so that
#: a message comes back only when its record really failed.
VISIBILITY: Final = 30
SEED: Final = 20261123

# --------------------------------------------------------------------- already-expired links
_skew = threading.local()


def _skewed_clock() -> float:
    """Epoch seconds, minus the skew of the current thread (only ever set while serving)."""
    return time.time() - float(getattr(_skew, "seconds", 0.0))


class StaleLinksTranscribe(FakeTranscribe):
    """The double, able to answer a job's next Get…Job call with expired links.

    As if the answer had sat for longer than links live before the copy started: the links
    are signed in the past. Only the server thread answering that one call sees the older
    clock, so other jobs' links and the link server's own expiry checks stay honest. (The
    double has a clock per server, not per job, hence the wrapper around ``handle_api``.)
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(clock=_skewed_clock, **kwargs)
        self._stale: Counter[str] = Counter()
        self._stale_lock = threading.Lock()
        self.stale_answers: Counter[str] = Counter()

    def serve_stale_links(self, job_name: str, times: int = 1) -> None:
        with self._stale_lock:
            self._stale[job_name] += times

    def _take_stale(self, job_name: object) -> bool:
        with self._stale_lock:
            if isinstance(job_name, str) and self._stale[job_name] > 0:
                self._stale[job_name] -= 1
                return True
            return False

    def handle_api(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("TranscriptionJobName", body.get("CallAnalyticsJobName"))
        if op not in GET_OPS or not self._take_stale(name):
            return super().handle_api(op, body)
        _skew.seconds = self.link_expires + 300
        try:
            answer = super().handle_api(op, body)
        except BaseException:
            self.serve_stale_links(str(name))  # not answered (an API fault): keep it queued
            raise
        finally:
            _skew.seconds = 0.0
        with self._stale_lock:
            self.stale_answers[str(name)] += 1
        return answer


# --------------------------------------------------------------------- the plan
TEAM_BUCKET: Final = f"team-output-{uuid.uuid4().hex[:10]}"

#: Job shapes: weight, add_job arguments, and the service-bucket outputs (fault targets).
#: Shapes named call-analytics* are Call Analytics jobs (add_call_analytics_job).
SHAPES: Final[dict[str, tuple[int, dict[str, Any], tuple[OutputName, ...]]]] = {
    "service": (20, {}, ("transcript",)),
    "subtitled": (20, {"subtitle_formats": ["vtt", "srt"]}, ("transcript", "vtt", "srt")),
    "redacted": (
        15,
        {"redaction": "redacted_and_unredacted", "subtitle_formats": ["srt"]},
        ("transcript", "redacted", "srt"),
    ),
    "redacted-only": (10, {"redaction": "redacted", "tags": {"Team": "Support"}}, ("redacted",)),
    "team": (20, {"output_bucket": TEAM_BUCKET, "subtitle_formats": ["vtt"]}, ()),
    "failed": (
        15,
        {"status": "FAILED", "failure_reason": "Invalid sample rate for audio file"},
        (),
    ),
    "call-analytics": (
        12,
        {
            "redaction": "redacted_and_unredacted",
            "outputs": {"redacted_media": GeneratedContent(16 * 1024, seed=11)},
            "tags": {"Queue": "Billing"},
        },
        ("transcript", "redacted", "redacted_media"),
    ),
    "call-analytics-team": (
        5,
        {
            "redaction": "redacted",
            "output_location": f"s3://{TEAM_BUCKET}/calls/",
            "outputs": {"redacted_media": GeneratedContent(16 * 1024, seed=12)},
        },
        (),
    ),
    "call-analytics-failed": (3, {"status": "FAILED"}, ()),
}
#: The Get…Job call of each kind of job (where API faults and stale links are served).
GET_OPS: Final = ("GetTranscriptionJob", "GetCallAnalyticsJob")


def get_op(job_name: str) -> str:
    return GET_OPS["-call-analytics" in job_name]


#: Link faults by the name the double's request log gives them.
LINK_FAULTS: Final[dict[str, Fault]] = {
    "expired": Fault.expired(),  # 403 "Request has expired" -> fresh links
    "status": Fault.status(500),  # 500 InternalError
    "slow_down": Fault.slow_down(),  # 503 SlowDown
    "reset_mid_body": Fault.reset_mid_body(),
    "short_read": Fault.short_read(),
}
API_FAULTS: Final[tuple[ApiFaultKind, ...]] = ("throttle", "internal")


@dataclass
class PlannedJob:
    name: str
    shape: str
    link_outputs: tuple[OutputName, ...]
    link_faults: dict[OutputName, list[Fault]] = field(default_factory=dict)
    stale: bool = False
    api_faults: list[ApiFaultKind] = field(default_factory=list)
    deliveries: int = 1

    def expiries(self, output: OutputName) -> int:
        own = sum(1 for f in self.link_faults.get(output, []) if f.kind == "expired")
        return own + int(self.stale)

    def transients(self, output: OutputName) -> int:
        return sum(1 for f in self.link_faults.get(output, []) if f.kind != "expired")

    @property
    def kinds(self) -> set[str]:
        found: set[str] = {f.kind for faults in self.link_faults.values() for f in faults}
        found |= set(self.api_faults)
        return found | ({"already_expired"} if self.stale else set())


def plan_jobs(rng: random.Random) -> list[PlannedJob]:
    """JOBS jobs of mixed shapes; every fault kind on at least FAULT_SHARE of all jobs."""
    names = list(SHAPES)
    weights = [SHAPES[s][0] for s in names]
    jobs = []
    for i in range(JOBS):
        shape = rng.choices(names, weights)[0]
        jobs.append(PlannedJob(f"chaos-{i:04d}-{shape}", shape, SHAPES[shape][2]))
    quota = math.ceil(JOBS * FAULT_SHARE)
    with_links = [j for j in jobs if j.link_outputs]

    # Links already expired when GetTranscriptionJob hands them over (one refresh each).
    for job in rng.sample(with_links, quota):
        job.stale = True
    for kind, fault in LINK_FAULTS.items():
        expiry = kind == "expired"
        room = MAX_EXPIRIES_PER_OUTPUT if expiry else MAX_TRANSIENT_PER_OUTPUT

        def used(job: PlannedJob, out: OutputName, expiry: bool = expiry) -> int:
            return job.expiries(out) if expiry else job.transients(out)

        candidates = [j for j in with_links if any(used(j, o) < room for o in j.link_outputs)]
        assert len(candidates) >= quota, f"not enough room for {kind} faults"
        for job in rng.sample(candidates, quota):
            out = rng.choice([o for o in job.link_outputs if used(job, o) < room])
            times = min(rng.choice((1, 1, 2)), room - used(job, out))
            job.link_faults.setdefault(out, []).extend([fault] * times)
    for faults in (f for j in jobs for f in j.link_faults.values()):
        rng.shuffle(faults)
    # API faults are queued right before a job's first delivery; with CONCURRENCY
    # invocations in flight any of them may be the one the double refuses.
    for kind in API_FAULTS:
        for job in rng.sample(jobs, quota):
            job.api_faults.append(kind)
    for job in rng.sample(jobs, math.ceil(JOBS * DUPLICATE_SHARE)):
        job.deliveries = 2
    # Events lost on the way: only jobs whose API faults and stale links would have met
    # their first delivery (link faults are met by the sweep's copy just the same).
    quiet = [j for j in jobs if not j.api_faults and not j.stale and j.deliveries == 1]
    for job in rng.sample(quiet, math.ceil(JOBS * WITHHELD_SHARE)):
        job.deliveries = 0
    return jobs


# --------------------------------------------------------------------- delivery
@dataclass(frozen=True)
class Delivery:
    job: PlannedJob
    event: dict[str, Any]
    first: bool  # the first copy of the event carries the job's API faults


@dataclass
class DeliveryReport:
    mapping: MappingReport
    #: Message ID -> the delivery it carries.
    deliveries: dict[str, Delivery]
    #: Names of the jobs whose events ended in the dead-letter queue.
    dead_letters: list[str] = field(default_factory=list)

    def retried(self, job: PlannedJob) -> bool:
        """Whether any message of the job came back (its record failed, or its batch)."""
        return any(
            self.mapping.received[id_] > 1
            for id_, delivery in self.deliveries.items()
            if delivery.job is job
        )


def deliver_through_queue(
    fake: FakeTranscribe,
    sqs: Any,
    queue: EventQueue,
    deliveries: list[Delivery],
    *,
    concurrency: int = CONCURRENCY,
    timeout: float = DELIVERY_BUDGET_S,
) -> DeliveryReport:
    """Put every delivery's event into the queue, in order, and let the mapping drain it.

    A job's API faults are queued as the batch holding the first copy of its event is
    handed over: some concurrent call will meet them.
    """
    ids = send_events(sqs, queue.url, (d.event for d in deliveries))
    by_id = dict(zip(ids, deliveries, strict=True))

    def queue_api_faults(records: list[dict[str, Any]]) -> None:
        for record in records:
            delivery = by_id[record["messageId"]]
            if delivery.first and record["attributes"]["ApproximateReceiveCount"] == "1":
                for kind in delivery.job.api_faults:
                    fake.fail_api_next(get_op(delivery.job.name), 1, kind)

    with lambda_environments(concurrency) as pool:
        mapping = EventSourceMapping(
            sqs,
            queue.url,
            executor=pool,
            handler=handler,
            max_concurrency=concurrency,
            batch_size=contract.QUEUE_BATCH_SIZE,
            invocation_timeout=VISIBILITY,
            before_invoke=queue_api_faults,
        )
        report = mapping.run(timeout=timeout)
    dead = []
    for _ in range(len(deliveries)):  # bounded: at most every message is dead
        answer = sqs.receive_message(
            QueueUrl=queue.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=60
        )
        if not answer.get("Messages"):
            break
        # SQS keeps a message's ID when it moves it to the dead-letter queue.
        dead += [by_id[m["MessageId"]].job.name for m in answer["Messages"]]
    return DeliveryReport(report, by_id, dead)


# --------------------------------------------------------------------- fixtures
@pytest.fixture
def fake_transcribe(embedded_aws: EmbeddedAWS) -> Iterator[StaleLinksTranscribe]:
    """Overrides conftest's double (``archive_env`` follows): this one can hand out
    links that are already expired."""
    double = StaleLinksTranscribe(s3_client=embedded_aws.client("s3"), region=embedded_aws.region)
    with serving(double) as fake:
        yield fake


@pytest.fixture
def event_queue(embedded_aws: EmbeddedAWS) -> Iterator[EventQueue]:
    sqs = embedded_aws.client("sqs")
    queue = create_event_queue(
        sqs,
        f"chaos-{uuid.uuid4().hex[:10]}",
        visibility_timeout=VISIBILITY,
        max_receive_count=contract.QUEUE_MAX_RECEIVE_COUNT,
    )
    yield queue
    for url in (queue.url, queue.dlq_url):
        sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def team_bucket(embedded_aws: EmbeddedAWS) -> Iterator[str]:
    yield TEAM_BUCKET
    s3 = embedded_aws.client("s3")
    with contextlib.suppress(s3.exceptions.NoSuchBucket):
        for key in keys_under(s3, TEAM_BUCKET, ""):
            s3.delete_object(Bucket=TEAM_BUCKET, Key=key)
        s3.delete_bucket(Bucket=TEAM_BUCKET)


# --------------------------------------------------------------------- the test
def test_given_jobs_under_every_fault_when_delivered_through_the_queue_then_each_archived_once(
    embedded_aws: EmbeddedAWS,
    fake_transcribe: StaleLinksTranscribe,
    archive_env: ArchiveEnv,
    team_bucket: str,
    event_queue: EventQueue,
) -> None:
    started = time.monotonic()
    fake = fake_transcribe
    rng = random.Random(SEED)
    s3, db = embedded_aws.client("s3"), embedded_aws.client("dynamodb")
    bucket, table = archive_env.bucket, archive_env.table
    # As the stack's bucket is: a second copy of an object would be a second version.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    # Given: JOBS finished runs of every shape, faults queued on their links and API calls,
    # some events duplicated, all in shuffled order.
    jobs = plan_jobs(rng)
    for job in jobs:
        analytics = job.shape.startswith("call-analytics")
        add = fake.add_call_analytics_job if analytics else fake.add_job
        add(job.name, **SHAPES[job.shape][1])
        for output, faults in job.link_faults.items():
            fake.inject(job.name, output, faults)
        if job.stale:
            fake.serve_stale_links(job.name)
    deliveries = [
        Delivery(job, event, first=copy == 0)
        for job in jobs
        for event in [fake.event_for(job.name)]
        for copy in range(job.deliveries)
    ]
    rng.shuffle(deliveries)
    fake.clear_requests()
    planned = Counter(kind for job in jobs for kind in job.kinds)
    every_kind = {*LINK_FAULTS, *API_FAULTS, "already_expired"}
    assert all(planned[kind] >= JOBS * FAULT_SHARE for kind in every_kind), planned
    assert sum(job.deliveries > 1 for job in jobs) >= JOBS * DUPLICATE_SHARE
    set_up = time.monotonic()

    # When: every event goes through the queue, CONCURRENCY batches at a time.
    report = deliver_through_queue(fake, embedded_aws.client("sqs"), event_queue, deliveries)
    mapping = report.mapping
    withheld = sorted(job.name for job in jobs if job.deliveries == 0)
    assert sorted(job.name for job in jobs if not runs(db, table, job.name)) == withheld
    # ... and the stack's schedule runs the sweep, twice in a row.
    sweep = handler({"action": "sweep", "overlapMinutes": 15}, FakeLambdaContext())
    versions_after_first = _versions(s3, bucket)
    again = handler({"action": "sweep", "overlapMinutes": 15}, FakeLambdaContext())
    delivered = time.monotonic()
    requests = fake.requests
    served = Counter(r.fault for r in requests if r.fault)
    lookups = Counter(r.status for r in requests if r.op in GET_OPS)
    retried = [job.name for job in jobs if report.retried(job)]
    print(
        f"\nchaos: {JOBS} jobs {dict(Counter(j.shape for j in jobs))}; "
        f"{len(deliveries)} events ({sum(j.deliveries > 1 for j in jobs)} jobs duplicated); "
        f"{mapping.invocations} invocations, batches {dict(mapping.batch_sizes)}, "
        f"{sum(mapping.reported_failures.values())} records reported failed "
        f"({len(retried)} jobs retried), {len(mapping.failed_batches)} failed batches, "
        f"{len(report.dead_letters)} dead letters; jobs per fault kind {dict(planned)}; "
        f"faults served {dict(served)}; stale answers {sum(fake.stale_answers.values())}; "
        f"Get…Job answers by status {dict(lookups)}; sweeps {sweep} then {again}; "
        f"setup {set_up - started:.1f}s, delivery {delivered - set_up:.1f}s",
        flush=True,
    )

    # Then: nothing is left for the DLQ, no invocation failed as a whole, and every message
    # (duplicates included) was deleted exactly once ...
    assert report.dead_letters == [], report.dead_letters[:5]
    # ... the sweep found exactly the withheld runs and archived each (the second nothing) ...
    assert sweep["recovered"] == len(withheld) > 0, sweep
    assert sweep["verdicts"] == {
        "ALREADY_ARCHIVED": JOBS - len(withheld),
        "ARCHIVED": len(withheld),
    }
    assert again["recovered"] == 0
    assert again["verdicts"] == {"ALREADY_ARCHIVED": JOBS}, again
    assert _versions(s3, bucket) == versions_after_first
    assert mapping.failed_batches == [], mapping.failed_batches[:3]
    assert mapping.deleted == Counter(list(report.deliveries))
    assert mapping.max_in_flight <= CONCURRENCY

    # ... every run is whole in S3: each output the job produced (job.json only when it
    # FAILED), byte-identical, with metadata and checksums, and its one history item ...
    def whole(job: PlannedJob) -> dict[str, Any]:
        item = assert_archived_whole(s3, db, bucket, table, fake, job.name)
        assert set(item["Outputs"]) == archive_names(fake, job.name), (job.name, item["Outputs"])
        return item

    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        items = list(pool.map(whole, jobs))

    # ... the table holds exactly one item per job, and S3 nothing outside the run folders.
    assert _count_items(db, table) == JOBS
    folders = [item["ArchiveUri"].removeprefix(f"s3://{bucket}/") for item in items]
    assert len(set(folders)) == JOBS
    assert keys_under(s3, bucket, "") == sorted(
        f"{folder}{name}"
        for folder, item in zip(folders, items, strict=True)
        for name in item["Outputs"]
    )

    # ... every injected fault was really met ...
    injected = Counter(f.kind for j in jobs for faults in j.link_faults.values() for f in faults)
    for kind, count in injected.items():
        assert served[kind] == count, (kind, served[kind], count)
    api_injected = Counter(kind for job in jobs for kind in job.api_faults)
    assert served["internal"] == api_injected["internal"]
    assert served["throttle"] >= api_injected["throttle"]  # plus any from the 30/s quota
    assert all(fake.stale_answers[job.name] == 1 for job in jobs if job.stale)

    # ... and each job was archived by exactly one delivery, however many it had (a run
    # redone after a failed record may write again): each service-bucket output was read
    # whole exactly once, and each object has exactly one version.
    fetched = Counter(
        (r.job, r.output)
        for r in requests
        # A cut body (reset, short read) is logged with its 200 status line too.
        if r.op is None and r.method == "GET" and r.status == 200 and r.fault is None
    )
    versions = _versions(s3, bucket)
    for job, folder, item in zip(jobs, folders, items, strict=True):
        if job.name in retried:
            continue
        for output in job.link_outputs:
            assert fetched[(job.name, output)] == 1, (job.name, output)
        for name in item["Outputs"]:
            assert versions[f"{folder}{name}"] == 1, (job.name, name)
    print(
        f"chaos: checks {time.monotonic() - delivered:.1f}s, "
        f"total {time.monotonic() - started:.1f}s"
    )


def _versions(s3: Any, bucket: str) -> Counter[str]:
    """How many versions each key of the (versioned) bucket has."""
    counts: Counter[str] = Counter()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        counts.update(version["Key"] for version in page.get("Versions", []))
    return counts


def _count_items(db: Any, table: str) -> int:
    """A test-side census of the job runs in the table (the product itself never scans);
    the sweep's watermark items (JobName ``#sweep``) are not runs."""
    total = 0
    kwargs: dict[str, Any] = {
        "TableName": table,
        "Select": "COUNT",
        "ConsistentRead": True,
        "FilterExpression": "JobName <> :sweep",
        "ExpressionAttributeValues": {":sweep": {"S": "#sweep"}},
    }
    for _ in range(10_000):
        page = db.scan(**kwargs)
        total += int(page["Count"])
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    raise AssertionError("table scan did not end")


#: For the test below, which runs one invocation at a time: its single poller receives only
#: once the invocation has answered, so the timeout need not cover an invocation (nothing
#: can be received twice while it runs) and only paces the retries.
RETRY_VISIBILITY: Final = 3
#: Scaled down from contract.QUEUE_MAX_RECEIVE_COUNT to keep the test short.
MAX_RECEIVES: Final = 3


def test_given_faults_beyond_the_budget_when_delivered_through_the_queue_then_retried_then_dlq(
    embedded_aws: EmbeddedAWS,
    fake_transcribe: StaleLinksTranscribe,
    archive_env: ArchiveEnv,
    team_bucket: str,
) -> None:
    """The retry path itself: a record whose run could not be archived comes back, and an
    event that fails every receive ends in the DLQ, with an INCOMPLETE item saying why."""
    fake = fake_transcribe
    s3, db = embedded_aws.client("s3"), embedded_aws.client("dynamodb")
    sqs = embedded_aws.client("sqs")
    bucket, table = archive_env.bucket, archive_env.table
    queue = create_event_queue(
        sqs,
        f"chaos-retry-{uuid.uuid4().hex[:10]}",
        visibility_timeout=RETRY_VISIBILITY,
        max_receive_count=MAX_RECEIVES,
    )
    attempts = RetryPolicy().max_attempts
    # Given: one job whose link fails one invocation's worth of attempts, one that fails
    # on every receive the queue allows.
    plans = {"recovers": attempts, "exhausted": attempts * MAX_RECEIVES}
    deliveries = []
    for name, failures in plans.items():
        fake.add_job(name, subtitle_formats=["srt"])
        fake.inject(name, "transcript", [Fault.status(500)] * failures)
        job = PlannedJob(name, "subtitled", ("transcript", "srt"))
        deliveries.append(Delivery(job, fake.event_for(name), first=True))

    # When
    report = deliver_through_queue(fake, sqs, queue, deliveries, concurrency=1, timeout=120)
    ids = {delivery.job.name: id_ for id_, delivery in report.deliveries.items()}

    # Then: the first is archived whole by its second receive, after one failed record ...
    assert report.mapping.failed_batches == []
    assert report.mapping.reported_failures[ids["recovers"]] == 1
    assert report.mapping.received[ids["recovers"]] == 2
    assert_archived_whole(s3, db, bucket, table, fake, "recovers")
    # ... the subtitles copied by the failed attempt were not fetched again ...
    assert fake.link_requests("recovers", "srt") == 1
    # ... and the second is a dead letter after MAX_RECEIVES receives, its one item
    # INCOMPLETE with the reason and what could be archived.
    assert report.mapping.received[ids["exhausted"]] == MAX_RECEIVES
    assert report.mapping.reported_failures[ids["exhausted"]] == MAX_RECEIVES
    assert report.dead_letters == ["exhausted"]
    item = only_run(db, table, "exhausted")
    assert item["ArchiveStatus"] == "INCOMPLETE"
    assert "transcript.json" in item["ArchiveError"]
    assert "500" in item["ArchiveError"]
    assert "transcript.json" not in item["Outputs"]
    assert "subtitles.srt" in item["Outputs"]
    assert fake.link_requests("exhausted", "srt") == 1
    for url in (queue.url, queue.dlq_url):
        sqs.delete_queue(QueueUrl=url)
