"""The HTTP client: sends one request, enforces a deadline on the whole response, returns a redacted Exchange.

requests' timeout bounds each socket read, so a target that drips one byte at a time never trips it. Here
every send has a deadline; a watchdog thread shuts down the sockets the send is using when it passes, which
ends whatever read is blocked (deadline.py). `send` never raises: every failure becomes one human line on the
Exchange (failures.py).
"""

from __future__ import annotations

import dataclasses
import email.utils
import http.client
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from types import TracebackType
from typing import cast

import requests
from urllib3 import HTTPResponse

from kyren_conformance import __version__
from kyren_conformance.client.deadline import Deadline, Progress, Watchdog, Watched, WatchedAdapter, sending, shut
from kyren_conformance.client.failures import causes, describe_failure
from kyren_conformance.client.target import check_target_url, read_extra_ca
from kyren_conformance.exchange import Exchange, OutgoingRequest, Response, printable
from kyren_conformance.redaction import Redactor

__all__ = ["Client", "ClientSettings", "retry_after"]

_CHUNK = 64 * 1024


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


def _closed_before_answering(exc: BaseException, progress: Progress, deadline: Deadline) -> bool:
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
        and any(isinstance(c, lost) for c in causes(exc))
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


def _as_utf8(text: str) -> str:
    """A header as the target meant it: http.client reads the head as Latin-1, most servers write UTF-8."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


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
        self._adapter = WatchedAdapter(settings.pool_size, read_extra_ca(settings.ca_bundle))
        self._connections: weakref.WeakSet[Watched] = weakref.WeakSet()  # every connection used, while alive
        self._watchdog = Watchdog()
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
            shut(conn.sock)
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
        deadline = Deadline(started + self._settings.timeout)
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
        self, method: str, path: str, request: OutgoingRequest, run_started: float, deadline: Deadline
    ) -> Exchange | tuple[_Attempt, _Raw | None, str | None, Progress, Exception | None]:
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
        progress = Progress()
        try:
            with sending(deadline, progress):
                return attempt, self._fetch(prepared, deadline, progress), None, progress, None
        except Exception as exc:
            return attempt, None, describe_failure(exc, attempt.url), progress, exc
        finally:
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

    def _fetch(self, prepared: requests.PreparedRequest, deadline: Deadline, progress: Progress) -> _Raw:
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

    def _read_body(self, raw: HTTPResponse, progress: Progress) -> tuple[bytes, bool]:
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
