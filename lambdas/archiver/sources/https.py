"""Streaming reads of output links over HTTPS, behind the link guard.

Nothing here holds a whole output in memory: the response is handed to the uploader as a
file-like reader that hashes and counts bytes as they pass and refuses to go past the size
limit. Redirects are followed by hand so that each hop is checked; urllib3's own retries
are off because a retry must restart the whole copy, which the caller does.

Time is bounded by the caller's deadline, not only between reads: a link that answers and
then trickles a byte a minute would keep one socket read (and so one multipart part)
waiting far past it, each read's timeout restarting with every byte. At the deadline a
watchdog shuts the connection's socket, so the read in progress ends at once and the run is
recorded as cut off, with the reason, before Lambda's own timeout kills it.

A link's path is sent exactly as the service gave it: Transcribe accepts the job names
``.`` and ``..``, and removing dot segments (as ``PoolManager.request`` does) would change
the path, break the presigned signature and fetch another object.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.exceptions import HTTPError

from archiver.deadline import Deadline
from archiver.errors import (
    LinkExpiredError,
    OutOfTimeError,
    PermanentOutputError,
    TransientOutputError,
)
from archiver.sources.links import LinkGuard, is_presigned, link_expiry, redact, strip_query

if TYPE_CHECKING:
    from urllib3 import BaseHTTPResponse

_REDIRECTS = {301, 302, 303, 307, 308}
_RETRYABLE = {408, 429, 500, 502, 503, 504}
_MAX_ERROR_BODY = 4096
#: Bytes read from the socket at a time into a multipart part: the only transient copy.
_STEP = 1024 * 1024


class StreamingReader:
    """A view of a response for the S3 uploader, hashing and counting as it goes.

    Each byte is hashed once, with SHA-256, for the history record; the uploader adds the
    checksum S3 verifies (docs/contract.md, "Archive layout"). ``read(n)`` and
    ``readinto(buffer)`` return exactly ``n`` (or ``len(buffer)``) bytes unless the stream
    ends, so that every multipart part but the last has the same size.
    """

    def __init__(
        self,
        response: BaseHTTPResponse,
        max_bytes: int,
        deadline: Deadline | None = None,
        watchdog: _Watchdog | None = None,
    ) -> None:
        self._response = response
        self._deadline = deadline
        self._watchdog = watchdog
        self._max_bytes = max_bytes
        self._sha256 = hashlib.sha256()
        self.bytes_read = 0

    def read(self, amount: int) -> bytes:
        """Up to ``amount`` bytes as one object: for outputs small enough for one request."""
        chunks: list[bytes] = []
        wanted = amount
        with self._reading():
            while wanted > 0:
                chunk = self._response.read(wanted)
                if not chunk:
                    break
                chunks.append(chunk)
                wanted -= len(chunk)
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._consume(data)
        return data

    def readinto(self, buffer: memoryview) -> int:
        """Fill ``buffer`` (a reused multipart part) in steps of at most _STEP bytes."""
        filled = 0
        with self._reading():
            while filled < len(buffer):
                chunk = self._response.read(min(len(buffer) - filled, _STEP))
                if not chunk:
                    break
                buffer[filled : filled + len(chunk)] = chunk
                filled += len(chunk)
        self._consume(buffer[:filled])
        return filled

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        if self._deadline is not None and self._deadline.expired():
            # Checked on every part, not only between attempts: the run records where it
            # stopped before Lambda's own timeout kills it without a word.
            raise OutOfTimeError(
                f"out of time after {self.bytes_read} bytes; the copy restarts on retry"
            )
        try:
            yield
        except (HTTPError, OSError) as exc:
            if self._watchdog is not None and self._watchdog.fired:
                raise OutOfTimeError(
                    f"out of time after {self.bytes_read} bytes (the link was still sending); "
                    "the copy restarts on retry"
                ) from None
            if isinstance(exc, HTTPError):
                raise TransientOutputError(f"read failed mid-body: {redact(str(exc))}") from None
            raise TransientOutputError(
                f"connection failed mid-body: {exc.__class__.__name__}"
            ) from None

    def _consume(self, data: bytes | memoryview) -> None:
        self.bytes_read += len(data)
        if self.bytes_read > self._max_bytes:
            raise PermanentOutputError(
                f"output exceeds MAX_OUTPUT_BYTES ({self._max_bytes} bytes): not copied"
            )
        self._sha256.update(data)  # releases the GIL: uploads go on meanwhile

    @property
    def sha256_hex(self) -> str:
        return self._sha256.hexdigest()

    @property
    def sha256_b64(self) -> str:
        return base64.b64encode(self._sha256.digest()).decode()


class _Watchdog:
    """Shuts a response's socket when the deadline comes, ending any read in progress."""

    def __init__(self, response: BaseHTTPResponse, deadline: Deadline) -> None:
        self.fired = False
        self._response = response
        self._timer = threading.Timer(max(deadline.remaining(), 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        connection = getattr(self._response, "connection", None)
        sock = getattr(connection, "sock", None)
        if sock is None:
            return  # already released: nothing is reading
        self.fired = True
        with contextlib.suppress(OSError):  # closed meanwhile
            sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


@dataclass
class OpenedLink:
    reader: StreamingReader
    content_length: int | None


class LinkFetcher:
    """Opens guarded, streaming GETs of output links."""

    def __init__(
        self,
        guard: LinkGuard,
        *,
        max_redirects: int = 3,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        pool_size: int = 16,
    ) -> None:
        self._guard = guard
        self._max_redirects = max_redirects
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._pool = urllib3.PoolManager(
            num_pools=8,
            maxsize=pool_size,
            retries=False,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        )

    @contextlib.contextmanager
    def open(
        self, url: str, *, max_bytes: int, deadline: Deadline | None = None
    ) -> Iterator[OpenedLink]:
        """Yield a reader over the link's body, or raise an OutputError saying why not."""
        self._guard.check(url)
        expiry = link_expiry(url)
        if expiry is not None and expiry <= datetime.now(UTC):
            raise LinkExpiredError(f"link {strip_query(url)} had expired before it was fetched")
        response = self._get_following_redirects(url, deadline)
        watchdog = _Watchdog(response, deadline) if deadline is not None else None
        try:
            self._raise_for_status(response, url)
            length = _content_length(response)
            if length is not None and length > max_bytes:
                raise PermanentOutputError(
                    f"output is {length} bytes, over MAX_OUTPUT_BYTES ({max_bytes}): not copied"
                )
            yield OpenedLink(StreamingReader(response, max_bytes, deadline, watchdog), length)
        finally:
            if watchdog is not None:
                watchdog.cancel()
            if response.status == 200 and response.length_remaining == 0:
                response.release_conn()  # fully read: the connection can be reused
            else:
                response.close()  # a partly read body must not go back to the pool

    def _get_following_redirects(self, url: str, deadline: Deadline | None) -> BaseHTTPResponse:
        origin = urlsplit(url)
        current = url
        for _ in range(self._max_redirects + 1):
            parts = urlsplit(current)
            # The request target exactly as given (see the module doc: no dot-segment removal).
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            if deadline is not None and deadline.expired():
                raise OutOfTimeError(f"out of time before {strip_query(current)} was requested")
            try:
                response = self._pool.connection_from_url(current).urlopen(
                    "GET",
                    target,
                    redirect=False,
                    preload_content=False,
                    decode_content=False,  # byte-identical copies: never decompress
                    timeout=self._timeout(deadline),
                )
            except HTTPError as exc:
                raise TransientOutputError(
                    f"request to {strip_query(current)} failed: {redact(str(exc))}"
                ) from None
            if response.status not in _REDIRECTS:
                return response
            location = response.headers.get("Location", "")
            response.drain_conn()
            response.release_conn()
            target = urljoin(current, location)
            hop = urlsplit(target)
            if (hop.scheme, hop.hostname, hop.port) != (
                origin.scheme,
                origin.hostname,
                origin.port,
            ):
                raise PermanentOutputError(
                    f"refused redirect from {strip_query(url)} to another host "
                    f"({hop.scheme}://{hop.netloc})"
                )
            self._guard.check(target)
            current = target
        raise PermanentOutputError(f"too many redirects from {strip_query(url)}")

    def _timeout(self, deadline: Deadline | None) -> urllib3.Timeout:
        """Connect and header timeouts, never past the deadline."""
        left = self._read_timeout if deadline is None else max(deadline.remaining(), 0.1)
        return urllib3.Timeout(
            connect=min(self._connect_timeout, left), read=min(self._read_timeout, left)
        )

    @staticmethod
    def _raise_for_status(response: BaseHTTPResponse, url: str) -> None:
        status = response.status
        if status == 200:
            return
        shown = strip_query(url)
        body = response.read(_MAX_ERROR_BODY, decode_content=True) if status >= 400 else b""
        code = _xml_field(body, "Code")
        message = _xml_field(body, "Message")
        detail = (
            f"HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
        )
        if status == 403 and is_presigned(url):
            # Expired (or otherwise stale) presigned link: fresh links fix it.
            raise LinkExpiredError(f"{shown} answered {detail}")
        if status in _RETRYABLE:
            raise TransientOutputError(f"{shown} answered {detail}")
        raise PermanentOutputError(f"{shown} answered {detail}")


def _content_length(response: BaseHTTPResponse) -> int | None:
    raw = response.headers.get("Content-Length")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _xml_field(body: bytes, name: str) -> str:
    text = body.decode("utf-8", "replace")
    start = text.find(f"<{name}>")
    end = text.find(f"</{name}>")
    if start < 0 or end < start:
        return ""
    return redact(text[start + len(name) + 2 : end])[:200]
