"""Server plumbing shared by the local doubles: bounded, joinable threaded HTTP servers.

The standard ``ThreadingMixIn`` with ``daemon_threads`` neither bounds the number of
handler threads nor joins them on close, and an HTTP/1.1 keep-alive connection parks its
thread in ``readline`` until the client hangs up. A test suite that starts and stops
hundreds of servers would leak those threads, so this mixin tracks every live connection,
caps how many run at once, and on :meth:`close_and_join` shuts their sockets down (which
wakes the parked threads) and joins them.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import threading
import time
import traceback
from http.server import ThreadingHTTPServer
from typing import Any

#: Loopback only: nothing here may ever listen on a public interface.
LOOPBACK = "127.0.0.1"
#: The only credentials the local servers see: moto accepts any, the double checks none.
DUMMY_CREDENTIAL = "testing"


class TrackedConnectionsMixin:
    """Mix in before ``socketserver.ThreadingMixIn``; call :meth:`_init_tracking` first."""

    # Provided by socketserver.ThreadingMixIn / BaseServer in the concrete class.
    process_request_thread: Any
    shutdown_request: Any

    def _init_tracking(self, max_connections: int) -> None:
        self._slots = threading.BoundedSemaphore(max_connections)
        self._closing = threading.Event()
        self._tracking_lock = threading.Lock()
        self._live: dict[threading.Thread, socket.socket] = {}

    @property
    def closing(self) -> threading.Event:
        """Set once the server is stopping; long waits in handlers should watch it."""
        return self._closing

    @property
    def live_connections(self) -> int:
        with self._tracking_lock:
            return len(self._live)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Backpressure instead of unbounded threads: when every slot is busy the accept
        # loop waits (new clients queue in the listen backlog, as on a loaded server).
        while not self._slots.acquire(timeout=0.1):
            if self._closing.is_set():
                self.shutdown_request(request)
                return
        thread = threading.Thread(
            target=self._run_tracked,
            args=(request, client_address),
            name=f"{type(self).__name__}-conn",
            daemon=True,
        )
        with self._tracking_lock:
            self._live[thread] = request
        thread.start()

    def _run_tracked(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._tracking_lock:
                self._live.pop(threading.current_thread(), None)
            self._slots.release()

    def close_and_join(self, timeout: float = 5.0) -> list[threading.Thread]:
        """Wake every connection thread by shutting its socket down, then join them.

        Returns the threads still alive after ``timeout`` (empty when all stopped).
        """
        self._closing.set()
        with self._tracking_lock:
            live = dict(self._live)
        for sock in live.values():
            # shutdown() (unlike close()) wakes a thread blocked in recv on this socket.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread in live:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [t for t in live if t.is_alive()]


class BoundedThreadingHTTPServer(TrackedConnectionsMixin, ThreadingHTTPServer):
    """ThreadingHTTPServer on loopback with tracked, bounded, joinable connections."""

    daemon_threads = True
    # A burst of hundreds of clients (the chaos test) must queue, not be refused.
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(
        self,
        handler: type[socketserver.BaseRequestHandler],
        *,
        port: int = 0,
        max_connections: int = 1024,
    ) -> None:
        self._init_tracking(max_connections)
        #: Tracebacks of unexpected handler exceptions (tests can assert it stays empty).
        self.handler_errors: list[str] = []
        super().__init__((LOOPBACK, port), handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients vanishing mid-response is normal here; anything else is a double bug."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return
        with self._tracking_lock:
            if len(self.handler_errors) < 100:
                self.handler_errors.append(traceback.format_exc())
        super().handle_error(request, client_address)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves socket.getfqdn(host): a reverse DNS lookup that
        # can stall without a network. The name is never used here, so skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


class ServerThread:
    """Runs a socketserver in a thread; :meth:`stop` shuts it down completely."""

    def __init__(self, server: BoundedThreadingHTTPServer, name: str) -> None:
        self.server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )
        self._stopped = False

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        # Order matters: mark closing (frees an accept loop waiting for a slot), stop the
        # accept loop, close the listening socket, then wake and join the handlers.
        self.server.closing.set()
        if self._thread.is_alive():
            self.server.shutdown()
            self._thread.join(timeout)
        self.server.server_close()
        stuck = self.server.close_and_join(timeout)
        if stuck or self._thread.is_alive():
            raise RuntimeError(f"{self._thread.name}: {len(stuck)} handler thread(s) did not stop")
