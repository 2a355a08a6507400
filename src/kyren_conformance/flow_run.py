"""One money flow in the run: sent after every method's cases, its exchanges logged as they come, its rules judged.

`FlowRun` is to a flow what `ConformanceRun` is to a method: it holds the flow's record and one record per rule,
and offers what `outcome.rule_outcome` judges a subject by (`records`, `secret_env`, `not_applicable`, `judge`).
A flow that stopped early never passes a rule it did not get to: that rule gets a finding saying so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from kyren_conformance.client import Client, ClientSettings
from kyren_conformance.contract import Contract, Rule
from kyren_conformance.exchange import Exchange, OutgoingRequest
from kyren_conformance.exchange_log import ExchangeLog
from kyren_conformance.findings import Finding
from kyren_conformance.flows.declaration import RULE_IDS
from kyren_conformance.flows.engine import run_flow
from kyren_conformance.flows.judgements import RULES, judge_rule
from kyren_conformance.flows.record import FlowRecord, Step
from kyren_conformance.flows.wire import flow_values
from kyren_conformance.redaction import Redactor
from kyren_conformance.settings import FlowSettings

__all__ = ["FlowRuleRecord", "FlowRun"]

# Why a rule has no clause in a declaration: what the flow then does not send.
_NO_CLAUSE = {
    "F3": "it sends no identical requests at one instant",
    "F5": "it sends no bad amounts (bad_amount_operations is empty)",
    "F6": "it reads no transfer history",
    "F7": "it has no refund or cancel (no operation of effect reverse)",
}


@dataclass
class FlowRuleRecord:
    """A flow rule's tests and outcome, as the verdict and the report read them."""

    tests: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    failed: int = 0
    warned: int = 0
    judged: int = 0
    not_applicable: str | None = None


class _LoggedClient(Client):
    """The suite's Client, telling each exchange as it comes back (exchanges.jsonl is written as the flow goes)."""

    def __init__(self, settings: ClientSettings, redactor: Redactor, landed: Callable[[str, Exchange], None]) -> None:
        super().__init__(settings, redactor)
        self._landed = landed

    def send(
        self,
        method: str,
        path: str,
        request: OutgoingRequest,
        run_started: float,
        *,
        fresh: Callable[[], OutgoingRequest] | None = None,
    ) -> Exchange:
        exchange = super().send(method, path, request, run_started, fresh=fresh)
        self._landed(path, exchange)
        return exchange


def judges(rule_id: str, step: Step) -> bool:
    """Whether the rule judges this step (S10 every refusal that names codes, F6 every history read)."""
    if rule_id == "S10":
        return step.outcome == "refuse" and bool(step.named_codes)
    if rule_id == "F6":
        return step.history is not None
    return step.rule == rule_id


class FlowRun:
    """One flow of the run. `not_run` says why it is not sent; `stopped` why it could not be (the target
    unreachable, an internal error); `record` what it did once sent."""

    def __init__(self, settings: FlowSettings, secret_env: str = "KYREN_TOKEN") -> None:
        self.settings = settings
        self.declaration = settings.declaration
        self.name = settings.name
        self.secret_env = secret_env
        self.records: dict[str, FlowRuleRecord] = {rule_id: FlowRuleRecord() for rule_id in RULE_IDS}
        self.record: FlowRecord | None = None
        self.not_run: str | None = settings.not_run
        self.stopped: str | None = None
        self.selected = False  # a test of this flow was collected: it is sent
        self.seconds = 0.0
        self.requests = 0
        self.exchange_lines: dict[int, int] = {}  # id(exchange) -> its line index in exchanges.jsonl
        self._lock = threading.Lock()

    @property
    def sent(self) -> bool:
        return self.record is not None or self.stopped is not None

    @property
    def problem(self) -> str | None:
        """Why the flow did not run to its end; None when it did (or was never meant to be sent)."""
        return self.record.problem if self.record is not None else self.stopped

    def rule(self, rule_id: str) -> Rule:
        level, title = RULES[rule_id]
        return Rule(rule_id, level, title, self.declaration.clauses.get(rule_id, ""))

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules the flow judges: those its declaration gives a clause."""
        return tuple(self.rule(rule_id) for rule_id in RULE_IDS if rule_id in self.declaration.clauses)

    # --- sending ------------------------------------------------------------------------------------------

    def send(
        self,
        contracts: Mapping[str, Contract],
        values: Mapping[str, Mapping[str, Any]],
        client_settings: ClientSettings,
        redactor: Redactor,
        log: ExchangeLog,
        run_started: float,
    ) -> None:
        """Run the flow against the target (once); each exchange goes to exchanges.jsonl as it comes."""
        if self.sent:
            return
        mine = {method: contracts[method] for method in self.declaration.methods}
        paths = {c.http_path: method for method, c in mine.items()}

        def landed(path: str, exchange: Exchange) -> None:
            self._log(paths.get(path, path), exchange, log)

        started = time.monotonic()
        try:
            with _LoggedClient(client_settings, redactor, landed) as client:
                self.record = run_flow(self.declaration, mine, client, values, run_started=run_started)
        except BaseException:  # interrupted (the caller names an error of the suite itself more precisely)
            self.stopped = "the run was interrupted while the flow was being sent"
            raise
        finally:
            self.seconds = time.monotonic() - started

    def progress_line(self) -> str:
        """`flow transfer-wallet: 19 steps, 70 requests, 0.3 s`, and why it stopped if it did."""
        record = self.record
        steps = len(record.setup) + len(record.steps) if record is not None else 0
        line = f"flow {self.name}: {steps} steps, {self.requests} requests, {self.seconds:.1f} s"
        return f"{line}; stopped: {self.problem}" if self.problem else line

    def _log(self, method: str, exchange: Exchange, log: ExchangeLog) -> None:
        with self._lock:  # a burst's copies land from their own threads
            self.requests += 0 if exchange.not_sent else 1
            line = log.lines
            log.write(method, replace(exchange, case_id=f"flow:{self.name}"), self.secret_env)
            if log.lines > line:
                self.exchange_lines[id(exchange)] = line

    def test_user(self, values: Mapping[str, Mapping[str, Any]], contracts: Mapping[str, Contract]) -> str:
        """`test user 'tester', currency USD`: the user and currency the flow moves money on (for the identity)."""
        mine = {method: contracts[method] for method in self.declaration.methods}
        _, shared = flow_values(self.declaration, mine, values)
        user, currency = shared.get(self.declaration.user_field), shared.get(self.declaration.currency_field)
        return f"test user {user!r}, currency {currency}"

    # --- judging (outcome.Judged) -------------------------------------------------------------------------

    def not_applicable(self, rule_id: str) -> str | None:
        """Why the rule is not judged on this flow: no clause for it, or the flow was not run (never a pass)."""
        if rule_id not in self.declaration.clauses:
            why = _NO_CLAUSE.get(rule_id, "the flow does not judge it")
            reason = f"{self.declaration.path.name} gives {rule_id} no clause: {why}"
        elif not self.sent and self.not_run:
            reason = f"flow {self.name} was not run: {self.not_run}"
        else:
            return None
        self.records[rule_id].not_applicable = reason
        return reason

    def judge(self, rule_id: str, case: Any = None) -> list[Finding]:
        """The rule's findings on the flow's record; a flow that stopped first adds one where the rule lost out."""
        findings = judge_rule(self.record, rule_id) if self.record is not None else []
        findings += self._stopped_findings(rule_id)
        record = self.records[rule_id]
        record.findings.extend(findings)
        record.judged += 1
        return findings

    def _stopped_findings(self, rule_id: str) -> list[Finding]:
        problem = self.problem
        if problem is None:
            return []
        level = RULES[rule_id][0]
        clause = self.declaration.clauses.get(rule_id, RULES[rule_id][1])
        steps = self.record.steps if self.record is not None else ()
        last = steps[-1] if steps else None
        where = None if self.record is None else last.after if last is not None else self.record.start
        exchange = where.exchange if where is not None else None
        if last is not None and judges(rule_id, last):
            received = f"{last.label}: the flow stopped here: {problem}"
            return [Finding(rule_id, level, received, clause, exchange, f"{self.name}: {last.label}")]
        if any(judges(rule_id, step) for step in steps):
            return []  # judged on the steps it got; the flow's verdict says it stopped
        received = f"the flow stopped before this could be checked: {problem}"
        case_id = f"{self.name}: {last.label}" if last is not None else f"{self.name}: before the flow"
        return [Finding(rule_id, level, received, clause, exchange, case_id)]
