"""Another host on loopback, to prove that the archiver never follows a hostile redirect."""

from __future__ import annotations

import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import Any

from local_aws.http_server import BoundedThreadingHTTPServer, LocalServer
from local_aws.transcribe.api import MAX_API_BODY
from local_aws.transcribe.recording import RecordedRequest


class _OtherHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _OtherServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length", "0") or 0)
        if 0 < length <= MAX_API_BODY:
            self.rfile.read(length)
        host, port = self.client_address[:2]
        self.server.owner.record(
            RecordedRequest(
                time=time.time(),
                method=self.command,
                path=urllib.parse.urlsplit(self.path).path,
                status=200,
                client_host=str(host),
                client_port=int(port),
            ),
            headers=dict(self.headers.items()),
        )
        body = b"this host must never be contacted by the archiver\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _any


class _OtherServer(BoundedThreadingHTTPServer):
    def __init__(self, owner: OtherHostServer) -> None:
        self.owner = owner
        super().__init__(_OtherHandler, max_connections=64)


class OtherHostServer(LocalServer[_OtherServer]):
    """A separate loopback server that records every request it gets.

    Point a :meth:`Fault.redirect` at :meth:`url` to prove hostile redirects are never
    followed: afterwards ``requests`` must be empty.
    """

    thread_name = "other-host"

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._headers: list[dict[str, str]] = []

    def _make_server(self) -> _OtherServer:
        return _OtherServer(self)

    def url(self, path: str = "/stolen") -> str:
        return f"http://{self.host}{path}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """Headers of each recorded request (to spot leaked credentials)."""
        with self._lock:
            return [dict(h) for h in self._headers]

    def record(self, request: RecordedRequest, *, headers: dict[str, str]) -> None:
        with self._lock:
            if len(self._requests) < 10_000:
                self._requests.append(request)
                self._headers.append(headers)
