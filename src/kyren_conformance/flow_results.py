"""A money flow as data (results.json `flows`, schemas/results.schema.json `$defs/flow`) and as one terminal line.

Read from the flow's snapshot (run_snapshot.py), taken at session finish. Exactly the schema's keys: the report
(report_flows.py) reads them. Balances and amounts are decimal text, never
floats; a call's `exchange` is its line index in exchanges.jsonl. Every value comes from redacted exchanges.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kyren_conformance.exchange import Exchange
    from kyren_conformance.findings import Finding
    from kyren_conformance.flows.record import Answer, Step
    from kyren_conformance.run_snapshot import FlowSnapshot, RuleSnapshot

__all__ = ["flow_data", "summary_line"]

NO_TEST = "no test of this flow was selected"


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _seen(answer: Answer | None) -> str | None:
    """The balance read, as the target wrote it (a float-summed `1000.3000000000001` stays visible)."""
    if answer is None:
        return None
    return answer.balance_text if answer.balance_text is not None else _decimal(answer.balance)


def _rule_outcome(flow: FlowSnapshot, record: RuleSnapshot) -> str:
    if not flow.sent or record.not_applicable:
        return "skipped"
    if record.failed:
        return "failed"
    if record.warned:
        return "warned"
    return "passed" if record.judged else "skipped"


def _sent_field(exchange: Exchange, name: str | None) -> str | None:
    payload = exchange.payload
    if name is None or not isinstance(payload, Mapping) or payload.get(name) is None:
        return None
    return str(payload[name])


def _calls(flow: FlowSnapshot, step: Step) -> list[dict[str, Any]]:
    op = flow.declaration.operations.get(step.operation) if step.operation else None
    calls = []
    for answer in step.answers:
        e = answer.exchange
        calls.append(
            {
                "method": step.method or "?",
                "status": e.response.status if e.response is not None else None,
                "code": answer.code if isinstance(answer.code, int) and not isinstance(answer.code, bool) else None,
                "transaction": _sent_field(e, op.transaction_field if op else None),
                "amount": _sent_field(e, op.amount_field if op else None),
                "retransmission": answer.retransmission,
                "exchange": flow.exchange_lines.get(id(e)),
            }
        )
    return calls


def _step_of(finding: Finding, owners: Mapping[int, int], labels: Mapping[str, int]) -> int | None:
    """The index of the step a finding is about: the step its exchange belongs to, else the step it names."""
    if finding.exchange is not None and id(finding.exchange) in owners:
        return owners[id(finding.exchange)]
    return labels.get(finding.case_id)


def flow_data(flow: FlowSnapshot) -> dict[str, Any]:
    """One flow in the shape of `$defs/flow`: its verdict, rules with their findings, and steps in the order sent."""
    record = flow.record
    steps = [*record.setup, *record.steps] if record is not None else []
    owners = {id(e): i for i, step in enumerate(steps) for e in step.exchanges}
    labels = {f"{flow.name}: {step.label}": i for i, step in enumerate(steps)}
    rules = []
    broken: set[int] = set()
    for rec in flow.rules:
        rule = rec.rule
        findings = []
        for f in rec.findings:
            index = _step_of(f, owners, labels)
            if index is not None:
                broken.add(index)
            findings.append({"received": f.received, "documented": f.documented, "step": index})
        rules.append(
            {
                "id": rule.id,
                "level": rule.level,
                "title": rule.title,
                "source": rule.source,
                "outcome": _rule_outcome(flow, rec),
                "findings": findings,
            }
        )
    verdict, problem = _verdict(flow, rules)
    return {
        "flow": flow.name,
        "title": flow.declaration.title,
        "direction": flow.declaration.direction,
        "verdict": verdict,
        "note": flow.note,
        "problem": problem,
        "user": record.user if record is not None else None,
        "currency": record.currency if record is not None else None,
        "amount": record.amount if record is not None else str(flow.declaration.amount),
        "rules": rules,
        "steps": [
            {
                "index": i,
                "rule": step.rule,
                "label": step.label,
                "outcome": "broke" if i in broken else "unjudged" if step.outcome is None else "ok",
                "before": _decimal(step.before),
                "expected": _decimal(step.expected),
                "after": _seen(step.after),
                "calls": _calls(flow, step),
            }
            for i, step in enumerate(steps)
        ],
    }


def _verdict(flow: FlowSnapshot, rules: list[dict[str, Any]]) -> tuple[str, str | None]:
    """PASSED only when every rule was judged and none failed or warned; STOPPED when the flow did not reach its end
    (or its rules were not all judged: an interrupted run); NOT RUN when it was never sent."""
    if not flow.sent:
        return "NOT RUN", flow.not_run or NO_TEST
    if flow.problem:
        return "STOPPED", flow.problem
    outcomes = {r["outcome"] for r in rules}
    if "failed" in outcomes:
        return "FAILED", None
    if "warned" in outcomes:
        return "WARNED", None
    unjudged = [r["id"] for r in rules if r["outcome"] == "skipped"]
    if unjudged:
        return "STOPPED", f"not every rule was judged ({', '.join(unjudged)}): the run was interrupted, or their " \
            "tests were not selected"  # fmt: skip
    return "PASSED", None


def summary_line(data: Mapping[str, Any]) -> str:
    """`flow transfer-wallet: FAILED: F1 step 3 deposit 1.00: expected 1001.00, saw 1002.00` (the first broken step
    in the order sent), or why it did not run to its end."""
    line = f"flow {data['flow']}: {data['verdict']}"
    if data["verdict"] in ("NOT RUN", "STOPPED"):
        return f"{line} ({data['problem']})"
    found = [(f["step"], r["id"], f) for r in data["rules"] for f in r["findings"]]
    if not found:
        return line
    step_index, rule_id, finding = min(found, key=lambda t: -1 if t[0] is None else t[0])
    if step_index is None:
        return f"{line}: {rule_id} before the first step: {finding['received']}"
    step = data["steps"][step_index]
    detail = str(finding["received"]).removeprefix(f"{step['label']}: ")
    if step["expected"] is not None and step["after"] is not None and _differs(step["expected"], step["after"]):
        detail = f"expected {step['expected']}, saw {step['after']}"
    return f"{line}: {rule_id} step {step_index} {step['label']}: {detail}"


def _differs(expected: str, after: str) -> bool:
    try:
        return Decimal(expected) != Decimal(after)
    except ArithmeticError:
        return expected != after
