from __future__ import annotations

import pytest
from archiver.contract import DEFAULT_MAX_OUTPUT_BYTES, JobKind
from archiver.errors import ConfigurationError
from archiver.settings import Settings

BASE = {"ARCHIVE_BUCKET": "my-archive", "JOBS_TABLE": "jobs"}


def test_given_only_required_variables_when_read_then_contract_defaults_apply() -> None:
    settings = Settings.from_env(BASE)
    assert settings.archive_prefix == "transcripts/"
    assert settings.archive_unredacted is True
    assert settings.allowed_source_hosts == frozenset()
    assert settings.max_output_bytes == DEFAULT_MAX_OUTPUT_BYTES == 5 * 1024**3
    assert settings.call_analytics_prefix == "call-analytics/"
    assert settings.prefix(JobKind.TRANSCRIPTION) == "transcripts/"
    assert settings.prefix(JobKind.CALL_ANALYTICS) == "call-analytics/"
    # Neither Medical variable is needed: the function runs with none of them set.
    assert settings.prefix(JobKind.MEDICAL) == "medical/"
    assert settings.prefix(JobKind.MEDICAL_SCRIBE) == "medical-scribe/"


def test_given_every_variable_when_read_then_each_is_parsed() -> None:
    settings = Settings.from_env(
        BASE
        | {
            "ARCHIVE_PREFIX": "calls",
            "ARCHIVE_UNREDACTED": "false",
            "ALLOWED_SOURCE_HOSTS": "127.0.0.1:8080, Localhost",
            "MAX_OUTPUT_BYTES": "1048576",
            "CALL_ANALYTICS_PREFIX": "contact-center/calls",
            "MEDICAL_PREFIX": "clinic/medical",
            "MEDICAL_SCRIBE_PREFIX": "clinic/scribe/",
        }
    )
    assert settings.archive_prefix == "calls/"
    assert settings.archive_unredacted is False
    assert settings.allowed_source_hosts == {"127.0.0.1:8080", "localhost"}
    assert settings.max_output_bytes == 1048576
    assert settings.call_analytics_prefix == "contact-center/calls/"
    assert settings.prefix(JobKind.CALL_ANALYTICS) == "contact-center/calls/"
    assert settings.prefix(JobKind.MEDICAL) == "clinic/medical/"
    assert settings.prefix(JobKind.MEDICAL_SCRIBE) == "clinic/scribe/"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JOBS_TABLE": "jobs"}, "ARCHIVE_BUCKET is required"),
        ({"ARCHIVE_BUCKET": "my-archive"}, "JOBS_TABLE is required"),
        (BASE | {"ARCHIVE_BUCKET": "Bad_Bucket"}, "not a valid S3 bucket name"),
        (BASE | {"ARCHIVE_UNREDACTED": "maybe"}, "ARCHIVE_UNREDACTED must be true or false"),
        (BASE | {"MAX_OUTPUT_BYTES": "5GB"}, "MAX_OUTPUT_BYTES must be a whole number"),
        (BASE | {"MAX_OUTPUT_BYTES": "0"}, "MAX_OUTPUT_BYTES must be positive"),
        (BASE | {"ARCHIVE_PREFIX": "/abs/"}, "must not start with '/'"),
        (BASE | {"CALL_ANALYTICS_PREFIX": "/abs/"}, "CALL_ANALYTICS_PREFIX '/abs/' must not"),
        # One kind's folders inside the other's: a purge of one could erase the other.
        (BASE | {"CALL_ANALYTICS_PREFIX": "transcripts/"}, "must not contain one another"),
        (BASE | {"CALL_ANALYTICS_PREFIX": "transcripts/ca/"}, "must not contain one another"),
        (BASE | {"ARCHIVE_PREFIX": "call-analytics/t"}, "must not contain one another"),
        (BASE | {"ARCHIVE_PREFIX": ""}, "must not contain one another"),
        (BASE | {"MEDICAL_PREFIX": "/abs/"}, "MEDICAL_PREFIX '/abs/' must not"),
        (
            BASE | {"MEDICAL_PREFIX": "transcripts/medical/"},
            "ARCHIVE_PREFIX 'transcripts/' and MEDICAL_PREFIX 'transcripts/medical/' must not",
        ),
        # "medical/" is a prefix of "medical-scribe/"'s name but not of its folder.
        (
            BASE | {"MEDICAL_SCRIBE_PREFIX": "medical/scribe/"},
            "MEDICAL_PREFIX 'medical/' and MEDICAL_SCRIBE_PREFIX 'medical/scribe/' must not",
        ),
        (
            BASE | {"MEDICAL_SCRIBE_PREFIX": "call-analytics/"},
            "CALL_ANALYTICS_PREFIX .* and MEDICAL_SCRIBE_PREFIX .* must not contain one another",
        ),
        (BASE | {"ALLOWED_SOURCE_HOSTS": "http://x/y"}, "must be a host or host:port"),
    ],
)
def test_given_a_bad_variable_when_read_then_error_names_it(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(env)
