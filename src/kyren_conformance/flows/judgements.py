"""One pure function per money rule (F1–F7, S10), over a recorded flow: record -> findings.

Never imports the client, the CLI or pytest. Each finding says where the arithmetic broke: the step, what
was sent and answered, the balance before and after, and the one expected. Balances are compared in the
currency's decimals; a balance that is not a number in them is itself an F1 finding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from kyren_conformance.contract import Level, Rule
from kyren_conformance.exchange import Exchange
from kyren_conformance.findings import Finding
from kyren_conformance.flows.amounts import as_decimal, fits, parse_answer, quantized
from kyren_conformance.flows.amounts import shown as money
from kyren_conformance.flows.declaration import RULE_IDS, FlowDeclaration
from kyren_conformance.flows.record import Answer, FlowRecord, Step

__all__ = ["RULES", "flow_rules", "judge_flow", "judge_rule"]

RULES: dict[str, tuple[Level, str]] = {
    "F1": ("MUST", "the balance after a credit or debit is the balance before plus or minus the amount, exactly"),
    "F2": ("MUST", "the same transaction sent again applies once, and gets the same answer or a documented "
                   "'already exists' code"),
    "F3": ("MUST", "N identical requests (same transaction id) sent at the same instant apply once"),
    "F4": ("MUST", "a debit past the balance is refused and changes nothing"),
    "F5": ("MUST", "a zero, negative, over-precise or non-numeric amount is refused and changes nothing"),
    "F6": ("MUST", "the transfer history shows each applied transaction once, with its amount"),
    "F7": ("MUST", "a refund or cancel restores the bet once; a refund of an unknown bet changes nothing"),
    "S10": ("SHOULD", "a refusal carries the code the page names for it"),
}  # fmt: skip


def flow_rules(declaration: FlowDeclaration) -> tuple[Rule, ...]:
    """The rules a flow judges (those its declaration gives a clause), each with its clause as its source."""
    return tuple(
        Rule(rule_id, RULES[rule_id][0], RULES[rule_id][1], declaration.clauses[rule_id])
        for rule_id in RULE_IDS
        if rule_id in declaration.clauses
    )


class _Judge:
    """Builds one rule's findings for one record."""

    def __init__(self, record: FlowRecord, rule_id: str) -> None:
        self.record = record
        self.rule_id = rule_id
        self.level = RULES[rule_id][0]
        self.documented = record.declaration.clauses.get(rule_id, RULES[rule_id][1])
        self.findings: list[Finding] = []

    def add(self, step: Step | None, received: str, exchange: Exchange | None) -> None:
        case = f"{self.record.flow}: {step.label}" if step is not None else f"{self.record.flow}: before the flow"
        text = f"{step.label}: {received}" if step is not None else received
        self.findings.append(Finding(self.rule_id, self.level, text, self.documented, exchange, case))

    def same(self, a: Decimal, b: Decimal) -> bool:
        d = self.record.decimals
        return quantized(a, d) == quantized(b, d)

    def balance_moved(self, step: Step) -> None:
        """The balance read after the step is the one the step must leave."""
        after, expected = step.balance_after, step.expected
        if after is None or expected is None or self.same(after, expected):
            return
        arithmetic = _arithmetic(step)
        exchange = step.after.exchange if step.after is not None else None
        self.add(step, f"balance {money(step.before)} before, {money(after)} after; expected {arithmetic}", exchange)

    def answers_balance(self, step: Step, wanted: Decimal | None, what: str) -> None:
        """Each successful answer that gives a balance gives `wanted`."""
        if wanted is None:
            return
        for answer in step.answers:
            if answer.success and answer.balance is not None and not self.same(answer.balance, wanted):
                self.add(step, f"answered {answer.describe()}; expected {money(wanted)} ({what})", answer.exchange)
                return


def _arithmetic(step: Step) -> str:
    """`1001.00 (1000.00 + 1.00)`: the expected balance and how it was reached."""
    expected, before = step.expected, step.before
    if expected is None or before is None:
        return money(expected)
    delta = expected - before
    if delta == 0:
        return f"{expected} (unchanged)"
    return f"{expected} ({before} {'+' if delta > 0 else '-'} {abs(delta)})"


def _not_applied(judge: _Judge, step: Step) -> bool:
    if any(a.success for a in step.answers):
        return False
    last = step.answers[-1] if step.answers else None
    judge.add(step, f"not applied: {last.describe() if last else 'nothing sent'}", last.exchange if last else None)
    return True


def _applied(judge: _Judge, step: Step) -> None:
    """An `apply` step: it succeeded, every answer gives the balance after it, and the balance moved exactly."""
    if not _not_applied(judge, step):
        judge.answers_balance(step, step.expected, "the balance after it")
    judge.balance_moved(step)


def _each_applied(judge: _Judge, step: Step) -> None:
    """An `each` step: every request (its own transaction) succeeded, and the balance moved by all of them."""
    last = [tries[-1] for tries in step.copies]
    failed = next((a for a in last if not a.success), None)
    if failed is not None:
        shown = f"{sum(a.success for a in last)} of {len(last)} applied"
        judge.add(step, f"{shown}; one answered {failed.describe()}", failed.exchange)
    judge.balance_moved(step)


def _repeated(judge: _Judge, step: Step) -> None:
    """A `repeat` step: each answer is the first one again or an allowed code, and nothing moved."""
    for answer in step.answers:
        if answer.success or (answer.code is not None and answer.code in step.allowed_codes):
            continue
        allowed = " or ".join(map(str, step.allowed_codes))
        expected = "the first answer again" + (f" or code {allowed}" if allowed else " (success)")
        judge.add(step, f"answered {answer.describe()}; expected {expected}", answer.exchange)
        break
    wanted = step.first_balance if step.first_balance is not None else step.expected
    judge.answers_balance(step, wanted, "the first answer's balance" if step.first_balance is not None else "unchanged")
    judge.balance_moved(step)


def _refused(judge: _Judge, step: Step) -> None:
    accepted = next((a for a in step.answers if a.success), None)
    if accepted is not None:
        judge.add(step, f"accepted ({accepted.describe()}); expected a refusal", accepted.exchange)
    judge.balance_moved(step)


def _steps(record: FlowRecord, rule_id: str) -> Iterator[Step]:
    return (s for s in record.steps if s.rule == rule_id)


_BY_OUTCOME: dict[str, Callable[[_Judge, Step], None]] = {
    "apply": _applied,
    "each": _each_applied,
    "repeat": _repeated,
    "refuse": _refused,
    "settle": lambda judge, step: judge.balance_moved(step),
}


def _by_outcome(record: FlowRecord, rule_id: str) -> list[Finding]:
    judge = _Judge(record, rule_id)
    for step in _steps(record, rule_id):
        if step.outcome is not None:
            _BY_OUTCOME[step.outcome](judge, step)
    return judge.findings


def judge_f1(record: FlowRecord) -> list[Finding]:
    """F1: each applied credit or debit moves the balance by its amount; every balance is in the currency's decimals."""
    findings = _by_outcome(record, "F1")
    judge = _Judge(record, "F1")
    currency, decimals = record.currency, record.decimals
    seen: set[str] = set()  # a wrong balance is reported where it first shows, not at every read that repeats it
    reads: list[tuple[Step | None, Answer]] = [(None, record.start)] if record.start is not None else []
    for one in (*record.setup, *record.steps):
        reads += [(one, a) for a in (*one.answers, one.after) if a is not None]
    for step, answer in reads:
        if answer.balance_text is None or answer.balance_text in seen:
            continue
        seen.add(answer.balance_text)
        if answer.balance is None:
            judge.add(step, f"the balance {answer.balance_text!r} is not a number", answer.exchange)
        elif not fits(answer.balance, decimals):
            judge.add(
                step, f"the balance {answer.balance_text} is not a number in {currency}'s {decimals} decimals",
                answer.exchange,
            )  # fmt: skip
    return findings + judge.findings


def judge_f2(record: FlowRecord) -> list[Finding]:
    """F2: the same transaction again applies once, and gets the first answer again or 'already exists'."""
    return _by_outcome(record, "F2")


def judge_f3(record: FlowRecord) -> list[Finding]:
    """F3: identical requests at one instant apply once: the balance moved by one amount, every success answer
    gives that balance, and each other answer is an allowed code."""
    judge = _Judge(record, "F3")
    for step in _steps(record, "F3"):
        _applied(judge, step)
        for answer in (tries[-1] for tries in step.copies):
            if not answer.success and answer.code not in step.allowed_codes and answer.answered:
                allowed = " or ".join(map(str, step.allowed_codes)) or "success"
                received = f"one copy answered {answer.describe()}; expected success or {allowed}"
                judge.add(step, received, answer.exchange)
                break
    return judge.findings


def judge_f4(record: FlowRecord) -> list[Finding]:
    """F4: a debit past the balance is refused and moves nothing."""
    return _by_outcome(record, "F4")


def judge_f5(record: FlowRecord) -> list[Finding]:
    """F5: an amount that is no valid amount is refused and moves nothing."""
    return _by_outcome(record, "F5")


def judge_f6(record: FlowRecord) -> list[Finding]:
    """F6: after each applied transaction the history names it once, with its signed amount and the balance after."""
    judge = _Judge(record, "F6")
    history = record.declaration.history
    if history is None:
        return []
    for step in record.steps:
        read = step.history
        if read is None or step.history_amount is None or step.transaction is None:
            continue
        if not read.success:
            judge.add(step, f"the transfer history could not be read: {read.describe()}", read.exchange)
            continue
        body = parse_answer(read.exchange.response.body) if read.exchange.response is not None else None
        names = {history.transaction_field, *history.aliases}
        entries = list(_entries(body, names))
        matching = [e for e in entries if any(str(e.get(n)) == step.transaction for n in names if n in e)]
        if not matching:
            shown = sorted({str(e.get(n)) for e in entries for n in names if n in e}) or ["no transaction"]
            judge.add(step, f"the history shows {', '.join(shown)}, not transaction {step.transaction}", read.exchange)
            continue
        if len(matching) > 1:
            judge.add(step, f"the history shows transaction {step.transaction} {len(matching)} times", read.exchange)
        entry = matching[0]
        amount = as_decimal(entry.get(history.amount_field))
        if amount is None or not judge.same(amount, step.history_amount):
            judge.add(
                step, f"the history gives {history.amount_field} {entry.get(history.amount_field)!r} for transaction "
                f"{step.transaction}; expected {step.history_amount}", read.exchange,
            )  # fmt: skip
        if history.balance_field is not None and history.balance_field in entry and step.balance_after is not None:
            balance = as_decimal(entry[history.balance_field])
            if balance is None or not judge.same(balance, step.balance_after):
                judge.add(
                    step, f"the history gives {history.balance_field} {entry[history.balance_field]!r} after "
                    f"transaction {step.transaction}; the balance read then was {step.balance_after}", read.exchange,
                )  # fmt: skip
    return judge.findings


def _entries(body: Any, names: set[str], depth: int = 0) -> Iterator[dict[str, Any]]:
    """The transactions a history answer shows: the answer itself when it names one (the page's one-transaction
    answer), else every object in its lists that does."""
    if depth > 8:
        return
    if isinstance(body, dict):
        if depth == 0 and names & body.keys():
            yield body
            return
        for value in body.values():
            yield from _entries(value, names, depth + 1)
    elif isinstance(body, list):
        for item in body:
            if isinstance(item, dict) and names & item.keys():
                yield item
            else:
                yield from _entries(item, names, depth + 1)


def judge_f7(record: FlowRecord) -> list[Finding]:
    """F7: a reversal restores the bet's balance, once; one of an unknown bet moves nothing."""
    return _by_outcome(record, "F7")


def judge_s10(record: FlowRecord) -> list[Finding]:
    """S10: a refusal carries the code the page names for it (15 insufficient; 59 and the like for an amount)."""
    judge = _Judge(record, "S10")
    for step in record.steps:
        if step.outcome != "refuse" or not step.named_codes or not step.answers:
            continue
        last = step.answers[-1]
        if last.success or (last.code is not None and last.code in step.named_codes):
            continue
        named = " or ".join(map(str, step.named_codes))
        judge.add(step, f"refused with {last.describe()}; the page names {named}", last.exchange)
    return judge.findings


JUDGES: dict[str, Callable[[FlowRecord], list[Finding]]] = {
    "F1": judge_f1,
    "F2": judge_f2,
    "F3": judge_f3,
    "F4": judge_f4,
    "F5": judge_f5,
    "F6": judge_f6,
    "F7": judge_f7,
    "S10": judge_s10,
}


def judge_rule(record: FlowRecord, rule_id: str) -> list[Finding]:
    """One rule's findings; a rule the declaration gives no clause judges nothing."""
    if rule_id not in record.declaration.clauses:
        return []
    return JUDGES[rule_id](record)


def judge_flow(record: FlowRecord) -> list[Finding]:
    """Every rule's findings, in rule order."""
    return [finding for rule_id in RULE_IDS for finding in judge_rule(record, rule_id)]
