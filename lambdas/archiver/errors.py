"""What can go wrong, sorted by what the archiver does about it."""

from __future__ import annotations

import re
from typing import Final

#: Markup in an error message that is a web page rather than the service's answer.
_TAG: Final = re.compile(r"<[^>]*>")


def one_line(text: str, limit: int = 300) -> str:
    """An error message fit for one line of a log or a terminal: a body that is a web page
    (a proxy's, a load balancer's) loses its tags and line breaks, and a long one is cut."""
    flat = " ".join(_TAG.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class ArchiverError(Exception):
    """Base class of the archiver's own errors."""


class ConfigurationError(ArchiverError):
    """The environment (or CLI options) is unusable: fail loudly, archive nothing."""


class JobNotFoundError(ArchiverError):
    """Transcribe no longer knows the job run (deleted, or older than 90 days)."""


class OutputError(ArchiverError):
    """One output could not be copied. ``reason`` is safe to log and store (no secrets)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PermanentOutputError(OutputError):
    """Retrying will not help (refused link, oversize, 404, null link): record and move on."""


class TransientOutputError(OutputError):
    """A fault worth retrying with backoff (5xx, reset, short read, timeout)."""


class LinkExpiredError(OutputError):
    """The presigned link answered 403 or is past its expiry: fetch fresh links and restart."""


class RetryableArchiveError(ArchiverError):
    """Retries are spent or time is running out: raise so Lambda retries, then the DLQ."""


class JobNotFinishedError(RetryableArchiveError):
    """Transcribe still reports the run QUEUED or IN_PROGRESS: try again later."""


class OutOfTimeError(RetryableArchiveError):
    """The invocation's deadline came before the work was done: record it, then retry."""


class StackNotFoundError(ConfigurationError):
    """The deployed stack the CLI was asked to read its settings from does not exist."""


class PurgeRefusedError(ArchiverError):
    """A purge that cannot be done whole (Object Lock retention, a run being archived):
    nothing was deleted."""
