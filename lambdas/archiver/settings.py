"""The function's configuration: environment variables parsed once into typed settings."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from archiver.contract import DEFAULT_ARCHIVE_PREFIX as DEFAULT_PREFIX
from archiver.contract import (
    DEFAULT_CALL_ANALYTICS_PREFIX,
    DEFAULT_MAX_OUTPUT_BYTES,
    DEFAULT_MEDICAL_PREFIX,
    DEFAULT_MEDICAL_SCRIBE_PREFIX,
    ENV_CALL_ANALYTICS_PREFIX,
    ENV_HISTORY_RETENTION_DAYS,
    ENV_MEDICAL_PREFIX,
    ENV_MEDICAL_SCRIBE_PREFIX,
    JobKind,
)
from archiver.errors import ConfigurationError

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class Settings:
    """What the contract's "Runtime configuration" table says, validated."""

    archive_bucket: str
    jobs_table: str
    archive_prefix: str = DEFAULT_PREFIX
    archive_unredacted: bool = True
    allowed_source_hosts: frozenset[str] = field(default_factory=frozenset)
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    call_analytics_prefix: str = DEFAULT_CALL_ANALYTICS_PREFIX
    medical_prefix: str = DEFAULT_MEDICAL_PREFIX
    medical_scribe_prefix: str = DEFAULT_MEDICAL_SCRIBE_PREFIX
    #: Days a history item is kept (DynamoDB TTL); None keeps it forever.
    history_retention_days: int | None = None

    def prefix(self, kind: JobKind) -> str:
        """The key prefix under which runs of ``kind`` get their folders."""
        return {
            JobKind.TRANSCRIPTION: self.archive_prefix,
            JobKind.CALL_ANALYTICS: self.call_analytics_prefix,
            JobKind.MEDICAL: self.medical_prefix,
            JobKind.MEDICAL_SCRIBE: self.medical_scribe_prefix,
        }[kind]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the contract's variables; raise ConfigurationError naming a bad one."""
        env = os.environ if env is None else env
        bucket = env.get("ARCHIVE_BUCKET", "").strip()
        table = env.get("JOBS_TABLE", "").strip()
        if not bucket:
            raise ConfigurationError("ARCHIVE_BUCKET is required (the archive bucket's name)")
        if not _BUCKET_RE.fullmatch(bucket):
            raise ConfigurationError(f"ARCHIVE_BUCKET {bucket!r} is not a valid S3 bucket name")
        if not table:
            raise ConfigurationError("JOBS_TABLE is required (the history table's name)")
        prefix = _parse_prefix("ARCHIVE_PREFIX", env.get("ARCHIVE_PREFIX", DEFAULT_PREFIX))
        # The other kinds' prefixes: unset or empty means the default.
        kind_prefixes = {
            name: _parse_prefix(name, env.get(name) or default)
            for name, default in (
                (ENV_CALL_ANALYTICS_PREFIX, DEFAULT_CALL_ANALYTICS_PREFIX),
                (ENV_MEDICAL_PREFIX, DEFAULT_MEDICAL_PREFIX),
                (ENV_MEDICAL_SCRIBE_PREFIX, DEFAULT_MEDICAL_SCRIBE_PREFIX),
            )
        }
        _check_apart({"ARCHIVE_PREFIX": prefix, **kind_prefixes})
        return cls(
            archive_bucket=bucket,
            jobs_table=table,
            archive_prefix=prefix,
            call_analytics_prefix=kind_prefixes[ENV_CALL_ANALYTICS_PREFIX],
            medical_prefix=kind_prefixes[ENV_MEDICAL_PREFIX],
            medical_scribe_prefix=kind_prefixes[ENV_MEDICAL_SCRIBE_PREFIX],
            archive_unredacted=_parse_bool("ARCHIVE_UNREDACTED", env.get("ARCHIVE_UNREDACTED")),
            allowed_source_hosts=_parse_hosts(env.get("ALLOWED_SOURCE_HOSTS", "")),
            max_output_bytes=_parse_size(env.get("MAX_OUTPUT_BYTES")),
            history_retention_days=_parse_days(
                ENV_HISTORY_RETENTION_DAYS, env.get(ENV_HISTORY_RETENTION_DAYS)
            ),
        )


def _parse_prefix(name: str, prefix: str) -> str:
    if prefix.startswith("/"):
        raise ConfigurationError(f"{name} {prefix!r} must not start with '/'")
    if prefix and not prefix.endswith("/"):
        # A prefix is a folder: "archive" would otherwise glue onto the job name.
        prefix += "/"
    return prefix


def _check_apart(prefixes: Mapping[str, str]) -> None:
    """No kind's folders may lie inside another's: a job named like the other prefix would
    share (and a purge would erase) the other kind's objects."""
    named = list(prefixes.items())
    for i, (name, prefix) in enumerate(named):
        for other_name, other in named[i + 1 :]:
            if prefix.startswith(other) or other.startswith(prefix):
                raise ConfigurationError(
                    f"{name} {prefix!r} and {other_name} {other!r} must not contain one another"
                )


def _parse_bool(name: str, raw: str | None, default: bool = True) -> bool:
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be true or false, not {raw!r}")


def _parse_hosts(raw: str) -> frozenset[str]:
    hosts = {h.strip().lower() for h in raw.split(",") if h.strip()}
    for host in hosts:
        if "/" in host or "@" in host or " " in host:
            raise ConfigurationError(
                f"ALLOWED_SOURCE_HOSTS entry {host!r} must be a host or host:port"
            )
    return frozenset(hosts)


def _parse_size(raw: str | None) -> int:
    if raw is None or not raw.strip():
        return DEFAULT_MAX_OUTPUT_BYTES
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigurationError(f"MAX_OUTPUT_BYTES must be a whole number, not {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"MAX_OUTPUT_BYTES must be positive, not {value}")
    return value


def _parse_days(name: str, raw: str | None) -> int | None:
    if raw is None or not raw.strip():
        return None
    try:
        days = int(raw.strip())
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number of days, not {raw!r}") from None
    if days < 1:
        raise ConfigurationError(f"{name} must be at least 1, not {days}")
    return days
