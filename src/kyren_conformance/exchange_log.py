"""`exchanges.jsonl`, written as the run goes: every exchange as one JSON line, the moment it is known.

A run of 10,000 requests does not keep every request and answer in memory until the end to write them then:
each line is written (one write, unbuffered) as its case ends, and a run that crashes or is interrupted
leaves a file of whole lines, one per exchange it got. The exchanges are redacted already (the client builds
them so); the curl commands read the secret from its environment variable.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from kyren_conformance.evidence import curl_command
from kyren_conformance.exchange import Exchange

BODY_KEPT = 4096  # bytes of each body kept in the evidence


def _text(data: bytes) -> str:
    text = data[:BODY_KEPT].decode("utf-8", "backslashreplace")
    return text + (f"… ({len(data)} bytes)" if len(data) > BODY_KEPT else "")


def exchange_data(e: Exchange, secret_env: str) -> dict[str, Any]:
    """One exchange as evidence: what was sent, what came back (bodies capped), and a curl command."""
    out: dict[str, Any] = {
        "case": e.case_id,
        "label": e.label,
        "request": {
            "method": e.method,
            "url": e.url,
            "headers": [list(h) for h in e.request_headers],
            "body": _text(e.request_body),
        },
        "elapsed_ms": round(e.elapsed * 1000, 2),
        "failure": e.failure,
        "response": None,
        "curl": None if e.not_sent else curl_command(e, secret_env),
    }
    if e.response is not None:
        r = e.response
        out["response"] = {
            "status": r.status,
            "headers": [list(h) for h in r.headers],
            "body": _text(r.body),
            "truncated": r.truncated,
        }
    return out


class ExchangeLog:
    """The run's exchanges.jsonl, or nothing when the run writes no results (`path` None).

    `open()` starts the file (a previous run's is replaced at once, not at the end); `write()` adds a line;
    `close()` ends it, and makes an empty one if nothing was ever written (a run that sent nothing says so).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.lines = 0
        self._file: IO[bytes] | None = None
        self._closed = False

    def open(self) -> None:
        if self.path is None or self._file is not None or self._closed:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("wb", buffering=0)  # unbuffered: each line is one write, on disk as it goes

    def write(self, method: str, exchange: Exchange, secret_env: str, *, superseded: bool = False) -> None:
        self.open()
        if self._file is None:
            return
        data = {"method": method, **exchange_data(exchange, secret_env)}
        if superseded:  # timed out under concurrency, then answered when resent alone
            data["superseded_by_resend"] = True
        line = memoryview((json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8"))
        while line:  # an unbuffered write may take part of a long line at a time
            line = line[self._file.write(line) or 0 :]
        self.lines += 1

    def close(self) -> None:
        """End the file (idempotent). Its lines are whole: each went out in one write."""
        if self._closed:
            return
        self.open()
        self._closed = True
        if self._file is not None:
            with contextlib.suppress(OSError):  # a file that cannot sync (a pipe) still has every line
                os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    def __enter__(self) -> ExchangeLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
