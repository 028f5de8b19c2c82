"""The jobs ``add_job`` creates: their fields, outputs and state-change events."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import urllib3
from archiver import contract

from local_aws.transcribe import FAILURE_REASONS, FakeTranscribe
from local_aws.transcribe.content import (
    EVENTS_DIR,
    KOREAN_TRANSCRIPT,
    REDACTED_TRANSCRIPT,
    SILENT_TRANSCRIPT,
    STANDARD_TRANSCRIPT,
    SUBTITLED_SRT,
    SUBTITLED_TRANSCRIPT,
    fixture_bytes,
)
from tests.local_aws.helpers import raw_api, transcript_uri

pytestmark = pytest.mark.integration


def test_given_redaction_when_getting_the_job_then_the_redacted_transcript_is_linked(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    fake_transcribe.add_job("both", redaction="redacted_and_unredacted")
    fake_transcribe.add_job("only-redacted", redaction="redacted", pii_entity_types=["NAME"])

    both = transcribe.get_transcription_job(TranscriptionJobName="both")["TranscriptionJob"]
    only = transcribe.get_transcription_job(TranscriptionJobName="only-redacted")[
        "TranscriptionJob"
    ]

    assert both["ContentRedaction"] == {
        "RedactionType": "PII",
        "RedactionOutput": "redacted_and_unredacted",
    }
    assert set(both["Transcript"]) == {"TranscriptFileUri", "RedactedTranscriptFileUri"}
    redacted_uri = both["Transcript"]["RedactedTranscriptFileUri"]
    assert urlsplit(redacted_uri).path.endswith("/redacted-asrOutput.json")
    assert http.request("GET", redacted_uri).data == fixture_bytes(REDACTED_TRANSCRIPT)
    # "redacted" alone: the service writes only the redacted transcript.
    assert set(only["Transcript"]) == {"RedactedTranscriptFileUri"}
    assert only["ContentRedaction"]["PiiEntityTypes"] == ["NAME"]


def test_given_subtitles_when_fetching_them_then_srt_is_real_and_vtt_is_derived(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    fake_transcribe.add_job("subs", subtitle_formats=["vtt", "srt"])

    job = transcribe.get_transcription_job(TranscriptionJobName="subs")["TranscriptionJob"]

    assert job["Subtitles"]["Formats"] == ["vtt", "srt"]
    assert job["Subtitles"]["OutputStartIndex"] == 0
    vtt_uri, srt_uri = job["Subtitles"]["SubtitleFileUris"]
    assert urlsplit(vtt_uri).path.endswith("/subs.vtt")
    assert urlsplit(srt_uri).path.endswith("/subs.srt")
    srt = http.request("GET", srt_uri)
    vtt = http.request("GET", vtt_uri)
    assert srt.data == fixture_bytes(SUBTITLED_SRT)
    assert srt.headers["Content-Type"] == "application/x-subrip"
    assert vtt.headers["Content-Type"] == "text/vtt"
    assert vtt.data.startswith(b"WEBVTT\n\n0\n00:00:00.349 --> 00:00:05.269\n")
    assert vtt.data.count(b" --> ") == srt.data.count(b" --> ") == 34
    transcript = http.request("GET", job["Transcript"]["TranscriptFileUri"]).data
    assert transcript == fixture_bytes(SUBTITLED_TRANSCRIPT)  # the SRT's own job


def test_given_a_failed_job_when_getting_it_then_it_has_a_reason_and_no_transcript(
    fake_transcribe: FakeTranscribe, transcribe: Any
) -> None:
    fake_transcribe.add_job(
        "broken",
        status="FAILED",
        failure_reason=FAILURE_REASONS[2],
        subtitle_formats=["srt"],
    )

    job = transcribe.get_transcription_job(TranscriptionJobName="broken")["TranscriptionJob"]
    event = fake_transcribe.event_for("broken")

    assert job["TranscriptionJobStatus"] == "FAILED"
    assert job["FailureReason"] == "Invalid sample rate for audio file"
    assert "Transcript" not in job
    assert "SubtitleFileUris" not in job["Subtitles"]
    assert "MediaSampleRateHertz" not in job
    assert isinstance(job["CompletionTime"], datetime)
    assert event["detail"] == {
        "TranscriptionJobName": "broken",
        "TranscriptionJobStatus": "FAILED",
        "FailureReason": "Invalid sample rate for audio file",
    }
    listed = transcribe.list_transcription_jobs(Status="FAILED")["TranscriptionJobSummaries"]
    assert [(s["TranscriptionJobName"], s["FailureReason"]) for s in listed] == [
        ("broken", "Invalid sample rate for audio file")
    ]


def test_given_multi_language_identification_when_getting_it_then_language_codes_parse(
    fake_transcribe: FakeTranscribe, transcribe: Any
) -> None:
    fake_transcribe.add_job(
        "town-hall",
        language_codes=[("en-US", 1820.5), ("es-US", 611.0)],
        language_options=["en-US", "es-US"],
        identified_language_score=0.97,
    )
    fake_transcribe.add_job("lid", identify_language=True, language_code="de-DE")

    multi = transcribe.get_transcription_job(TranscriptionJobName="town-hall")["TranscriptionJob"]
    single = transcribe.get_transcription_job(TranscriptionJobName="lid")["TranscriptionJob"]

    assert "LanguageCode" not in multi  # multi-language jobs use the plural field
    assert multi["IdentifyMultipleLanguages"] is True
    assert multi["LanguageOptions"] == ["en-US", "es-US"]
    assert multi["IdentifiedLanguageScore"] == pytest.approx(0.97)
    assert multi["LanguageCodes"] == [
        {"LanguageCode": "en-US", "DurationInSeconds": 1820.5},
        {"LanguageCode": "es-US", "DurationInSeconds": 611.0},
    ]
    assert single["IdentifyLanguage"] is True
    assert single["LanguageCode"] == "de-DE"
    assert 0 < single["IdentifiedLanguageScore"] <= 1


def test_given_tags_and_special_content_when_fetched_then_tags_and_fixtures_match(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    fake_transcribe.add_job("tagged", tags={"Department": "Sales", "Empty": ""})
    fake_transcribe.add_job("seoul", language_code="ko-KR")
    fake_transcribe.add_job("silence", outputs={"transcript": fixture_bytes(SILENT_TRANSCRIPT)})

    tagged = transcribe.get_transcription_job(TranscriptionJobName="tagged")["TranscriptionJob"]

    assert tagged["Tags"] == [
        {"Key": "Department", "Value": "Sales"},
        {"Key": "Empty", "Value": ""},
    ]
    assert http.request("GET", transcript_uri(transcribe, "tagged")).data == fixture_bytes(
        STANDARD_TRANSCRIPT
    )
    korean = http.request("GET", transcript_uri(transcribe, "seoul")).data
    assert korean == fixture_bytes(KOREAN_TRANSCRIPT)
    assert json.loads(korean)["results"]["transcripts"][0]["transcript"]
    silent = http.request("GET", transcript_uri(transcribe, "silence")).data
    assert json.loads(silent)["results"]["items"] == []


def test_given_opted_out_links_when_getting_the_job_then_they_are_null_or_missing(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    fake_transcribe.add_job(
        "opted-out", subtitle_formats=["vtt", "srt"], null_outputs=["transcript", "vtt"]
    )
    fake_transcribe.add_job("flaky", missing_outputs=["transcript"])

    opted = transcribe.get_transcription_job(TranscriptionJobName="opted-out")["TranscriptionJob"]
    flaky = transcribe.get_transcription_job(TranscriptionJobName="flaky")["TranscriptionJob"]
    _, raw, _ = raw_api(
        http, fake_transcribe, "GetTranscriptionJob", {"TranscriptionJobName": "opted-out"}
    )

    # On the wire the link is JSON null; botocore's parser drops null members, so a boto3
    # caller sees an empty Transcript (the archiver must treat "absent" and null alike).
    assert raw["TranscriptionJob"]["Transcript"] == {"TranscriptFileUri": None}
    assert opted["Transcript"] == {}
    vtt, srt = opted["Subtitles"]["SubtitleFileUris"]
    assert vtt is None
    assert urlsplit(srt).path.endswith(".srt")
    assert "Transcript" not in flaky


def test_given_a_completed_job_when_building_its_event_then_it_matches_the_documented_shape(
    fake_transcribe: FakeTranscribe,
) -> None:
    completed = datetime(2026, 11, 23, 10, 15, 2, 123000, tzinfo=UTC)
    fake_transcribe.add_job("evented", completion_time=completed)
    documented = json.loads((EVENTS_DIR / "docs-transcribe-job-state-change.json").read_bytes())

    event = fake_transcribe.event_for("evented")
    late = fake_transcribe.event_for("evented", time=completed + timedelta(minutes=5))

    assert list(event) == list(documented)
    assert list(event["detail"]) == list(documented["detail"])
    assert event["version"] == "0"
    assert re.fullmatch(r"[0-9a-f-]{36}", event["id"])
    assert (event["detail-type"], event["source"]) == (
        "Transcribe Job State Change",
        "aws.transcribe",
    )
    assert (event["account"], event["region"], event["resources"]) == (
        "123456789012",
        "us-east-1",
        [],
    )
    assert event["time"] == "2026-11-23T10:15:02Z"
    assert late["time"] == "2026-11-23T10:20:02Z"
    assert event["detail"] == {
        "TranscriptionJobName": "evented",
        "TranscriptionJobStatus": "COMPLETED",
    }
    assert event["id"] != late["id"]
    assert all(
        event[k] in v for k, v in contract.TRANSCRIPTION_EVENT_PATTERN.items() if k != "detail"
    )  # the stack's rule would match it


def test_given_a_queued_job_when_completed_then_its_outputs_appear_and_it_keeps_its_run(
    fake_transcribe: FakeTranscribe, transcribe: Any, http: urllib3.PoolManager
) -> None:
    queued = fake_transcribe.add_job("later", status="QUEUED", subtitle_formats=["srt"])

    done = fake_transcribe.complete_job("later")

    assert queued["TranscriptionJobStatus"] == "QUEUED"
    assert "Transcript" not in queued
    assert "StartTime" not in queued
    assert done["TranscriptionJobStatus"] == "COMPLETED"
    assert done["CreationTime"] == queued["CreationTime"]
    assert done["StartTime"] <= done["CompletionTime"]
    srt_uri = done["Subtitles"]["SubtitleFileUris"][0]
    assert http.request("GET", srt_uri).data == fixture_bytes(SUBTITLED_SRT)
    assert transcript_uri(transcribe, "later").startswith(f"http://{fake_transcribe.link_host}/")
    assert fake_transcribe.event_for("later")["detail"]["TranscriptionJobStatus"] == "COMPLETED"
    with pytest.raises(ValueError, match="already ended"):
        fake_transcribe.complete_job("later")
