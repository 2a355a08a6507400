"""Loopback servers that misbehave on purpose, for the client's tests.

Each server listens on 127.0.0.1 on an ephemeral port, serves every connection in its own thread with a
plain function `handler(conn, server)`, and stops (closing every connection) when its `with` block ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import itertools
import json
import random
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

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


def one_answer_then_close(conn: socket.socket, server: LoopbackServer) -> None:
    """Answers one request as HTTP/1.1 keep-alive would, then closes without saying `Connection: close`."""
    if server.read_request(conn) is not None:
        payload = b'{"error": 0}'
        conn.sendall(_head(length=len(payload)) + payload)
    conn.close()


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


# --- odd and hostile answers (issue 14; tests/test_hostile_network.py) -------------------------------------

# What a target may put in its head and body to act on the terminal of whoever reads the verdict: set the
# window title, clear the screen, recolour, move the cursor (C1 CSI, 0x9b, as Latin-1 in the head).
ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b[31m"


def raw_answer(head: bytes, body: bytes) -> Handler:
    """Answers every request on the connection with these bytes: `head` is the status line and headers,
    without Content-Length (added here) or the blank line."""

    def handler(conn: socket.socket, server: LoopbackServer) -> None:
        while server.read_request(conn) is not None:
            conn.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)

    return handler


def interim_then_numbered(interim: bytes) -> Handler:
    """Sends `interim` (1xx responses) before each answer; the answer's body numbers the request it answers
    on the connection, `{"error": 0, "n": 1}`, so that an answer read for the wrong request shows."""

    def handler(conn: socket.socket, server: LoopbackServer) -> None:
        n = 0
        while server.read_request(conn) is not None:
            n += 1
            body = b'{"error": 0, "n": %d}' % n
            conn.sendall(interim + _head(length=len(body)) + body)

    return handler


def drops_the_second_request(conn: socket.socket, server: LoopbackServer) -> None:
    """Answers the first request of a connection; reads the second and closes without answering: a
    kept-alive connection the server closed as the next request arrived (its idle timeout, say)."""
    request = server.read_request(conn)
    if request is None:
        return
    body = b'{"error": 0}'
    conn.sendall(_head(length=len(body)) + body)
    if server.read_request(conn) is not None:
        conn.shutdown(socket.SHUT_WR)


def throttle_first(times: int, retry_after: str | None) -> Handler:
    """Answers the server's first `times` requests 429 (with this Retry-After, if any), the rest 200."""
    counter = itertools.count()
    lock = threading.Lock()

    def handler(conn: socket.socket, server: LoopbackServer) -> None:
        while server.read_request(conn) is not None:
            with lock:
                n = next(counter)
            if n < times:
                extra = f"Retry-After: {retry_after}\r\n" if retry_after is not None else ""
                body = b'{"error": 429, "description": "slow down"}'
                conn.sendall(_head(429, "Too Many Requests", length=len(body), extra=extra) + body)
            else:
                body = b'{"error": 0}'
                conn.sendall(_head(length=len(body)) + body)

    return handler


def requests_received(server: LoopbackServer) -> list[bytes]:
    """The bodies of every request the server read, in order (all requests of these tests have one)."""
    received = bytes(server.received)
    bodies = []
    for part in received.split(b"POST ")[1:]:
        head, _, rest = part.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        bodies.append(rest[:length])
    return bodies


def tls_server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    """A server context for a certificate issued by a private (`trustme`) CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


# --- whole hostile targets, for the CLI (tests/test_hostile_targets.py, benchmarks/hostile_table.py) ----------

TOKEN = "tok-SECRET-4242"  # distinctive, so that any leak of it (or of a near miss of it) is easy to find


def redirect_with(statuses: tuple[int, ...], location: str) -> Handler:
    """Like redirect_to, taking turns over these 3xx statuses (307 and 308 would resend the body, token included)."""
    turn = itertools.count()

    def handler(conn: socket.socket, server: LoopbackServer) -> None:
        while server.read_request(conn) is not None:
            status = statuses[next(turn) % len(statuses)]
            conn.sendall(_head(status, "Redirect", extra=f"Location: {location}\r\n"))

    return handler


def tls_terminator(upstream_port: int) -> Handler:
    """Relays a (TLS-wrapped) connection to a plain HTTP server on loopback: HTTPS in front of the mock."""

    def handler(conn: socket.socket, server: LoopbackServer) -> None:
        import selectors

        with socket.create_connection(("127.0.0.1", upstream_port)) as upstream, selectors.DefaultSelector() as sel:
            sel.register(conn, selectors.EVENT_READ)
            sel.register(upstream, selectors.EVENT_READ)
            while not server.stop.is_set():
                for key, _ in sel.select(0.1):
                    source = key.fileobj
                    target = upstream if source is conn else conn
                    data = source.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    target.sendall(data)
                    # TLS may hold decrypted bytes the selector cannot see.
                    while isinstance(source, ssl.SSLSocket) and source.pending():
                        upstream.sendall(source.recv(source.pending()))

    return handler


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed): connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass(frozen=True)
class Target:
    """What the CLI is pointed at: the base URL, extra options and environment, and a redirect's thief."""

    url: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    thief: LoopbackServer | None = None


Start = Callable[[contextlib.ExitStack, str], Target]  # (the servers' stack, a scratch dir) -> the target


@dataclasses.dataclass(frozen=True)
class CliCase:
    """One kind of hostile target, and the verdict the CLI must give on it."""

    name: str
    start: Start
    reason: str  # regular expression: the one-line reason (unreachable) or a finding's text (answered)
    unreachable: bool  # True: no answer at all, the breaker stops the run and the report says why
    exit_code: int = 1


class PatientServer(LoopbackServer):
    """A LoopbackServer with more patience: the CLI takes a second or more to start before its first request,
    and a server that gave up by then (PATIENCE counts from its birth) would answer instead of hanging."""

    patience = 20.0

    def stopping(self, interval: float | None = None) -> bool:
        left = self._born + self.patience - time.monotonic()
        self.stop.wait(max(0.0, left if interval is None else min(interval, left)))
        return self.stop.is_set() or time.monotonic() >= self._born + self.patience


def _serve(stack: contextlib.ExitStack, handler: Handler, tls: ssl.SSLContext | None = None) -> LoopbackServer:
    return stack.enter_context(PatientServer(handler, tls))


_CA: list[trustme.CA] = []


def private_ca() -> trustme.CA:
    """One private CA per process (making one costs a key generation)."""
    if not _CA:
        _CA.append(trustme.CA())
    return _CA[0]


def _ca_file(directory: str) -> str:
    path = f"{directory}/private-ca.pem"
    private_ca().cert_pem.write_to_path(path)
    return path


def _tls(host: str = "127.0.0.1") -> ssl.SSLContext:
    return tls_server_context(private_ca().issue_cert(host))


def _plain(handler: Handler) -> Start:
    return lambda stack, _: Target(_serve(stack, handler).url)


def _redirects(stack: contextlib.ExitStack, _: str) -> Target:
    thief = _serve(stack, json_responder())
    return Target(_serve(stack, redirect_with((301, 302, 303, 307, 308), f"{thief.url}/steal")).url, thief=thief)


def _mock_over_tls(stack: contextlib.ExitStack, directory: str) -> Target:
    from kyren_conformance.contract import load_contract
    from kyren_conformance.mock import MockServer
    from kyren_conformance.resources import default_contract_path

    contract = load_contract(default_contract_path())
    mock = stack.enter_context(MockServer(contract, credentials=mock_credentials(contract)))
    front = _serve(stack, tls_terminator(int(mock.url.rsplit(":", 1)[1])), _tls())
    return Target(front.url, ("--ca-bundle", _ca_file(directory)))


def mock_credentials(contract: object) -> dict[str, str]:
    """The non-request-id fields of the contract with their mock values, and TOKEN as the secret."""
    fields = [f for f in contract.fields if f.role != "request_id"]  # type: ignore[attr-defined]
    return {f.name: TOKEN if f.secret else f.mock_value or f"test-{f.name}" for f in fields}


def _echo_token(stack: contextlib.ExitStack, directory: str) -> Target:
    """Echoes each request body (token included) after its JSON, and the token in a header and the reason."""
    token_file = f"{directory}/token"
    with open(token_file, "w", encoding="utf-8") as out:
        out.write(TOKEN + "\n")

    def handler(conn: socket.socket, server: LoopbackServer) -> None:
        while (request := server.read_request(conn)) is not None:
            payload = b'{"error": 0, "description": "Success"}\n' + request_body(request)
            head = _head(length=len(payload), extra=f"X-Debug: {TOKEN}\r\n")
            head = head.replace(b"200 OK", f"200 OK {TOKEN}".encode())  # the reason phrase too
            conn.sendall(head + payload)

    return Target(_serve(stack, handler).url, ("--token-file", token_file, "-v"))  # -v: the longer terminal output


_TIMEOUT = r"no complete answer within 1 s \(the whole response; "
_NO_HEAD = _TIMEOUT + r"no status line and headers\)"
_OVER_CAP = r"a body longer than the cap \(1048576 bytes kept\)"
_UNTRUSTED = r"TLS certificate not trusted: .*; use --ca-bundle for a private CA"
_REDIRECT = r"a redirect HTTP 30[1-8] to http://127\.0\.0\.1:\d+/steal \(not followed\)"
_VERIFY_OFF = (("CURL_CA_BUNDLE", ""), ("PYTHONHTTPSVERIFY", "0"))  # requests' Session would honour the first


def _tls_target(host: str = "127.0.0.1", *, scheme: str = "https", trusted: bool = False) -> Start:
    def start(stack: contextlib.ExitStack, directory: str) -> Target:
        server = _serve(stack, json_responder(), _tls(host))
        url = server.https_url() if scheme == "https" else server.http_url()
        return Target(url, ("--ca-bundle", _ca_file(directory)) if trusted else (), () if trusted else _VERIFY_OFF)

    return start


CLI_CASES = [
    CliCase("accepts, never answers", _plain(hang_after_accept), _NO_HEAD, True),
    CliCase("headers one byte per 100 ms", _plain(headers_drip), _NO_HEAD, True),
    CliCase("body one byte per 100 ms", _plain(body_drip), _TIMEOUT + r"headers received, body incomplete", True),
    CliCase("endless body, 100 KB/s", _plain(endless_chunked(0.01)), _TIMEOUT + r"headers received", True),
    CliCase("endless body, fast", _plain(endless_chunked(0, b" " * 65536)), _OVER_CAP, False),
    CliCase("300 MB body", _plain(huge_body), _OVER_CAP, False),
    CliCase("random bytes", _plain(random_bytes), r"the target does not speak HTTP \(bad status line\)", True),
    CliCase("connection reset", _plain(reset), r"connection reset by the target", True),
    CliCase("closed without answering", _plain(close_without_answer), r"closed the connection without answering", True),
    CliCase(
        "refused port", lambda _, __: Target(f"http://127.0.0.1:{closed_port()}"), r"refused by 127\.0\.0\.1:\d+", True
    ),
    CliCase(
        "DNS: nope.invalid", lambda _, __: Target("http://nope.invalid"), r"name does not resolve: nope\.invalid", True
    ),
    CliCase(
        "https:// to plain HTTP",
        lambda stack, _: Target(_serve(stack, json_responder()).https_url()),
        r"the target answered plain HTTP to an https:// URL",
        True,
    ),
    CliCase("http:// to TLS (alert)", _plain(tls_alert), r"the target answered TLS to an http:// URL", True),
    # OpenSSL reads 5 bytes of a plain request, gives up and closes: nothing on the wire says "TLS".
    CliCase(
        "http:// to a TLS server",
        _tls_target(scheme="http"),
        r"connection reset by the target|the target closed the connection without answering",
        True,
    ),
    CliCase("untrusted cert (+verify-off env)", _tls_target(), _UNTRUSTED, True),
    CliCase(
        "cert for another host",
        _tls_target("kyren.example", trusted=True),
        r"certificate does not match the host",
        True,
    ),
    CliCase("301/302/303/307/308 to a thief", _redirects, _REDIRECT, False),
    CliCase("token echoed (--token-file)", _echo_token, r"a response containing a secret \(shown as \*\*\*\)", False),
    CliCase("TLS mock with --ca-bundle", _mock_over_tls, r"", False, exit_code=0),
]


def cli_options(target: Target, contract: Any, timeout: str = "1") -> tuple[list[str], dict[str, str]]:
    """The CLI's options and environment for a target: TOKEN from KYREN_TOKEN, unless a token file is given."""
    from support import target_args

    args, env = target_args(target.url, mock_credentials(contract), contract)
    if "--token-file" in target.args:
        env = {name: value for name, value in env.items() if value != TOKEN}
    return [*args, "--timeout", timeout, *target.args], {**env, **dict(target.env)}


@dataclasses.dataclass
class MeasuredRun:
    code: int
    output: str  # stdout + stderr
    seconds: float
    peak_rss_mb: float  # of the CLI process itself (wait4's rusage for that one child)
    command: list[str]


def run_measured(args: list[str], report: str, env: dict[str, str], cwd: str, timeout: float = 120) -> MeasuredRun:
    """Run the real CLI in a subprocess, like support.run_cli, and read its own peak RSS when reaping it."""
    import os
    import subprocess
    import sys
    import tempfile

    command = [sys.executable, "-m", "kyren_conformance.cli", "--report", report, *args]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KYREN_")} | env
    with tempfile.TemporaryFile() as out:
        started = time.monotonic()
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=full_env, cwd=cwd)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > timeout:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
        out.seek(0)
        output = out.read().decode("utf-8", "replace")
    return MeasuredRun(proc.returncode, output, seconds, usage.ru_maxrss / 1024, command)
