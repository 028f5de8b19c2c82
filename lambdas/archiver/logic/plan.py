"""Which outputs a job run should have, and where Transcribe put each of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archiver.contract import REDACTED, SRT, TRANSCRIPT, VTT
from archiver.models.jobs import JobDescription
from archiver.models.outputs import PlannedOutput


def plan_outputs(job: JobDescription, *, archive_unredacted: bool) -> list[PlannedOutput]:
    """The outputs (other than job.json) a job run should have.

    A FAILED job has none. A COMPLETED job has its transcript (unless redaction produced
    only the redacted one), the redacted transcript when redaction was on, and one file per
    subtitle format it lists, matched to the links by file extension.
    """
    if job.status != "COMPLETED":
        return []
    return _transcription_outputs(job.raw, archive_unredacted=archive_unredacted)


def link_of(job: JobDescription, name: str, *, archive_unredacted: bool) -> str | None:
    """The current link of one planned output (after fresh links were fetched)."""
    for planned in plan_outputs(job, archive_unredacted=archive_unredacted):
        if planned.name == name:
            return planned.link
    return None


def _transcription_outputs(
    raw: Mapping[str, Any], *, archive_unredacted: bool
) -> list[PlannedOutput]:
    transcript = raw.get("Transcript") or {}
    redaction = raw.get("ContentRedaction") or {}
    redacted_only = redaction.get("RedactionOutput") == "redacted"
    planned: list[PlannedOutput] = []

    unredacted = transcript.get("TranscriptFileUri")
    has_redacted = bool(redaction) or bool(transcript.get("RedactedTranscriptFileUri"))
    if has_redacted and not archive_unredacted:
        pass  # the operator chose not to keep unredacted transcripts of redacted jobs
    elif unredacted or not redacted_only:
        planned.append(PlannedOutput(TRANSCRIPT, unredacted))
    if has_redacted:
        planned.append(PlannedOutput(REDACTED, transcript.get("RedactedTranscriptFileUri")))

    subtitles = raw.get("Subtitles") or {}
    links = [u for u in subtitles.get("SubtitleFileUris") or [] if u]
    formats = {f.lower() for f in subtitles.get("Formats") or []}
    for fmt, name in (("vtt", VTT), ("srt", SRT)):
        link = next((u for u in links if _extension(u) == fmt), None)
        if fmt in formats or link:
            planned.append(PlannedOutput(name, link))
    return planned


def _extension(url: str) -> str:
    path = url.split("?", 1)[0]
    return path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
