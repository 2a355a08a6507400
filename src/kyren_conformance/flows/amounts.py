"""Money as `decimal.Decimal`, never float: reading an answer's amounts, writing the ones we send.

A balance is read from the answer's own text (`parse_float=Decimal`), so `1000.1` stays 1000.1 and a
float-rounded `1000.0999999999999` stays visibly wrong.
"""

from __future__ import annotations

import json
import re
from decimal import Context, Decimal, InvalidOperation
from typing import Any

from kyren_conformance.flows.declaration import decimal_places

_DECIMAL_TEXT = re.compile(r"-?[0-9]{1,40}(\.[0-9]{1,40})?")
_MAX_DIGITS = 80  # no wallet's balance needs more; beyond it a value is unreadable, not a big number
_MAX_EXPONENT = 40


def parse_answer(body: bytes) -> Any:
    """The answer's JSON with every fraction as a Decimal; None when it is not UTF-8 JSON."""
    try:
        return json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=_refuse)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def as_decimal(value: Any) -> Decimal | None:
    """A JSON value read as an amount: a decimal string ("1000.50") or a JSON number; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        return Decimal(text) if _DECIMAL_TEXT.fullmatch(text) else None
    if isinstance(value, int):
        return Decimal(value) if len(str(abs(value))) <= _MAX_DIGITS else None
    if isinstance(value, Decimal) and value.is_finite():
        sign, digits, exponent = value.as_tuple()
        if len(digits) <= _MAX_DIGITS and isinstance(exponent, int) and abs(exponent) <= _MAX_EXPONENT:
            return value
    return None


def _context(value: Decimal) -> Context:
    """Enough precision for any exact operation on amounts we accept (the default 28 digits would round)."""
    return Context(prec=len(value.as_tuple().digits) + 2 * _MAX_EXPONENT + 4)


def fits(value: Decimal, decimals: int) -> bool:
    """Whether the value is a number in the currency's decimals ("1000.10" and "1000.1" fit 2; "0.001" does not)."""
    return decimal_places(value.normalize(_context(value))) <= decimals


def quantized(value: Decimal, decimals: int) -> Decimal:
    """The value rounded to the currency's decimals (half-even), to compare a balance that does not fit them."""
    try:
        return value.quantize(Decimal(1).scaleb(-decimals), context=_context(value))
    except InvalidOperation:  # beyond any precision we allow: compare as is
        return value


def text(value: Decimal, decimals: int) -> str:
    """An amount as we send it: exactly the currency's decimals ("1.00" for USD, "1" for JPY)."""
    return str(quantized(value, decimals))


def over_precise(decimals: int) -> str:
    """One unit of the decimal after the currency's last: "0.001" for USD, "0.1" for JPY."""
    return str(Decimal(1).scaleb(-(decimals + 1)))


def shown(value: Decimal | None) -> str:
    return "unreadable" if value is None else str(value)
