"""What every local server shares: bounded, joinable threaded HTTP servers on loopback, and
:class:`LocalServer`, the one start/stop/context-manager base they all run under.

The standard ``ThreadingMixIn`` with ``daemon_threads`` neither bounds the number of
handler threads nor joins them on close, and an HTTP/1.1 keep-alive connection parks its
thread in ``readline`` until the client hangs up. A test suite that starts and stops
hundreds of servers would leak those threads, so :class:`TrackedConnectionsMixin` tracks
every live connection, caps how many run at once, and on :meth:`close_and_join` shuts
their sockets down (which wakes the parked threads) and joins them.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import threading
import time
import traceback
from abc import ABC, abstractmethod
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar, cast

#: Loopback only: nothing here may ever listen on a public interface.
LOOPBACK = "127.0.0.1"
#: The only credentials the local servers see: moto accepts any, the double checks none.
DUMMY_CREDENTIAL = "testing"


class TrackedConnectionsMixin:
    """Mix in before ``socketserver.ThreadingMixIn``; call :meth:`_init_tracking` first."""

    # Provided by socketserver.ThreadingMixIn / TCPServer in the concrete class.
    process_request_thread: Any
    shutdown_request: Any
    server_address: Any
    server_name: str
    server_port: int

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

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves socket.getfqdn(host): a reverse DNS lookup that
        # can stall without a network. The name is never used here, so skip it.
        socketserver.TCPServer.server_bind(cast(socketserver.TCPServer, self))
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


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


class TrackedServer(Protocol):
    """What :class:`LocalServer` needs of a server: a socketserver with tracked connections."""

    server_address: Any

    @property
    def closing(self) -> threading.Event: ...

    def serve_forever(self, poll_interval: float = 0.5) -> None: ...

    def shutdown(self) -> None: ...

    def server_close(self) -> None: ...

    def close_and_join(self, timeout: float = 5.0) -> list[threading.Thread]: ...


ServerT = TypeVar("ServerT", bound=TrackedServer)


class LocalServer(ABC, Generic[ServerT]):
    """One server on ``127.0.0.1`` served by one thread: start, stop, use as a context manager.

    Subclasses build their server in :meth:`_make_server` (bound to loopback, port 0 for a
    free one); :meth:`stop` leaves neither the port nor any thread behind.
    """

    #: Name of the accept thread (seen in thread dumps and in stop()'s errors).
    thread_name = "local-server"

    def __init__(self) -> None:
        self._server: ServerT | None = None
        self._thread: threading.Thread | None = None

    @abstractmethod
    def _make_server(self) -> ServerT:
        """A new, bound and listening server; called by :meth:`start`."""

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        server = self._make_server()
        host = server.server_address[0]
        if host != LOOPBACK:  # belt and braces: never expose a local server beyond loopback
            server.server_close()
            raise RuntimeError(f"{type(self).__name__} bound {host}, expected {LOOPBACK}")
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.thread_name,
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close the listening socket, wake and join every thread."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        # Order matters: mark closing (frees an accept loop waiting for a slot and aborts
        # long waits in handlers), stop the accept loop, close the listening socket, then
        # wake and join the connection threads.
        server.closing.set()
        if thread.is_alive():
            server.shutdown()
            thread.join(timeout)
        server.server_close()
        stuck = server.close_and_join(timeout)
        if stuck or thread.is_alive():
            raise RuntimeError(f"{thread.name}: {len(stuck)} handler thread(s) did not stop")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addressing ------------------------------------------------------------------
    @property
    def server(self) -> ServerT:
        """The running server (its connection counts, recorded errors, ...)."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._server

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{self.host}"
