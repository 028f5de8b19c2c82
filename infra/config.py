"""CDK context -> one typed, validated configuration object.

Every setting arrives either from cdk.json (typed JSON) or from ``-c key=value`` on the
command line (always a string), so each reader accepts both forms. A bad value stops the
synth with a :class:`ConfigError` naming the key, instead of surfacing later as a failed
deployment.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from archiver import contract
from archiver.contract import JobKind

from infra.job_kinds import KIND_FACTS

#: Context keys, as users type them in cdk.json or ``-c``.
KEY_STACK_NAME: Final = "stackName"
KEY_ARCHIVE_BUCKET_NAME: Final = "archiveBucketName"
KEY_JOBS_TABLE_NAME: Final = "jobsTableName"
KEY_ARCHIVE_PREFIX: Final = "archivePrefix"
KEY_SOURCE_BUCKETS: Final = "sourceBuckets"
KEY_KMS_KEY_ARN: Final = "kmsKeyArn"
KEY_ARCHIVE_UNREDACTED: Final = "archiveUnredacted"
KEY_ALARM_EMAIL: Final = "alarmEmail"
KEY_RESERVED_CONCURRENCY: Final = "reservedConcurrency"
KEY_MAX_CONCURRENCY: Final = "maxConcurrency"
KEY_MEMORY_SIZE: Final = "memorySize"
KEY_LOG_RETENTION_DAYS: Final = "logRetentionDays"
KEY_GLACIER_AFTER_DAYS: Final = "transitionToGlacierAfterDays"
KEY_POWERTOOLS_VERSION: Final = "powertoolsVersion"
KEY_POWERTOOLS_LAYER_ARN: Final = "powertoolsLayerArn"
KEY_SOURCE_KMS_KEY_ARNS: Final = "sourceKmsKeyArns"
KEY_SWEEP_SCHEDULE: Final = "sweepSchedule"
KEY_CALL_ANALYTICS_PREFIX: Final = "callAnalyticsPrefix"
KEY_MEDICAL_PREFIX: Final = "medicalPrefix"
KEY_MEDICAL_SCRIBE_PREFIX: Final = "medicalScribePrefix"
KEY_OBJECT_LOCK_MODE: Final = "objectLockMode"
KEY_OBJECT_LOCK_DAYS: Final = "objectLockDays"
KEY_UNREDACTED_RETENTION_DAYS: Final = "unredactedRetentionDays"
KEY_NONCURRENT_RETENTION_DAYS: Final = "noncurrentVersionRetentionDays"
KEY_HISTORY_RETENTION_DAYS: Final = "historyRetentionDays"
KEY_JOB_KINDS: Final = "jobKinds"

ALL_KEYS: Final = (
    KEY_STACK_NAME,
    KEY_ARCHIVE_BUCKET_NAME,
    KEY_JOBS_TABLE_NAME,
    KEY_ARCHIVE_PREFIX,
    KEY_SOURCE_BUCKETS,
    KEY_KMS_KEY_ARN,
    KEY_ARCHIVE_UNREDACTED,
    KEY_ALARM_EMAIL,
    KEY_RESERVED_CONCURRENCY,
    KEY_MAX_CONCURRENCY,
    KEY_MEMORY_SIZE,
    KEY_LOG_RETENTION_DAYS,
    KEY_GLACIER_AFTER_DAYS,
    KEY_POWERTOOLS_VERSION,
    KEY_POWERTOOLS_LAYER_ARN,
    KEY_SOURCE_KMS_KEY_ARNS,
    KEY_SWEEP_SCHEDULE,
    KEY_CALL_ANALYTICS_PREFIX,
    KEY_MEDICAL_PREFIX,
    KEY_MEDICAL_SCRIBE_PREFIX,
    KEY_OBJECT_LOCK_MODE,
    KEY_OBJECT_LOCK_DAYS,
    KEY_UNREDACTED_RETENTION_DAYS,
    KEY_NONCURRENT_RETENTION_DAYS,
    KEY_HISTORY_RETENTION_DAYS,
    KEY_JOB_KINDS,
)

DEFAULT_STACK_NAME: Final = "TranscribeArchiver"
DEFAULT_ARCHIVE_PREFIX: Final = "transcripts/"
DEFAULT_CALL_ANALYTICS_PREFIX: Final = contract.DEFAULT_CALL_ANALYTICS_PREFIX
DEFAULT_MEDICAL_PREFIX: Final = contract.DEFAULT_MEDICAL_PREFIX
DEFAULT_MEDICAL_SCRIBE_PREFIX: Final = contract.DEFAULT_MEDICAL_SCRIBE_PREFIX
#: Invocations the event queue's mapping runs at once, a bound that needs no reserved
#: concurrency. With contract.QUEUE_BATCH_SIZE records each: at most 10 archivers at once.
DEFAULT_MAX_CONCURRENCY: Final = 5
#: Lambda's bounds for an SQS event source mapping's maximum concurrency.
MIN_MAX_CONCURRENCY: Final = 2
MAX_MAX_CONCURRENCY: Final = 1000
DEFAULT_MEMORY_SIZE: Final = 512
DEFAULT_LOG_RETENTION_DAYS: Final = 365
#: Minutes between sweeps: how long a job whose event was lost waits to be archived.
DEFAULT_SWEEP_MINUTES: Final = 15
_MIN_SWEEP_MINUTES: Final = 5
_MAX_SWEEP_MINUTES: Final = 1440
#: Keep in step with aws-lambda-powertools in requirements.txt: the runtime code is tested
#: against that version locally and runs on this one in Lambda.
DEFAULT_POWERTOOLS_VERSION: Final = "3.37.0"

#: The only retention periods CloudWatch Logs accepts.
LOG_RETENTION_DAYS_ALLOWED: Final = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192}
    | {2557, 2922, 3288, 3653}
)

_MIN_MEMORY_MB: Final = 128
_MAX_MEMORY_MB: Final = 10240

_STACK_NAME_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
_BUCKET_NAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_BUCKET_RESERVED_PREFIXES: Final = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES: Final = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_TABLE_NAME_RE: Final = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
# Characters S3 documents as safe in keys; "*" and "?" are left out because the prefix
# also lands in IAM resource ARNs, where they are wildcards.
_PREFIX_RE: Final = re.compile(r"^[A-Za-z0-9!_.'()/-]+/$")
_KMS_KEY_ARN_RE: Final = re.compile(
    r"^arn:aws(?:-[a-z]+)*:kms:[a-z]{2}(?:-[a-z]+)+-\d:\d{12}:key/(?:mrk-)?[0-9a-f-]{32,36}$"
)
_EMAIL_RE: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_SEMVER_RE: Final = re.compile(r"^\d+\.\d+\.\d+$")
_LAYER_ARN_RE: Final = re.compile(
    r"^arn:aws(?:-[a-z]+)*:lambda:(?:\{region\}|[a-z]{2}(?:-[a-z]+)+-\d):\d{12}:"
    r"layer:[A-Za-z0-9_-]+:\d+$"
)


def cdk_json_context(path: Path) -> dict[str, Any]:
    """The "context" of a cdk.json: our defaults plus the CDK feature flags.

    The CDK CLI passes these to the app itself; a plain ``python app.py`` or a test has to
    load them, or it would synthesize with different feature-flag behaviour.
    """
    document = json.loads(path.read_text(encoding="utf-8"))
    context = document.get("context", {})
    if not isinstance(context, dict):
        raise TypeError(f'{path}: "context" must be a JSON object')
    return context


class ConfigError(ValueError):
    """A CDK context value is missing its required shape; the message names the key."""

    def __init__(self, key: str, problem: str, value: object) -> None:
        super().__init__(f"CDK context '{key}' {problem} (got {value!r})")
        self.key = key


class ContextSource(Protocol):
    """The part of ``constructs.Node`` this module needs (easy to fake in tests)."""

    def try_get_context(self, key: str) -> Any: ...


@dataclass(frozen=True)
class ArchiverConfig:
    """Everything the stack needs to know, already validated."""

    stack_name: str = DEFAULT_STACK_NAME
    #: Adopt this existing bucket instead of creating one.
    archive_bucket_name: str | None = None
    #: Adopt this existing table instead of creating one.
    jobs_table_name: str | None = None
    archive_prefix: str = DEFAULT_ARCHIVE_PREFIX
    #: Buckets the team's Transcribe jobs write their outputs to (OutputBucketName).
    source_buckets: tuple[str, ...] = ()
    kms_key_arn: str | None = None
    archive_unredacted: bool = True
    alarm_email: str | None = None
    #: Opt-in: unset, the function draws on the account's unreserved concurrency.
    reserved_concurrency: int | None = None
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    memory_size: int = DEFAULT_MEMORY_SIZE
    log_retention_days: int = DEFAULT_LOG_RETENTION_DAYS
    transition_to_glacier_after_days: int | None = None
    powertools_version: str = DEFAULT_POWERTOOLS_VERSION
    powertools_layer_arn: str | None = None
    #: Customer-managed keys that encrypt the team's Transcribe output buckets.
    source_kms_key_arns: tuple[str, ...] = ()
    sweep_minutes: int = DEFAULT_SWEEP_MINUTES
    #: Where Call Analytics runs get their folders, beside (never inside) archive_prefix.
    call_analytics_prefix: str = DEFAULT_CALL_ANALYTICS_PREFIX
    #: Where Medical and HealthScribe runs get their folders (same rules).
    medical_prefix: str = DEFAULT_MEDICAL_PREFIX
    medical_scribe_prefix: str = DEFAULT_MEDICAL_SCRIBE_PREFIX
    #: Object Lock of a newly created archive bucket: GOVERNANCE or COMPLIANCE, and days.
    object_lock_mode: str | None = None
    object_lock_days: int | None = None
    #: Expire transcript.json of redacted jobs (and its old versions) after N days.
    unredacted_retention_days: int | None = None
    #: Expire noncurrent versions of every archived object after N days.
    noncurrent_version_retention_days: int | None = None
    #: DynamoDB TTL: history items expire N days after they are written.
    history_retention_days: int | None = None
    #: The job kinds this deployment subscribes to, grants and sweeps (a region may lack one).
    job_kinds: tuple[JobKind, ...] = tuple(JobKind)

    @property
    def adopts_bucket(self) -> bool:
        return self.archive_bucket_name is not None

    @property
    def adopts_table(self) -> bool:
        return self.jobs_table_name is not None

    @classmethod
    def from_context(cls, node: ContextSource) -> ArchiverConfig:
        """Read and validate every setting; raise :class:`ConfigError` on the first bad one."""
        return cls.from_mapping({key: node.try_get_context(key) for key in ALL_KEYS})

    @classmethod
    def from_mapping(cls, ctx: Mapping[str, Any]) -> ArchiverConfig:
        glacier = _optional_int(ctx, KEY_GLACIER_AFTER_DAYS, minimum=1)
        prefixes = _prefixes(ctx)
        reserved, maximum = _concurrency(ctx)
        return cls(
            stack_name=_stack_name(ctx),
            archive_bucket_name=_optional_bucket_name(ctx, KEY_ARCHIVE_BUCKET_NAME),
            jobs_table_name=_optional_table_name(ctx),
            archive_prefix=prefixes[KEY_ARCHIVE_PREFIX],
            source_buckets=_source_buckets(ctx),
            kms_key_arn=_optional_match(ctx, KEY_KMS_KEY_ARN, _KMS_KEY_ARN_RE, _KMS_HINT),
            archive_unredacted=_bool(ctx, KEY_ARCHIVE_UNREDACTED, default=True),
            alarm_email=_optional_match(
                ctx, KEY_ALARM_EMAIL, _EMAIL_RE, "must be an email address"
            ),
            reserved_concurrency=reserved,
            max_concurrency=maximum,
            memory_size=_int(
                ctx,
                KEY_MEMORY_SIZE,
                DEFAULT_MEMORY_SIZE,
                minimum=_MIN_MEMORY_MB,
                maximum=_MAX_MEMORY_MB,
            ),
            log_retention_days=_log_retention(ctx),
            transition_to_glacier_after_days=glacier,
            powertools_version=_optional_match(
                ctx, KEY_POWERTOOLS_VERSION, _SEMVER_RE, "must be a version like 3.37.0"
            )
            or DEFAULT_POWERTOOLS_VERSION,
            powertools_layer_arn=_optional_match(
                ctx, KEY_POWERTOOLS_LAYER_ARN, _LAYER_ARN_RE, _LAYER_HINT
            ),
            source_kms_key_arns=_source_kms_key_arns(ctx),
            sweep_minutes=_sweep_minutes(ctx),
            call_analytics_prefix=prefixes[KEY_CALL_ANALYTICS_PREFIX],
            medical_prefix=prefixes[KEY_MEDICAL_PREFIX],
            medical_scribe_prefix=prefixes[KEY_MEDICAL_SCRIBE_PREFIX],
            job_kinds=_job_kinds(ctx),
            **_retention(ctx),
        )


_KMS_HINT: Final = "must be a KMS key ARN like arn:aws:kms:eu-west-1:123456789012:key/<key-id>"
_LAYER_HINT: Final = (
    "must be a Lambda layer version ARN like "
    "arn:aws:lambda:{region}:017000801446:layer:<name>:<version>"
)


def _raw(ctx: Mapping[str, Any], key: str) -> Any:
    """The value, with "unset" spelled any way (missing, null, empty string) as None."""
    value = ctx.get(key)
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            return None
    return value


def _optional_str(ctx: Mapping[str, Any], key: str) -> str | None:
    value = _raw(ctx, key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(key, "must be a string", value)
    return value


def _optional_match(
    ctx: Mapping[str, Any], key: str, pattern: re.Pattern[str], hint: str
) -> str | None:
    value = _optional_str(ctx, key)
    if value is not None and not pattern.fullmatch(value):
        raise ConfigError(key, hint, value)
    return value


def _stack_name(ctx: Mapping[str, Any]) -> str:
    value = _optional_str(ctx, KEY_STACK_NAME) or DEFAULT_STACK_NAME
    if not _STACK_NAME_RE.fullmatch(value):
        raise ConfigError(
            KEY_STACK_NAME,
            "must start with a letter and hold only letters, digits and '-' (max 128)",
            value,
        )
    return value


def bucket_name_problem(name: str) -> str | None:
    """Why ``name`` breaks the S3 general-purpose bucket naming rules, or None."""
    if not _BUCKET_NAME_RE.fullmatch(name):
        return (
            "must be 3-63 characters of lowercase letters, digits, '.' and '-', "
            "starting and ending with a letter or digit"
        )
    if ".." in name or ".-" in name or "-." in name:
        return "must not contain '..', '.-' or '-.'"
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        return "must not be formatted as an IP address"
    if name.startswith(_BUCKET_RESERVED_PREFIXES):
        return f"must not start with any of {', '.join(_BUCKET_RESERVED_PREFIXES)}"
    if name.endswith(_BUCKET_RESERVED_SUFFIXES):
        return f"must not end with any of {', '.join(_BUCKET_RESERVED_SUFFIXES)}"
    return None


def _optional_bucket_name(ctx: Mapping[str, Any], key: str) -> str | None:
    value = _optional_str(ctx, key)
    if value is not None and (problem := bucket_name_problem(value)):
        raise ConfigError(key, problem, value)
    return value


def _optional_table_name(ctx: Mapping[str, Any]) -> str | None:
    value = _optional_str(ctx, KEY_JOBS_TABLE_NAME)
    if value is not None and not _TABLE_NAME_RE.fullmatch(value):
        raise ConfigError(
            KEY_JOBS_TABLE_NAME,
            "must be 3-255 characters of letters, digits, '_', '-' and '.'",
            value,
        )
    return value


def _prefix(ctx: Mapping[str, Any], key: str, default: str) -> str:
    value = _optional_str(ctx, key)
    if value is None:
        return default
    if value.startswith("/"):
        raise ConfigError(key, "must not start with '/'", value)
    if not value.endswith("/"):
        raise ConfigError(key, "must end with '/'", value)
    if not _PREFIX_RE.fullmatch(value):
        raise ConfigError(
            key,
            "may hold only letters, digits, '/' and !_.'()- (no '*' or '?')",
            value,
        )
    if any(part in {"", ".", ".."} for part in value[:-1].split("/")):
        raise ConfigError(key, "must not have empty, '.' or '..' segments", value)
    return value


#: Each job kind's folder prefix: context key and default.
_KIND_PREFIXES: Final = (
    (KEY_ARCHIVE_PREFIX, DEFAULT_ARCHIVE_PREFIX),
    (KEY_CALL_ANALYTICS_PREFIX, DEFAULT_CALL_ANALYTICS_PREFIX),
    (KEY_MEDICAL_PREFIX, DEFAULT_MEDICAL_PREFIX),
    (KEY_MEDICAL_SCRIBE_PREFIX, DEFAULT_MEDICAL_SCRIBE_PREFIX),
)


def _prefixes(ctx: Mapping[str, Any]) -> dict[str, str]:
    """Every kind's prefix by context key, none containing or inside another."""
    prefixes: dict[str, str] = {}
    for key, default in _KIND_PREFIXES:
        value = _prefix(ctx, key, default)
        for earlier_key, earlier in prefixes.items():
            if earlier.startswith(value) or value.startswith(earlier):
                # A purge of one kind's run would otherwise reach into another kind's folders.
                raise ConfigError(
                    key, f"must neither contain nor lie inside {earlier_key} {earlier!r}", value
                )
        prefixes[key] = value
    return prefixes


def _source_buckets(ctx: Mapping[str, Any]) -> tuple[str, ...]:
    value = _raw(ctx, KEY_SOURCE_BUCKETS)
    if value is None:
        return ()
    if isinstance(value, str):
        names = [part.strip() for part in value.split(",")]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        names = [item.strip() for item in value]
    else:
        raise ConfigError(
            KEY_SOURCE_BUCKETS, "must be a list of bucket names or a comma-separated string", value
        )
    result: list[str] = []
    for name in names:
        if not name:
            continue
        if problem := bucket_name_problem(name):
            raise ConfigError(KEY_SOURCE_BUCKETS, f"entry {name!r} {problem}", value)
        if name not in result:
            result.append(name)
    return tuple(result)


def _bool(ctx: Mapping[str, Any], key: str, *, default: bool) -> bool:
    value = _raw(ctx, key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise ConfigError(key, "must be true or false", value)


def _optional_int(
    ctx: Mapping[str, Any], key: str, *, minimum: int, maximum: int | None = None
) -> int | None:
    value = _raw(ctx, key)
    if value is None:
        return None
    # bool is an int in Python; "true" is not a count.
    if isinstance(value, bool):
        raise ConfigError(key, "must be a whole number", value)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value):
        number = int(value)
    else:
        raise ConfigError(key, "must be a whole number", value)
    if number < minimum:
        raise ConfigError(key, f"must be at least {minimum}", value)
    if maximum is not None and number > maximum:
        raise ConfigError(key, f"must be at most {maximum}", value)
    return number


def _int(
    ctx: Mapping[str, Any], key: str, default: int, *, minimum: int, maximum: int | None = None
) -> int:
    number = _optional_int(ctx, key, minimum=minimum, maximum=maximum)
    return default if number is None else number


def _log_retention(ctx: Mapping[str, Any]) -> int:
    days = _int(ctx, KEY_LOG_RETENTION_DAYS, DEFAULT_LOG_RETENTION_DAYS, minimum=1)
    if days not in LOG_RETENTION_DAYS_ALLOWED:
        allowed = ", ".join(str(d) for d in sorted(LOG_RETENTION_DAYS_ALLOWED))
        raise ConfigError(
            KEY_LOG_RETENTION_DAYS, f"must be one of CloudWatch's values: {allowed}", days
        )
    return days


def _source_kms_key_arns(ctx: Mapping[str, Any]) -> tuple[str, ...]:
    value = _raw(ctx, KEY_SOURCE_KMS_KEY_ARNS)
    if value is None:
        return ()
    if isinstance(value, str):
        arns = [part.strip() for part in value.split(",")]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        arns = [item.strip() for item in value]
    else:
        raise ConfigError(
            KEY_SOURCE_KMS_KEY_ARNS,
            "must be a list of KMS key ARNs or a comma-separated string",
            value,
        )
    result: list[str] = []
    for arn in arns:
        if not arn:
            continue
        if not _KMS_KEY_ARN_RE.fullmatch(arn):
            raise ConfigError(KEY_SOURCE_KMS_KEY_ARNS, f"entry {arn!r} {_KMS_HINT}", value)
        if arn not in result:
            result.append(arn)
    return tuple(result)


def _concurrency(ctx: Mapping[str, Any]) -> tuple[int | None, int]:
    """``reservedConcurrency`` (opt-in) and ``maxConcurrency``, which must fit inside it."""
    maximum = _int(
        ctx,
        KEY_MAX_CONCURRENCY,
        DEFAULT_MAX_CONCURRENCY,
        minimum=MIN_MAX_CONCURRENCY,
        maximum=MAX_MAX_CONCURRENCY,
    )
    # At least what the mapping needs; whether the account can spare it (Lambda keeps
    # a minimum unreserved) is only known at deploy time: the README explains the error.
    reserved = _optional_int(ctx, KEY_RESERVED_CONCURRENCY, minimum=MIN_MAX_CONCURRENCY)
    if reserved is not None and maximum > reserved:
        # The mapping would invoke beyond the reservation and be throttled: throttled
        # batches return to the queue and count as receives towards the dead-letter queue.
        raise ConfigError(
            KEY_MAX_CONCURRENCY,
            f"must not exceed '{KEY_RESERVED_CONCURRENCY}' ({reserved}): lower "
            f"'{KEY_MAX_CONCURRENCY}' or raise '{KEY_RESERVED_CONCURRENCY}'",
            maximum,
        )
    return reserved, maximum


_RATE_RE: Final = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_RATE_MINUTES: Final = {"minute": 1, "hour": 60, "day": 1440}


def _sweep_minutes(ctx: Mapping[str, Any]) -> int:
    """Minutes between sweeps: a whole number, or a rate such as ``rate(1 hour)``."""
    value = _raw(ctx, KEY_SWEEP_SCHEDULE)
    if value is None:
        return DEFAULT_SWEEP_MINUTES
    hint = (
        f"must be minutes ({_MIN_SWEEP_MINUTES}-{_MAX_SWEEP_MINUTES}) or a rate such as "
        "'rate(15 minutes)' or 'rate(1 hour)'"
    )
    minutes: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        minutes = value
    elif isinstance(value, str) and re.fullmatch(r"\d+", value):
        minutes = int(value)
    elif isinstance(value, str) and (match := _RATE_RE.fullmatch(value)):
        minutes = int(match.group(1)) * _RATE_MINUTES[match.group(2).rstrip("s")]
    if minutes is None or not _MIN_SWEEP_MINUTES <= minutes <= _MAX_SWEEP_MINUTES:
        raise ConfigError(KEY_SWEEP_SCHEDULE, hint, value)
    return minutes


def _job_kinds(ctx: Mapping[str, Any]) -> tuple[JobKind, ...]:
    """``jobKinds``: JobKind values (or the CLI's spelling), a list or comma-separated."""
    value = _raw(ctx, KEY_JOB_KINDS)
    known = ", ".join(kind.value for kind in JobKind)
    if value is None:
        names = [kind.value for kind in JobKind]
    elif isinstance(value, str):
        names = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        names = [item.strip() for item in value if item.strip()]
    else:
        raise ConfigError(
            KEY_JOB_KINDS, f"must be a list of job kinds ({known}) or a comma-separated one", value
        )
    if not names:
        raise ConfigError(KEY_JOB_KINDS, f"must name at least one job kind ({known})", value)
    kinds: list[JobKind] = []
    for name in names:
        try:
            kind = JobKind(name.upper().replace("-", "_"))
        except ValueError:
            raise ConfigError(
                KEY_JOB_KINDS, f"has an unknown job kind {name!r}: use any of {known}", value
            ) from None
        if kind not in KIND_FACTS:
            # A kind added to the contract without its row in infra/job_kinds.py.
            raise ConfigError(
                KEY_JOB_KINDS, f"job kind {kind.value} has no row in infra/job_kinds.py", value
            )
        if kind not in kinds:
            kinds.append(kind)
    return tuple(kinds)


_OBJECT_LOCK_MODES: Final = ("GOVERNANCE", "COMPLIANCE")
#: S3 Object Lock accepts at most 100 years of default retention.
_MAX_LOCK_DAYS: Final = 36500


def _retention(ctx: Mapping[str, Any]) -> dict[str, Any]:
    """Object Lock and the retention periods, checked against each other."""
    mode = _optional_str(ctx, KEY_OBJECT_LOCK_MODE)
    if mode is not None:
        mode = mode.upper()
        if mode not in _OBJECT_LOCK_MODES:
            raise ConfigError(KEY_OBJECT_LOCK_MODE, "must be GOVERNANCE or COMPLIANCE", mode)
    days = _optional_int(ctx, KEY_OBJECT_LOCK_DAYS, minimum=1, maximum=_MAX_LOCK_DAYS)
    if (mode is None) != (days is None):
        missing, given = (
            (KEY_OBJECT_LOCK_DAYS, KEY_OBJECT_LOCK_MODE)
            if days is None
            else (KEY_OBJECT_LOCK_MODE, KEY_OBJECT_LOCK_DAYS)
        )
        raise ConfigError(missing, f"must be set together with {given}", None)
    if mode is not None and _raw(ctx, KEY_ARCHIVE_BUCKET_NAME) is not None:
        raise ConfigError(
            KEY_OBJECT_LOCK_MODE,
            f"cannot be used with {KEY_ARCHIVE_BUCKET_NAME}: Object Lock can only be turned on "
            "for a bucket the stack creates",
            mode,
        )
    history = _optional_int(ctx, KEY_HISTORY_RETENTION_DAYS, minimum=1)
    if history is not None and _raw(ctx, KEY_JOBS_TABLE_NAME) is not None:
        raise ConfigError(
            KEY_HISTORY_RETENTION_DAYS,
            f"cannot be used with {KEY_JOBS_TABLE_NAME}: turn on TTL (attribute ExpiresAt) on "
            "the adopted table yourself",
            history,
        )
    return {
        "object_lock_mode": mode,
        "object_lock_days": days,
        "unredacted_retention_days": _optional_int(ctx, KEY_UNREDACTED_RETENTION_DAYS, minimum=1),
        "noncurrent_version_retention_days": _optional_int(
            ctx, KEY_NONCURRENT_RETENTION_DAYS, minimum=1
        ),
        "history_retention_days": history,
    }
