"""Shared driving code for the outside review's attack tests (harness only: the handler, the
CLI, the embedded AWS and the Transcribe double; no product internals)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from local_aws.archive_env import ArchiveEnv
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.transcribe import FakeTranscribe
from tests.integration.helpers import World, cli, metrics_emitted, runs

__all__ = ["cli", "metrics_emitted"]  # the attack files import them from here too

ROOT = Path(__file__).resolve().parents[2]
SWEEP = {"action": "sweep", "overlapMinutes": 15}


class AttackWorld(World):
    def __init__(self, aws: EmbeddedAWS, env: ArchiveEnv, fake: FakeTranscribe) -> None:
        super().__init__(aws, env, fake)
        self.team = f"team-out-{env.bucket.removeprefix('archive-')}"

    def sweep(self, **request: Any) -> dict[str, Any]:
        return self.invoke(SWEEP | request)

    def medical(self, name: str, **spec: Any) -> dict[str, Any]:
        return self.fake.add_medical_job(name, output_bucket=self.team, **spec)

    def scribe(self, name: str, **spec: Any) -> dict[str, Any]:
        return self.fake.add_medical_scribe_job(name, output_bucket=self.team, **spec)

    def items(self, name: str) -> list[dict[str, Any]]:
        return runs(self.db, self.table, name)

    def raw_items(self, name: str) -> list[dict[str, Any]]:
        return self.db.query(
            TableName=self.table,
            KeyConditionExpression="JobName = :n",
            ExpressionAttributeValues={":n": {"S": name}},
            ConsistentRead=True,
        )["Items"]

    def versions(self, prefix: str) -> list[tuple[str, str]]:
        found = []
        for page in self.s3.get_paginator("list_object_versions").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                found.append((entry["Key"], entry["VersionId"]))
        return sorted(found)

    def uploads(self, prefix: str) -> list[str]:
        page = self.s3.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        return [u["Key"] for u in page.get("Uploads", [])]

    def folder(self, item: dict[str, Any]) -> str:
        return str(item["ArchiveUri"]).removeprefix(f"s3://{self.bucket}/")

    def current_sha(self, key: str) -> str:
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return hashlib.sha256(body).hexdigest()

    def expire_lease(self, name: str, created_at: str) -> None:
        self.db.update_item(
            TableName=self.table,
            Key={"JobName": {"S": name}, "CreatedAt": {"S": created_at}},
            UpdateExpression="SET LeaseExpiresAt = :past",
            ExpressionAttributeValues={":past": {"N": str(time.time() - 1)}},
        )

    def unsettled_markers(self) -> list[dict[str, Any]]:
        return self.db.query(
            TableName=self.table,
            KeyConditionExpression="JobName = :n",
            ExpressionAttributeValues={":n": {"S": "#unsettled"}},
            ConsistentRead=True,
        )["Items"]

    def spawn(self, request: dict[str, Any]) -> subprocess.Popen[bytes]:
        script = (
            "import json, sys\n"
            "from archiver.handler import handler\n"
            "from local_aws.lambda_context import FakeLambdaContext\n"
            "handler(json.loads(sys.argv[1]), FakeLambdaContext())\n"
        )
        env = os.environ | self.env.environ
        env["PYTHONPATH"] = f"{ROOT / 'lambdas'}{os.pathsep}{ROOT}"
        return subprocess.Popen(
            [sys.executable, "-c", script, json.dumps(request)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def killed_mid_copy(self, request: dict[str, Any], name: str) -> None:
        process = self.spawn(request)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                found = runs(self.db, self.table, name)
                if found and any("under way" in f.get("ArchiveError", "") for f in found):
                    break
                time.sleep(0.1)
            else:
                pytest.fail(f"{name} was never leased")
            time.sleep(0.3)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)


def cli_process(
    world: AttackWorld, argv: list[str], *, clock_skew_seconds: float = 0.0, capture: bool = False
) -> subprocess.Popen[bytes]:
    """`transcribe-archiver ARGV` in a process of its own, on a machine whose clock is off by
    ``clock_skew_seconds`` (a laptop with a wrong time zone or no NTP)."""
    script = (
        "import sys, time\n"
        f"_real = time.time\ntime.time = lambda: _real() + {clock_skew_seconds!r}\n"
        "from archiver.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    env = os.environ | world.env.environ
    env["PYTHONPATH"] = f"{ROOT / 'lambdas'}{os.pathsep}{ROOT}"
    return subprocess.Popen(
        [sys.executable, "-c", script, *argv],
        env=env,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.PIPE if capture else subprocess.DEVNULL,
    )


def wait_until_under_way(world: AttackWorld, name: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for item in world.items(name):
            if "under way" in item.get("ArchiveError", ""):
                return item
        time.sleep(0.05)
    pytest.fail(f"{name} was never leased")
