"""What the Transcribe double serves: real fixture bytes, and large generated outputs.

Two kinds of content exist:

* ``bytes`` — small outputs held in memory; by default real Transcribe outputs, kept
  byte-for-byte in ``local_aws/fixtures/transcribe`` (provenance in
  ``SOURCES.md`` there).
* :class:`GeneratedContent` — a deterministic output of any size (benchmarks go to 1 GiB)
  that is produced chunk by chunk, so neither the server nor a test ever holds it whole.

No WebVTT written by Transcribe was found, so :func:`srt_to_vtt` derives one from the real
SRT fixture; everything VTT in the double is therefore *derived*, not captured. Likewise
the only real Call Analytics output at hand is a redacted one: the unredacted Call
Analytics transcript is derived from it (:func:`analytics_unredacted`), and redacted audio
is generated content of the size a WAV of that call would have (:func:`call_audio_size`).
No real Medical or HealthScribe output is at hand either: a Medical transcript defaults to
a real Transcribe transcript (the layout is the same), and HealthScribe's transcript and
clinical note are *constructed* in the layout AWS documents (:func:`scribe_transcript`,
:func:`scribe_clinical_document`).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final

#: The real outputs live with the test suite, whose SOURCES.md records their provenance, so
#: the double's defaults need a source checkout (as the demo does: ``pip install -e .``).
FIXTURES_DIR: Final = Path(__file__).resolve().parents[1] / "fixtures" / "transcribe"
EVENTS_DIR: Final = FIXTURES_DIR / "events"

#: Real fixtures by role (file names in FIXTURES_DIR).
STANDARD_TRANSCRIPT: Final = "standard-minimal.json"
SUBTITLED_TRANSCRIPT: Final = "speaker-labels-audio-segments-vocab-mask.json"
SUBTITLED_SRT: Final = "speaker-labels-audio-segments-vocab-mask.srt"
REDACTED_TRANSCRIPT: Final = "call-analytics-redacted-pii.json"
KOREAN_TRANSCRIPT: Final = "korean-long-float-confidence.json"
SILENT_TRANSCRIPT: Final = "empty-silent-audio.json"

#: The real Call Analytics call: 279.06 s (its TotalConversationDurationMillis).
CALL_DURATION_MS: Final = 279_060
#: A RIFF/WAVE header's size.
WAV_HEADER_BYTES: Final = 44

#: Chunk size used when streaming content (also the generated-content block size).
CHUNK_SIZE: Final = 64 * 1024


@functools.cache
def fixture_bytes(name: str) -> bytes:
    """The exact bytes of a fixture file (``events/...`` paths work too)."""
    path = (FIXTURES_DIR / name).resolve()
    # Fixture names come from tests, but refuse anything outside the fixture folder anyway.
    if FIXTURES_DIR not in path.parents:
        raise ValueError(f"not a fixture: {name!r}")
    return path.read_bytes()


def srt_to_vtt(srt: bytes) -> bytes:
    """WebVTT derived from a Transcribe SRT: ``WEBVTT`` header, ``.`` before milliseconds.

    Cue numbers are kept (Transcribe's documented VTT examples carry them) and the text is
    untouched, so each VTT cue matches its SRT cue exactly apart from the separator.
    """
    lines = srt.decode("utf-8").split("\n")
    converted = [
        line.replace(",", ".") if "-->" in line and line[:2].isdigit() else line for line in lines
    ]
    return ("WEBVTT\n\n" + "\n".join(converted)).encode("utf-8")


def analytics_unredacted(redacted: bytes) -> bytes:
    """An unredacted Call Analytics transcript *derived* from the real redacted one.

    Only ``ContentMetadata.Output`` changes (``Redacted`` -> ``Raw``): no invented words
    replace the ``[PII]`` tokens. Enough for an archive test, which needs a document of the
    right shape whose bytes differ from the redacted one's.
    """
    marker = b'"Output": "Redacted"'
    if redacted.count(marker) != 1:
        raise ValueError("not the redacted Call Analytics fixture")
    return redacted.replace(marker, b'"Output": "Raw"')


def scribe_transcript(job_name: str) -> bytes:
    """A HealthScribe ``transcript.json`` *constructed* in the documented layout: one
    ``Conversation`` with its segments (clinician and patient) and items."""
    segments = [
        ("seg-1", "CLINICIAN_0", 0.5, 2.9, "What brings you in today?"),
        ("seg-2", "PATIENT_0", 3.4, 6.8, "I have had a dry cough for about two weeks."),
    ]
    document = {
        "Conversation": {
            "ConversationId": f"{job_name}-conversation",
            "JobName": job_name,
            "JobType": "ASYNC",
            "LanguageCode": "en-US",
            "ClinicalInsights": [],
            "TranscriptItems": [
                {
                    "Alternatives": [{"Confidence": 0.99, "Content": word}],
                    "BeginAudioTime": round(begin + i * 0.3, 3),
                    "EndAudioTime": round(begin + (i + 1) * 0.3, 3),
                    "Type": "pronunciation",
                }
                for _, _, begin, _, text in segments
                for i, word in enumerate(text.rstrip("?.").split())
            ],
            "TranscriptSegments": [
                {
                    "SegmentId": segment_id,
                    "BeginAudioTime": begin,
                    "EndAudioTime": end,
                    "Content": text,
                    "ParticipantDetails": {"ParticipantRole": role},
                    "SectionDetails": {"SectionName": "SUBJECTIVE"},
                }
                for segment_id, role, begin, end, text in segments
            ],
        }
    }
    return json.dumps(document, separators=(",", ":")).encode()


def scribe_clinical_document(job_name: str) -> bytes:
    """A HealthScribe clinical note (``summary.json``) *constructed* in the documented
    layout: ``ClinicalDocumentation.Sections``, each summary linked to its evidence."""
    document = {
        "ClinicalDocumentation": {
            "Sections": [
                {
                    "SectionName": "CHIEF_COMPLAINT",
                    "Summary": [
                        {
                            "EvidenceLinks": [{"SegmentId": "seg-2"}],
                            "SummarizedSegment": "Dry cough for two weeks.",
                        }
                    ],
                },
                {
                    "SectionName": "PLAN",
                    "Summary": [
                        {
                            "EvidenceLinks": [{"SegmentId": "seg-1"}],
                            "SummarizedSegment": f"Follow up ({job_name}).",
                        }
                    ],
                },
            ]
        }
    }
    return json.dumps(document, separators=(",", ":")).encode()


def call_audio_size(
    duration_ms: int = CALL_DURATION_MS, *, sample_rate: int = 8000, channels: int = 2
) -> int:
    """Bytes of a 16-bit PCM WAV of that length: two-channel telephone audio by default."""
    return WAV_HEADER_BYTES + duration_ms * sample_rate // 1000 * channels * 2


# The generated transcript is a valid JSON document shaped like asrOutput.json: a fixed
# head, filler text inside the transcript string, and a fixed tail. The filler is a run of
# fixed-size blocks, each starting with its own index, so a chunk served at the wrong
# offset changes the hash (pure repetition would hide an off-by-one-block bug).
_HEAD = (
    b'{"jobName":"generated","accountId":"123456789012","results":{"transcripts":[{"transcript":"'
)
_TAIL = b'"}],"items":[]},"status":"COMPLETED"}'
_WORDS = (
    "the",
    "archive",
    "keeps",
    "every",
    "transcript",
    "byte",
    "for",
    "byte",
    "while",
    "links",
    "are",
    "still",
    "valid",
    "and",
    "retries",
    "when",
    "they",
    "expire",
)


@functools.cache
def _block_body(seed: int) -> bytes:
    """CHUNK_SIZE bytes of seed-derived words (ASCII letters and spaces: JSON-string safe)."""
    rng = random.Random(seed)  # noqa: S311 - deterministic filler, not security
    out = bytearray()
    while len(out) < CHUNK_SIZE:
        out += rng.choice(_WORDS).encode() + b" "
    return bytes(out[:CHUNK_SIZE])


@dataclass(frozen=True)
class GeneratedContent:
    """A deterministic output of ``size`` bytes, produced on demand in chunks.

    When ``size`` is at least :attr:`minimum_json_size` the bytes form one valid JSON
    document shaped like a transcript; smaller sizes are a prefix of that layout.
    """

    size: int
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError("size must be >= 0")

    #: Smallest size whose bytes are a complete JSON document.
    minimum_json_size: ClassVar[int] = len(_HEAD) + len(_TAIL)

    def _filler_len(self) -> int:
        return max(0, self.size - len(_HEAD) - len(_TAIL))

    def _filler_block(self, index: int) -> bytes:
        header = f"[{self.seed}:{index:012d}] ".encode()
        return header + _block_body(self.seed)[: CHUNK_SIZE - len(header)]

    def _filler(self, start: int, end: int) -> Iterator[bytes]:
        index, skip = divmod(start, CHUNK_SIZE)
        pos = start
        while pos < end:
            block = self._filler_block(index)
            take = min(CHUNK_SIZE - skip, end - pos)
            yield block[skip : skip + take]
            pos += take
            index += 1
            skip = 0

    def iter_range(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes ``[start, end)`` in chunks of at most CHUNK_SIZE."""
        end = self.size if end is None else min(end, self.size)
        if start >= end:
            return
        # Lay out head | filler | tail (truncated to size when size is tiny).
        head = _HEAD[: self.size]
        filler_len = self._filler_len()
        tail_start = len(head) + filler_len
        tail = _TAIL[: max(0, self.size - tail_start)]
        pos = start
        if pos < len(head):
            piece = head[pos : min(end, len(head))]
            yield piece
            pos += len(piece)
        if pos < end and pos < tail_start:
            f_start = pos - len(head)
            f_end = min(end, tail_start) - len(head)
            yield from self._filler(f_start, f_end)
            pos = len(head) + f_end
        if pos < end:
            yield tail[pos - tail_start : end - tail_start]

    def etag(self) -> str:
        """A multipart-style ETag (``"<hex>-<parts>"``), as S3 gives large uploads.

        Real large Transcribe outputs are not single-part MD5s either, so consumers must
        never treat an ETag as a checksum; computing an MD5 of 1 GiB per request would
        also defeat the point of streaming.
        """
        parts = max(1, -(-self.size // (8 * 1024 * 1024)))
        digest = hashlib.md5(f"{self.seed}:{self.size}".encode(), usedforsecurity=False)
        return f'"{digest.hexdigest()}-{parts}"'


Content = bytes | GeneratedContent


def content_size(content: Content) -> int:
    return content.size if isinstance(content, GeneratedContent) else len(content)


def iter_content(content: Content, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """Stream ``content[start:end]`` in chunks without materialising it."""
    if isinstance(content, GeneratedContent):
        yield from content.iter_range(start, end)
        return
    view = memoryview(content)[start:end]
    for offset in range(0, len(view), CHUNK_SIZE):
        yield bytes(view[offset : offset + CHUNK_SIZE])


@functools.lru_cache(maxsize=64)
def _generated_sha256(content: GeneratedContent) -> str:
    digest = hashlib.sha256()
    for chunk in content.iter_range():
        digest.update(chunk)
    return digest.hexdigest()


def content_sha256(content: Content) -> str:
    """Hex SHA-256 of the content, computed by streaming (cached for generated content)."""
    if isinstance(content, GeneratedContent):
        return _generated_sha256(content)
    return hashlib.sha256(content).hexdigest()


def content_etag(content: Content) -> str:
    if isinstance(content, GeneratedContent):
        return content.etag()
    return f'"{hashlib.md5(content, usedforsecurity=False).hexdigest()}"'


class ContentReader(io.RawIOBase):
    """A read-only file object over content, for ``upload_fileobj`` into moto S3."""

    def __init__(self, content: Content) -> None:
        super().__init__()
        self._chunks = iter_content(content)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n
