"""Who is calling (the identity a purge records as ``PurgedBy``), and how far this
machine's clock is from AWS's."""

from __future__ import annotations

import email.utils
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient


def caller_arn(sts: STSClient) -> str:
    """The ARN of the credentials in use (GetCallerIdentity needs no permission)."""
    return str(sts.get_caller_identity()["Arn"])


def clock_skew(sts: STSClient) -> float | None:
    """Seconds this machine's clock is ahead of AWS's (negative: behind), from the Date of
    a GetCallerIdentity answer (one-second resolution; no permission needed); None when the
    answer carries no date."""
    sent = time.time()
    response = sts.get_caller_identity()
    received = time.time()
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    if not date:
        return None
    server = email.utils.parsedate_to_datetime(date).timestamp()
    # The server's second lies within the request's round trip.
    return (sent + received) / 2 - (server + 0.5)
