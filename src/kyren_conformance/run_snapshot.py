"""The run, frozen at session finish: what the verdict, results.json, the flows' results and the terminal read.

`snapshot_of(suite)` is called once, when the run is over. Everything after it (the verdict, the results, the
report's input, the terminal summary) reads the same frozen values, so no two of them can see the run at
different moments. A snapshot holds no secret: the values shown are the non-secret fields', the errors are
redacted with every method's masks, and the exchanges behind the findings were redacted when they were made.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from kyren_conformance.judgements import code_forms, code_of

if TYPE_CHECKING:
    from kyren_conformance.conformance_run import ConformanceRun, RuleRecord
    from kyren_conformance.contract import Contract, Rule
    from kyren_conformance.findings import Finding
    from kyren_conformance.flow_run import FlowRuleRecord, FlowRun
    from kyren_conformance.flows.declaration import FlowDeclaration
    from kyren_conformance.flows.record import FlowRecord
    from kyren_conformance.suite_run import SuiteRun

__all__ = [
    "FlowSnapshot",
    "Identity",
    "Info",
    "MethodSnapshot",
    "RuleSnapshot",
    "SuiteSnapshot",
    "flow_snapshot",
    "snapshot_of",
]


@dataclass(frozen=True)
class RuleSnapshot:
    """One rule with what its tests found: the level and title from the contract, the counts from its record."""

    rule: Rule
    tests: tuple[str, ...] = ()
    requests: int = 0
    findings: tuple[Finding, ...] = ()
    failed: int = 0
    warned: int = 0
    judged: int = 0
    not_applicable: str | None = None


@dataclass(frozen=True)
class Identity:
    """What a method's run was given (results.json's identity): never a secret field's value."""

    public_values: Mapping[str, Any]  # the non-secret fields' values, by name
    public_target: str | None  # userinfo and query values masked; None: the embedded mock, never started
    embedded_mock: bool
    notes: tuple[str, ...]
    replay_policy: str
    strict: bool
    seed: int
    timeout_s: float
    concurrency: int
    rate_limit: float | None
    started_at: float


@dataclass(frozen=True)
class Info:
    """The INFO facts of a method's answers, counted once; a whole run adds its methods' up."""

    latencies_s: tuple[float, ...]  # one per answered request, in the order the cases are planned
    statuses: Mapping[str, int]
    codes: Mapping[str, int]
    media_types: Mapping[str, int]
    code_forms: Mapping[str, int]
    unanswered: int  # requests sent that got no complete answer
    unreachable: str | None
    resent_one_at_a_time: int
    throttled: int
    retried: int


@dataclass(frozen=True)
class MethodSnapshot:
    name: str  # the contract's file stem: the method's key everywhere
    contract: Contract
    secret_env: str
    identity: Identity
    rules: tuple[RuleSnapshot, ...]  # in the contract's order
    errors: tuple[str, ...]  # internal errors of the suite in this method's checks, redacted
    request_count: int
    info: Info
    run_wide_rules: frozenset[str]  # rules no case of their own judges (they read every exchange)
    exchanged: bool  # any case was sent
    interrupted: bool  # the run (not only this method) was interrupted


@dataclass(frozen=True)
class FlowSnapshot:
    name: str
    declaration: FlowDeclaration
    note: str  # the staging note: what the flow moves, on which test user
    sent: bool
    not_run: str | None
    problem: str | None  # why it did not run to its end
    record: FlowRecord | None
    rules: tuple[RuleSnapshot, ...]  # the rules its declaration gives a clause
    exchange_lines: Mapping[int, int]  # id(exchange) -> its line in exchanges.jsonl (the record keeps them alive)


@dataclass(frozen=True)
class SuiteSnapshot:
    methods: tuple[MethodSnapshot, ...]
    flows: tuple[FlowSnapshot, ...]
    errors: tuple[str, ...]  # internal errors of the run as a whole, redacted
    request_count: int  # every method's and every flow's
    public_target: str | None
    started_at: float
    finished_at: float
    interrupted: bool

    def __iter__(self) -> Iterator[MethodSnapshot]:
        return iter(self.methods)

    @property
    def several(self) -> bool:
        return len(self.methods) > 1

    @property
    def info(self) -> Info:
        """The methods' INFO facts added up (keys in the order first seen, method after method)."""
        infos = [m.info for m in self.methods]
        return Info(
            latencies_s=tuple(s for i in infos for s in i.latencies_s),
            statuses=_added(i.statuses for i in infos),
            codes=_added(i.codes for i in infos),
            media_types=_added(i.media_types for i in infos),
            code_forms=_added(i.code_forms for i in infos),
            unanswered=sum(i.unanswered for i in infos),
            unreachable=next((i.unreachable for i in infos if i.unreachable), None),
            resent_one_at_a_time=sum(i.resent_one_at_a_time for i in infos),
            throttled=sum(i.throttled for i in infos),
            retried=sum(i.retried for i in infos),
        )

    @property
    def all_errors(self) -> tuple[str, ...]:
        """The run's own errors, then each method's."""
        return (*self.errors, *(e for m in self.methods for e in m.errors))


def _added(counts: Iterable[Mapping[str, int]]) -> Mapping[str, int]:
    total: Counter[str] = Counter()
    for one in counts:
        total.update(one)
    return MappingProxyType(dict(total))


def _frozen(counter: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(counter))


def _rule(rule: Rule, record: RuleRecord | FlowRuleRecord) -> RuleSnapshot:
    return RuleSnapshot(
        rule=rule,
        tests=tuple(record.tests),
        requests=getattr(record, "requests", 0),  # a flow's rule counts no requests of its own
        findings=tuple(record.findings),
        failed=record.failed,
        warned=record.warned,
        judged=record.judged,
        not_applicable=record.not_applicable,
    )


def _info(run: ConformanceRun) -> Info:
    exchanges = run.all_exchanges()
    answered = [e for e in exchanges if e.response is not None]
    codes = (code_of(e, run.ctx) for e in answered)
    return Info(
        latencies_s=tuple(e.elapsed for e in answered),
        statuses=_frozen(Counter(str(e.status) for e in answered)),
        codes=_frozen(Counter(str(code) for code in codes if code is not None)),
        media_types=_frozen(Counter(e.response.media_type or "none" for e in answered if e.response)),
        code_forms=_frozen(code_forms(exchanges, run.ctx)),
        unanswered=sum(1 for e in exchanges if e.response is None and not e.not_sent),
        unreachable=run.unreachable,
        resent_one_at_a_time=run.resent_one_at_a_time,
        throttled=run.throttled,
        retried=run.retried,
    )


def _identity(run: ConformanceRun) -> Identity:
    settings, contract = run.settings, run.contract
    public = {f.name: run.values[f.name] for f in contract.fields if f.name in run.values and not f.secret}
    return Identity(
        public_values=MappingProxyType(public),
        public_target=run.public_target,
        embedded_mock=settings.target_url is None,
        notes=tuple(settings.notes),
        replay_policy=settings.replay_policy,
        strict=settings.strict,
        seed=settings.seed,
        timeout_s=settings.timeout,
        concurrency=settings.concurrency,
        rate_limit=settings.rate_limit,
        started_at=run.started_at,
    )


def _method(run: ConformanceRun, redact: Callable[[str], str], interrupted: bool) -> MethodSnapshot:
    contract = run.contract
    judged_on_cases = {rule for case in run.cases for rule in case.rules}
    return MethodSnapshot(
        name=run.name,
        contract=contract,
        secret_env=run.secret_env,
        identity=_identity(run),
        rules=tuple(_rule(rule, run.records[rule.id]) for rule in contract.rules),
        errors=tuple(redact(e) for e in run.errors),
        request_count=run.request_count,
        info=_info(run),
        run_wide_rules=frozenset(r.id for r in contract.rules if r.id not in judged_on_cases),
        exchanged=bool(run.exchanges),
        interrupted=interrupted,
    )


def flow_snapshot(flow: FlowRun) -> FlowSnapshot:
    """One money flow as it stands (a suite's snapshot takes every flow's)."""
    return FlowSnapshot(
        name=flow.name,
        declaration=flow.declaration,
        note=flow.settings.note,
        sent=flow.sent,
        not_run=flow.not_run,
        problem=flow.problem,
        record=flow.record,
        rules=tuple(_rule(rule, flow.records[rule.id]) for rule in flow.rules),
        exchange_lines=MappingProxyType(dict(flow.exchange_lines)),
    )


def snapshot_of(suite: SuiteRun) -> SuiteSnapshot:
    """The whole run as it stands now: call it once, when the run is over (pytest's session finish)."""

    def redact(text: str) -> str:  # an error may quote anything the suite held: every method's secrets masked
        for run in suite:
            text = run.redact(text)
        return text

    interrupted = suite.interrupted
    return SuiteSnapshot(
        methods=tuple(_method(run, redact, interrupted) for run in suite),
        flows=tuple(flow_snapshot(flow) for flow in suite.flows.values()),
        errors=tuple(redact(e) for e in suite.errors),
        request_count=suite.request_count,
        public_target=suite.public_target,
        started_at=suite.started_at,
        finished_at=time.time(),
        interrupted=interrupted,
    )
