"""Where a job's outputs live and how their links are signed, checked and ranged.

Link paths (service-managed bucket; ``<uuid>`` is per job run, absent in the "global" style):

==========  ==========================================================================
output      path
==========  ==========================================================================
transcript  ``/aws-transcribe-<region>-prod/<account>/<job>/<uuid>/asrOutput.json``
redacted    ``/aws-transcribe-<region>-prod/<account>/<job>/<uuid>/redacted-asrOutput.json``
vtt         ``/aws-transcribe-<region>-prod/<account>/<job>/<uuid>/<job>.vtt``
srt         ``/aws-transcribe-<region>-prod/<account>/<job>/<uuid>/<job>.srt``
==========  ==========================================================================

Team-bucket keys (no ``output_key``): ``<job>.json``, ``redacted-<job>.json``,
``<job>.vtt``, ``<job>.srt``; their links are plain
``https://s3.<region>.amazonaws.com/<bucket>/<key>`` URLs that the archiver must resolve
through the S3 API. Link forms and expiry are described in docs/transcribe-facts.md.

Call Analytics runs (``<fmt>`` is the media format) live in a folder of their own, so a
transcription job of the same name never shares a path:

==============  ==================================================================
output          path (service bucket) / key under the team's ``OutputLocation``
==============  ==================================================================
transcript      ``.../<job>/<uuid>/analytics/<job>.json`` / ``analytics/<job>.json``
redacted        ``.../redacted-analytics/<job>.json`` / ``redacted-analytics/<job>.json``
redacted_media  ``.../redacted-media/<job>.<fmt>`` / ``redacted-media/<job>.<fmt>``
==============  ==================================================================

Team-bucket Call Analytics links are ``s3://<bucket>/<key>`` by default (as Call Analytics
reports its outputs), or the https form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final
from xml.sax.saxutils import escape as xml_escape

from local_aws.transcribe.model import MAX_PRESIGN_EXPIRES, LinkStyle, OutputName, iso

AMZ_DATE: Final = "%Y%m%dT%H%M%SZ"
_SERVICE_FILES: Final[Mapping[OutputName, str]] = {
    "transcript": "asrOutput.json",
    "redacted": "redacted-asrOutput.json",
    "vtt": "{job}.vtt",
    "srt": "{job}.srt",
}
_QUERY_AUTH_PARAMS: Final = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)
#: S3's code and message for each HTTP status a ``Fault.status`` may ask for.
S3_ERROR_CODES: Final[Mapping[int, tuple[str, str]]] = {
    400: ("BadRequest", "An error occurred when parsing the HTTP request."),
    403: ("AccessDenied", "Access Denied"),
    404: ("NoSuchKey", "The specified key does not exist."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    502: ("BadGateway", "Bad Gateway"),
    503: ("ServiceUnavailable", "Please reduce your request rate."),
    504: ("GatewayTimeout", "Gateway Timeout"),
}


# --------------------------------------------------------------------------- where outputs live
def service_paths(
    *,
    region: str,
    account_id: str,
    name: str,
    run_id: str,
    style: LinkStyle,
    outputs: Iterable[OutputName],
) -> dict[OutputName, str]:
    """Paths of a run's outputs in the service-managed bucket."""
    folder = f"/aws-transcribe-{region}-prod/{account_id}/{name}"
    if style == "regional":
        folder += f"/{run_id}"
    return {out: f"{folder}/{_SERVICE_FILES[out].format(job=name)}" for out in outputs}


def analytics_paths(
    *,
    region: str,
    account_id: str,
    name: str,
    run_id: str,
    style: LinkStyle,
    media_format: str,
    outputs: Iterable[OutputName],
) -> dict[OutputName, str]:
    """Paths of a Call Analytics run's outputs in the service-managed bucket."""
    folder = f"/aws-transcribe-{region}-prod/{account_id}/{name}"
    if style == "regional":
        folder += f"/{run_id}"
    return {out: f"{folder}/{analytics_key(name, out, media_format)}" for out in outputs}


def analytics_key(name: str, output: OutputName, media_format: str) -> str:
    """Where Call Analytics puts one output, relative to its output folder."""
    if output == "transcript":
        return f"analytics/{name}.json"
    if output == "redacted":
        return f"redacted-analytics/{name}.json"
    if output == "redacted_media":
        return f"redacted-media/{name}.{media_format}"
    raise ValueError(f"Call Analytics jobs have no {output} output")


def bucket_keys(
    name: str, output_key: str | None, outputs: Iterable[OutputName]
) -> dict[OutputName, str]:
    """Keys of a run's outputs in the team's own bucket."""
    # Observed service behaviour: a folder-like OutputKey gets "<job>.json" inside it,
    # "x.json" is used as is, anything else gets ".json" appended; the redacted copy is
    # "redacted-" + file name, subtitles sit beside the transcript.
    if output_key is None or output_key.endswith("/"):
        folder, stem = (output_key or ""), name
    else:
        stem_path = output_key.removesuffix(".json")
        folder, _, stem = stem_path.rpartition("/")
        folder = f"{folder}/" if folder else ""
    keys: dict[OutputName, str] = {
        "transcript": f"{folder}{stem}.json",
        "redacted": f"{folder}redacted-{stem}.json",
        "vtt": f"{folder}{stem}.vtt",
        "srt": f"{folder}{stem}.srt",
    }
    return {out: keys[out] for out in outputs}


def team_bucket_url(region: str, bucket: str, key: str) -> str:
    return f"https://s3.{region}.amazonaws.com/{bucket}/{urllib.parse.quote(key)}"


# --------------------------------------------------------------------------- signing
class LinkSigner:
    """Presigns service-bucket links and recognises its own signatures.

    The secret is per double: links from another ``FakeTranscribe`` never validate.
    """

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)

    def sign(self, path: str, amz_date: str, expires: str, credential: str, token: str) -> str:
        # Not SigV4, but covers what SigV4 covers for a presigned GET: editing the path,
        # date, lifetime or credentials of a link breaks it.
        message = "\n".join((path, amz_date, expires, credential, token)).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    @staticmethod
    def new_session() -> tuple[str, str]:
        """Fresh temporary credentials (access key id, session token) for one response.

        The service presigns with short-lived STS credentials, so two GetTranscriptionJob
        calls in the same second still return different links and signatures.
        """
        alphabet = string.ascii_uppercase + string.digits
        access_key = "ASIA" + "".join(secrets.choice(alphabet) for _ in range(16))
        return access_key, base64.b64encode(secrets.token_bytes(240)).decode()

    def presign(
        self,
        path: str,
        session: tuple[str, str],
        *,
        host: str,
        region: str,
        expires: int,
        now: float,
    ) -> str:
        """``http://<host><path>?...``: the query a presigned S3 GET carries, in S3's order."""
        access_key, token = session
        signed_at = datetime.fromtimestamp(now, UTC)
        amz_date = signed_at.strftime(AMZ_DATE)
        credential = f"{access_key}/{signed_at:%Y%m%d}/{region}/s3/aws4_request"
        query = urllib.parse.urlencode(
            [
                ("X-Amz-Security-Token", token),
                ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                ("X-Amz-Date", amz_date),
                ("X-Amz-SignedHeaders", "host"),
                ("X-Amz-Expires", str(expires)),
                ("X-Amz-Credential", credential),
                ("X-Amz-Signature", self.sign(path, amz_date, str(expires), credential, token)),
            ]
        )
        return f"http://{host}{path}?{query}"


# --------------------------------------------------------------------------- checking
@dataclass(frozen=True)
class S3Error:
    """An S3 XML error answer: status, code, message and any extra elements."""

    status: int
    code: str
    message: str
    extra: Mapping[str, str] = field(default_factory=dict)

    def xml(self, request_id: str, host_id: str) -> bytes:
        fields = "".join(f"<{k}>{xml_escape(v)}</{k}>" for k, v in self.extra.items())
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code><Message>{xml_escape(self.message)}</Message>"
            f"{fields}<RequestId>{request_id}</RequestId><HostId>{host_id}</HostId></Error>"
        ).encode()


@dataclass(frozen=True)
class SignedLink:
    """A presigned request that checked out: when it was signed and for how long."""

    amz_date: str
    expires: int


def expired(amz_date: str, expires: int, now: float) -> S3Error:
    """403 "Request has expired", with the times S3 reports."""
    signed_at = datetime.strptime(amz_date, AMZ_DATE).replace(tzinfo=UTC).timestamp()
    return S3Error(
        403,
        "AccessDenied",
        "Request has expired",
        {
            "X-Amz-Expires": str(expires),
            "Expires": iso(round((signed_at + expires) * 1000)),
            "ServerTime": iso(round(now * 1000)),
        },
    )


def authenticate(
    signer: LinkSigner, path: str, params: Mapping[str, str], now: float
) -> SignedLink | S3Error:
    """Check a presigned query like S3 does, in its order: anonymous, malformed, expired,
    forged."""
    present = [p for p in _QUERY_AUTH_PARAMS if p in params]
    if not present:
        return S3Error(403, "AccessDenied", "Access Denied")
    if len(present) != len(_QUERY_AUTH_PARAMS):
        return S3Error(
            400,
            "AuthorizationQueryParametersError",
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
            "X-Amz-Expires parameters.",
        )
    amz_date, raw_expires = params["X-Amz-Date"], params["X-Amz-Expires"]
    try:
        signed_at = datetime.strptime(amz_date, AMZ_DATE).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return S3Error(
            400,
            "AuthorizationQueryParametersError",
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
        )
    if not raw_expires.isdigit() or int(raw_expires) > MAX_PRESIGN_EXPIRES:
        return S3Error(
            400,
            "AuthorizationQueryParametersError",
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        )
    expires = int(raw_expires)
    if now > signed_at + expires:
        return expired(amz_date, expires, now)
    expected = signer.sign(
        path,
        amz_date,
        raw_expires,
        params["X-Amz-Credential"],
        params.get("X-Amz-Security-Token", ""),
    )
    if not hmac.compare_digest(expected, params["X-Amz-Signature"]):
        return S3Error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you "
            "provided. Check your key and signing method.",
        )
    return SignedLink(amz_date, expires)


def no_such_key(path: str) -> S3Error:
    return S3Error(
        404,
        "NoSuchKey",
        "The specified key does not exist.",
        {"Key": path.lstrip("/").partition("/")[2]},
    )


# --------------------------------------------------------------------------- ranges
class UnsatisfiableRangeError(Exception):
    pass


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """A single ``bytes=`` range as [start, end); None = ignore it and send everything.

    S3 ignores what it does not support (other units, several ranges, garbage) and sends
    the whole object with 200; a well-formed range outside the object is a 416.
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if not first:  # suffix: the last N bytes
            n = int(last)
            if n <= 0 or size == 0:
                raise UnsatisfiableRangeError
            return max(0, size - n), size
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if start >= size or end <= start:
        raise UnsatisfiableRangeError
    return start, min(end, size)
