"""The shared server base: stop() leaves neither the port nor any thread behind."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
import urllib3

from local_aws.http_server import BoundedThreadingHTTPServer, LocalServer
from local_aws.transcribe import FakeTranscribe, Fault
from tests.local_aws.helpers import transcript_uri

pytestmark = pytest.mark.integration


def test_given_open_connections_and_a_long_delay_when_stopping_then_all_threads_end(
    http: urllib3.PoolManager,
) -> None:
    before = set(threading.enumerate())
    fake = FakeTranscribe().start()
    port = fake.port
    fake.add_job("stuck")
    fake.inject("stuck", "transcript", [Fault.delay(60)])
    uri = transcript_uri(fake.client(), "stuck")
    idle = socket.create_connection(("127.0.0.1", fake.port))  # an idle keep-alive peer
    pending = threading.Thread(target=lambda: _swallow(lambda: http.request("GET", uri)))
    pending.start()
    time.sleep(0.2)

    started = time.monotonic()
    fake.stop()
    stop_took = time.monotonic() - started
    pending.join(5)
    idle.close()

    assert stop_took < 4  # a 60 s delay was pending
    assert not pending.is_alive()
    assert {t for t in threading.enumerate() if t.is_alive()} - before == set()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def _swallow(call: Any) -> None:
    try:
        call()
    except Exception:  # the connection is cut by stop(); only termination matters here
        return


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _EchoServer(LocalServer[BoundedThreadingHTTPServer]):
    thread_name = "echo"

    def _make_server(self) -> BoundedThreadingHTTPServer:
        return BoundedThreadingHTTPServer(_Echo, max_connections=4)


def test_given_a_local_server_when_used_as_a_context_manager_then_it_serves_on_loopback_only(
    http: urllib3.PoolManager,
) -> None:
    before = set(threading.enumerate())
    echo = _EchoServer()
    with pytest.raises(RuntimeError, match="not started"):
        _ = echo.port

    with echo:
        port = echo.port
        bound = echo.server.server_address[0]
        host, endpoint = echo.host, echo.endpoint_url
        answer = http.request("GET", f"{endpoint}/ping")
        with pytest.raises(RuntimeError, match="already started"):
            echo.start()
        names = {t.name for t in threading.enumerate()}
    echo.stop()  # a second stop does nothing

    assert bound == "127.0.0.1"
    assert (host, endpoint) == (f"127.0.0.1:{port}", f"http://127.0.0.1:{port}")
    assert (answer.status, answer.data) == (200, b"/ping")
    assert "echo" in names
    assert {t for t in threading.enumerate() if t.is_alive()} - before == set()
    with pytest.raises(RuntimeError, match="not started"):
        _ = echo.endpoint_url
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)
