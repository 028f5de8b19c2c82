"""A job run as Transcribe describes or lists it, independent of the API that said so."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archiver.contract import FINISHED_STATUSES, JobKind
from archiver.timefmt import iso_ms


@dataclass(frozen=True)
class JobDescription:
    """One ``Get…Job`` answer: the common fields typed, the whole description kept.

    ``raw`` is the API's job object with every datetime as an aware UTC value; job.json is
    written from it and kind-specific attributes (subtitles, channels, …) are read from it.
    """

    kind: JobKind
    name: str
    status: str  # QUEUED | IN_PROGRESS | COMPLETED | FAILED
    created: datetime
    started: datetime | None
    completed: datetime | None
    raw: Mapping[str, Any]

    @property
    def created_at(self) -> str:
        """The run's sort key in the history table."""
        return iso_ms(self.created)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES


@dataclass(frozen=True)
class ListedJob:
    """One job run as ``List…Jobs`` summarizes it."""

    kind: JobKind
    name: str
    status: str
    created: datetime
    completed: datetime | None

    @property
    def created_at(self) -> str:
        return iso_ms(self.created)
