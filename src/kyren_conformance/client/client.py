"""The HTTP client: sends one request, enforces a deadline on the whole response, returns a redacted Exchange.

requests' timeout bounds each socket read, so a target that drips one byte at a time never trips it. Here
every send has a deadline; a watchdog thread shuts down the sockets the send is using when it passes, which
ends whatever read is blocked. `send` never raises: every failure becomes one human line on the Exchange.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import errno
import heapq
import http.client
import itertools
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from types import TracebackType
from typing import Any, cast
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPResponse
from urllib3 import exceptions as u3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry

from kyren_conformance import __version__
from kyren_conformance.exchange import Exchange, OutgoingRequest, Response, printable
from kyren_conformance.redaction import Redactor

__all__ = ["Client", "ClientSettings", "check_target_url", "describe_failure", "read_extra_ca", "retry_after"]

_CHUNK = 64 * 1024
_RECHECK = 0.05  # seconds between shutdowns of an expired send that is still running


@dataclass(frozen=True)
class ClientSettings:
    base_url: str
    timeout: float = 10.0  # deadline for the whole response: connect, headers and body
    max_body_bytes: int = 1_048_576  # cap on the decoded body kept; the rest is not read
    ca_bundle: str | None = None  # PEM of a private CA, trusted in addition to certifi's roots
    pool_size: int = 8

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise ValueError(f"the timeout must be a positive number of seconds, not {self.timeout!r}")
        if self.max_body_bytes < 0 or self.pool_size < 1:
            raise ValueError(f"max_body_bytes must be >= 0 and pool_size >= 1, not {self}")


def check_target_url(url: str) -> str:
    """The target URL without its trailing slash, or ValueError with one line saying what is wrong."""
    shown = _without_userinfo(url)
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError:
        raise ValueError(f"target URL {shown!r} has a bad port") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"target URL {shown!r} must start with http:// or https://")
    if not parts.hostname:
        raise ValueError(f"target URL {shown!r} has no host")
    if port == 0:
        raise ValueError(f"target URL {shown!r} has a bad port")
    if parts.query or parts.fragment or any(ch.isspace() for ch in url):
        raise ValueError(f"target URL {shown!r} must not hold a query, a fragment or spaces")
    return url.rstrip("/")


def _without_userinfo(url: str) -> str:
    # Error messages may be printed before any redactor exists: never echo a password from the URL.
    scheme, sep, rest = url.partition("://")
    authority, slash, tail = rest.partition("/")
    if sep and "@" in authority:
        return f"{scheme}://***@{authority.rsplit('@', 1)[1]}{slash}{tail}"
    return url


# --- failures as one line ------------------------------------------------------------------------------

# OpenSSL's reasons when a TLS client gets a plain-HTTP answer (the wording changed across versions).
_PLAIN_HTTP_REASONS = {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "UNKNOWN_PROTOCOL"}
_X509_HOSTNAME_MISMATCH, _X509_IP_MISMATCH, _X509_EXPIRED = 62, 64, 10


def describe_failure(exc: BaseException, url: str) -> str:
    """One human line for why no complete answer came, from anywhere in the exception's chain."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    causes = _causes(exc)

    def find(kind: type[BaseException] | tuple[type[BaseException], ...]) -> Any:
        return next((cause for cause in causes if isinstance(cause, kind)), None)

    if cert := find(ssl.SSLCertVerificationError):
        return _certificate_line(cert)
    if tls := find(ssl.SSLError):
        return _tls_line(tls)
    if find(socket.gaierror):
        return f"name does not resolve: {host}"
    if find(ConnectionRefusedError):
        return f"connection refused by {host}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    if find(http.client.RemoteDisconnected):  # before its base classes BadStatusLine and ConnectionResetError
        return "the target closed the connection without answering"
    if bad := find(http.client.BadStatusLine):
        return _status_line(str(bad.line))
    if find(ConnectionResetError):
        return "connection reset by the target"
    if find(BrokenPipeError):
        return "the target closed the connection while the request was being sent"
    if find((u3.IncompleteRead, http.client.IncompleteRead)):
        return "the target closed the connection before the whole body arrived"
    if find(u3.InvalidChunkLength):
        return "the target sent a malformed chunked body"
    if find((u3.DecodeError, requests.exceptions.ContentDecodingError)):
        return "the body does not decode as its Content-Encoding header says"
    if head := find(http.client.HTTPException):  # LineTooLong, "got more than 100 headers"
        return f"the target sent a malformed HTTP head: {_one_line(head)}"
    if os_error := find(OSError):
        return _os_line(os_error, host)
    if find((u3.TimeoutError, requests.exceptions.Timeout)):
        return "no answer in time"
    return f"internal client error: {type(exc).__name__}: {_one_line(exc)}"


def _closed_before_answering(exc: BaseException, progress: _Progress, deadline: _Deadline) -> bool:
    """A reused keep-alive connection the server had already closed: worth one more try on a fresh one.

    A server may close an idle connection without saying `Connection: close`; the next request on it
    then meets a reset or an EOF before any byte of answer (RFC 9112, 9.3.1 lets a client retry). On a
    fresh connection the same failure is the target's answer to this request, and is never retried.
    """
    lost = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
    return (
        progress.reused
        and not progress.headers
        and not deadline.expired
        and any(isinstance(c, lost) for c in _causes(exc))
    )


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delay-seconds or an HTTP-date), None when unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value[-9:]) if len(value) <= 9 else None  # a billion seconds is no plan to answer
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and everything it wraps: requests and urllib3 nest the real cause several levels deep."""
    seen: list[BaseException] = []
    pending: list[object] = [exc]
    while pending:
        current = pending.pop(0)
        if not isinstance(current, BaseException) or any(current is known for known in seen):
            continue
        seen.append(current)
        pending += [getattr(current, "reason", None), current.__cause__, current.__context__, *current.args]
    return seen


def _certificate_line(error: ssl.SSLCertVerificationError) -> str:
    message = error.verify_message or error.reason or _one_line(error)
    if error.verify_code in (_X509_HOSTNAME_MISMATCH, _X509_IP_MISMATCH):
        return f"TLS certificate does not match the host: {message}"
    if error.verify_code == _X509_EXPIRED:
        return f"TLS certificate expired: {message}"
    return f"TLS certificate not trusted: {message}; use --ca-bundle for a private CA"


def _tls_line(error: ssl.SSLError) -> str:
    if error.reason in _PLAIN_HTTP_REASONS:
        return "the target answered plain HTTP to an https:// URL"
    if isinstance(error, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return "the target closed the TLS connection abruptly"
    return f"TLS handshake failed: {error.reason or _one_line(error)}"


def _status_line(line: str) -> str:
    if line.startswith(("\x15\x03", "\x16\x03")):  # a TLS record: alert or handshake
        return "the target answered TLS to an http:// URL"
    return "the target does not speak HTTP (bad status line)"


def _os_line(error: OSError, host: str) -> str:
    if isinstance(error, TimeoutError):
        return "no answer in time"
    if error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return f"{host} is unreachable: {error.strerror}"
    return f"connection failed: {error.strerror or _one_line(error)}"


def _one_line(exc: BaseException) -> str:
    text = printable(" ".join(str(exc).split()))  # an exception may quote what the target sent
    return text if len(text) <= 200 else text[:197] + "..."


def _as_utf8(text: str) -> str:
    """A header as the target meant it: http.client reads the head as Latin-1, most servers write UTF-8."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


# --- the deadline ---------------------------------------------------------------------------------------


class _Deadline:
    """The deadline of one send, and the connections that send is using."""

    def __init__(self, at: float) -> None:
        self.at = at
        self._lock = threading.Lock()
        self._connections: set[_Watched] = set()
        self._expired = False
        self._finished = False

    @property
    def expired(self) -> bool:
        return self._expired

    def attach(self, conn: _Watched) -> None:
        with self._lock:
            conn.kyren_deadline = self  # the connection now serves this send, not an earlier one
            self._connections.add(conn)

    def expire(self) -> bool:
        """Shut the send's sockets down; True while the send is still running (see _Watchdog._run)."""
        with self._lock:
            if self._finished:
                return False
            self._expired = True
            # A connection returned to the pool and taken by another send belongs to that send now.
            connections = [conn for conn in self._connections if conn.kyren_deadline is self]
        for conn in connections:
            _shut(conn.sock)
        return True

    def finish(self) -> None:
        with self._lock:
            self._finished = True

    def connections(self) -> list[_Watched]:
        with self._lock:
            return list(self._connections)


def _shut(sock: socket.socket | None) -> None:
    if sock is None:
        return  # not connected yet: the watchdog looks again (see _Watchdog._run)
    # The plain-socket shutdown even for a TLS socket: it wakes the blocked reader from this thread
    # without touching the TLS object the reader is using (ssl.SSLSocket.shutdown would drop it).
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One thread that expires deadlines in order: lighter than a Timer thread per request."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def watch(self, deadline: _Deadline) -> None:
        with self._cond:
            if self._stopped:
                raise RuntimeError("the client is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kyren-deadline-watchdog", daemon=True)
                self._thread.start()
        self._push(deadline.at, deadline)

    def _push(self, at: float, deadline: _Deadline) -> None:
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
# thread that drives it: `send` sets this for the duration of one request, in its own thread only.
_sending = threading.local()


def _attach_to_current_send(conn: _Watched) -> None:
    deadline: _Deadline | None = getattr(_sending, "deadline", None)
    if deadline is not None:
        deadline.attach(conn)


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
    kyren_deadline: _Deadline | None = None
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
        progress: _Progress | None = getattr(_sending, "progress", None)
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


_Watched = _WatchedHTTPConnection | _WatchedHTTPSConnection


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
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


def read_extra_ca(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        with open(path, encoding="ascii") as pem_file:
            pem = pem_file.read()
        ssl.create_default_context(cadata=pem)  # refuses a file with no usable certificate
    except ssl.SSLError:  # before OSError, its base class
        raise ValueError(f"CA bundle {path!r} holds no PEM certificate") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"CA bundle {path!r} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise ValueError(f"CA bundle {path!r} holds no PEM certificate")
    return pem


# --- sending --------------------------------------------------------------------------------------------


class _Progress:
    """How far one send got, to say where a timeout struck."""

    def __init__(self) -> None:
        self.headers = False
        self.body_bytes = 0
        self.reused = False  # the request went out on a kept-alive connection that had served before

    def where(self) -> str:
        if not self.headers:
            return "no status line and headers"
        return f"headers received, body incomplete after {self.body_bytes} bytes"


@dataclass(frozen=True)
class _Attempt:
    """What was sent, before redaction: lives only inside `send`."""

    method: str
    url: str
    headers: dict[str, str]
    request: OutgoingRequest
    started: float
    run_started: float


@dataclass(frozen=True)
class _Raw:
    """A complete answer before redaction: lives only inside `send`."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes  # up to the cap plus the longest secret form, so a secret across the cut is still found
    truncated: bool


class Client:
    """Sends requests to one target over a keep-alive pool; thread-safe (`send` from many threads)."""

    def __init__(self, settings: ClientSettings, redactor: Redactor) -> None:
        self._settings = settings
        self._base_url = check_target_url(settings.base_url)
        self._redact = redactor
        # The adapter, not a requests.Session: Session.send reads a 3xx body to the end even with
        # allow_redirects=False (to build the next request), which would defeat the cap and the deadline.
        self._adapter = _WatchedAdapter(settings.pool_size, read_extra_ca(settings.ca_bundle))
        self._connections: weakref.WeakSet[_Watched] = weakref.WeakSet()  # every connection used, while alive
        self._watchdog = _Watchdog()
        self._user_agent = f"kyren-conformance/{__version__}"
        self._lock = threading.Lock()
        self._closing = threading.Event()  # wakes a send waiting out a Retry-After
        self.throttled = 0  # answers with status 429 (too many requests), over every send so far

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._closing.set()
        self._watchdog.stop()
        self._adapter.close()

    def drop_connections(self) -> None:
        """Close every kept-alive connection; the next send opens a fresh one.

        A server that serves one connection at a time is stuck on one of ours until it closes. Shut
        the sockets down first: closing a pooled connection may leave its socket open while a finished
        response still holds a file on it.
        """
        for conn in list(self._connections):
            _shut(conn.sock)
        self._adapter.close()

    def send(
        self,
        method: str,
        path: str,
        request: OutgoingRequest,
        run_started: float,
        *,
        fresh: Callable[[], OutgoingRequest] | None = None,
    ) -> Exchange:
        """Send one request and return what happened; never raises.

        Within the request's deadline: a `429` with a `Retry-After` the deadline leaves room for is waited
        out and the same request sent again (it was not processed); a reused keep-alive connection the
        server had closed is retried once, on a fresh connection, with `fresh()` (the same request with a
        new request id: the first may have been processed) and never without it. Both show on the Exchange.
        """
        started = time.monotonic()
        deadline = _Deadline(started + self._settings.timeout)
        first_attempt: Exchange | None = None
        throttled = 0
        try:
            self._watchdog.watch(deadline)
        except RuntimeError as exc:
            attempt = _Attempt(method, self._base_url + path, self._headers(request), request, started, run_started)
            return self._exchange(attempt, time.monotonic(), failure=describe_failure(exc, attempt.url))
        try:
            while True:
                outcome = self._attempt(method, path, request, run_started, deadline)
                if isinstance(outcome, Exchange):
                    return outcome  # the request could not be built: nothing was sent
                attempt, raw, failure, progress, error = outcome
                if (
                    error is not None
                    and fresh is not None
                    and first_attempt is None
                    and _closed_before_answering(error, progress, deadline)
                ):
                    first_attempt = self._exchange(attempt, time.monotonic(), failure=failure)
                    request = fresh()
                    continue
                if raw is not None and raw.status == 429:
                    throttled += 1
                    with self._lock:
                        self.throttled += 1
                    wait = retry_after(next((v for k, v in raw.headers if k.lower() == "retry-after"), None))
                    if wait is not None and time.monotonic() + wait < deadline.at and not self._closing.wait(wait):
                        continue
                break
        finally:
            deadline.finish()
        ended = time.monotonic()  # before redaction, which is not the target's time
        if deadline.expired or ended >= deadline.at:
            # Whatever the exception, or none: a body without a length "ends" when its socket is shut down.
            failure = f"no complete answer within {self._settings.timeout:g} s (the whole response; {progress.where()})"
            attempt = dataclasses.replace(attempt, started=started)  # the whole budget is what ran out
            return self._exchange(
                attempt, ended, failure=failure, timed_out=True, first_attempt=first_attempt, throttled=throttled
            )
        return self._exchange(
            attempt, ended, raw=raw, failure=failure, first_attempt=first_attempt, throttled=throttled
        )

    def _attempt(
        self, method: str, path: str, request: OutgoingRequest, run_started: float, deadline: _Deadline
    ) -> Exchange | tuple[_Attempt, _Raw | None, str | None, _Progress, Exception | None]:
        """One try at sending `request`: what was sent, the answer or why none came, and the exception."""
        started = time.monotonic()
        url = self._base_url + path
        headers = self._headers(request)
        try:
            prepared = requests.Request(method, url, headers=headers, data=request.body).prepare()
        except Exception as exc:  # an unusable path or header value: nothing was sent
            attempt = _Attempt(method, url, headers, request, started, run_started)
            built = f"the request could not be built: {describe_failure(exc, url)}"
            return self._exchange(attempt, time.monotonic(), failure=built)
        headers_sent = cast(dict[str, str], dict(prepared.headers))  # requests types them str | bytes; we set str
        attempt = _Attempt(method, prepared.url or url, headers_sent, request, started, run_started)
        progress = _Progress()
        try:
            _sending.deadline, _sending.progress = deadline, progress
            return attempt, self._fetch(prepared, deadline, progress), None, progress, None
        except Exception as exc:
            return attempt, None, describe_failure(exc, attempt.url), progress, exc
        finally:
            _sending.deadline = _sending.progress = None
            self._connections.update(deadline.connections())

    def _headers(self, request: OutgoingRequest) -> dict[str, str]:
        headers = {"User-Agent": self._user_agent, "Accept": "application/json", "Accept-Encoding": "gzip, deflate"}
        if request.content_type is not None:
            headers["Content-Type"] = request.content_type
        lowered = {name.lower(): name for name in headers}
        for name, value in request.extra_headers:
            headers.pop(lowered.get(name.lower(), name), None)  # an extra header replaces a default one
            headers[name] = value
        return headers

    def _fetch(self, prepared: requests.PreparedRequest, deadline: _Deadline, progress: _Progress) -> _Raw:
        # The per-read timeout is only a backstop: the watchdog ends the send at the deadline.
        remaining = max(deadline.at - time.monotonic(), 0.001)
        response = self._adapter.send(prepared, stream=True, timeout=(remaining, remaining), verify=True, proxies={})
        complete = False
        try:
            # Not when the watchdog ended the head early: http.client takes EOF as the end of the headers.
            progress.headers = not deadline.expired
            raw: HTTPResponse = response.raw
            body, truncated = self._read_body(raw, progress)
            complete = not truncated
            head = tuple((_as_utf8(name), _as_utf8(value)) for name, value in raw.headers.items())
            return _Raw(response.status_code, _as_utf8(response.reason or ""), head, body, truncated)
        finally:
            if not complete:
                # Close rather than drain: the rest of a 300 MB body is not worth reading.
                response.close()
            # A complete body has already put the connection back in the pool, for keep-alive.

    def _read_body(self, raw: HTTPResponse, progress: _Progress) -> tuple[bytes, bool]:
        cap = self._settings.max_body_bytes
        limit = cap + 1 + self._redact.longest  # one more byte tells truncation; see _Raw.body
        parts: list[bytes] = []
        kept = 0
        while kept < limit:
            # read1: what has arrived (so progress is exact), decoded, and never more than asked for.
            chunk = raw.read1(min(_CHUNK, limit - kept), decode_content=True)
            if not chunk:
                break
            parts.append(chunk)
            kept += len(chunk)
            progress.body_bytes = kept
        return b"".join(parts), kept > cap

    def _exchange(
        self,
        attempt: _Attempt,
        ended: float,
        *,
        raw: _Raw | None = None,
        failure: str | None = None,
        timed_out: bool = False,
        first_attempt: Exchange | None = None,
        throttled: int = 0,
    ) -> Exchange:
        """The one place evidence is built, and so the one place it is redacted (and made printable)."""
        redact = self._redact
        return Exchange(
            method=attempt.method,
            url=redact.url(attempt.url),
            request_headers=redact.headers(attempt.headers),
            request_body=redact.bytes(attempt.request.body),
            label=redact.text(attempt.request.label),
            started=attempt.started - attempt.run_started,
            elapsed=ended - attempt.started,
            response=self._response(raw) if raw else None,
            failure=printable(redact.text(failure)) if failure else None,
            timed_out=timed_out,
            secret_echoed=bool(raw and self._echoed(raw)),
            payload=redact.value(attempt.request.payload),
            first_attempt=first_attempt,
            throttled=throttled,
        )

    def _response(self, raw: _Raw) -> Response:
        cap = self._settings.max_body_bytes
        body = self._redact.bytes_head(raw.body, cap) if raw.truncated else self._redact.bytes(raw.body)
        # The head is kept printable (ESC written as `\\x1b`): it is quoted in the terminal, and no judgement
        # needs a control character a field value may not hold anyway (RFC 9110 5.5).
        headers = tuple((printable(name), printable(value)) for name, value in self._redact.headers(raw.headers))
        return Response(
            status=raw.status,
            reason=printable(self._redact.text(raw.reason)),
            headers=headers,
            body=body,
            truncated=raw.truncated,
        )

    def _echoed(self, raw: _Raw) -> bool:
        # Header names count too: a target may echo the token as a name (`X-tok-SECRET: 1`).
        head = "\n".join([raw.reason, *(f"{name}: {value}" for name, value in raw.headers)])
        return self._redact.found_in(head.encode("utf-8", "replace")) or self._redact.found_in(raw.body)
