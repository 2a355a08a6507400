"""One flow's requests: valid bodies from the contracts and the configured values, sent with the suite's Client.

Every method of a flow gets the same user, currency and other shared values (Bet's example user is "421",
Refund's "123456": a wallet would see two players). Amounts are sent as the decimal text the flow chose,
as a JSON number only where the contract's field takes no string. Kyren's retransmissions are done here.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from kyren_conformance.client import Client
from kyren_conformance.contract import Contract
from kyren_conformance.exchange import Exchange, OutgoingRequest
from kyren_conformance.flows.amounts import as_decimal, parse_answer
from kyren_conformance.flows.declaration import FlowDeclaration, Operation
from kyren_conformance.flows.record import Answer
from kyren_conformance.response_reading import read_code

Progress = Callable[[str], None]  # told each step's label as it ends
_BARRIER_TIMEOUT = 30.0  # seconds the race's threads wait for each other before sending anyway


def new_id() -> str:
    """A fresh transaction id, reference or round id: digits only, which any wallet's id column takes."""
    return str(uuid.uuid4().int)[:18]


def flow_values(
    declaration: FlowDeclaration, contracts: Mapping[str, Contract], values: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Each method's values, with one value a field name over the whole flow (the balance method's first, then
    the others' in the declaration's order), and those shared values. A shared value the field's type does not
    take leaves the method's own; so do credentials, which are each method's (the mock's differ by method)."""
    order = dict.fromkeys([declaration.balance.method, *declaration.methods])
    shared: dict[str, Any] = {}
    for method in order:
        for name, value in values.get(method, {}).items():
            shared.setdefault(name, value)
    per_method: dict[str, dict[str, Any]] = {}
    for method in order:
        own = values.get(method, {})
        mine: dict[str, Any] = {}
        for f in contracts[method].fields:
            if f.role == "value" and f.name in shared and f.accepts(shared[f.name]):
                mine[f.name] = shared[f.name]
            elif f.name in own:
                mine[f.name] = own[f.name]
        per_method[method] = mine
    return per_method, shared


def dumps(payload: Mapping[str, Any]) -> bytes:
    """JSON with each Decimal written as its own digits (json cannot, and a float would round)."""
    numbers: dict[str, str] = {}
    swapped: dict[str, Any] = {}
    for key, value in payload.items():
        if isinstance(value, Decimal):
            mark = f"\x00{len(numbers)}\x00"
            numbers[json.dumps(mark)] = str(value)
            value = mark
        swapped[key] = value
    text = json.dumps(swapped, ensure_ascii=False)
    for mark, digits in numbers.items():
        text = text.replace(mark, digits)
    return text.encode("utf-8")


def read_answer(exchange: Exchange, contract: Contract, balance_field: str | None, retransmission: int = 0) -> Answer:
    """The code and the balance of an answer, read as decimals."""
    response = exchange.response
    body = parse_answer(response.body) if response is not None and not response.truncated else None
    balance: Decimal | None = None
    balance_text: str | None = None
    code = read_code(exchange, contract.code_field)
    if isinstance(body, dict) and balance_field is not None and balance_field in body:
        value = body[balance_field]
        balance_text = value if isinstance(value, str) else json.dumps(value, default=str)
        balance = as_decimal(value)
    return Answer(exchange, code, code == contract.success_code, balance, balance_text, retransmission)


class Wire:
    """Sends one flow's requests to the target; thread-safe for the race (the Client is)."""

    def __init__(
        self,
        declaration: FlowDeclaration,
        contracts: Mapping[str, Contract],
        client: Client,
        values: Mapping[str, Mapping[str, Any]],
        run_started: float,
    ) -> None:
        self.d = declaration
        self.contracts = contracts
        self.client = client
        self.run_started = run_started
        self.values, self.shared = flow_values(declaration, contracts, values)
        self.user = self.shared.get(declaration.user_field)
        self.currency = self.shared.get(declaration.currency_field)

    def payload(self, method: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """A valid body of `method`: a fresh request id, the flow's user and currency, `fields`, the rest configured.
        A field of `fields` the method does not have is left out."""
        given = {self.d.user_field: self.user, self.d.currency_field: self.currency, **fields}
        payload: dict[str, Any] = {}
        for f in self.contracts[method].fields:
            if f.role == "request_id":
                payload[f.name] = str(uuid.uuid4())
            elif f.name in given:
                payload[f.name] = given[f.name]
            elif f.name in self.values[method]:
                payload[f.name] = self.values[method][f.name]
        return payload

    def amount_value(self, method: str, field: str, amount: str) -> Any:
        """The amount as the contract's field takes it: the text, or a JSON number where no string is valid."""
        number = as_decimal(amount)
        if "string" in self.contracts[method].field(field).types or number is None:
            return amount
        return number

    def send(
        self, method: str, payload: dict[str, Any], label: str, balance_field: str | None, retransmission: int = 0
    ) -> Answer:
        contract = self.contracts[method]
        request = OutgoingRequest(dumps(payload), contract.content_type, label, payload)

        def fresh() -> OutgoingRequest:  # a stale keep-alive connection's retry: the same body, a new request id
            rid = contract.request_id_field
            renewed = {**payload, rid.name: str(uuid.uuid4())} if rid is not None else payload
            return OutgoingRequest(dumps(renewed), contract.content_type, label, renewed)

        exchange = self.client.send(contract.http_method, contract.http_path, request, self.run_started, fresh=fresh)
        return read_answer(exchange, contract, balance_field, retransmission)

    def send_operation(self, op: Operation, fields: Mapping[str, Any], label: str) -> tuple[Answer, ...]:
        """Send an operation, and retransmit it as Kyren does (the same transaction, a new request id) while it
        gets a network error or a retry code, at most the declared number of times; never after another code."""
        answers: list[Answer] = []
        for n in range(1 + self.d.retransmissions(op)):
            shown = label if n == 0 else f"{label}, retransmission {n}"
            answer = self.send(op.method, self.payload(op.method, fields), shown, op.balance_field, n)
            answers.append(answer)
            if not self.worth_retrying(answer):
                break
        return tuple(answers)

    def worth_retrying(self, answer: Answer) -> bool:
        retry = self.d.retry
        if retry is None:
            return False
        if answer.code is None:  # no answer, or none with a code: a network error
            return True
        return answer.code in retry.retry_codes and answer.code not in retry.no_retry_codes

    def race(self, op: Operation, copies: list[dict[str, Any]], label: str) -> tuple[Answer, ...]:
        """One request per item of `copies` (each its own request id), released at one instant by a barrier from
        their own threads: the Client gives each in-flight request its own connection. Each copy is retransmitted
        as any other request; the answers come copy by copy (a copy's first try has `retransmission` 0)."""
        barrier = threading.Barrier(len(copies))
        answers: list[tuple[Answer, ...]] = [()] * len(copies)

        def one(i: int) -> None:
            # a thread that never arrived breaks the barrier: send anyway, the race is only less tight
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(_BARRIER_TIMEOUT)
            answers[i] = self.send_operation(op, copies[i], f"{label}, copy {i + 1} of {len(copies)}")

        threads = [threading.Thread(target=one, args=(i,), name=f"flow-race-{i}") for i in range(len(copies))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return tuple(answer for tries in answers for answer in tries)

    def read_balance(self, label: str) -> Answer:
        method = self.d.balance.method
        return self.send(method, self.payload(method, {}), label, self.d.balance.field)

    def read_history(self, label: str) -> Answer | None:
        history = self.d.history
        if history is None:
            return None
        return self.send(history.method, self.payload(history.method, {}), label, history.balance_field)

    def send_setup(self, method: str) -> Answer:
        return self.send(method, self.payload(method, {}), f"setup: {method}", None)
