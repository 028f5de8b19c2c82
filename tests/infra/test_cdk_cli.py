"""The app works without the CDK CLI too: `python app.py` (the README's `make synth` runs
the pinned CLI; tests/infra/test_readme_deploy.py runs it as the README shows it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT

pytestmark = pytest.mark.infra

_ENV = {**os.environ, "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"}


def test_given_bad_context_when_python_app_then_exit_names_the_key(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        # How the CDK CLI hands `-c logRetentionDays=42` to the app.
        env={
            **_ENV,
            "CDK_OUTDIR": str(tmp_path),
            "CDK_CONTEXT_JSON": json.dumps({"logRetentionDays": 42}),
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode != 0
    assert "Invalid configuration: CDK context 'logRetentionDays'" in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


def test_given_repo_checkout_when_python_app_then_it_synthesizes_without_the_cli(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={**_ENV, "CDK_OUTDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    template = json.loads((tmp_path / "TranscribeArchiver.template.json").read_text("utf-8"))
    # cdk.json's feature flags were applied: access logs are granted by bucket policy.
    policies = [r for r in template["Resources"].values() if r["Type"] == "AWS::S3::BucketPolicy"]
    principals = [
        s.get("Principal")
        for p in policies
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    ]
    assert {"Service": "logging.s3.amazonaws.com"} in principals
