"""Issue 13: the function runs on what Lambda gives it, and on nothing else.

A Lambda-shaped directory is laid out: ``var/task`` is the asset folder `cdk synth` wrote,
``opt/python`` the Powertools layer's packages, ``var/runtime`` the runtime's SDK
(``lambda_runtime/*.txt`` say which and why). A fresh interpreter with only those folders
and the standard library on its path imports the handler, with tracing on as in Lambda,
and archives a job against the embedded AWS. The packages come from the wheels
``make install`` downloads into ``.stamps/runtime-wheels``: nothing is fetched here.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from infra.config import DEFAULT_POWERTOOLS_VERSION
from local_aws.transcribe import GeneratedContent
from tests.infra.conftest import ROOT, Synth
from tests.integration.helpers import assert_archived_whole

HERE = Path(__file__).resolve().parent / "lambda_runtime"
WHEELS = ROOT / ".stamps" / "runtime-wheels"
#: What Powertools' layer build deletes because the runtime provides it (its own patterns).
RUNTIME_PROVIDED = ("boto*", "s3transfer*", "*dateutil*", "urllib3*", "six*", "jmespath*")
MiB = 1024 * 1024

#: Runs in the clean interpreter: Lambda's module path, the handler, one event from stdin.
BOOTSTRAP = """
import json, sys, time
sys.path[:0] = sys.argv[1:]  # /var/task, then the layer, then the runtime (python3.12+)

class Context:  # what Powertools and the handler read from Lambda's context object
    function_name = "TranscribeArchiver-Archiver"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:x"
    function_version = "$LATEST"
    aws_request_id = "0b5c4c3e-6a57-4f1a-9d8e-1f2a3b4c5d6e"
    _end = time.monotonic() + 300
    def get_remaining_time_in_millis(self):
        return int((self._end - time.monotonic()) * 1000)

from archiver.handler import handler
result = handler(json.loads(sys.stdin.read()), Context())
files = sorted({getattr(m, "__file__", None) or "" for m in list(sys.modules.values())})
print(json.dumps({"result": result, "files": files}))
"""


def _install(target: Path, requirements: Path) -> None:
    if not WHEELS.is_dir():
        pytest.fail(f"{WHEELS} is missing: `make install` downloads the runtime's wheels")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index"]
    command += ["--find-links", str(WHEELS), "--target", str(target), "-r", str(requirements)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"pip could not install {requirements.name}:\n{done.stderr}"


@pytest.fixture(scope="session")
def lambda_root(tmp_path_factory: pytest.TempPathFactory, default: Synth) -> Path:
    """var/task (the synthesized asset), opt/python (the layer), var/runtime (the SDK)."""
    root = tmp_path_factory.mktemp("lambda")
    code = default.resources("AWS::Lambda::Function")
    (function,) = [f for f in code.values() if f["Properties"]["Handler"].startswith("archiver")]
    asset = default.stack.node.root.outdir  # type: ignore[attr-defined]
    digest = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    shutil.copytree(Path(asset) / f"asset.{digest}", root / "var" / "task")
    layer = root / "opt" / "python"
    _install(layer, HERE / "layer.txt")
    for path in layer.iterdir():
        if any(fnmatch.fnmatch(path.name, pattern) for pattern in RUNTIME_PROVIDED):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    _install(root / "var" / "runtime", HERE / "runtime.txt")
    return root


def test_given_the_layer_requirement_then_it_is_the_version_the_stack_pins() -> None:
    pins = (HERE / "layer.txt").read_text(encoding="utf-8")
    assert f"aws-lambda-powertools[parser,tracer]=={DEFAULT_POWERTOOLS_VERSION}" in pins


def test_given_only_the_runtime_and_the_layer_then_the_asset_archives_a_job(
    lambda_root: Path, archive_env: Any, embedded_aws: Any, fake_transcribe: Any
) -> None:
    # Multipart (full-object CRC32), a subtitle, and job.json: every write path.
    fake_transcribe.add_job(
        "on-lambda",
        outputs={"transcript": GeneratedContent(9 * MiB, seed=31)},
        subtitle_formats=["srt"],
    )
    paths = [lambda_root / "var" / "task", lambda_root / "opt" / "python"]
    paths.append(lambda_root / "var" / "runtime")
    keep = ("AWS_", "ARCHIVE_", "JOBS_", "ALLOWED_", "MAX_OUTPUT", "POWERTOOLS_")
    env = {k: v for k, v in os.environ.items() if k.startswith(keep)}
    env.pop("POWERTOOLS_TRACE_DISABLED", None)  # traced, as the deployed function is
    env |= {
        "PATH": os.environ.get("PATH", ""),
        "LAMBDA_TASK_ROOT": str(paths[0]),
        "AWS_LAMBDA_FUNCTION_NAME": "TranscribeArchiver-Archiver",
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",  # no X-Ray daemon here
    }
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", BOOTSTRAP, *map(str, paths)],
        input=json.dumps(fake_transcribe.event_for("on-lambda")),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.splitlines()[-1])
    assert answer["result"]["outcome"] == "ARCHIVED", answer["result"]
    stdlib = sysconfig.get_paths()["stdlib"]
    outside = [
        f
        for f in answer["files"]
        if f and not f.startswith((str(lambda_root), stdlib)) and "frozen" not in f
    ]
    assert outside == [], "imported from outside the runtime, the layer and the asset"
    s3, db = embedded_aws.client("s3"), embedded_aws.client("dynamodb")
    assert_archived_whole(
        s3, db, archive_env.bucket, archive_env.table, fake_transcribe, "on-lambda"
    )
