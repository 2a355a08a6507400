"""The deadline of a send: one watchdog thread shuts down the sockets a send uses when its time is up.

requests' timeout bounds each socket read, so a target that drips one byte at a time never trips it. Here
every send has a deadline, and the pool's connections report to the send they serve, so the watchdog can
end whatever read is blocked, in the head, the body or a TLS handshake.
"""

from __future__ import annotations

import contextlib
import heapq
import http.client
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry

__all__ = ["Deadline", "Progress", "Watchdog", "Watched", "WatchedAdapter", "sending", "shut"]

_RECHECK = 0.05  # seconds between shutdowns of an expired send that is still running


class Progress:
    """How far one send got, to say where a timeout struck."""

    def __init__(self) -> None:
        self.headers = False
        self.body_bytes = 0
        self.reused = False  # the request went out on a kept-alive connection that had served before

    def where(self) -> str:
        if not self.headers:
            return "no status line and headers"
        return f"headers received, body incomplete after {self.body_bytes} bytes"


class Deadline:
    """The deadline of one send, and the connections that send is using."""

    def __init__(self, at: float) -> None:
        self.at = at
        self._lock = threading.Lock()
        self._connections: set[Watched] = set()
        self._expired = False
        self._finished = False

    @property
    def expired(self) -> bool:
        return self._expired

    def attach(self, conn: Watched) -> None:
        with self._lock:
            conn.kyren_deadline = self  # the connection now serves this send, not an earlier one
            self._connections.add(conn)

    def expire(self) -> bool:
        """Shut the send's sockets down; True while the send is still running (see Watchdog._run)."""
        with self._lock:
            if self._finished:
                return False
            self._expired = True
            # A connection returned to the pool and taken by another send belongs to that send now.
            connections = [conn for conn in self._connections if conn.kyren_deadline is self]
        for conn in connections:
            shut(conn.sock)
        return True

    def finish(self) -> None:
        with self._lock:
            self._finished = True

    def connections(self) -> list[Watched]:
        with self._lock:
            return list(self._connections)


def shut(sock: socket.socket | None) -> None:
    """Wake whatever read is blocked on `sock`, from any thread."""
    if sock is None:
        return  # not connected yet: the watchdog looks again (see Watchdog._run)
    # The plain-socket shutdown even for a TLS socket: it wakes the blocked reader from this thread
    # without touching the TLS object the reader is using (ssl.SSLSocket.shutdown would drop it).
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Watchdog:
    """One thread that expires deadlines in order: lighter than a Timer thread per request."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def watch(self, deadline: Deadline) -> None:
        with self._cond:
            if self._stopped:
                raise RuntimeError("the client is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kyren-deadline-watchdog", daemon=True)
                self._thread.start()
        self._push(deadline.at, deadline)

    def _push(self, at: float, deadline: Deadline) -> None:
        with self._cond:
            heapq.heappush(self._heap, (at, next(self._order), deadline))
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and not self._due():
                    self._cond.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                if self._stopped:
                    return
                deadline = heapq.heappop(self._heap)[2]
            if deadline.expire():
                # A socket may not exist yet (a slow name lookup or TCP connect straddled the deadline):
                # look again shortly, until the send ends.
                self._push(time.monotonic() + _RECHECK, deadline)

    def _due(self) -> bool:
        return bool(self._heap) and self._heap[0][0] <= time.monotonic()


# The pool creates and reuses connections itself, so a connection learns which send it serves from the
# thread that drives it: `sending` sets this for the duration of one request, in its own thread only.
_sending = threading.local()


def _attach_to_current_send(conn: Watched) -> None:
    deadline: Deadline | None = getattr(_sending, "deadline", None)
    if deadline is not None:
        deadline.attach(conn)


@contextlib.contextmanager
def sending(deadline: Deadline, progress: Progress) -> Iterator[None]:
    """While one request is sent from this thread, the connections it uses report to its deadline."""
    _sending.deadline, _sending.progress = deadline, progress
    try:
        yield
    finally:
        _sending.deadline = _sending.progress = None


class _FinalResponse(http.client.HTTPResponse):
    """Reads past every interim (1xx) response to the final one, as RFC 9110 15.2 asks of a client.

    http.client skips `100 Continue` only: a `103 Early Hints` would be taken as the answer, and each later
    answer would then be read as the answer to the next request on the connection. `begin` skips the
    headers of what `_read_status` calls a 100, so every 1xx but 101 (a protocol switch we never ask for)
    is reported as one. (`_read_status` is private to http.client: no public hook reads the status line.)
    """

    def _read_status(self) -> tuple[str, int, str]:
        version, status, reason = super()._read_status()  # type: ignore[misc]
        if 100 <= status < 200 and status != 101:
            return version, http.client.CONTINUE, reason
        return version, status, reason


class _WatchedHTTPConnection(HTTPConnection):
    kyren_deadline: Deadline | None = None
    kyren_requests = 0  # requests sent since this connection was last opened
    response_class = _FinalResponse

    def connect(self) -> None:
        # For HTTPS too: urllib3 sets `sock` before the TLS handshake, so a handshake that drips is cut as well.
        _attach_to_current_send(self)
        self.kyren_requests = 0
        super().connect()

    def request(self, *args: Any, **kwargs: Any) -> None:
        # Called for every request, also on a reused keep-alive connection (where connect is not).
        _attach_to_current_send(self)
        progress: Progress | None = getattr(_sending, "progress", None)
        if progress is not None:
            # HTTP connects inside super().request (sock is None until then); HTTPS before it (connect reset
            # the count): either way, a request that finds an open socket that served before is on a reused one.
            progress.reused = self.sock is not None and self.kyren_requests > 0
        try:
            super().request(*args, **kwargs)
        finally:
            self.kyren_requests += 1  # after: an HTTP connect inside super().request resets the count


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    """HTTPS with the same hooks (the MRO puts them in front of HTTPSConnection's connect and request)."""


Watched = _WatchedHTTPConnection | _WatchedHTTPSConnection


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class WatchedAdapter(HTTPAdapter):
    """Keep-alive pool whose connections report to the current send's deadline."""

    def __init__(self, pool_size: int, extra_ca_pem: str | None) -> None:
        self._extra_ca_pem = extra_ca_pem  # read by init_poolmanager, which the base __init__ calls
        # No retries: a request that failed once is a finding, and a retry would hide it (or resend it).
        super().__init__(pool_connections=2, pool_maxsize=pool_size, max_retries=Retry(0, read=False))

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        if self._extra_ca_pem is not None:
            # urllib3 loads ca_cert_data on top of ca_certs (certifi, set per request by requests),
            # so the private CA is added to the default roots rather than replacing them.
            pool_kwargs["ca_cert_data"] = self._extra_ca_pem
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
