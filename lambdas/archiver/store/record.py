"""The history item: one typed record per job run, and its DynamoDB form.

Attribute names are the contract's (``docs/contract.md``, "History table"). Attributes this
version does not know are kept in ``extra`` as read, so that rewriting an item written by a
newer version loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any, Final

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from archiver.contract import ARCHIVED, PURGED, JobKind
from archiver.models.outputs import StoredObject

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


@dataclass
class HistoryRecord:
    """One job run's item. Each field's attribute is its name in CamelCase (job_name: JobName)."""

    job_name: str
    created_at: str
    job_kind: JobKind | None = None
    job_status: str | None = None
    archive_status: str | None = None
    archive_error: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    archived_at: str | None = None
    language_code: str | None = None
    language_codes: list[str] | None = None
    identified_language_score: float | None = None
    media_file_uri: str | None = None
    media_format: str | None = None
    media_sample_rate_hertz: int | None = None
    failure_reason: str | None = None
    settings: dict[str, Any] | None = None
    content_redaction: dict[str, Any] | None = None
    subtitle_formats: list[str] | None = None
    channel_definitions: list[dict[str, Any]] | None = None
    analytics_skipped: list[dict[str, Any]] | None = None
    # Medical runs: the specialty, CONVERSATION or DICTATION, and PHI when PHI was labelled.
    specialty: str | None = None
    type: str | None = None
    content_identification_type: str | None = None
    tags: dict[str, str] | None = None
    archive_uri: str | None = None
    outputs: dict[str, StoredObject] = field(default_factory=dict)
    # An erased run keeps only its keys, ArchiveStatus PURGED and these (docs/contract.md).
    purged_at: str | None = None
    purged_by: str | None = None
    purge_reason: str | None = None
    # Concurrency control (see store/history_table.py): never shown to users.
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    #: INCOMPLETE for a reason that trying again may cure (a fault, time ran out, cut
    #: off): the sweep tries again. Permanent reasons (a null link) are left alone.
    retry_archive: bool | None = None
    #: The id of the first EventBridge event that reported the run: a later delivery of that
    #: event (same id) is known for this run's even after Transcribe deleted the job and
    #: whatever its time says (logic/archive.py, "_run_reported").
    event_id: str | None = None
    #: DynamoDB TTL (epoch seconds) when the stack sets historyRetentionDays.
    expires_at: int | None = None
    #: Attributes this version does not know, kept as read.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> JobKind:
        """An item written before job kinds existed is a transcription run."""
        return self.job_kind or JobKind.TRANSCRIPTION

    @property
    def archived(self) -> bool:
        return self.archive_status == ARCHIVED

    @property
    def settled(self) -> bool:
        """Nothing more will be archived for this run: ARCHIVED, or erased with purge."""
        return self.archive_status in (ARCHIVED, PURGED)

    @property
    def retryable(self) -> bool:
        """Not settled, and trying again may settle it: INCOMPLETE for a fault, cut off,
        or under way. A run INCOMPLETE for a reason no retry can cure (a null link, an
        output over MAX_OUTPUT_BYTES, the run no longer exists) is at rest: only an
        operator's re-drive takes it up again."""
        return not self.settled and self.retry_archive is True

    @property
    def at_rest(self) -> bool:
        """Settled in the sweep's sense (docs/contract.md, "sweep"): ARCHIVED, PURGED, or
        INCOMPLETE for a reason a retry cannot cure. The sweep's floor never passes a run
        that is not at rest, and the table keeps a marker for it until it is."""
        return not self.retryable

    def lease_is_live(self, now: float) -> bool:
        return self.lease_expires_at is not None and self.lease_expires_at >= now

    def stored_outputs(self) -> dict[str, StoredObject]:
        """Outputs a complete copy of which is in the archive (those with a checksum)."""
        return {n: s for n, s in self.outputs.items() if s.sha256_hex}

    # -- plain Python (contract names) --------------------------------------------------------

    def to_plain(self, *, internal: bool = False) -> dict[str, Any]:
        """The item as plain Python with the contract's attribute names, None left out."""
        plain: dict[str, Any] = {}
        for name, attr in _ATTRIBUTES.items():
            if name in _INTERNAL and not internal:
                continue
            value = getattr(self, name)
            if attr == "Outputs":
                value = {n: s.as_record() for n, s in sorted(value.items())} if value else None
            elif isinstance(value, JobKind):
                value = value.value
            if value is not None:
                plain[attr] = value
        for name, value in self.extra.items():
            plain.setdefault(name, value)
        return plain

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> HistoryRecord:
        by_attr = {attr: name for name, attr in _ATTRIBUTES.items()}
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for attr, value in plain.items():
            name = by_attr.get(attr)
            if name is None:
                extra[attr] = value
            elif attr == "Outputs":
                values[name] = {n: StoredObject.from_record(n, r) for n, r in value.items()}
            elif attr == "JobKind":
                values[name] = JobKind(value) if value in JobKind._value2member_map_ else None
                if values[name] is None:
                    extra[attr] = value
            else:
                values[name] = value
        return cls(**values, extra=extra)

    # -- DynamoDB form -----------------------------------------------------------------------

    def to_item(self) -> dict[str, Any]:
        """DynamoDB's attribute-value map of the whole record, lease included."""
        return to_dynamo(self.to_plain(internal=True))

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> HistoryRecord:
        return cls.from_plain(from_dynamo(item))


#: Field name -> the item's attribute name.
_ATTRIBUTES: Final = {
    f.name: "".join(part.capitalize() for part in f.name.split("_"))
    for f in fields(HistoryRecord)
    if f.name != "extra"
}
_INTERNAL: Final = frozenset(
    {"lease_owner", "lease_expires_at", "retry_archive", "event_id", "expires_at"}
)


def to_dynamo(values: dict[str, Any]) -> dict[str, Any]:
    """Plain Python (floats included) to DynamoDB's attribute-value form."""
    return {k: _serializer.serialize(_decimals(v)) for k, v in values.items() if v is not None}


def from_dynamo(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB's attribute-value form to plain Python (numbers as int or float)."""
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def _decimals(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_decimals(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    return value
