"""Output links: which ones may be fetched, how they are shown, what they point at.

Every link the archiver sees comes from GetTranscriptionJob, so it is only as trustworthy
as that response. The guard keeps the function from being turned into a fetcher of
arbitrary URLs (instance metadata, internal hosts): only https links to AWS S3 hosts, plus
hosts the operator listed in ALLOWED_SOURCE_HOSTS.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from archiver.errors import PermanentOutputError
from archiver.models.outputs import S3Location

# s3.amazonaws.com, s3.<region>.amazonaws.com, s3-<region>.amazonaws.com (legacy),
# s3.dualstack.<region>.amazonaws.com, and each of those behind "<bucket>." (virtual-hosted).
_REGION = r"[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d"
_S3_HOST_RE = re.compile(
    rf"(?:(?P<bucket>[a-z0-9][a-z0-9.-]{{1,61}}[a-z0-9])\.)?"
    rf"s3(?:[.-](?P<region>{_REGION})|\.dualstack\.(?P<dsregion>{_REGION}))?"
    r"\.amazonaws\.com(?:\.cn)?"
)
_QUERY_RE = re.compile(r"\?[^\s'\"<>]*")


def redact(text: str) -> str:
    """Remove every query string from ``text``: presigned signatures and tokens live there."""
    return _QUERY_RE.sub("", text)


def strip_query(url: str) -> str:
    """The link without its query string or fragment (what job.json and logs may show)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def is_s3_host(host: str) -> bool:
    return bool(_S3_HOST_RE.fullmatch(host.lower()))


def s3_location(url: str) -> S3Location | None:
    """Bucket and key of a plain (unsigned) S3 link, or None if it is not one.

    Links into the team's own output bucket are ``https://s3.<region>.amazonaws.com/<bucket>/<key>``
    (or virtual-hosted). How Transcribe maps OutputKey to the final key differs between
    its documentation and observed behaviour (docs/transcribe-facts.md): parse, never build.
    """
    parts = urlsplit(url)
    if parts.scheme == "s3":
        key = unquote(parts.path.lstrip("/"))
        return S3Location(parts.netloc, key) if parts.netloc and key else None
    if parts.scheme != "https" or not parts.hostname:
        return None
    match = _S3_HOST_RE.fullmatch(parts.hostname.lower())
    if not match:
        return None
    path = unquote(parts.path)
    if match.group("bucket"):
        bucket, key = match.group("bucket"), path.lstrip("/")
    else:
        bucket, _, key = path.lstrip("/").partition("/")
    return S3Location(bucket, key) if bucket and key else None


def is_presigned(url: str) -> bool:
    query = parse_qs(urlsplit(url).query)
    return "X-Amz-Signature" in query or "Signature" in query


def link_expiry(url: str) -> datetime | None:
    """When a SigV4-presigned link stops working (X-Amz-Date + X-Amz-Expires), if it says."""
    query = parse_qs(urlsplit(url).query)
    try:
        signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return signed + timedelta(seconds=int(query["X-Amz-Expires"][0]))
    except (KeyError, IndexError, ValueError):
        return None


class LinkGuard:
    """Decides whether a link (or a redirect's target) may be fetched at all."""

    def __init__(self, allowed_hosts: frozenset[str]) -> None:
        self._allowed = allowed_hosts

    def is_extra_host(self, url: str) -> bool:
        """True if the link's host is one the operator allowed explicitly."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        with_port = f"{host}:{parts.port}" if parts.port else host
        return host in self._allowed or with_port in self._allowed

    def check(self, url: str) -> None:
        """Raise PermanentOutputError (reason without secrets) unless ``url`` may be fetched."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise PermanentOutputError("refused link: not a valid URL") from None
        host = (parts.hostname or "").lower()
        shown = strip_query(url)
        if parts.username or parts.password:
            raise PermanentOutputError(f"refused link {shown}: credentials in URL")
        if self.is_extra_host(url):
            if parts.scheme not in ("http", "https"):
                raise PermanentOutputError(f"refused link {shown}: scheme {parts.scheme!r}")
            return
        if parts.scheme != "https":
            raise PermanentOutputError(f"refused link {shown}: only https links are fetched")
        if _is_ip_literal(host):
            raise PermanentOutputError(f"refused link {shown}: IP address hosts are not allowed")
        if port not in (None, 443):
            raise PermanentOutputError(f"refused link {shown}: unexpected port {port}")
        if not is_s3_host(host):
            raise PermanentOutputError(f"refused link {shown}: {host!r} is not an AWS S3 host")


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
