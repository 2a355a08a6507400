"""Run a money flow against the target: each step sent, the balance read after it, the balance it must leave.

The steps follow the declaration's direction: the operator calling Kyren's Transfer Wallet (the suite plays
the operator), or Kyren calling the operator's Seamless Wallet (the suite plays Kyren). Only the declared
small amount is moved on the configured test user, and what the flow adds it takes back; a step that left
the balance wrong is put right by a restoring step (recorded, never judged), so one defect does not run on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from kyren_conformance.client import Client
from kyren_conformance.contract import Contract
from kyren_conformance.flows.amounts import fits, over_precise, text
from kyren_conformance.flows.declaration import FlowDeclaration, Operation
from kyren_conformance.flows.record import Answer, FlowRecord, Outcome, Step
from kyren_conformance.flows.wire import Progress, Wire, new_id

__all__ = ["run_flow", "staging_note"]


def staging_note(declaration: FlowDeclaration) -> str:
    """What a flow does to the test user's money, for the run identity (a flow against a real target)."""
    d = declaration
    n = d.race_requests
    return (
        f"flow {d.flow}: moves {d.amount} at a time on the configured test user ({n} at one instant in a burst), "
        "and takes back what it adds; it also sends one debit of the balance plus that amount, which must be "
        "refused (a wallet that applies it is put back with one credit of the difference)"
    )


class _Stop(Exception):
    """The flow cannot go on (no test user, the balance unreadable); the message says why."""


def run_flow(
    declaration: FlowDeclaration,
    contracts: Mapping[str, Contract],
    client: Client,
    values: Mapping[str, Mapping[str, Any]],
    progress: Progress | None = None,
    *,
    run_started: float | None = None,
) -> FlowRecord:
    """Run one flow. `contracts` and `values` are keyed by method (contract file stem): the run's contracts and
    each method's configured values (the mock's credentials against the mock). Never raises for what the target
    does: a flow that could not go on says why in `FlowRecord.problem`."""
    started = time.monotonic() if run_started is None else run_started
    return _FlowRun(declaration, Wire(declaration, contracts, client, values, started), progress).run()


class _FlowRun:
    def __init__(self, declaration: FlowDeclaration, wire: Wire, progress: Progress | None) -> None:
        self.d = declaration
        self.wire = wire
        self.progress = progress or (lambda label: None)
        self.setup: list[Step] = []
        self.steps: list[Step] = []
        self.start: Answer | None = None
        self.balance: Decimal | None = None  # the last balance read
        self.net = Decimal(0)  # what the flow's applied steps should have moved, in all
        self.decimals = declaration.default_decimals
        self.amount = declaration.amount
        self.amount_text = str(declaration.amount)

    def run(self) -> FlowRecord:
        problem: str | None = None
        try:
            self._prepare()
            for method in self.d.setup:
                answer = self.wire.send_setup(method)
                self.setup.append(Step("setup", f"setup: {method}", None, method=method, answers=(answer,)))
                self.progress(f"setup: {method}")
            self.start = self.wire.read_balance("the balance before the flow")
            if self.start.balance is None:
                raise _Stop(f"the balance before the flow could not be read: {self.start.describe()}")
            self.balance = self.start.balance
            if self.d.direction == "operator-calls-kyren":
                _transfer(self)
            else:
                _seamless(self)
        except _Stop as stop:
            problem = str(stop)
        return FlowRecord(
            self.d,
            str(self.wire.user),
            str(self.wire.currency),
            self.decimals,
            self.amount_text,
            tuple(self.setup),
            self.start,
            tuple(self.steps),
            problem,
        )

    def _prepare(self) -> None:
        user, currency = self.wire.user, self.wire.currency
        if not isinstance(user, str) or not user:
            raise _Stop(f"no test user: no method of the flow has a value for {self.d.user_field}")
        if not isinstance(currency, str) or not currency:
            raise _Stop(f"no currency: no method of the flow has a value for {self.d.currency_field}")
        self.decimals = self.d.decimals(currency)
        if not fits(self.amount, self.decimals):
            raise _Stop(f"the flow's amount {self.amount} has more decimals than {currency} ({self.decimals})")
        self.amount_text = text(self.amount, self.decimals)

    # --- one step ------------------------------------------------------------------------------------------

    def fields(
        self, op: Operation, amount: str | None = None, transaction: str | None = None, round_id: str | None = None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if op.amount_field is not None and amount is not None:
            out[op.amount_field] = self.wire.amount_value(op.method, op.amount_field, amount)
        if op.transaction_field is not None and transaction is not None:
            out[op.transaction_field] = transaction
        if op.round_field is not None and round_id is not None:
            out[op.round_field] = round_id
        return out

    def step(
        self,
        rule: str,
        outcome: Outcome,
        op: Operation,
        label: str,
        fields: dict[str, Any],
        *,
        delta: Decimal = Decimal(0),
        base: Decimal | None = None,
        send: Callable[[], tuple[Answer, ...]] | None = None,
        history: Decimal | None = None,
        **extra: Any,
    ) -> Step:
        """Send, read the balance, record; `expected` is `base` (the balance before, by default) plus `delta`."""
        before = self.balance
        start = before if base is None else base
        expected = None if start is None else start + delta
        answers = send() if send is not None else self.wire.send_operation(op, fields, label)
        after = self.wire.read_balance(f"the balance after: {label}")
        read_history = self.wire.read_history(f"the transfer history after: {label}") if history is not None else None
        amount = fields.get(op.amount_field) if op.amount_field else None
        transaction = fields.get(op.transaction_field) if op.transaction_field and outcome != "each" else None
        step = Step(
            rule, label, outcome, op.name, op.method, None if amount is None else str(amount),
            None if transaction is None else str(transaction), answers, before, expected, after,
            history=read_history, history_amount=history, **extra,
        )  # fmt: skip
        self.steps.append(step)
        self.progress(label)
        if after.balance is None:
            raise _Stop(f"the balance could not be read after {label!r}: {after.describe()}")
        self.balance = after.balance
        if outcome == "apply" and expected is not None and before is not None:
            self.net += expected - before
        cancelled = self._after_no_answer(op, step, fields, start)
        if not cancelled and expected is not None and after.balance != expected:
            self._restore(expected, label)
        return step

    def _after_no_answer(self, op: Operation, step: Step, fields: dict[str, Any], base: Decimal | None) -> bool:
        """A bet that got no good answer after its retransmissions is cancelled, as Bet.md line 5 says; the
        cancel's step then owns the balance (it must end where it was before the bet)."""
        if op.on_no_answer is None or step.outcome == "each" or not step.answers:
            return False  # a burst's copies are judged as one step: no cancel per copy
        if not _no_good_answer(self.wire, step.answers[-1]):
            return False
        cancel = self.d.operations[op.on_no_answer]
        moved: dict[str, Any] = {}
        if cancel.transaction_field and op.transaction_field:
            moved[cancel.transaction_field] = fields.get(op.transaction_field)
        if cancel.round_field and op.round_field and op.round_field in fields:
            moved[cancel.round_field] = fields[op.round_field]
        tries = len(step.answers) - 1
        self.step(
            "F7", "settle", cancel, f"{cancel.name} of {op.name} {_ids(cancel, *_sent_ids(cancel, moved))}, which got "
            f"no good answer after {tries} retransmissions", moved, base=base,
            note=f"sent because {op.name} got no good answer (Kyren cancels it)",
        )  # fmt: skip
        return True

    def _restore(self, expected: Decimal, label: str) -> None:
        """Put the balance back where the flow expects it, with one credit or debit of the difference (not judged).
        Bounded: a difference beyond the balance plus ten of the flow's amounts is a reading, not money, to trust."""
        if self.balance is None:
            return
        gap = expected - self.balance
        bound = abs(expected) + 10 * self.amount
        if gap == 0 or not fits(abs(gap), self.decimals) or abs(gap) > bound:
            return
        op = self.d.first("credit" if gap > 0 else "debit")
        if op is None or op.amount_field is None:
            return
        amount = text(abs(gap), self.decimals)
        transaction = new_id()
        fields = self.fields(op, amount, transaction, new_id())
        title = f"restore: {op.name} {amount} {_ids(op, transaction)} after {label!r}"
        answers = self.wire.send_operation(op, fields, title)
        after = self.wire.read_balance(f"the balance after: {title}")
        self.steps.append(
            Step("restore", title, None, op.name, op.method, amount, transaction, answers,
                 self.balance, expected, after, note="puts the balance back; not judged")
        )  # fmt: skip
        self.progress(title)
        if after.balance is None:
            raise _Stop(f"the balance could not be read after {title!r}: {after.describe()}")
        self.balance = after.balance

    def bad_amounts(self) -> list[str]:
        """Zero, the amount negated, one decimal more than the currency has, and text that is no number."""
        return ["0", f"-{self.amount_text}", over_precise(self.decimals), "abc"]

    def first_balance(self, step: Step) -> Decimal | None:
        return next((a.balance for a in reversed(step.answers) if a.success), None)


def _no_good_answer(wire: Wire, answer: Answer) -> bool:
    return answer.code is None or (wire.d.retry is not None and answer.code in wire.d.retry.retry_codes)


def _signed(op: Operation, amount: Decimal) -> Decimal:
    return amount if op.effect == "credit" else -amount


# --- the two directions --------------------------------------------------------------------------------------


def _transfer(run: _FlowRun) -> None:
    """The operator's side: deposit, the same deposit again, N copies of one deposit at once, N deposits and N
    withdrawals at once, fractions of the amount, a withdrawal past the balance, amounts that are no amount, then
    withdrawals of what the flow deposited."""
    d, a, money = run.d, run.amount, run.amount_text
    credit, debit = d.first("credit"), d.first("debit")
    assert credit is not None and debit is not None  # the declaration's check
    t1 = new_id()
    fields = run.fields(credit, money, t1)
    first = run.step("F1", "apply", credit, f"{credit.name} {money} {_ids(credit, t1)}", fields, delta=a, history=a)
    run.step(
        "F2", "repeat", credit, f"the same {credit.name} again {_ids(credit, t1)}", fields,
        history=a, first_balance=run.first_balance(first), allowed_codes=d.codes.already_exists,
    )  # fmt: skip
    _race(run, credit)
    _burst(run, credit)
    _burst(run, debit)
    _fractions(run, [(credit, 1), (credit, 2), (debit, 3)])
    _past_the_balance(run, debit)
    _bad_amounts(run)
    while run.net >= a:  # take back what the flow added: net zero
        t = new_id()
        run.step("F1", "apply", debit, f"{debit.name} {money} {_ids(debit, t)}", run.fields(debit, money, t),
                 delta=-a, history=-a)  # fmt: skip


def _race(run: _FlowRun, op: Operation) -> str | None:
    """N identical requests (one transaction, each its own request id) at one instant: they apply once (F3).
    Sent when the declaration gives F3 a clause. Returns the round it used."""
    if "F3" not in run.d.clauses:
        return None
    transaction, round_id = new_id(), new_id()
    fields = run.fields(op, run.amount_text, transaction, round_id)
    copies = [fields] * run.d.race_requests
    label = f"{len(copies)} identical {op.name}s of {run.amount_text} at one instant {_ids(op, transaction, round_id)}"
    signed = _signed(op, run.amount)
    run.step(
        "F3", "apply", op, label, fields, delta=signed, history=signed if run.d.history is not None else None,
        send=lambda: run.wire.race(op, copies, label), allowed_codes=run.d.codes.already_exists,
    )  # fmt: skip
    return round_id


def _ids(op: Operation, transaction: str | None = None, round_id: str | None = None) -> str:
    """`(transactionId 1234)`, `(reference 99, roundId 7)`: the ids a step sent, by the names the page gives them."""
    parts = [f"{op.transaction_field} {transaction}" if op.transaction_field and transaction else ""]
    parts.append(f"{op.round_field} {round_id}" if op.round_field and round_id else "")
    shown = ", ".join(p for p in parts if p)
    return f"({shown})" if shown else ""


def _burst(run: _FlowRun, op: Operation, rounds: list[str] | None = None) -> list[str]:
    """N requests of the amount, each its own transaction (and round), at one instant: the balance moves by N
    amounts. A wallet that reads, adds and writes back without a lock loses some (F1). Returns the rounds."""
    n = run.d.race_requests
    rounds = rounds or [new_id() for _ in range(n)]
    copies = [run.fields(op, run.amount_text, new_id(), round_id) for round_id in rounds]
    label = f"{n} {op.name}s of {run.amount_text} at one instant, each its own {op.transaction_field}"
    run.step("F1", "each", op, label, copies[0], delta=n * _signed(op, run.amount),
             send=lambda: run.wire.race(op, copies, label))  # fmt: skip
    return rounds


def _fractions(run: _FlowRun, moves: list[tuple[Operation, int]]) -> None:
    """Tenths of the amount (0.10 and 0.20 of 1.00, then 0.30 back): a wallet summing binary floats shows
    1000.3000000000001. In one round, for a wallet that has them. Skipped for a currency without decimals."""
    tenth = run.amount / 10
    if run.decimals == 0 or not fits(tenth, run.decimals):
        return
    round_id = new_id()
    for op, tenths in moves:
        amount = text(tenth * tenths, run.decimals)
        t = new_id()
        fields = run.fields(op, amount, t, round_id)
        history = _signed(op, tenth * tenths) if run.d.history is not None else None
        run.step("F1", "apply", op, f"{op.name} {amount} {_ids(op, t, round_id)}", fields,
                 delta=_signed(op, tenth * tenths), history=history)  # fmt: skip


def _past_the_balance(run: _FlowRun, debit: Operation) -> None:
    over = text((run.balance or Decimal(0)) + run.amount, run.decimals)
    t = new_id()
    round_id = new_id()
    run.step(
        "F4", "refuse", debit, f"{debit.name} {over}, the balance plus {run.amount_text} {_ids(debit, t, round_id)}",
        run.fields(debit, over, t, round_id), named_codes=run.d.codes.insufficient,
    )  # fmt: skip


def _bad_amounts(run: _FlowRun) -> None:
    for name in run.d.bad_amount_operations:
        op = run.d.operations[name]
        for bad in run.bad_amounts():
            t, round_id = new_id(), new_id()
            run.step("F5", "refuse", op, f"{op.name} of {bad!r} {_ids(op, t, round_id)}",
                     run.fields(op, bad, t, round_id), named_codes=run.d.codes.bad_amount)  # fmt: skip


def _seamless(run: _FlowRun) -> None:
    """Kyren's side: bet, the same bet again, its result, the same result again; N copies of one bet at once
    (when F3 has a clause) and a result paying it back; N bets and their N results at one instant; fractions of
    the amount; a bet and each reversal of it (again, and of an unknown bet); amounts that are no amount; a bet
    past the balance; each round-closing call twice."""
    d, a, money = run.d, run.amount, run.amount_text
    debit, credit = d.first("debit"), d.first("credit")
    assert credit is not None and debit is not None
    round_id, reference = new_id(), new_id()
    fields = run.fields(debit, money, reference, round_id)
    first = run.step("F1", "apply", debit, f"{debit.name} {money} {_ids(debit, reference, round_id)}", fields,
                     delta=-a)  # fmt: skip
    run.step(
        "F2", "repeat", debit, f"the same {debit.name} again {_ids(debit, reference, round_id)}", fields,
        first_balance=run.first_balance(first), allowed_codes=d.codes.already_exists,
    )  # fmt: skip
    won = new_id()
    fields = run.fields(credit, money, won, round_id)
    first = run.step("F1", "apply", credit, f"{credit.name} {money} {_ids(credit, won, round_id)}", fields, delta=a)
    run.step(
        "F2", "repeat", credit, f"the same {credit.name} again {_ids(credit, won, round_id)}", fields,
        first_balance=run.first_balance(first), allowed_codes=d.codes.already_exists,
    )  # fmt: skip
    raced = _race(run, debit)
    if raced is not None:  # pay the raced bet back, in its round
        t = new_id()
        run.step("F1", "apply", credit, f"{credit.name} {money} {_ids(credit, t, raced)}",
                 run.fields(credit, money, t, raced), delta=a)  # fmt: skip
    _burst(run, credit, _burst(run, debit))
    _fractions(run, [(debit, 3), (credit, 1), (credit, 2)])
    for reversal in (op for op in d.operations.values() if op.effect == "reverse"):
        _reversal(run, reversal)
    _bad_amounts(run)
    _past_the_balance(run, debit)
    for op in (op for op in d.operations.values() if op.effect == "none"):
        for again in ("", " again"):
            run.step("F2", "repeat", op, f"{op.name}{again} {_ids(op, round_id=round_id)}",
                     run.fields(op, round_id=round_id))  # fmt: skip


def _reversal(run: _FlowRun, reversal: Operation) -> None:
    """A bet, its reversal (it must restore the balance), the reversal again (once), one of an unknown bet."""
    assert reversal.reverses is not None
    undone = run.d.operations[reversal.reverses]
    round_id, reference = new_id(), new_id()
    base = run.balance
    money = run.amount_text
    fields = run.fields(undone, money, reference, round_id)
    label = f"{undone.name} {money} {_ids(undone, reference, round_id)}, to be undone by {reversal.name}"
    run.step("F1", "apply", undone, label, fields, delta=_signed(undone, run.amount))
    named = run.fields(reversal, transaction=reference, round_id=round_id)
    ids = _ids(reversal, reference, round_id)
    first = run.step("F7", "apply", reversal, f"{reversal.name} of that {undone.name} {ids}", named, base=base)
    run.step(
        "F7", "repeat", reversal, f"the same {reversal.name} again {ids}", named,
        first_balance=run.first_balance(first), allowed_codes=run.d.codes.already_exists,
    )  # fmt: skip
    unknown = run.fields(reversal, transaction=new_id(), round_id=new_id())
    label = f"{reversal.name} of an unknown {undone.name} {_ids(reversal, *_sent_ids(reversal, unknown))}"
    run.step("F7", "settle", reversal, label, unknown)


def _sent_ids(op: Operation, fields: dict[str, Any]) -> tuple[str | None, str | None]:
    transaction = fields.get(op.transaction_field) if op.transaction_field else None
    round_id = fields.get(op.round_field) if op.round_field else None
    return transaction, round_id
