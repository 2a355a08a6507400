"""Reading what came back: the result code of an answer, and a short quote of it for a message.

Used by the rules of one method (judgements.py), by the INFO facts (verdict.py) and by the money flows,
so that every part of the suite reads a code the same way.
"""

from __future__ import annotations

import re

from kyren_conformance.exchange import Exchange

# A code is at most 18 digits: a longer number is no code (and a 5,000-digit one would not even convert).
MAX_CODE_DIGITS = 18
_CODE = re.compile(rf"-?[0-9]{{1,{MAX_CODE_DIGITS}}}")  # ASCII digits only: str.isdigit() accepts "²" and "١٢"
_CODE_LIMIT = 10**MAX_CODE_DIGITS


def read_code(exchange: Exchange, code_field: str) -> int | None:
    """The result code as an integer (E1: an integer or a digit string), or None if there is none."""
    body = exchange.response.json if exchange.response and exchange.response.is_json else None
    if not isinstance(body, dict):
        return None
    value = body.get(code_field)
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < _CODE_LIMIT:
        return int(value)
    if isinstance(value, int) and abs(value) < _CODE_LIMIT:
        return value
    if isinstance(value, str) and _CODE.fullmatch(value):
        return int(value)
    return None


def shown(exchange: Exchange, limit: int = 160) -> str:
    """A short quote of what came back, for a finding's message."""
    if exchange.response is None:
        return f"no answer ({exchange.failure})"
    r = exchange.response
    text = r.body[:limit].decode("utf-8", "replace")
    more = "…" if len(r.body) > limit or r.truncated else ""
    media = r.header("content-type") or "no Content-Type"
    return f"HTTP {r.status} ({media}) {text!r}{more}" if text else f"HTTP {r.status} ({media}) with an empty body"
