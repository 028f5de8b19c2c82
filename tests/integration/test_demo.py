"""`make demo` runs the whole pipeline on an embedded AWS, exits 0 and leaves nothing running."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_given_a_checkout_when_the_demo_runs_then_it_archives_every_shape_and_exits_0() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "JOBS_", "ARCHIVE_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "lambdas"), str(ROOT)])
    done = subprocess.run(
        [sys.executable, "-m", "archiver", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for job in (
        "support-call-0001",
        "media-interview-team-bucket",
        "sales-call-redacted",
        "webinar-subtitles",
        "broken-upload",
        "town-hall-multilingual",
        "kundengespraech-de",
        "seoul-branch-call",
        "contact-center-call-0042",
        "clinic-dictation-0007",
        "clinic-visit-0042",
    ):
        assert job in out
    # The first job's event was delivered twice (through the queue) and archived once.
    assert re.search(r"support-call-0001 .*│\s+2 │ ARCHIVED\s+│", out), out
    assert "11 job runs, newest first" in out
    assert "call-analytics · Queue=Billing" in out  # the history list marks its kind
    assert "redacted-media.wav" in out and "audio/wav" in out
    assert "CALL_ANALYTICS" in out and "CUSTOMER" in out  # history show of that job
    assert "redacted-transcript.json" in out
    assert "subtitles.vtt" in out
    # No event announces Medical or HealthScribe jobs: the sweep archived both.
    assert re.search(r"clinic-dictation-0007 .*│\s+0 │ ARCHIVED\s+│", out), out
    assert re.search(r"clinic-visit-0042 .*│\s+0 │ ARCHIVED\s+│", out), out
    assert "archived 2 that no event had announced" in out
    assert "s3://transcribe-archive-demo/medical-scribe/" in out
    assert "clinical-document.json" in out and "CLINICIAN" in out  # history show
    assert "Everything stopped." in out
