"""The S3 side of the double: answering GET/HEAD of presigned output links like S3.

Authentication first (:func:`links.authenticate`), then the object: an injected
:class:`Fault` if one is queued for it, else its bytes with S3's headers, ranges and
errors, streamed in chunks so outputs of any size never sit in memory.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import os
import secrets
import socket
import struct
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from local_aws.transcribe import links
from local_aws.transcribe.content import Content, content_etag, content_size, iter_content
from local_aws.transcribe.faults import Fault
from local_aws.transcribe.jobs import JobRun
from local_aws.transcribe.model import OutputName
from local_aws.transcribe.recording import RecordedRequest

if TYPE_CHECKING:
    from local_aws.transcribe.double import FakeTranscribe
    from local_aws.transcribe.handler import DoubleServer


class OutputServing(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive; every response carries Content-Length; S3's Server header."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY a delayed ACK
    # stalls some requests ~40 ms, which S3 and Transcribe never do.
    disable_nagle_algorithm = True
    server: DoubleServer
    _server_header = "AmazonS3"

    def setup(self) -> None:
        super().setup()
        # Idle keep-alive connections are dropped like S3 does; also bounds slow clients.
        self.connection.settimeout(self.server.owner.idle_timeout)

    def version_string(self) -> str:
        return self._server_header

    def log_message(self, format: str, *args: Any) -> None:
        return  # the request log replaces stderr noise

    @property
    def owner(self) -> FakeTranscribe:
        return self.server.owner

    def _log(self, status: int, **fields: Any) -> None:
        host, port = self.client_address[:2]
        self.owner.request_log.record(
            RecordedRequest(
                time=time.time(),
                method=self.command,
                path=urllib.parse.urlsplit(self.path).path,
                status=status,
                client_host=str(host),
                client_port=int(port),
                **fields,
            )
        )

    def _s3_error(
        self,
        error: links.S3Error,
        *,
        job: str | None = None,
        output: OutputName | None = None,
        fault: str | None = None,
    ) -> None:
        request_id = secrets.token_hex(8).upper()
        host_id = base64.b64encode(secrets.token_bytes(48)).decode()
        body = error.xml(request_id, host_id)
        length = 0 if self.command == "HEAD" else len(body)
        self._log(error.status, job=job, output=output, fault=fault, content_length=length)
        self.send_response(error.status)
        self.send_header("x-amz-request-id", request_id)
        self.send_header("x-amz-id-2", host_id)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if length:
            self.wfile.write(body)

    # -- links ---------------------------------------------------------------------------
    def _link(self) -> None:
        split = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(split.path)
        params = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        signed = links.authenticate(self.owner.signer, path, params, self.owner.clock())
        if isinstance(signed, links.S3Error):
            self._s3_error(signed)
            return
        resolved = self.owner.resolve_link(path)
        if resolved is None:
            self._s3_error(links.no_such_key(path))
            return
        run, output = resolved
        fault = self.owner.take_link_fault(run, output) if self.command == "GET" else None
        if fault is not None and self._apply_fault(fault, run, output, signed):
            return
        self._serve(run, output, fault=fault.kind if fault else None)

    def _apply_fault(
        self, fault: Fault, run: JobRun, output: OutputName, signed: links.SignedLink
    ) -> bool:
        """Answer for the fault; False means "now serve normally" (after a delay)."""
        where: dict[str, Any] = {"job": run.name, "output": output, "fault": fault.kind}
        if fault.kind == "expired":
            now = self.owner.clock()
            self._s3_error(links.expired(signed.amz_date, signed.expires, now), **where)
        elif fault.kind == "forbidden":
            self._s3_error(links.S3Error(403, "AccessDenied", "Access Denied"), **where)
        elif fault.kind == "slow_down":
            error = links.S3Error(503, "SlowDown", "Please reduce your request rate.")
            self._s3_error(error, **where)
        elif fault.kind == "status":
            code, message = links.S3_ERROR_CODES.get(fault.code, ("InternalError", "Error"))
            self._s3_error(links.S3Error(fault.code, code, message), **where)
        elif fault.kind == "redirect":
            self._log(302, **where)
            self.send_response(302)
            self.send_header("Location", fault.location)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif fault.kind == "delay":
            # Interruptible, so stop() never waits out a long injected delay.
            if self.server.closing.wait(fault.seconds):
                self.close_connection = True
                return True
            return False
        elif fault.kind in ("reset_mid_body", "short_read", "trickle"):
            self._serve(run, output, fault=fault.kind, cut=fault)
        return True

    def _serve(
        self, run: JobRun, output: OutputName, *, fault: str | None, cut: Fault | None = None
    ) -> None:
        content = run.outputs[output]
        size = content_size(content)
        start, end, status = 0, size, 200
        range_header = self.headers.get("Range")
        if range_header and cut is None:
            try:
                parsed = links.parse_range(range_header, size)
            except links.UnsatisfiableRangeError:
                error = links.S3Error(
                    416,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                    {"RangeRequested": range_header, "ActualObjectSize": str(size)},
                )
                self._s3_error(error, job=run.name, output=output)
                return
            if parsed is not None:
                (start, end), status = parsed, 206
        length = end - start
        self._log(
            status,
            job=run.name,
            output=output,
            fault=fault,
            content_length=length,
            complete=cut is None,
        )
        self.send_response(status)
        self.send_header("x-amz-id-2", base64.b64encode(secrets.token_bytes(48)).decode())
        self.send_header("x-amz-request-id", secrets.token_hex(8).upper())
        last_modified = (run.completion_ms or run.creation_ms) / 1000
        self.send_header("Last-Modified", email.utils.formatdate(last_modified, usegmt=True))
        self.send_header("ETag", content_etag(content))
        self.send_header("x-amz-server-side-encryption", "AES256")
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.send_header("Content-Type", run.content_type(output))
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD":
            return
        limit = length
        if cut is not None:
            # Never the whole body, at least one byte of it when there is any.
            limit = min(max(1, int(length * cut.fraction)), max(0, length - 1)) if length else 0
        sent = 0
        try:
            for chunk in iter_content(content, start, end):
                piece = chunk[: limit - sent]
                if piece:
                    self.wfile.write(piece)
                    sent += len(piece)
                if sent >= limit or self.server.closing.is_set():
                    break
            if cut is not None and cut.kind == "trickle":
                sent += self._trickle(content, start + sent, end, cut.seconds)
        except OSError:  # the client went away (reset, broken pipe, timeout)
            self.close_connection = True
        finally:
            self.owner.request_log.add_served(sent)
        if cut is not None or sent < length:
            self._abort(rst=cut is not None and cut.kind == "reset_mid_body")

    def _trickle(self, content: Content, start: int, end: int, interval: float) -> int:
        """The rest of the body one byte per ``interval``, until the client or the server
        goes away; bytes sent."""
        sent = 0
        for chunk in iter_content(content, start, end):
            for offset in range(len(chunk)):
                if self.server.closing.wait(interval):
                    return sent
                self.wfile.write(chunk[offset : offset + 1])
                self.wfile.flush()
                sent += 1
        return sent

    def _abort(self, *, rst: bool) -> None:
        """End the connection mid-body: RST for a reset, FIN for a short read."""
        self.close_connection = True
        if not rst:
            return  # finish() + shutdown_request() close cleanly (FIN) after this
        with contextlib.suppress(OSError):
            # SO_LINGER on with timeout 0 makes close() send RST and drop unsent data. The
            # fd is detached and closed right here: closing the socket object would wait
            # for rfile/wfile, and shutdown_request() would send a polite FIN first.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            os.close(self.connection.detach())
