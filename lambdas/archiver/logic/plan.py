"""Which outputs a job run should have, and where Transcribe put each of them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from archiver.contract import (
    CLINICAL_DOCUMENT,
    MEDIA_CONTENT_TYPES,
    REDACTED,
    REDACTED_MEDIA_STEM,
    SRT,
    TRANSCRIPT,
    UNKNOWN_MEDIA_EXTENSION,
    VTT,
    JobKind,
)
from archiver.models.jobs import JobDescription
from archiver.models.outputs import PlannedOutput

#: An extension safe to put into an object key (it comes from a link Transcribe returned).
_SAFE_EXTENSION: Final = re.compile(r"[a-z0-9]{1,8}")


def plan_outputs(job: JobDescription, *, archive_unredacted: bool) -> list[PlannedOutput]:
    """The outputs (other than job.json) a job run should have.

    A FAILED job has none. A COMPLETED job has what its kind's planner below says.
    """
    if job.status != "COMPLETED":
        return []
    return _PLANNERS[job.kind](job.raw, archive_unredacted)


def _transcription(raw: Mapping[str, Any], archive_unredacted: bool) -> list[PlannedOutput]:
    """Its transcript (unless redaction produced only the redacted one), the redacted
    transcript when redaction was on, and one file per subtitle format it lists, matched to
    the links by file extension."""
    planned = _transcripts(
        raw, raw.get("ContentRedaction") or {}, archive_unredacted=archive_unredacted
    )
    return planned + _subtitles(raw)


def _call_analytics(raw: Mapping[str, Any], archive_unredacted: bool) -> list[PlannedOutput]:
    """Transcripts as above (redaction is among its Settings), and with redaction its
    redacted audio."""
    redaction = (raw.get("Settings") or {}).get("ContentRedaction") or {}
    planned = _transcripts(raw, redaction, archive_unredacted=archive_unredacted)
    return planned + _redacted_media(raw, redacted=bool(redaction))


def _medical(raw: Mapping[str, Any], archive_unredacted: bool) -> list[PlannedOutput]:
    """Its transcript. Medical has no redaction (PHI identification only labels PHI in the
    transcript), so ``archive_unredacted`` does not apply."""
    return [PlannedOutput(TRANSCRIPT, (raw.get("Transcript") or {}).get("TranscriptFileUri"))]


def _medical_scribe(raw: Mapping[str, Any], archive_unredacted: bool) -> list[PlannedOutput]:
    """Its transcript and its clinical note, both in ``MedicalScribeOutput``."""
    output = raw.get("MedicalScribeOutput") or {}
    return [
        PlannedOutput(TRANSCRIPT, output.get("TranscriptFileUri")),
        PlannedOutput(CLINICAL_DOCUMENT, output.get("ClinicalDocumentUri")),
    ]


#: Each job kind's outputs: adding a kind adds a planner.
_PLANNERS: Final[dict[JobKind, Callable[[Mapping[str, Any], bool], list[PlannedOutput]]]] = {
    JobKind.TRANSCRIPTION: _transcription,
    JobKind.CALL_ANALYTICS: _call_analytics,
    JobKind.MEDICAL: _medical,
    JobKind.MEDICAL_SCRIBE: _medical_scribe,
}


def link_of(job: JobDescription, name: str, *, archive_unredacted: bool) -> str | None:
    """The current link of one planned output (after fresh links were fetched)."""
    for planned in plan_outputs(job, archive_unredacted=archive_unredacted):
        if planned.name == name:
            return planned.link
    return None


def _transcripts(
    raw: Mapping[str, Any], redaction: Mapping[str, Any], *, archive_unredacted: bool
) -> list[PlannedOutput]:
    transcript = raw.get("Transcript") or {}
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
    return planned


def _subtitles(raw: Mapping[str, Any]) -> list[PlannedOutput]:
    subtitles = raw.get("Subtitles") or {}
    links = [u for u in subtitles.get("SubtitleFileUris") or [] if u]
    formats = {f.lower() for f in subtitles.get("Formats") or []}
    planned: list[PlannedOutput] = []
    for fmt, name in (("vtt", VTT), ("srt", SRT)):
        link = next((u for u in links if _extension(u) == fmt), None)
        if fmt in formats or link:
            planned.append(PlannedOutput(name, link))
    return planned


def _redacted_media(raw: Mapping[str, Any], *, redacted: bool) -> list[PlannedOutput]:
    """``redacted-media.{ext}``: redaction of a Call Analytics job redacts its audio too, so
    a run with redaction and no audio link lacks it (the link is null for accounts opted
    out of AI-service data use, and botocore drops a null member)."""
    link = (raw.get("Media") or {}).get("RedactedMediaFileUri")
    if not link and not redacted:
        return []
    extension = _extension(link) if link else ""
    if not _SAFE_EXTENSION.fullmatch(extension):
        # A null link still gets a name: the format the job ran with, when we know it.
        fallback = str(raw.get("MediaFormat") or "").lower()
        extension = fallback if fallback in MEDIA_CONTENT_TYPES else UNKNOWN_MEDIA_EXTENSION
    return [PlannedOutput(f"{REDACTED_MEDIA_STEM}.{extension}", link)]


def _extension(url: str) -> str:
    path = url.split("?", 1)[0]
    return path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
