"""Money-flow faults and dialects: wallet defects each flow rule (F1-F7) must catch, and conformant readings.

Kept apart from FAULTS and DIALECTS: those are judged by the per-method rules (M1-M9, S1-S9), method by
method, and these only by a flow run. MockServer and `kyren-conformance mock` take names from both.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kyren_conformance.mock.behaviour import Answer, Call, Reference, Variant, register
from kyren_conformance.mock.ledger import Entry
from kyren_conformance.mock.wallet import WalletReference

if TYPE_CHECKING:
    from kyren_conformance.flows.declaration import Operation

FLOW_FAULTS: dict[str, Variant] = {}
FLOW_DIALECTS: dict[str, Variant] = {}
RACE_WINDOW = 0.1  # seconds between reading a balance and writing it back, in `lost-update-under-race`


def _fault(name: str, description: str, *rules: str) -> Callable[[type[Reference]], type[Reference]]:
    return register(FLOW_FAULTS, name, description, rules)


def _dialect(name: str, description: str) -> Callable[[type[Reference]], type[Reference]]:
    return register(FLOW_DIALECTS, name, description, ())


@_fault("double-credit-on-retry", "a repeated credit (same transaction id, new uuid) is applied again", "F2", "F3")
class DoubleCreditOnRetry(WalletReference):
    def repeated(self, call: Call, op: Operation, first: Answer) -> Answer | None:
        return None if op.effect == "credit" else super().repeated(call, op, first)


@_fault(
    "lost-update-under-race",
    "a balance is read, then written back 100 ms later, without a lock: concurrent updates are lost",
    "F1",
)
class LostUpdateUnderRace(WalletReference):
    def guard(self) -> AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def read_balance(self, user: str, currency: str) -> Decimal:
        balance = super().read_balance(user, currency)
        time.sleep(RACE_WINDOW)  # the read-modify-write window another request's update falls into
        return balance


@_fault("float-rounding", "balances are summed and written as binary floats (1000.1 + 0.2 = 1000.3000000000001)", "F1")
class FloatRounding(WalletReference):
    def add(self, balance: Decimal, delta: Decimal) -> Decimal:
        return Decimal(repr(float(balance) + float(delta)))

    def show(self, balance: Decimal, decimals: int) -> str:
        return repr(float(balance))


@_fault("overdraw", "a debit past the balance is applied: the balance goes below zero", "F4")
class Overdraw(WalletReference):
    def refuses_overdraw(self) -> bool:
        return False


@_fault("refund-applied-twice", "a repeated refund or cancel restores the bet again", "F7")
class RefundAppliedTwice(WalletReference):
    def repeated(self, call: Call, op: Operation, first: Answer) -> Answer | None:
        return None if op.effect == "reverse" else super().repeated(call, op, first)

    def undoes(self, target: Entry) -> bool:
        return True


@_dialect("duplicate-answers-61", "a repeated transaction id gets 61 'Transaction already exists'; nothing is applied")
class DuplicateAnswers61(WalletReference):
    def repeated(self, call: Call, op: Operation, first: Answer) -> Answer | None:
        return self.already_exists(op)


@_dialect("duplicate-replays-first", "a repeated transaction id gets the first answer again; nothing is applied")
class DuplicateReplaysFirst(WalletReference):
    """The reference's own reading, named so that a run can ask for it."""
