"""The mock keeps real balances: what each method does to them is read from the flow declarations only.

A method a flow names gets a `WalletReference`: after the reference's checks (route, body, fields, credentials,
the uuid replay cache) it credits, debits, reverses or reads the balance, as the declaration says. The steps
a defect changes (`guard`, `read_balance`, `add`, `show`, `refuses_overdraw`, `repeated`, `undoes`) are methods,
so the money-flow faults and dialects (flow_variants.py) are small subclasses, like the other variants.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from kyren_conformance.contract import Contract
from kyren_conformance.mock.behaviour import WRONG_TYPE, Answer, Call, Reference
from kyren_conformance.mock.ledger import Entry, Ledger, exact_number, exact_sum, parse_amount, render

if TYPE_CHECKING:  # a mock serving no flow loads no flow code (test_mock: the mock imports the loaders only)
    from kyren_conformance.flows.declaration import FlowDeclaration, Operation

# Kinds of answer the wallet adds to the reference's (each with the code the flow's declaration names).
INSUFFICIENT = "insufficient"
BAD_AMOUNT = "bad-amount"
ALREADY_EXISTS = "already-exists"
_ALREADY_EXISTS_CODE = 61  # the Error Code page's 'Transaction already exists', when the flow lists it

Role = Literal["operation", "balance", "history"]


@dataclass(frozen=True)
class Binding:
    """What one method does in a flow, and that flow's books."""

    flow: FlowDeclaration
    ledger: Ledger
    role: Role
    operation: Operation | None = None


def bind_flows(contracts: Sequence[Contract], flows: Sequence[FlowDeclaration]) -> dict[str, Binding]:
    """Each served method's part in the flows, by its path. Each flow keeps its own books.

    A flow naming a method that is not served, or a method given two parts, raises ValueError.
    """
    if not flows:
        return {}
    from kyren_conformance.flows.declaration import check_methods  # only when there are flows: see TYPE_CHECKING

    by_stem = {c.path.stem: c for c in contracts}
    bound: dict[str, tuple[str, Binding]] = {}
    for flow in flows:
        check_methods(flow, by_stem)  # FlowError (a ValueError) naming the flow, the key and the served methods
        ledger = Ledger()
        parts: list[tuple[str, str, Binding]] = [
            ("balance.method", flow.balance.method, Binding(flow, ledger, "balance"))
        ]
        parts += [
            (f"operations.{op.name}.method", op.method, Binding(flow, ledger, "operation", op))
            for op in flow.operations.values()
        ]
        if flow.history is not None:
            parts.append(("history.method", flow.history.method, Binding(flow, ledger, "history")))
        for key, method, binding in parts:
            path = by_stem[method].http_path
            if path in bound:
                raise ValueError(
                    f"flow {flow.flow}: {key}: {method!r} already has a part ({bound[path][0]}); one part per method"
                )
            bound[path] = (f"{flow.flow} {key}", binding)
    return {path: binding for path, (_, binding) in bound.items()}


class WalletReference(Reference):
    """The reference, keeping a wallet's balances for the methods a flow names (others: the plain reference)."""

    def __init__(
        self,
        contract: Contract,
        credentials: Mapping[str, Any],
        *,
        fault_delay: float = 15.0,
        wallet: Binding | None = None,
    ) -> None:
        super().__init__(contract, credentials, fault_delay=fault_delay)
        self.wallet = wallet

    def succeed(self, call: Call) -> Answer:
        answer = super().succeed(call)
        wallet = self.wallet
        if wallet is None or not answer.succeeded:
            return answer
        if wallet.role == "balance":
            user, currency = self._who(call)
            return self.filled(answer, currency, {wallet.flow.balance.field: self.show_balance(user, currency)})
        if wallet.role == "history":
            return self.history(call, answer)
        op = wallet.operation
        assert op is not None  # an "operation" binding always carries its operation
        if op.effect in ("credit", "debit"):
            return self.transfer(call, answer, op)
        if op.effect == "reverse":
            return self.reverse(call, answer, op)
        user, currency = self._who(call)
        return self.filled(answer, currency, {op.balance_field: self.show_balance(user, currency)})

    # -- the operations ----------------------------------------------------------------------------

    def transfer(self, call: Call, success: Answer, op: Operation) -> Answer:
        """A credit or a debit: once per transaction id; a debit past the balance is refused."""
        wallet = self._wallet()
        obj = self._obj(call)
        user, currency = self._who(call)
        decimals = wallet.flow.decimals(currency)
        raw = obj.get(op.amount_field or "")
        exact = exact_number(call.incoming.body, op.amount_field or "") if isinstance(raw, float) else None
        amount = parse_amount(raw, decimals, exact)
        if amount is None:
            return self.bad_amount(op, raw)
        transaction = _text(obj.get(op.transaction_field)) if op.transaction_field else ""
        delta = amount if op.effect == "credit" else -amount
        round_id = _text(obj[op.round_field]) if op.round_field and op.round_field in obj else None
        with self.guard():
            first = wallet.ledger.first_answer(op.name, transaction)
            if first is not None and (again := self.repeated(call, op, first)) is not None:
                return again
            after = self.add(self.read_balance(user, currency), delta)
            if after < 0 and self.refuses_overdraw():
                return self.insufficient(op)
            wallet.ledger.set_balance(user, currency, after)
            wallet.ledger.record(Entry(op.name, transaction, user, currency, delta, after, round_id))
            echoed = {op.transaction_field: transaction}
            answer = self.filled(success, currency, {op.balance_field: self.show(after, decimals)}, echoed)
            wallet.ledger.keep_answer(op.name, transaction, answer)
            return answer

    def reverse(self, call: Call, success: Answer, op: Operation) -> Answer:
        """A refund or cancel: undoes the named transaction once; an unknown one changes nothing (Refund.md)."""
        wallet = self._wallet()
        obj = self._obj(call)
        user, currency = self._who(call)
        transaction = _text(obj.get(op.transaction_field)) if op.transaction_field else ""
        round_id = _text(obj[op.round_field]) if op.round_field and op.round_field in obj else None
        with self.guard():
            first = wallet.ledger.first_answer(op.name, transaction)
            if first is not None and (again := self.repeated(call, op, first)) is not None:
                return again
            target = wallet.ledger.find(op.reverses or "", user, transaction or None, round_id)
            if target is None:  # not kept: the transaction it names may still arrive, and be reversible then
                balance = self.show(wallet.ledger.balance(user, currency), wallet.flow.decimals(currency))
                return self.filled(success, currency, {op.balance_field: balance})
            decimals = wallet.flow.decimals(target.currency)
            before = self.read_balance(target.user, target.currency)
            if not self.undoes(target):  # undone already, by another reverse: nothing more
                answer = self.filled(success, target.currency, {op.balance_field: self.show(before, decimals)})
                wallet.ledger.keep_answer(op.name, transaction, answer)
                return answer
            after = self.add(before, -target.delta)
            if after < 0 and self.refuses_overdraw():  # undoing a credit already spent
                return self.insufficient(op)
            wallet.ledger.set_balance(target.user, target.currency, after)
            target.reversed = True
            wallet.ledger.record(Entry(op.name, transaction, user, target.currency, -target.delta, after, round_id))
            echoed = {op.transaction_field: transaction}
            answer = self.filled(success, target.currency, {op.balance_field: self.show(after, decimals)}, echoed)
            wallet.ledger.keep_answer(op.name, transaction, answer)
            return answer

    def history(self, call: Call, success: Answer) -> Answer:
        """The user's latest applied transaction: its id, its signed amount, the balance after it, its currency."""
        wallet = self._wallet()
        history = wallet.flow.history
        user, _ = self._who(call)
        with self.guard():
            entry = wallet.ledger.last(user)
        if history is None or entry is None:
            return success  # no transaction yet: the documented example, as the mock answers without flows
        decimals = wallet.flow.decimals(entry.currency)
        values: dict[str | None, str] = {
            history.transaction_field: entry.transaction,
            history.amount_field: render(entry.delta, decimals),
        }
        if history.balance_field:
            values[history.balance_field] = self.show(entry.balance, decimals)
        # Another spelling the documented answer carries (Get Transfer Info's example: "transctionId") says the same.
        aliases: dict[str | None, str] = {
            alias: values[name] for alias, name in history.aliases.items() if name in values
        }
        return self.filled(success, entry.currency, values, aliases)

    # -- the steps a defect changes ----------------------------------------------------------------

    def guard(self) -> AbstractContextManager[Any]:
        """Held around a whole read-check-write of a balance."""
        return self._wallet().ledger.lock

    def read_balance(self, user: str, currency: str) -> Decimal:
        return self._wallet().ledger.balance(user, currency)

    def add(self, balance: Decimal, delta: Decimal) -> Decimal:
        return exact_sum(balance, delta)

    def show(self, balance: Decimal, decimals: int) -> str:
        return render(balance, decimals)

    def refuses_overdraw(self) -> bool:
        return True

    def repeated(self, call: Call, op: Operation, first: Answer) -> Answer | None:
        """A transaction id seen before (with any uuid): nothing is applied, the first answer comes again.

        None applies the transaction again (a defect)."""
        return replace(first, replayed=True)

    def undoes(self, target: Entry) -> bool:
        """Whether a reverse naming `target` restores it: only if nothing has reversed it yet."""
        return not target.reversed

    # -- answers -----------------------------------------------------------------------------------

    def filled(
        self,
        answer: Answer,
        currency: str,
        declared: Mapping[str | None, str],
        echoed: Mapping[str | None, str] | None = None,
    ) -> Answer:
        """The success answer carrying the wallet's values: the fields the flow declares, always; the echoed ones
        (the transaction id) and the currency only where the documented answer has that field."""
        documented = self.contract.response_example or {}
        body = {name: value for name, value in declared.items() if name}
        body.update({name: value for name, value in (echoed or {}).items() if name and name in documented})
        if self._wallet().flow.currency_field in documented:
            body[self._wallet().flow.currency_field] = currency
        return replace(answer, body=tuple(body.items()))

    def bad_amount(self, op: Operation, value: Any) -> Answer:
        codes = self._wallet().flow.codes.bad_amount
        description = f"invalid amount {_shown(value)}"
        if not codes:
            return self.refuse(WRONG_TYPE, description, field=op.amount_field)
        return self._refusal(BAD_AMOUNT, codes[0], description, op.amount_field)

    def insufficient(self, op: Operation) -> Answer:
        codes = self._wallet().flow.codes.insufficient
        if not codes:
            return self.refuse(WRONG_TYPE, "insufficient balance", field=op.amount_field)
        return self._refusal(INSUFFICIENT, codes[0], "Insufficient balance.", op.amount_field)

    def already_exists(self, op: Operation) -> Answer:
        codes = self._wallet().flow.codes.already_exists
        code = _ALREADY_EXISTS_CODE if _ALREADY_EXISTS_CODE in codes or not codes else codes[0]
        return self._refusal(ALREADY_EXISTS, code, "Transaction already exists.", op.transaction_field)

    def _refusal(self, kind: str, code: int, description: str, field: str | None) -> Answer:
        # The flow's documented code as it is: a code-changing fault of the reference is not the wallet's.
        code = code + 100 if code == self.contract.success_code else code
        return Answer(kind, code, description, field)

    # -- helpers -----------------------------------------------------------------------------------

    def show_balance(self, user: str, currency: str) -> str:
        """The balance as answered (not under the guard already: the lock is not re-entrant)."""
        with self.guard():
            balance = self._wallet().ledger.balance(user, currency)
        return self.show(balance, self._wallet().flow.decimals(currency))

    def _who(self, call: Call) -> tuple[str, str]:
        obj = self._obj(call)
        flow = self._wallet().flow
        return _text(obj.get(flow.user_field)), _text(obj.get(flow.currency_field))

    def _wallet(self) -> Binding:
        if self.wallet is None:  # only the methods a flow names reach the wallet's steps
            raise RuntimeError("this method has no part in a flow")
        return self.wallet


def _text(value: Any) -> str:
    """A request value as a key: a string as it is, anything else as its JSON (absent: "")."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def with_wallet(behaviour: type[Reference]) -> type[WalletReference]:
    """`behaviour` keeping balances: itself if it already does, else combined with WalletReference (its steps first)."""
    if issubclass(behaviour, WalletReference):
        return behaviour
    if behaviour is Reference:
        return WalletReference
    return type(f"{behaviour.__name__}+wallet", (behaviour, WalletReference), {})


__all__ = ["ALREADY_EXISTS", "BAD_AMOUNT", "INSUFFICIENT", "Binding", "WalletReference", "bind_flows"]
