"""The two time formats of the contract: item timestamps and folder names."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_ms(value: datetime) -> str:
    """``2026-11-23T10:15:02.123Z``: ISO 8601 UTC with milliseconds (sort keys, items)."""
    value = _utc(value)
    # Not strftime("%Y"): the C library writes year 99 as "99", which sorts and parses wrong.
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:"
        f"{value.minute:02d}:{value.second:02d}.{value.microsecond // 1000:03d}Z"
    )


def folder_stamp(value: datetime) -> str:
    """``20261123T101502Z``: a job run's folder under its job name."""
    value = _utc(value)
    return f"{value.year:04d}{value.month:02d}{value.day:02d}T{value:%H%M%S}Z"


def parse_iso(text: str) -> datetime:
    """Parse ISO 8601 (``Z`` or an offset; a date alone means midnight UTC) to aware UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return _utc(value)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
