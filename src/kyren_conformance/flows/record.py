"""What a flow did: each step's requests and answers (redacted Exchanges), the balances seen, the one expected.

Plain data: the engine fills it, the judgements and the report read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from kyren_conformance.exchange import Exchange
from kyren_conformance.flows.declaration import FlowDeclaration

# How a step's answers are judged:
#   apply   it must succeed and move the balance to `expected`
#   each    every request (each its own transaction, sent at one instant) must succeed; the balance moves by all
#   repeat  a repeat of an applied request: the first answer again (same balance) or an allowed code; no change
#   refuse  it must be refused, with no change
#   settle  any answer; the balance must end at `expected`
Outcome = Literal["apply", "each", "repeat", "refuse", "settle"]


@dataclass(frozen=True)
class Answer:
    """One request and what came back, read for money."""

    exchange: Exchange
    code: int | None  # the answer's result code; None when it has none we can read
    success: bool  # the code is the contract's success code
    balance: Decimal | None = None  # the balance the answer gives, when it gives one that reads as a number
    balance_text: str | None = None  # that field as the target wrote it (None: absent)
    retransmission: int = 0  # 0: the first send; n: the n-th retransmission of the same transaction

    @property
    def answered(self) -> bool:
        return self.exchange.response is not None

    def describe(self) -> str:
        """`error 15`, `error 0, balance "1001.00"`, `HTTP 502 with no code`, `no answer: timed out`."""
        response = self.exchange.response
        if response is None:
            return f"no answer: {self.exchange.failure or 'not sent'}"
        if self.code is None:
            return f"HTTP {response.status} with no readable code"
        text = f"code {self.code}"
        return text + (f", balance {self.balance_text!r}" if self.balance_text is not None else "")


@dataclass(frozen=True)
class Step:
    rule: str  # the rule that judges it (F1..F7), or "setup", "restore" for steps no rule judges
    label: str  # "deposit 1.00 (transaction 8812…)"
    outcome: Outcome | None  # None: not judged
    operation: str | None = None  # the declaration's operation, None for setup
    method: str | None = None
    amount: str | None = None  # the amount text sent
    transaction: str | None = None  # the transaction id (or reference) sent; None for several at once
    answers: tuple[Answer, ...] = ()  # every request of the step: retransmissions and race copies included
    before: Decimal | None = None  # the balance read before the step
    expected: Decimal | None = None  # the balance the step must leave
    after: Answer | None = None  # the balance read after the step
    first_balance: Decimal | None = None  # repeat: the balance the first answer gave
    allowed_codes: tuple[int, ...] = ()  # repeat: codes accepted instead of the first answer again
    named_codes: tuple[int, ...] = ()  # refuse: the codes the page names for this refusal (S10)
    history: Answer | None = None  # F6: the transfer history read after the step
    history_amount: Decimal | None = None  # F6: the signed amount the history must show
    note: str = ""  # what the engine did that a reader should know (a cancel after no answer)

    @property
    def copies(self) -> tuple[tuple[Answer, ...], ...]:
        """The answers request by request: each first try with the retransmissions that followed it."""
        grouped: list[list[Answer]] = []
        for answer in self.answers:
            if answer.retransmission == 0 or not grouped:
                grouped.append([])
            grouped[-1].append(answer)
        return tuple(tuple(tries) for tries in grouped)

    @property
    def balance_after(self) -> Decimal | None:
        return None if self.after is None else self.after.balance

    @property
    def exchanges(self) -> tuple[Exchange, ...]:
        """Every exchange of the step in the order sent: its requests, the balance read, the history read."""
        reads = tuple(a.exchange for a in (self.after, self.history) if a is not None)
        return tuple(a.exchange for a in self.answers) + reads


@dataclass(frozen=True)
class FlowRecord:
    declaration: FlowDeclaration
    user: str
    currency: str
    decimals: int  # the currency's
    amount: str  # the small amount moved, as sent
    setup: tuple[Step, ...]  # the setup methods' steps, sent first
    start: Answer | None  # the first balance read, after the setup
    steps: tuple[Step, ...]
    problem: str | None = None  # why the flow stopped before its end; None when it ran to the end

    @property
    def flow(self) -> str:
        return self.declaration.flow

    @property
    def exchanges(self) -> tuple[Exchange, ...]:
        first = tuple(e for step in self.setup for e in step.exchanges)
        first += (self.start.exchange,) if self.start is not None else ()
        return first + tuple(e for step in self.steps for e in step.exchanges)
