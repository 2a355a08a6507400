"""Load a money flow's declaration (contracts/flows/<flow>.json): which methods move money, and how.

The declaration is reviewed and written by hand; the engine reads every method and field name from it and
none from code. Pure: the stdlib, jsonschema and the contract loader only (the mock imports it too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as _attribute
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import jsonschema
from jsonschema.exceptions import best_match

from kyren_conformance.contract import (
    Contract,
    ContractError,
    describe_schema_error,
    key_path,
    read_json_file,
    shown,
)
from kyren_conformance.resources import data_dir

Direction = Literal["operator-calls-kyren", "kyren-calls-operator"]
Effect = Literal["credit", "debit", "reverse", "none"]
RULE_IDS = ("F1", "F2", "F3", "F4", "F5", "F6", "F7", "S10")


class FlowError(ValueError):
    """A flow declaration that cannot be used; the message names the file and the bad key."""


@dataclass(frozen=True)
class BalanceRead:
    method: str
    field: str  # the answer's balance field


@dataclass(frozen=True)
class Operation:
    name: str  # the declaration's key: "deposit", "bet", ...
    method: str
    effect: Effect
    amount_field: str | None = None
    transaction_field: str | None = None
    balance_field: str | None = None  # None: the answer carries no balance
    round_field: str | None = None
    reverses: str | None = None  # effect "reverse": the operation it undoes
    retransmissions: int | None = None  # None: the flow's retry count
    on_no_answer: str | None = None  # the operation sent when this one gets no good answer (Bet: cancel)


@dataclass(frozen=True)
class History:
    method: str
    transaction_field: str
    amount_field: str
    balance_field: str | None = None
    aliases: Mapping[str, str] = _attribute(default_factory=dict, hash=False)  # another spelling -> the field


@dataclass(frozen=True)
class FlowCodes:
    insufficient: tuple[int, ...]
    already_exists: tuple[int, ...]
    bad_amount: tuple[int, ...]


@dataclass(frozen=True)
class Retry:
    retransmissions: int
    no_retry_codes: tuple[int, ...]
    retry_codes: tuple[int, ...]


@dataclass(frozen=True)
class FlowDeclaration:
    path: Path
    flow: str
    title: str
    direction: Direction
    source: str
    user_field: str
    currency_field: str
    currency_decimals: Mapping[str, int] = _attribute(hash=False)
    default_decimals: int
    amount: Decimal
    setup: tuple[str, ...]
    balance: BalanceRead
    operations: Mapping[str, Operation] = _attribute(hash=False)  # in the file's order
    history: History | None
    codes: FlowCodes
    retry: Retry | None
    clauses: Mapping[str, str] = _attribute(hash=False)
    bad_amount_operations: tuple[str, ...] = ()
    race_requests: int = 8
    notes: tuple[str, ...] = ()

    def decimals(self, currency: str) -> int:
        """How many decimals an amount of `currency` has (ISO 4217 for the ones declared)."""
        return self.currency_decimals.get(currency, self.default_decimals)

    def first(self, effect: Effect) -> Operation | None:
        """The first operation of an effect, in the file's order."""
        return next((op for op in self.operations.values() if op.effect == effect), None)

    def retransmissions(self, operation: Operation) -> int:
        if self.retry is None:
            return 0
        return self.retry.retransmissions if operation.retransmissions is None else operation.retransmissions

    @property
    def methods(self) -> tuple[str, ...]:
        """Every method the flow sends, each once, in the order they first appear."""
        named = [*self.setup, self.balance.method, *(op.method for op in self.operations.values())]
        if self.history is not None:
            named.append(self.history.method)
        return tuple(dict.fromkeys(named))


def decimal_places(value: Decimal) -> int:
    """How many decimals a finite decimal is written with ("1.00": 2, "1E+2": 0)."""
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _schema() -> dict[str, Any]:
    try:
        schema = read_json_file(data_dir("schemas") / "flow.schema.json", "flow schema")
    except ContractError as exc:
        raise FlowError(str(exc)) from None
    if not isinstance(schema, dict):
        raise FlowError("flow schema: not a JSON object")
    return schema


def load_flow(path: str | Path) -> FlowDeclaration:
    """Read and validate a flow declaration; raise FlowError (only) naming the file and the bad key."""
    path = Path(path)
    where = f"flow {shown(path)}"
    try:
        raw = read_json_file(path, "flow")
    except ContractError as exc:
        raise FlowError(str(exc)) from None
    error = best_match(jsonschema.Draft202012Validator(_schema()).iter_errors(raw))
    if error is not None:
        raise FlowError(f"{where}: {key_path(error, raw)}: {describe_schema_error(error)}")
    try:
        declaration = _build(path, raw)
        _check(declaration)
    except FlowError as exc:
        raise FlowError(f"{where}: {exc}") from None
    return declaration


def _build(path: Path, raw: dict[str, Any]) -> FlowDeclaration:
    operations = {name: Operation(name=name, **spec) for name, spec in raw["operations"].items()}
    history = raw.get("history")
    retry = raw["retry"]
    codes = raw["codes"]
    return FlowDeclaration(
        path=path.resolve(),
        flow=raw["flow"],
        title=raw["title"],
        direction=raw["direction"],
        source=raw["source"],
        user_field=raw["user_field"],
        currency_field=raw["currency_field"],
        currency_decimals=MappingProxyType(dict(raw["currency_decimals"])),
        default_decimals=raw["default_decimals"],
        amount=Decimal(raw["amount"]),
        setup=tuple(raw["setup"]),
        balance=BalanceRead(**raw["balance"]),
        operations=MappingProxyType(operations),
        history=None
        if history is None
        else History(**{**history, "aliases": MappingProxyType(dict(history.get("aliases", {})))}),
        codes=FlowCodes(*(tuple(codes[k]) for k in ("insufficient", "already_exists", "bad_amount"))),
        retry=None
        if retry is None
        else Retry(retry["retransmissions"], tuple(retry["no_retry_codes"]), tuple(retry["retry_codes"])),
        clauses=MappingProxyType(dict(raw["clauses"])),
        bad_amount_operations=tuple(raw.get("bad_amount_operations", ())),
        race_requests=raw.get("race_requests", 8),
        notes=tuple(raw.get("notes", ())),
    )


def _check(d: FlowDeclaration) -> None:
    """What the schema cannot say: names that must agree with each other, and the clauses each rule needs."""
    if d.amount <= 0:
        raise FlowError(f"amount: {str(d.amount)!r} must be more than 0")
    if decimal_places(d.amount) > d.default_decimals:
        raise FlowError(f"amount: {str(d.amount)!r} has more decimals than default_decimals ({d.default_decimals})")
    for effect in ("credit", "debit"):
        if d.first(effect) is None:
            raise FlowError(f"operations: no operation has the effect {effect!r}; a flow moves money both ways")
    for op in d.operations.values():
        if op.reverses is not None:
            undone = d.operations.get(op.reverses)
            if undone is None or undone.effect not in ("credit", "debit"):
                raise FlowError(
                    f"operations.{op.name}.reverses: {op.reverses!r} is not an operation that moves money; "
                    f"expected one of: {', '.join(_movers(d))}"
                )
        if op.on_no_answer is not None:
            then = d.operations.get(op.on_no_answer)
            if then is None or then.reverses != op.name:
                raise FlowError(
                    f"operations.{op.name}.on_no_answer: {op.on_no_answer!r} is not an operation that reverses "
                    f"{op.name!r}"
                )
    for index, name in enumerate(d.bad_amount_operations):
        if name not in _movers(d):
            raise FlowError(
                f"bad_amount_operations[{index}]: {name!r} is not an operation that moves money; "
                f"expected one of: {', '.join(_movers(d))}"
            )
    if d.retry is not None:
        both = set(d.retry.retry_codes) & set(d.retry.no_retry_codes)
        if both:
            raise FlowError(f"retry: the code {min(both)} is both in retry_codes and in no_retry_codes")
    for alias, name in d.history.aliases.items() if d.history else ():
        if alias == name:
            raise FlowError(f"history.aliases.{alias}: an alias must differ from the field it spells")
    for rule in _required_clauses(d):
        if rule not in d.clauses:
            raise FlowError(f"clauses.{rule}: missing; every rule the flow judges names the page and line it rests on")


def _movers(d: FlowDeclaration) -> list[str]:
    return [op.name for op in d.operations.values() if op.effect in ("credit", "debit")]


def _required_clauses(d: FlowDeclaration) -> list[str]:
    rules = ["F1", "F2", "F4", "S10"]
    if d.direction == "operator-calls-kyren":
        rules.append("F3")
    if d.bad_amount_operations:
        rules.append("F5")
    if d.history is not None:
        rules.append("F6")
    if any(op.effect == "reverse" for op in d.operations.values()):
        rules.append("F7")
    if d.retry is not None:
        rules.append("retry")
    return rules


def _method_keys(d: FlowDeclaration) -> list[tuple[str, str]]:
    """(key in the file, method) for every method the declaration names."""
    keys = [(f"setup[{i}]", m) for i, m in enumerate(d.setup)] + [("balance.method", d.balance.method)]
    keys += [(f"operations.{op.name}.method", op.method) for op in d.operations.values()]
    if d.history is not None:
        keys.append(("history.method", d.history.method))
    return keys


def check_methods(declaration: FlowDeclaration, contract_names: Iterable[str]) -> None:
    """Every method the flow names is one of the run's contracts (by file stem); else FlowError."""
    names = sorted(set(contract_names))
    for key, method in _method_keys(declaration):
        if method not in names:
            raise FlowError(
                f"flow {shown(declaration.path)}: {key}: {method!r} is not a contract of the run; "
                f"expected one of: {', '.join(names) or '(none)'}"
            )


def check_fields(declaration: FlowDeclaration, contracts: Mapping[str, Contract]) -> None:
    """The fields the flow sends are request fields of their method's contract (by file stem), and the balance
    it reads is a property of the answer where the contract's response schema lists its properties."""
    check_methods(declaration, contracts)
    d = declaration
    wanted: list[tuple[str, str, str]] = []  # (key, method, request field)
    for op in d.operations.values():
        for attr in ("amount_field", "transaction_field", "round_field"):
            name = getattr(op, attr)
            if name is not None:
                wanted.append((f"operations.{op.name}.{attr}", op.method, name))
    for key, method in _method_keys(d):
        wanted.append((f"user_field (for {key})", method, d.user_field))
    for key, method, name in wanted:
        contract = contracts[method]
        if name not in (f.name for f in contract.fields):
            raise FlowError(
                f"flow {shown(d.path)}: {key}: {name!r} is not a request field of {method}; "
                f"expected one of: {', '.join(f.name for f in contract.fields)}"
            )
    answers: list[tuple[str, str, str | None]] = [("balance.field", d.balance.method, d.balance.field)]
    answers += [(f"operations.{op.name}.balance_field", op.method, op.balance_field) for op in d.operations.values()]
    for key, method, answer_field in answers:
        properties = contracts[method].response_schema.get("properties")
        if answer_field is not None and isinstance(properties, dict) and answer_field not in properties:
            raise FlowError(
                f"flow {shown(d.path)}: {key}: {answer_field!r} is not a field of the {method} answer; "
                f"expected one of: {', '.join(map(str, properties))}"
            )
