"""Loopback servers that misbehave on purpose, for the client's tests.

Each server listens on 127.0.0.1 on an ephemeral port, serves every connection in its own thread with a
plain function `handler(conn, server)`, and stops (closing every connection) when its `with` block ends.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import random
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator

import trustme

# A hostile server gives up after this long, so that a client whose deadline is broken fails its test
# (an answer that comes too late, or breaks off) instead of hanging the test run.
PATIENCE = 5.0

Handler = Callable[[socket.socket, "LoopbackServer"], None]

_OK_HEAD = "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {length}\r\n{extra}\r\n"


class LoopbackServer:
    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self._handler = handler
        self._tls = tls
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.stop = threading.Event()
        self._born = time.monotonic()
        self.accepted = 0  # connections accepted (keep-alive tests count them)
        self.received = bytearray()  # every byte any client sent (the redirect thief reads it)
        self.tls_errors: list[str] = []
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def __enter__(self) -> LoopbackServer:
        self._spawn(self._accept_loop)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        _quiet(lambda: self._listener.shutdown(socket.SHUT_RDWR))  # wakes the blocked accept() on Linux
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            _quiet(lambda c=conn: c.shutdown(socket.SHUT_RDWR))  # type: ignore[misc]
            _quiet(conn.close)
        for thread in self._threads:
            thread.join(timeout=2)

    def stopping(self, interval: float | None = None) -> bool:
        """Wait up to `interval` (None: for good); True once the server stops or runs out of patience."""
        left = self._born + PATIENCE - time.monotonic()
        self.stop.wait(max(0.0, left if interval is None else min(interval, left)))
        return self.stop.is_set() or time.monotonic() >= self._born + PATIENCE

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self._conns.append(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self._tls is not None:
                try:
                    conn = self._tls.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError) as exc:
                    self.tls_errors.append(str(exc))
                    return
                with self._lock:
                    self._conns.append(conn)
            self._handler(conn, self)
        except OSError:
            pass  # the client went away: expected for most of these servers
        finally:
            _quiet(conn.close)

    def read_request(self, conn: socket.socket) -> bytes | None:
        """One request (head and Content-Length body), or None when the client closed."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            self.received.extend(chunk)
            data += chunk
            if not data[:1].isalpha():
                return data  # not HTTP (a TLS hello, say): let the handler answer what a real server would
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            self.received.extend(chunk)
            body += chunk
        return head + b"\r\n\r\n" + body


def _quiet(action: Callable[[], object]) -> None:
    with contextlib.suppress(OSError):
        action()


def _head(
    status: int = 200, reason: str = "OK", ctype: str = "application/json", length: int | str = 0, extra: str = ""
) -> bytes:
    return _OK_HEAD.format(status=status, reason=reason, ctype=ctype, length=length, extra=extra).encode()


def request_body(request: bytes) -> bytes:
    return request.partition(b"\r\n\r\n")[2]


# --- handlers -------------------------------------------------------------------------------------------


def hang_after_accept(conn: socket.socket, server: LoopbackServer) -> None:
    server.stopping()


def _drip(conn: socket.socket, server: LoopbackServer, data: Iterator[int], interval: float = 0.1) -> None:
    for byte in data:
        if server.stopping(interval):
            return
        conn.sendall(bytes([byte]))


def headers_drip(conn: socket.socket, server: LoopbackServer) -> None:
    """A status line and then an endless header, one byte every 100 ms."""
    server.read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    _drip(conn, server, iter(lambda: ord("a"), None))


def body_drip(conn: socket.socket, server: LoopbackServer) -> None:
    """Announces 1 MB and sends it one byte every 100 ms."""
    server.read_request(conn)
    conn.sendall(_head(length=1_000_000))
    _drip(conn, server, iter(lambda: ord(" "), None))


def endless_chunked(interval: float, chunk: bytes = b" " * 1024) -> Handler:
    """A chunked body that never ends: one chunk every `interval` seconds."""

    def handler(conn: socket.socket, server: LoopbackServer) -> None:
        server.read_request(conn)
        conn.sendall(_head(length=0).replace(b"Content-Length: 0", b"Transfer-Encoding: chunked"))
        frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
        while not server.stopping(interval):
            conn.sendall(frame)

    return handler


def huge_body(conn: socket.socket, server: LoopbackServer) -> None:
    """Announces 300 MB and produces it lazily, until the client stops reading."""
    size = 300 * 1024 * 1024
    server.read_request(conn)
    conn.sendall(_head(length=size))
    block = b"x" * 65536
    for _ in range(size // len(block)):
        if server.stopping(0):
            return
        conn.sendall(block)


def random_bytes(conn: socket.socket, server: LoopbackServer) -> None:
    server.read_request(conn)
    conn.sendall(random.Random(7).randbytes(4096))
    conn.shutdown(socket.SHUT_WR)


def reset(conn: socket.socket, server: LoopbackServer) -> None:
    server.read_request(conn)
    # Linger 0: close sends RST instead of FIN.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def close_without_answer(conn: socket.socket, server: LoopbackServer) -> None:
    server.read_request(conn)  # read first: closing with unread data would send RST, another case
    conn.shutdown(socket.SHUT_WR)


def redirect_to(location: str) -> Handler:
    def handler(conn: socket.socket, server: LoopbackServer) -> None:
        while server.read_request(conn) is not None:
            conn.sendall(_head(302, "Found", extra=f"Location: {location}\r\n"))

    return handler


def json_responder(
    body: bytes = b'{"error": 0, "description": "Success"}', extra_headers: str = "", echo_request: bool = False
) -> Handler:
    """Answers every request on the connection (keep-alive); optionally appends the request body."""

    def handler(conn: socket.socket, server: LoopbackServer) -> None:
        while (request := server.read_request(conn)) is not None:
            if not request[:1].isalpha():
                # Someone spoke TLS to a plain HTTP server: answer the way nginx does.
                conn.sendall(_head(400, "Bad Request", "text/plain", 11) + b"bad request")
                return
            payload = body + (b"\n" + request_body(request) if echo_request else b"")
            conn.sendall(_head(length=len(payload), extra=extra_headers) + payload)

    return handler


def gzip_responder(payload: bytes) -> Handler:
    compressed = gzip.compress(payload)

    def handler(conn: socket.socket, server: LoopbackServer) -> None:
        while server.read_request(conn) is not None:
            conn.sendall(_head(length=len(compressed), extra="Content-Encoding: gzip\r\n") + compressed)

    return handler


def delayed_json(delay: float) -> Handler:
    def handler(conn: socket.socket, server: LoopbackServer) -> None:
        while server.read_request(conn) is not None:
            time.sleep(delay)
            payload = json.dumps({"error": 0}).encode()
            conn.sendall(_head(length=len(payload)) + payload)

    return handler


def tls_alert(conn: socket.socket, server: LoopbackServer) -> None:
    """What some TLS servers send to a plain-HTTP request: a fatal TLS alert record, then close."""
    server.read_request(conn)
    conn.sendall(b"\x15\x03\x01\x00\x02\x02\x46")
    conn.shutdown(socket.SHUT_WR)


def slow_or_fast(conn: socket.socket, server: LoopbackServer) -> None:
    """Never answers a request for /slow; answers any other at once (keep-alive)."""
    while (request := server.read_request(conn)) is not None:
        if request.split(b" ", 2)[1].startswith(b"/slow"):
            server.stopping()
            return
        payload = b'{"error": 0}'
        conn.sendall(_head(length=len(payload)) + payload)


def tls_server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    """A server context for a certificate issued by a private (`trustme`) CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context
