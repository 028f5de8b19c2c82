"""The double's HTTP server: one loopback port for the JSON API (``POST /``) and the output
links (``GET``/``HEAD``), like Transcribe's endpoint and its service bucket together."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from typing import TYPE_CHECKING

from local_aws.http_server import BoundedThreadingHTTPServer
from local_aws.transcribe import api, links
from local_aws.transcribe.serving import OutputServing

if TYPE_CHECKING:
    from local_aws.transcribe.double import FakeTranscribe

_METHOD_NOT_ALLOWED = links.S3Error(405, "MethodNotAllowed", "The specified method is not allowed.")


class DoubleServer(BoundedThreadingHTTPServer):
    def __init__(self, owner: FakeTranscribe, *, max_connections: int) -> None:
        self.owner = owner
        super().__init__(DoubleHandler, max_connections=max_connections)


class DoubleHandler(OutputServing):
    """One connection: API calls and link fetches, in any order, on keep-alive."""

    # -- plumbing ----------------------------------------------------------------------
    def _read_body(self, limit: int) -> bytes | None:
        """The request body, or None (after answering) when it can't be read safely."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._plain(411, b"Length Required", close=True)
            return None
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            self._plain(400, b"Bad Content-Length", close=True)
            return None
        if length < 0 or length > limit:
            self._plain(413, b"Request body too large", close=True)
            return None
        return self.rfile.read(length) if length else b""

    def _plain(self, status: int, body: bytes, *, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    # -- dispatch ----------------------------------------------------------------------
    def do_POST(self) -> None:
        body = self._read_body(api.MAX_API_BODY)
        if body is None:
            return
        if urllib.parse.urlsplit(self.path).path != "/":
            self._s3_error(_METHOD_NOT_ALLOWED)
            return
        self._server_header = "Server"
        self._api(body)

    def do_GET(self) -> None:
        if self._read_body(0) is None:
            return
        self._link()

    def do_HEAD(self) -> None:
        if self._read_body(0) is None:
            return
        self._link()

    def _method_not_allowed(self) -> None:
        if self._read_body(api.MAX_API_BODY) is None:
            return
        self._s3_error(_METHOD_NOT_ALLOWED)

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _method_not_allowed

    # -- API -----------------------------------------------------------------------------
    def _api(self, raw: bytes) -> None:
        try:
            op, body = api.parse_request(self.headers, raw)
            self.owner.check_access(op, body, self.command, self.path, dict(self.headers), raw)
            result = self.owner.handle_api(op, body)
        except api.ApiError as error:
            self._api_error(error)
            return
        payload = json.dumps(result, separators=(",", ":")).encode()
        self._log(200, op=op, job=api.recorded_job(op, body), content_length=len(payload))
        self.send_response(200)
        self._api_headers(len(payload))
        self.end_headers()
        self.wfile.write(payload)

    def _api_headers(self, length: int) -> None:
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(length))

    def _api_error(self, error: api.ApiError) -> None:
        if error.fault == "html_forbidden":
            self._html_error(error)
            return
        payload = json.dumps({"__type": error.code, "Message": error.message}).encode()
        op = api.operation_of(self.headers)
        self._log(error.status, op=op or "?", fault=error.fault, content_length=len(payload))
        self.send_response(error.status)
        self._api_headers(len(payload))
        self.send_header("x-amzn-ErrorType", error.code)
        self.end_headers()
        self.wfile.write(payload)

    def _html_error(self, error: api.ApiError) -> None:
        payload = (
            b"<html>\r\n<head><title>403 Forbidden</title></head>\r\n"
            b"<body>\r\n<center><h1>403 Forbidden</h1></center>\r\n"
            b"<hr><center>request blocked by policy</center>\r\n</body>\r\n</html>\r\n"
        )
        self._log(error.status, op=api.operation_of(self.headers) or "?", fault=error.fault)
        self.send_response(error.status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
