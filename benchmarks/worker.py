"""The archiver's own process: the Lambda handler (and the plain-copy baseline), nothing else.

The suite starts this as ``python -m benchmarks.worker`` with the archiver's contract
environment pointing at the embedded AWS and the Transcribe double, which live in the
suite's process; so this process's memory is the function's own. ``PYTHONPATH`` names the
archiver's source tree (the repository's ``lambdas/``, or another copy given with
``--lambdas``), as the Lambda runtime puts the function's code on the path. Commands arrive as JSON
lines on stdin and answers leave as JSON lines on a private duplicate of the original
stdout: the function itself writes logs and EMF metrics to stdout/stderr, which are sent
to the file named by ``BENCH_WORKER_LOG`` (as Lambda sends them to CloudWatch Logs).

Imports are kept to what the handler needs, so nothing else inflates the measured memory.
"""

from __future__ import annotations

import inspect
import json
import os
import resource
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TextIO

# All of these are the handler's own imports anyway.
import boto3
import urllib3
from archiver.aws import clients
from archiver.handler import handler
from archiver.store.archive_bucket import PART_SIZE, ArchiveBucket
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from local_aws.lambda_context import FakeLambdaContext

KiB = 1024


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def memory() -> dict[str, int]:
    """Current and peak resident set size of this process, in bytes."""
    fields: dict[str, int] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(rest.split()[0]) * KiB
    return {
        "rss": fields.get("VmRSS", 0),
        "hwm": fields.get("VmHWM", 0),
        # Linux reports ru_maxrss in KiB.
        "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * KiB,
    }


class Worker:
    def __init__(self) -> None:
        self._handler = handler
        self._context = FakeLambdaContext
        upload = inspect.signature(ArchiveBucket.__init__).parameters["upload_concurrency"]
        #: What the baselines must match: the archiver's own part size and concurrency.
        self.facts = {
            "part_size": PART_SIZE,
            "upload_concurrency": upload.default,
            "archiver_dir": str(Path(sys.modules["archiver"].__file__ or "").parent),
        }
        self._plain: tuple[Any, Any, Any, Any] | None = None
        self._default: dict[bool, Any] = {}
        self._lock = threading.Lock()
        self._counting = False
        self._calls: dict[str, int] = {}
        self._timed: set[int] = set()
        self._completing: dict[int, float] = {}
        self._completion_seconds = 0.0

    # -- the function ----------------------------------------------------------------------
    def archive(self, event: dict[str, Any]) -> dict[str, Any]:
        """One invocation: wall time, CPU time (all threads) and memory afterwards."""
        self._time_completions(clients().s3)
        completion_before = self._completion_seconds
        cpu_before = _cpu_seconds()
        started = time.perf_counter()
        result = self._handler(event, self._context())
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu_before
        return {
            "seconds": seconds,
            "cpu": cpu,
            "result": result,
            "memory": memory(),
            "completion_seconds": self._completion_seconds - completion_before,
        }

    # -- where the time of a multipart copy goes -------------------------------------------
    def _time_completions(self, s3: Any) -> None:
        """Time each CompleteMultipartUpload that ``s3`` makes (the embedded S3 does
        per-byte work there that S3 does not: see benchmarks/speed.py)."""
        with self._lock:
            if id(s3) in self._timed:
                return
            self._timed.add(id(s3))

        def before(**_: Any) -> None:
            self._completing[threading.get_ident()] = time.perf_counter()

        def after(**_: Any) -> None:
            began = self._completing.pop(threading.get_ident(), None)
            if began is not None:
                with self._lock:
                    self._completion_seconds += time.perf_counter() - began

        s3.meta.events.register("before-call.s3.CompleteMultipartUpload", before)
        s3.meta.events.register("after-call.s3.CompleteMultipartUpload", after)

    def batch(self, events: list[dict[str, Any]], threads: int, *, floor: bool) -> dict[str, Any]:
        """Invoke the handler once per event: in order, or from a pool of ``threads``.

        ``floor``: instead of the handler, make only the requests archiving a small job
        cannot do without (see :meth:`floor_job`), with plain clients: what the embedded
        AWS itself costs per job.
        """
        invoke = self.floor_job if floor else self._invoke

        def one(event: dict[str, Any]) -> tuple[float, str]:
            started = time.perf_counter()
            try:
                outcome = invoke(event)
            except Exception as exc:  # counted and reported, never fatal to the batch
                outcome = f"exception: {exc.__class__.__name__}: {exc}"[:300]
            return time.perf_counter() - started, outcome

        cpu_before = _cpu_seconds()
        started = time.perf_counter()
        if threads <= 1:
            timed = [one(e) for e in events]
        else:
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="invoke") as pool:
                timed = list(pool.map(one, events))
        wall = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu_before
        outcomes: dict[str, int] = {}
        for _, outcome in timed:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        return {"wall": wall, "cpu": cpu, "seconds": [s for s, _ in timed], "outcomes": outcomes}

    def _invoke(self, event: dict[str, Any]) -> str:
        return str(self._handler(event, self._context()).get("outcome"))

    def floor_job(self, event: dict[str, Any]) -> str:
        """The requests a small job needs at the least, with plain boto3/urllib3 clients.

        GetTranscriptionJob, a DynamoDB write claiming the run, GET of the transcript
        link, PutObject of it and of job.json, and the final DynamoDB item: no lease
        conditions, checksums, verification, logging, metrics or tracing.
        """
        pool, s3, transcribe, dynamodb = self._plain_clients()
        name = event["detail"]["TranscriptionJobName"]
        job = transcribe.get_transcription_job(TranscriptionJobName=name)["TranscriptionJob"]
        table, bucket = os.environ["JOBS_TABLE"], os.environ["ARCHIVE_BUCKET"]
        key = {"JobName": {"S": name}, "CreatedAt": {"S": job["CreationTime"].isoformat()}}
        dynamodb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET LeaseOwner = :o",
            ExpressionAttributeValues={":o": {"S": "floor"}},
        )
        body = pool.request("GET", job["Transcript"]["TranscriptFileUri"]).data
        folder = f"floor/{name}/"
        s3.put_object(Bucket=bucket, Key=folder + "transcript.json", Body=body)
        described = json.dumps(job, default=str).encode()
        s3.put_object(Bucket=bucket, Key=folder + "job.json", Body=described)
        dynamodb.put_item(TableName=table, Item=key | {"ArchiveStatus": {"S": "ARCHIVED"}})
        return "ARCHIVED"

    def api_calls(self) -> dict[str, int]:
        """AWS API calls the function made since the last time this was asked (per op).

        Counted on the function's own clients through botocore's ``before-call`` event
        (once per call, retries not counted again); nothing else about them changes.
        """
        with self._lock:
            if not self._counting:
                aws = clients()  # the very clients the handler uses (cached per env)
                for client in (aws.transcribe, aws.s3, aws.dynamodb):
                    client.meta.events.register("before-call", self._count_call)
                self._counting = True
            counted, self._calls = self._calls, {}
        return counted

    def _count_call(self, model: Any, **_: Any) -> None:
        name = f"{model.service_model.service_id}.{model.name}"
        with self._lock:
            self._calls[name] = self._calls.get(name, 0) + 1

    # -- the baseline ----------------------------------------------------------------------
    def baseline(
        self, url: str, bucket: str, key: str, part_size: int, concurrency: int
    ) -> dict[str, Any]:
        """A plain streaming copy: GET the link, stream it into upload_fileobj. No hashing.

        Same part size and upload concurrency as the archiver, same servers; no checksum
        (``request_checksum_calculation="when_required"``), no verification, no records.
        """
        s3 = self._plain_clients()[1]
        config = TransferConfig(
            multipart_threshold=part_size,
            multipart_chunksize=part_size,
            max_concurrency=concurrency,
            use_threads=True,
        )
        config.max_in_memory_upload_chunks = concurrency
        return self._stream_copy(s3, url, bucket, key, config)

    def default_copy(self, url: str, bucket: str, key: str, *, tls_like: bool) -> dict[str, Any]:
        """What a user writes instead: ``boto3.client("s3").upload_fileobj(link's stream)``.

        boto3's defaults throughout (8 MiB parts, 10 threads, a CRC32 per part that botocore
        computes). Over plain http, as here, botocore also SHA-256-signs every part, which it
        does not over https; ``tls_like`` turns only that signing off, to approximate the
        same copy against real S3.
        """
        return self._stream_copy(self._default_s3(tls_like), url, bucket, key, None)

    def _stream_copy(
        self, s3: Any, url: str, bucket: str, key: str, config: TransferConfig | None
    ) -> dict[str, Any]:
        """GET the link and stream it into ``s3.upload_fileobj``: time, CPU, completion."""
        pool = self._plain_clients()[0]
        self._time_completions(s3)
        completion_before = self._completion_seconds
        cpu_before = _cpu_seconds()
        started = time.perf_counter()
        response = pool.request(
            "GET", url, preload_content=False, decode_content=False, redirect=False
        )
        if response.status != 200:
            raise RuntimeError(f"GET of the link answered {response.status}")
        s3.upload_fileobj(response, bucket, key, Config=config)
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu_before
        response.release_conn()
        head = s3.head_object(Bucket=bucket, Key=key)  # after the clock: not part of the copy
        return {
            "seconds": seconds,
            "cpu": cpu,
            "bytes": head["ContentLength"],
            "memory": memory(),
            "completion_seconds": self._completion_seconds - completion_before,
        }

    def _default_s3(self, tls_like: bool) -> Any:
        with self._lock:
            if tls_like not in self._default:
                config = Config(s3={"payload_signing_enabled": False}) if tls_like else None
                self._default[tls_like] = boto3.client("s3", config=config)
            return self._default[tls_like]

    def _plain_clients(self) -> tuple[Any, Any, Any, Any]:
        """urllib3 and boto3 clients with no checksums: for the baselines only."""
        with self._lock:
            if self._plain is None:
                config = Config(
                    retries={"mode": "standard", "max_attempts": 8},
                    max_pool_connections=32,
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                )
                session = boto3.session.Session()
                self._plain = (
                    urllib3.PoolManager(maxsize=16, retries=False),
                    session.client("s3", config=config),
                    session.client("transcribe", config=config),
                    session.client("dynamodb", config=config),
                )
            return self._plain

    # -- the loop --------------------------------------------------------------------------
    def dispatch(self, command: dict[str, Any]) -> dict[str, Any]:
        op = command.get("op")
        if op == "memory":
            return {"memory": memory()}
        if op == "api_calls":
            return {"calls": self.api_calls()}
        if op == "archive":
            return self.archive(command["event"])
        if op == "batch":
            return self.batch(
                command["events"],
                int(command.get("threads", 1)),
                floor=bool(command.get("floor", False)),
            )
        if op == "default_copy":
            return self.default_copy(
                command["url"],
                command["bucket"],
                command["key"],
                tls_like=bool(command.get("tls_like", False)),
            )
        if op == "baseline":
            return self.baseline(
                command["url"],
                command["bucket"],
                command["key"],
                int(command["part_size"]),
                int(command["concurrency"]),
            )
        raise ValueError(f"unknown op {op!r}")


def _answer(channel: TextIO, payload: dict[str, Any]) -> None:
    channel.write(json.dumps(payload, default=str) + "\n")
    channel.flush()


def main() -> int:
    # Answers go to a duplicate of the original stdout; fd 1 and 2 go to the log file.
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    log_path = os.environ.get("BENCH_WORKER_LOG", os.devnull)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    try:
        worker = Worker()
    except Exception:
        _answer(channel, {"error": traceback.format_exc()})
        return 1
    _answer(
        channel,
        {
            "ready": True,
            "memory": memory(),
            **worker.facts,
        },
    )
    for line in sys.stdin:
        command = json.loads(line)
        if command.get("op") == "exit":
            _answer(channel, {"bye": True})
            return 0
        try:
            _answer(channel, worker.dispatch(command))
        except Exception:
            _answer(channel, {"error": traceback.format_exc()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
