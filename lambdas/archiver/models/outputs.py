"""Outputs of a job run: what it should have, where one lives, what the archive now holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archiver.contract import content_type_of


@dataclass(frozen=True)
class S3Location:
    """A bucket and key parsed from an S3 https link or an ``s3://`` URI."""

    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class PlannedOutput:
    """An output the job run should have: its archive name and where Transcribe put it."""

    name: str
    link: str | None  # None: the job lists the output but the link is missing or null

    @property
    def content_type(self) -> str:
        return content_type_of(self.name)


@dataclass(frozen=True)
class StoredObject:
    """An object now in the archive, as the history record describes it."""

    name: str
    s3_uri: str
    size: int
    sha256_hex: str
    content_type: str

    def as_record(self) -> dict[str, Any]:
        return {
            "S3Uri": self.s3_uri,
            "Bytes": self.size,
            "Sha256": self.sha256_hex,
            "ContentType": self.content_type,
        }

    @classmethod
    def from_record(cls, name: str, item: dict[str, Any]) -> StoredObject:
        return cls(name, item["S3Uri"], int(item["Bytes"]), item["Sha256"], item["ContentType"])
