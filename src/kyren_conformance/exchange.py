"""What was sent and what came back: the evidence every judgement works from.

Exchanges are built by the client *after* redaction, so nothing here holds a secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Headers = tuple[tuple[str, str], ...]

# Control characters (C0, DEL, C1) and the bidirectional overrides a terminal or an editor acts on.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str, keep: str = "") -> str:
    """`text` with every control character written out as an escape (ESC → `\\x1b`), except those in `keep`.

    What the target sends is quoted in failure messages and the terminal summary: a raw ESC there would let
    the target move the cursor, recolour or hide lines, or retitle the window of whoever reads the verdict.
    """

    def escape(match: re.Match[str]) -> str:
        char = match.group(0)
        if char in keep:
            return char
        code = ord(char)
        return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"

    return _CONTROLS.sub(escape, text)


class BigJsonInt(int):
    """A JSON integer too long for Python to convert from text (more than `sys.get_int_max_str_digits()` digits).

    Still an integer for a schema (`"type": "integer"` accepts it), with a value beyond any bound a contract
    may set (±10**4000: every comparison with a documented value comes out right); it shows its own digits.
    """

    digits: str

    def __new__(cls, digits: str) -> BigJsonInt:
        value = super().__new__(cls, -(10**4000) if digits.startswith("-") else 10**4000)
        value.digits = digits
        return value

    def __repr__(self) -> str:
        body = self.digits.lstrip("-")
        return f"{self.digits[:1] if self.digits.startswith('-') else ''}{body[:12]}…({len(body)} digits)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)


_MAX_INT_DIGITS = 4000  # below Python's default limit (4300), which a sys setting may lower further


def _parse_int(digits: str) -> int:
    return BigJsonInt(digits) if len(digits) > _MAX_INT_DIGITS else int(digits)


class _NotJson(ValueError):
    """Text Python's json module reads but RFC 8259 does not: NaN, Infinity, a key given twice."""


def _no_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON value (RFC 8259 has no NaN or Infinity)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _NotJson(f"the key {key!r} appears twice in one object (RFC 8259: names should be unique)")
        obj[key] = value
    return obj


_strict_json: Callable[[str], Any] = json.JSONDecoder(
    parse_int=_parse_int, parse_constant=_no_constant, object_pairs_hook=_unique_keys
).decode


@dataclass(frozen=True, slots=True)
class _Parsed:
    value: Any = None
    problem: str | None = None  # why the body is not JSON; None when it is


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
    setup: bool = False  # a step that prepares the judged one (a valid request whose uuid is then reused)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    reason: str
    headers: Headers
    body: bytes  # at most the configured cap
    truncated: bool  # the body was longer than the cap and was cut
    # The body as read, once: every rule reads the code, and a run keeps 10,000 answers. A slot of its own, not a
    # cached_property: that would give each answer a __dict__ as well.
    _read: _Parsed | None = field(default=None, init=False, repr=False, compare=False)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    @property
    def media_type(self) -> str | None:
        value = self.header("content-type")
        return value.split(";", 1)[0].strip().lower() if value else None

    @property
    def _parsed(self) -> _Parsed:
        read = self._read
        if read is None:  # two threads may both read it: the same result either way
            read = self._parse()
            object.__setattr__(self, "_read", read)
        return read

    def _parse(self) -> _Parsed:
        if self.truncated:
            return _Parsed(problem="the body was cut at the cap")
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _Parsed(problem=f"not UTF-8 (byte {exc.start})")
        try:
            return _Parsed(_strict_json(text))
        except json.JSONDecodeError as exc:
            return _Parsed(problem=f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
        except _NotJson as exc:
            return _Parsed(problem=str(exc))
        except RecursionError:
            return _Parsed(problem="nested too deep to read")
        except ValueError as exc:  # any other limit of the decoder: never a traceback
            return _Parsed(problem=f"unreadable: {exc}")

    @property
    def is_json(self) -> bool:
        """The body is one JSON text as RFC 8259 reads it (strict: no NaN, no Infinity, no key twice)."""
        return self._parsed.problem is None

    @property
    def json(self) -> Any:
        """The parsed body; None when it is not JSON (see `json_problem`)."""
        return self._parsed.value

    @property
    def json_problem(self) -> str | None:
        """Why the body is not JSON, in a few words (quoted by the rule that needs JSON); None when it is."""
        return self._parsed.problem


@dataclass(frozen=True, slots=True)  # slots: a run keeps 10,000 of them
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
    setup: bool = False  # set by the runner: this step only prepares the judged one (its case's rule skips it)
    # The try that met a reused keep-alive connection closed by the target, when this is the retry (sent
    # with a fresh request id, on a fresh connection): its own Exchange, with its failure.
    first_attempt: Exchange | None = field(default=None, compare=False)
    throttled: int = 0  # answers 429 (too many requests) before this outcome; waited out when Retry-After allowed

    @property
    def status(self) -> int | None:
        return self.response.status if self.response else None
