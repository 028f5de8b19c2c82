"""Issue 11 item 6: a 200 MB redacted-audio output is archived within the memory bound of
the performance issue.

The function runs in a process of its own (the benchmarks' worker: the Lambda handler and
nothing else), so its peak RSS is the function's, measured as ``make bench`` measures it;
the embedded AWS and the Transcribe double stay in this process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.common import check_archived, warm_up
from benchmarks.harness import Lab
from benchmarks.memory import MEMORY_LIMIT_MIB
from local_aws.transcribe import GeneratedContent

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
AUDIO_BYTES = 200 * 1000 * 1000


def test_given_200_mb_of_redacted_audio_when_archived_then_memory_stays_within_the_bound(
    tmp_path: Path,
) -> None:
    with Lab(tmp_path) as lab, lab.worker("call-analytics-audio") as worker:
        warm_up(lab, worker)
        before = worker.memory()
        lab.fake.add_call_analytics_job(
            "long-call",
            redaction="redacted",
            outputs={"redacted_media": GeneratedContent(AUDIO_BYTES, seed=200)},
        )

        answer = worker.archive(lab.fake.event_for("long-call"), timeout=600)

        check_archived(answer, "long-call")
        item = lab.record("long-call")
        audio = item["Outputs"]["redacted-media.wav"]
        assert item["JobKind"] == "CALL_ANALYTICS"
        assert (audio["Bytes"], audio["ContentType"]) == (AUDIO_BYTES, "audio/wav")
        assert audio["Sha256"] == lab.fake.output_sha256("long-call", "redacted_media")
        growth = (answer["memory"]["hwm"] - before["rss"]) / MiB
        print(f"\nredacted audio {AUDIO_BYTES / MiB:.0f} MiB: peak RSS growth {growth:.1f} MiB")
        assert growth <= MEMORY_LIMIT_MIB
