"""Why no complete answer came, as one human line: the wording of every failure a send can meet.

requests and urllib3 wrap the real cause several levels deep; the line names that cause (a certificate, a
refused connection, a malformed head) in words a tester acts on, and never quotes the target unescaped.
"""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3 import exceptions as u3

from kyren_conformance.exchange import printable

__all__ = ["causes", "describe_failure"]

# OpenSSL's reasons when a TLS client gets a plain-HTTP answer (the wording changed across versions).
_PLAIN_HTTP_REASONS = {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "UNKNOWN_PROTOCOL"}
_X509_HOSTNAME_MISMATCH, _X509_IP_MISMATCH, _X509_EXPIRED = 62, 64, 10


def describe_failure(exc: BaseException, url: str) -> str:
    """One human line for why no complete answer came, from anywhere in the exception's chain."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    chain = causes(exc)

    def find(kind: type[BaseException] | tuple[type[BaseException], ...]) -> Any:
        return next((cause for cause in chain if isinstance(cause, kind)), None)

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


def causes(exc: BaseException) -> list[BaseException]:
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
