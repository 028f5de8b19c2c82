"""The benchmark lab: local servers in this process, the archiver in a child process.

:class:`Lab` runs the embedded AWS (moto) and the Transcribe double on 127.0.0.1 in the
suite's own process and creates a fresh archive bucket and history table for the run.
:class:`WorkerProcess` starts ``benchmarks.worker`` (the Lambda handler and nothing else)
with the archiver's contract environment pointing at those servers, so that what the
worker measures about itself (time, peak RSS) belongs to the function alone.

Both local servers set TCP_NODELAY (in local_aws), as real endpoints behave: without
it some requests stall ~40 ms on delayed ACKs.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from archiver.store.record import from_dynamo
from botocore.exceptions import ClientError

from local_aws.archive_env import ArchiveEnv, drop_archive, new_archive
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.transcribe import FakeTranscribe

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

ROOT = Path(__file__).resolve().parents[1]
#: The team's own output bucket (jobs with OutputBucketName): S3 copies those outputs.
TEAM_BUCKET = "bench-team-outputs"
#: Variables of the developer's shell that must not leak into the function's environment.
_FOREIGN_PREFIXES = ("AWS_", "POWERTOOLS_", "LAMBDA_", "_X_AMZN", "_HANDLER", "BENCH_")


class WorkerError(RuntimeError):
    """The worker failed a command, died, or did not answer in time."""


class WorkerProcess:
    """One ``python -m benchmarks.worker`` child, driven by JSON lines with timeouts.

    The archiver it runs comes from ``lambdas`` (put first on the child's ``PYTHONPATH``,
    as the Lambda runtime does with the function's code); :meth:`start` checks it did.
    """

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        lambdas: Path,
        *,
        start_timeout: float = 60.0,
    ):
        path = [str(lambdas), *filter(None, [env.get("PYTHONPATH")])]
        self._env = env | {"PYTHONPATH": os.pathsep.join(path)}
        self._archiver = (lambdas / "archiver").resolve()
        self._log_path = log_path
        self._start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self.ready: dict[str, Any] = {}

    def start(self) -> Self:
        with open(self._log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.worker"],
                cwd=ROOT,
                env=self._env | {"BENCH_WORKER_LOG": str(self._log_path)},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,  # until the worker redirects its own fd 2 there
            )
        try:
            self.ready = self._receive(self._start_timeout)
            self._check_archiver(Path(self.ready["archiver_dir"]).resolve())
        except BaseException:
            self.stop()
            raise
        return self

    def _check_archiver(self, loaded: Path) -> None:
        # Measuring the wrong copy (e.g. an installed one shadowing --lambdas) would make
        # every comparison meaningless, so refuse rather than report.
        if loaded != self._archiver:
            raise WorkerError(f"worker imported the archiver from {loaded}, not {self._archiver}")

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc is not None else 0

    def request(self, op: str, *, timeout: float = 120.0, **fields: Any) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise WorkerError("worker is not running")
        try:
            proc.stdin.write((json.dumps({"op": op, **fields}) + "\n").encode())
            proc.stdin.flush()
        except BrokenPipeError:
            raise WorkerError(f"worker died before {op}:\n{self.log_tail()}") from None
        return self._receive(timeout)

    def archive(self, event: dict[str, Any], *, timeout: float = 300.0) -> dict[str, Any]:
        return self.request("archive", event=event, timeout=timeout)

    def memory(self) -> dict[str, int]:
        memory: dict[str, int] = self.request("memory", timeout=30)["memory"]
        return memory

    def _receive(self, timeout: float) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.stdout is None:
            raise WorkerError("worker is not running")
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerError(f"worker gave no answer within {timeout:.0f} s")
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise WorkerError(f"worker exited (status {proc.poll()}):\n{self.log_tail()}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise WorkerError(f"worker failed:\n{answer['error']}\n{self.log_tail()}")
        return answer

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self._log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None and proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.write(b'{"op": "exit"}\n')
                proc.stdin.flush()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()  # our own child, by its handle
            proc.wait(timeout)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Lab:
    """The servers and a fresh archive for one suite run; everything stopped on exit."""

    def __init__(self, log_dir: Path, lambdas: Path | None = None) -> None:
        self.log_dir = log_dir
        #: The archiver's source tree the worker runs (default: the repository's).
        self.lambdas = lambdas or ROOT / "lambdas"
        self._names = itertools.count(1)
        self._stack = contextlib.ExitStack()
        self.aws: EmbeddedAWS
        self.fake: FakeTranscribe
        self.archive: ArchiveEnv
        self.s3: S3Client
        self.db: DynamoDBClient

    def __enter__(self) -> Self:
        try:
            self.aws = self._stack.enter_context(EmbeddedAWS())
            # No API quotas: GetTranscriptionJob's 30/s would cap the throughput benchmark.
            self.fake = self._stack.enter_context(
                FakeTranscribe(
                    s3_client=self.aws.client("s3"), region=self.aws.region, rate_limits=None
                )
            )
            self.s3 = self.aws.client("s3")
            self.db = self.aws.client("dynamodb")
            self.archive = new_archive(self.aws, self.fake)
            self._stack.callback(drop_archive, self.aws, self.archive)
            self.aws.create_bucket(TEAM_BUCKET)
            self._stack.callback(self._drop_bucket, TEAM_BUCKET)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    # -- the function's process ---------------------------------------------------------
    def worker_env(self) -> dict[str, str]:
        """The developer's environment minus AWS/Lambda settings, plus the contract's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_PREFIXES)}
        env.update(self.archive.environ)
        return env

    def worker(self, label: str) -> WorkerProcess:
        return WorkerProcess(self.worker_env(), self.log_dir / f"worker-{label}.log", self.lambdas)

    # -- jobs ---------------------------------------------------------------------------
    def new_job(self, stem: str, **job: Any) -> str:
        """Add a finished job to the double under a name never used before in this run."""
        name = f"bench-{stem}-{next(self._names):05d}"
        self.fake.add_job(name, **job)
        return name

    def event(self, name: str) -> dict[str, Any]:
        return self.fake.event_for(name)

    def record(self, job_name: str) -> dict[str, Any]:
        """The job's single history item (as plain Python)."""
        page = self.db.query(
            TableName=self.archive.table,
            KeyConditionExpression="JobName = :n",
            ExpressionAttributeValues={":n": {"S": job_name}},
            ConsistentRead=True,
        )
        items = page.get("Items", [])
        if len(items) != 1:
            raise AssertionError(f"{job_name}: expected one history item, found {len(items)}")
        return from_dynamo(dict(items[0]))

    # -- keeping moto small -------------------------------------------------------------
    def empty_bucket(self, bucket: str | None = None) -> int:
        """Delete every object (moto holds them in this process); returns how many."""
        bucket = bucket or self.archive.bucket
        deleted = 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys: list[ObjectIdentifierTypeDef] = [
                {"Key": obj["Key"]} for obj in page.get("Contents", [])
            ]
            if keys:
                self.s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
                deleted += len(keys)
        return deleted

    def forget_job(self, name: str) -> None:
        with contextlib.suppress(KeyError):
            self.fake.delete_job(name)

    def _drop_bucket(self, bucket: str) -> None:
        with contextlib.suppress(ClientError):
            self.empty_bucket(bucket)
            self.s3.delete_bucket(Bucket=bucket)
