"""What was sent and what came back: the evidence every judgement works from.

Exchanges are built by the client *after* redaction, so nothing here holds a secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

Headers = tuple[tuple[str, str], ...]

_NOT_JSON = object()


@dataclass(frozen=True)
class OutgoingRequest:
    """One request to send: raw body bytes plus the headers that describe it.

    `content_type=None` sends no Content-Type header at all (a case of its own).
    """

    body: bytes
    content_type: str | None
    label: str
    payload: Any = None  # the JSON value behind `body`, when there is one (for evidence)
    extra_headers: Headers = ()


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: Headers
    body: bytes  # at most the configured cap
    truncated: bool  # the body was longer than the cap and was cut

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    @property
    def media_type(self) -> str | None:
        value = self.header("content-type")
        return value.split(";", 1)[0].strip().lower() if value else None

    @cached_property
    def _parsed(self) -> Any:
        if self.truncated:
            return _NOT_JSON
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return _NOT_JSON

    @property
    def is_json(self) -> bool:
        return self._parsed is not _NOT_JSON

    @property
    def json(self) -> Any:
        """The parsed body; only meaningful when `is_json`."""
        return None if self._parsed is _NOT_JSON else self._parsed


@dataclass(frozen=True)
class Exchange:
    """One request and its outcome, redacted.

    `response is None` means no complete HTTP answer: `failure` says why (timed out, refused, ...).
    """

    method: str
    url: str
    request_headers: Headers
    request_body: bytes
    label: str
    started: float  # seconds since the run began
    elapsed: float  # seconds until the whole response was read, or until the failure
    response: Response | None
    failure: str | None = None
    timed_out: bool = False
    secret_echoed: bool = False  # the response contained a secret (already replaced by ***)
    not_sent: bool = False  # the circuit breaker stopped the run before this request
    payload: Any = field(default=None, compare=False)  # redacted JSON value sent, when there was one
    case_id: str = ""  # set by the runner: which case sent it
    defect: str = ""  # set by the runner: the case's "same kind of defect" key (S2)

    @property
    def status(self) -> int | None:
        return self.response.status if self.response else None
