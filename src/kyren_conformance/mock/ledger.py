"""A wallet's books for the mock: Decimal balances per (user, currency), each transaction's first answer.

Amounts are `decimal.Decimal` from the request's text, never floats. Callers hold `Ledger.lock` around a whole
read-check-write (the `lost-update-under-race` fault is the one that does not).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

START_BALANCE = Decimal("1000.00")  # any user's balance before a first transaction: a withdrawal can succeed
# Amounts at or above this are refused like any invalid amount, so that balances stay exact in 60 digits.
AMOUNT_LIMIT = Decimal(10) ** 20
_PLAIN_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")  # "1000", "1.00", "-5"; not "1e3", " 1", "+1", "NaN"


@dataclass
class Entry:
    """One applied transaction: what it moved and the balance it left."""

    operation: str  # the flow's operation name ("deposit", "bet", ...)
    transaction: str
    user: str
    currency: str
    delta: Decimal  # signed: + credited, - debited
    balance: Decimal  # after the transaction
    round: str | None = None
    reversed: bool = False


class Ledger:
    """One flow's wallet. One lock: every read-check-write of a balance is atomic under it."""

    def __init__(self, start: Decimal = START_BALANCE) -> None:
        self.lock = threading.Lock()
        self.start = start
        self._balances: dict[tuple[str, str], Decimal] = {}
        self._answers: dict[tuple[str, str], Any] = {}  # (operation, transaction id) -> the first answer
        self._entries: dict[tuple[str, str], Entry] = {}
        self._last: dict[str, Entry] = {}  # user -> the latest applied transaction, any currency

    def balance(self, user: str, currency: str) -> Decimal:
        return self._balances.get((user, currency), self.start)

    def set_balance(self, user: str, currency: str, value: Decimal) -> None:
        self._balances[(user, currency)] = value

    def first_answer(self, operation: str, transaction: str) -> Any:
        return self._answers.get((operation, transaction))

    def keep_answer(self, operation: str, transaction: str, answer: Any) -> None:
        self._answers.setdefault((operation, transaction), answer)  # the first one stays

    def record(self, entry: Entry) -> None:
        self._entries.setdefault((entry.operation, entry.transaction), entry)
        self._last[entry.user] = entry

    def find(self, operation: str, user: str, transaction: str | None, round_id: str | None) -> Entry | None:
        """The transaction of `operation` a reverse names: by its transaction id, else the user's latest in a round."""
        if transaction is not None:
            entry = self._entries.get((operation, transaction))
            if entry is not None and entry.user == user:
                return entry
        if round_id is None:
            return None
        in_round = [e for e in self._entries.values() if (e.operation, e.user, e.round) == (operation, user, round_id)]
        return in_round[-1] if in_round else None

    def last(self, user: str) -> Entry | None:
        return self._last.get(user)


def exact_number(body: bytes, name: str) -> Decimal | None:
    """A JSON number field as written in the body ("0.10" stays 0.10, not the float 0.1000000000000000055...)."""
    try:
        obj = json.loads(body.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    value = obj.get(name) if isinstance(obj, dict) else None
    return value if isinstance(value, Decimal) else None


def parse_amount(value: Any, decimals: int, exact: Decimal | None = None) -> Decimal | None:
    """The amount as a Decimal, or None when it is no valid amount: not a decimal, <= 0, over-precise, too large.

    A string must be a plain decimal; a JSON number is read from `exact` (its text in the body) when given.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not _PLAIN_DECIMAL.match(value):
            return None
        amount = Decimal(value)
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = exact if exact is not None else Decimal(repr(value))
    else:
        return None
    if not amount.is_finite() or amount <= 0 or amount >= AMOUNT_LIMIT:
        return None
    try:
        quantized = amount.quantize(_unit(decimals))
    except InvalidOperation:
        return None
    return amount if quantized == amount else None  # "1.000" is 1.00: over-precise only if the value is


def exact_sum(balance: Decimal, delta: Decimal) -> Decimal:
    """Exact decimal addition (the default context rounds past 28 digits)."""
    with localcontext() as context:
        context.prec = 60
        return balance + delta


def render(value: Decimal, decimals: int) -> str:
    """A balance or amount as the documents write it: a string in the currency's decimals ("1000.00")."""
    with localcontext() as context:
        context.prec = 60
        return format(value.quantize(_unit(decimals)), "f")


def _unit(decimals: int) -> Decimal:
    return Decimal(1).scaleb(-decimals)
