"""The money flows in the sign-off report (issue 15): each flow as the sequence it sent, the balances it saw,
and the row where the arithmetic broke.

Pure functions over the results dictionary's `flows` list (schemas/results.schema.json, `$defs/flow`): HTML
strings out, nothing when no flow ran. Labels, codes, transaction ids and balances may hold what the target
sent, so every value is made printable (an ESC shows as `\\x1b`) and escaped. A broken row says so in words
("✗ expected 1001.00, saw 1002.00"), not only in colour, and carries the anchor `flow-<name>-step-<n>` that
the rule's findings link to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any

from kyren_conformance.exchange import printable

__all__ = ["FLOW_STYLE", "flows", "step_anchor", "with_contents"]

CALLS_OPEN = 3  # calls of a step shown at once; a burst's other copies are one click away (<details>)
BROKEN_LISTED = 5  # broken steps a flow's row in the overview links to

_DIRECTION = {
    "operator-calls-kyren": "the suite plays the operator and calls Kyren",
    "kyren-calls-operator": "the suite plays Kyren and calls the operator's wallet",
}
# The verdict's look, reusing the report's outcome classes: text first, colour second.
_VERDICT_OUTCOME = {
    "PASSED": "passed",
    "FAILED": "failed",
    "WARNED": "warned",
    "NOT RUN": "not-run",
    "STOPPED": "stopped",
}
_RULE_TEXT = {"passed": "passed", "failed": "FAILED", "warned": "WARNING", "skipped": "skipped"}


def _t(value: object) -> str:
    """Any value as safe text: control characters written out, then HTML-escaped (quotes too)."""
    return escape(printable(str(value)), quote=True)


def _money(value: object) -> str:
    return "—" if value is None else f"<code>{_t(value)}</code>"


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except (InvalidOperation, ValueError):
        return None


def step_anchor(flow: object, index: object) -> str:
    """The id of a step's row (not escaped: callers escape it where they write it)."""
    return f"flow-{flow}-step-{index}"


def rule_anchor(flow: object, rule_id: object) -> str:
    return f"flow-{flow}-rule-{rule_id}"


def _link(flow: object, index: object, text: str) -> str:
    return f'<a href="#{_t(step_anchor(flow, index))}">{text}</a>'


def _outcome(tag_outcome: str, text: str) -> str:
    tag = "span" if tag_outcome in ("passed", "not-run", "skipped") else "strong"  # stands out with no styles
    return f'<{tag} class="kc-o kc-o-{tag_outcome}">{_t(text)}</{tag}>'


def _verdict(flow: Mapping[str, Any]) -> str:
    verdict = str(flow.get("verdict", ""))
    return _outcome(_VERDICT_OUTCOME.get(verdict, "stopped"), verdict or "UNKNOWN")


# --- the findings, by step -----------------------------------------------------------------------------------
def _findings_by_step(flow: Mapping[str, Any]) -> dict[object, list[tuple[Mapping[str, Any], Mapping[str, Any]]]]:
    """Each step's findings, with the rule that made them."""
    out: dict[object, list[tuple[Mapping[str, Any], Mapping[str, Any]]]] = {}
    for rule in flow.get("rules", ()):
        for finding in rule.get("findings", ()):
            out.setdefault(finding.get("step"), []).append((rule, finding))
    return out


def _only_should(found: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]) -> bool:
    return bool(found) and all(rule.get("level") == "SHOULD" for rule, _ in found)


# --- the rules -----------------------------------------------------------------------------------------------
def _rule_findings(flow: Mapping[str, Any], rule: Mapping[str, Any]) -> str:
    found = rule.get("findings", ())
    if not found:
        return "—"
    items = []
    for f in found:
        step = f.get("step")
        where = "before the first step" if step is None else _link(flow["flow"], step, f"step {_t(step)}")
        documented = f.get("documented")
        said = (
            f'<br><span class="kc-note">documented: {_t(documented)}</span>'
            if documented and documented != rule.get("source")
            else ""
        )
        items.append(f"<li>{where}: {_t(f.get('received', ''))}{said}</li>")
    return f'<ul class="kc-flow-findings">{"".join(items)}</ul>'


def _rules_table(flow: Mapping[str, Any]) -> str:
    rules = flow.get("rules", ())
    if not rules:
        return '<p class="kc-note">No rule judged this flow.</p>'
    rows = []
    for r in rules:
        outcome = str(r.get("outcome", "skipped"))
        rows.append(
            f'<tr id="{_t(rule_anchor(flow["flow"], r["id"]))}" class="kc-r-{_t(outcome)}">'
            f'<th scope="row">{_t(r["id"])}</th><td>{_t(r.get("level", ""))}</td><td>{_t(r.get("title", ""))}</td>'
            f'<td><q class="kc-clause">{_t(r.get("source", ""))}</q></td>'
            f"<td>{_outcome(outcome, _RULE_TEXT.get(outcome, outcome))}</td><td>{_rule_findings(flow, r)}</td></tr>"
        )
    head = "".join(
        f'<th scope="col">{h}</th>' for h in ("Rule", "Level", "What it checks", "Clause", "Outcome", "Findings")
    )
    return (
        f'<table border="1" class="kc-table kc-trace kc-flow-rules"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


# --- the sequence --------------------------------------------------------------------------------------------
def _call(call: Mapping[str, Any]) -> str:
    status, code = call.get("status"), call.get("code")
    parts = [f"<code>{_t(call.get('method', '?'))}</code>"]
    if status is None:
        parts.append("<strong>no answer</strong>")
    else:
        parts.append(f"HTTP {_t(status)}")
        parts.append("no code" if code is None else f"code <code>{_t(code)}</code>")
    if call.get("transaction") is not None:
        parts.append(f"transaction <code>{_t(call['transaction'])}</code>")
    if call.get("amount") is not None:
        parts.append(f"amount <code>{_t(call['amount'])}</code>")
    if call.get("retransmission"):
        parts.append(f"<strong>retransmission {_t(call['retransmission'])}</strong>")
    if call.get("exchange") is not None:
        parts.append(f'<span class="kc-note">exchange #{_t(call["exchange"])}</span>')
    return f"<li>{' · '.join(parts)}</li>"


def _calls(calls: Sequence[Mapping[str, Any]]) -> str:
    if not calls:
        return '<span class="kc-note">no call</span>'
    shown = f'<ol class="kc-calls">{"".join(_call(c) for c in calls[:CALLS_OPEN])}</ol>'
    rest = calls[CALLS_OPEN:]
    if not rest:
        return shown
    more = f'<ol class="kc-calls" start="{CALLS_OPEN + 1}">{"".join(_call(c) for c in rest)}</ol>'
    return f"{shown}<details><summary>{len(rest)} more call{'s' if len(rest) > 1 else ''}</summary>{more}</details>"


def _balance_broke(step: Mapping[str, Any]) -> bool:
    expected, after = _decimal(step.get("expected")), _decimal(step.get("after"))
    if expected is None or after is None:
        return step.get("expected") is not None and step.get("after") != step.get("expected")
    return expected != after


def _judged(step: Mapping[str, Any], found: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]) -> str:
    """The last cell: where the arithmetic broke, in words."""
    outcome = step.get("outcome")
    if outcome == "unjudged":
        return '<span class="kc-note">not judged</span>'
    if outcome != "broke":
        return _outcome("passed", "✓ as expected")
    mark = "⚠" if _only_should(found) else "✗"
    if _balance_broke(step):
        head = f"{mark} expected {_t(step.get('expected'))}, saw {_t(step.get('after') or 'no balance')}"
    else:
        head = f"{mark} broke"
    reasons = "".join(f"<li>{_t(rule.get('id', '?'))}: {_t(f.get('received', ''))}</li>" for rule, f in found)
    listed = f'<ul class="kc-flow-findings">{reasons}</ul>' if reasons else ""
    return f'<strong class="kc-broke">{head}</strong>{listed}'


def _step_row(flow: Mapping[str, Any], step: Mapping[str, Any], found: Sequence[Any], rule_ids: set[str]) -> str:
    outcome = str(step.get("outcome", "unjudged"))
    look = {"broke": "kc-r-warned" if _only_should(found) else "kc-r-failed", "ok": ""}.get(outcome, "kc-r-unjudged")
    rule = str(step.get("rule", ""))
    rule_cell = (
        f'<a href="#{_t(rule_anchor(flow["flow"], rule))}">{_t(rule)}</a>'
        if rule in rule_ids
        else f'<span class="kc-note">{_t(rule)}</span>'
    )
    seen = _money(step.get("after"))
    if outcome == "broke" and _balance_broke(step):
        seen = f'<strong class="kc-seen-wrong">{seen}</strong>'
    return (
        f'<tr id="{_t(step_anchor(flow["flow"], step["index"]))}" class="kc-step kc-step-{_t(outcome)} {look}">'
        f'<th scope="row">{_t(step["index"])}</th><td>{rule_cell}</td><td>{_t(step.get("label", ""))}</td>'
        f"<td>{_calls(step.get('calls', ()))}</td><td>{_money(step.get('before'))}</td>"
        f"<td>{_money(step.get('expected'))}</td><td>{seen}</td><td>{_judged(step, found)}</td></tr>"
    )


def _sequence(flow: Mapping[str, Any]) -> str:
    steps = flow.get("steps", ())
    if not steps:
        return "<p>No step was sent.</p>"
    by_step = _findings_by_step(flow)
    rule_ids = {str(r.get("id")) for r in flow.get("rules", ())}
    rows = "".join(_step_row(flow, s, by_step.get(s["index"], []), rule_ids) for s in steps)
    head = "".join(
        f'<th scope="col">{h}</th>'
        for h in ("#", "Rule", "Step", "Calls", "Balance before", "Expected", "Seen after", "Judged")
    )
    return (
        '<p class="kc-note">Each step in the order sent: its calls (a resend of the same transaction is a '
        "retransmission), the balance read before it, the one it must leave, and the one read after it. "
        "✗ marks a step a MUST rule found broken, ⚠ one only a SHOULD rule did. Exchange #n is the call's "
        "line index in <code>exchanges.jsonl</code>, beside this report.</p>"
        f'<table border="1" class="kc-table kc-seq"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
    )


# --- a flow, the overview, the page --------------------------------------------------------------------------
def flow_section(flow: Mapping[str, Any]) -> str:
    name = flow["flow"]
    facts = [
        f"flow <code>{_t(name)}</code>",
        _t(_DIRECTION.get(str(flow.get("direction")), flow.get("direction", ""))),
        f"test user {_money(flow.get('user'))}",
        f"currency {_money(flow.get('currency'))}",
        f"amount {_money(flow.get('amount'))}",
        '<a href="#kc-flows">↑ money flows</a>',
    ]
    problem = flow.get("problem")
    why = "Not run:" if flow.get("verdict") == "NOT RUN" else "Stopped early:"
    stopped = f'<p class="kc-problem"><strong>{why}</strong> {_t(problem)}</p>' if problem else ""
    note = flow.get("note")
    staging = f'<p class="kc-staging"><strong>Staging:</strong> {_t(note)}</p>' if note else ""
    return (
        f'<section id="{_t(f"flow-{name}")}" class="kc kc-flow">'
        f"<h2>Money flow: {_t(flow.get('title') or name)}: {_verdict(flow)}</h2>"
        f'<p class="kc-note">{" · ".join(facts)}</p>{staging}{stopped}'
        f"<h3>Rules</h3>{_rules_table(flow)}<h3>Sequence</h3>{_sequence(flow)}</section>"
    )


def _overview(flows_data: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for flow in flows_data:
        name = flow["flow"]
        broken = [s for s in flow.get("steps", ()) if s.get("outcome") == "broke"]
        where = ", ".join(_link(name, s["index"], f"step {_t(s['index'])}") for s in broken[:BROKEN_LISTED])
        if len(broken) > BROKEN_LISTED:
            where += f" and {len(broken) - BROKEN_LISTED} more"
        rows.append(
            f'<tr><th scope="row"><a href="#{_t(f"flow-{name}")}">{_t(flow.get("title") or name)}</a></th>'
            f"<td>{_t(_DIRECTION.get(str(flow.get('direction')), flow.get('direction', '')))}</td>"
            f"<td>{_verdict(flow)}</td><td>{len(flow.get('steps', ()))}</td><td>{where or '—'}</td></tr>"
        )
    head = "".join(f'<th scope="col">{h}</th>' for h in ("Flow", "Direction", "Verdict", "Steps", "Where it broke"))
    return (
        '<section id="kc-flows" class="kc"><h2>Money flows</h2><p class="kc-note">Balances, repeated '
        "transactions and races, checked across calls on the test user; each flow's sequence follows.</p>"
        f'<table border="1" class="kc-table kc-trace"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def flows(results: Mapping[str, Any]) -> str:
    """The flows' overview and one section per flow; nothing when the run has no flow."""
    flows_data = results.get("flows") or []
    if not flows_data:
        return ""
    return FLOW_STYLE + _overview(flows_data) + "".join(flow_section(f) for f in flows_data)


def with_contents(nav: str, results: Mapping[str, Any]) -> str:
    """The report's contents list with an entry for the money flows, before the per-test results."""
    flows_data = results.get("flows") or []
    if not flows_data:
        return nav
    entry = f'<a href="#kc-flows">Money flows ({len(flows_data)})</a>'
    before = '<a href="#results-table">'
    if before in nav:
        return nav.replace(before, f"{entry} · {before}", 1)
    return nav.replace("</nav>", f" · {entry}</nav>", 1)


# Added beside the report's own style (report_sections.STYLE) when a flow is shown.
FLOW_STYLE = """<style>
.kc-seq td,.kc-seq th{font-size:12px}
.kc-seq td:nth-child(5),.kc-seq td:nth-child(6),.kc-seq td:nth-child(7){white-space:nowrap}
.kc-calls{margin:0;padding-left:18px}.kc-calls li{overflow-wrap:anywhere}
.kc-flow-findings{margin:2px 0;padding-left:18px;font-weight:400}
.kc-broke{color:#9b2c2c;white-space:nowrap}.kc-r-warned .kc-broke{color:#9c4221}
.kc-r-failed.kc-step{border-left:4px solid #c53030}.kc-r-warned.kc-step{border-left:4px solid #c05621}
.kc-seen-wrong{color:#9b2c2c;text-decoration:underline wavy}
.kc-r-unjudged{color:#4a5568;background:#f7fafc}
.kc-o-stopped{color:#744210}.kc-o-skipped{color:#718096;font-weight:400}
.kc-staging,.kc-problem{margin:4px 0}.kc-problem{color:#744210}
</style>"""
