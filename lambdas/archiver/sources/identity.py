"""Who is calling: the identity a purge records as ``PurgedBy``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient


def caller_arn(sts: STSClient) -> str:
    """The ARN of the credentials in use (GetCallerIdentity needs no permission)."""
    return str(sts.get_caller_identity()["Arn"])
