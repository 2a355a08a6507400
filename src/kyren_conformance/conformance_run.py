"""One conformance run: its settings, its plan, the target (or the embedded mock), and what came back.

The pytest plugin creates one per session and asks it to judge rules; this module holds the
state, the plugin only wires it into pytest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from kyren_conformance import draw_cache
from kyren_conformance.cases import AnyCase, Case, PlannedCase, near_misses, plan_cases, with_fresh_request_ids
from kyren_conformance.client import Client, ClientSettings
from kyren_conformance.contract import Contract, mock_default
from kyren_conformance.exchange import Exchange
from kyren_conformance.exchange_log import ExchangeLog
from kyren_conformance.findings import Finding
from kyren_conformance.judgements import REGISTRY, JudgeContext
from kyren_conformance.packed_bodies import PackedBodies
from kyren_conformance.redaction import DERIVED_MASKS, REDACTED, Redactor
from kyren_conformance.runner import CircuitBreaker, Progress, RateLimit, Runner, run_cases
from kyren_conformance.settings import RunSettings


def mock_credentials(contract: Contract) -> dict[str, Any]:
    """The embedded mock's throwaway test credentials: the contract's mock values (or examples), random secrets."""
    return {f.name: mock_default(f) for f in contract.fields if f.role != "request_id"}


@dataclass
class RuleRecord:
    """What the report needs per rule: which tests checked it, with how many requests, and the outcome."""

    tests: list[str] = field(default_factory=list)
    requests: int = 0
    findings: list[Finding] = field(default_factory=list)
    failed: int = 0
    warned: int = 0
    judged: int = 0  # judgements made; 0 for a rule whose tests never ran (an interrupted run)
    not_applicable: str | None = None  # why the rule had nothing to check on this run


def _answered_in_parallel(answered: list[Exchange]) -> bool:
    """Whether two answered requests shared most of their time in flight (more than half the shorter one's).

    Not any overlap: on one kept-alive connection the next request may start a few microseconds before the
    previous one's end is measured (the connection goes back to the pool first).
    """
    ordered = sorted(answered, key=lambda e: e.started)
    for i, a in enumerate(ordered):
        a_end = a.started + a.elapsed
        for b in ordered[i + 1 :]:
            if b.started >= a_end:
                break
            shared = min(a_end, b.started + b.elapsed) - b.started
            if shared > min(a.elapsed, b.elapsed) / 2:
                return True
    return False


def _most_at_once(exchanges: list[Exchange]) -> int:
    """The most of these requests in flight at one instant."""
    events = sorted([(e.started, 1) for e in exchanges] + [(e.started + e.elapsed, -1) for e in exchanges])
    most = now = 0
    for _, step in events:  # an end sorts before a start at the same instant: touching is not overlapping
        now += step
        most = max(most, now)
    return most


def serves_one_connection_at_a_time(exchanges: list[Exchange], concurrency: int) -> bool:
    """Whether the run's timeouts are what a target that serves one connection at a time gives many connections.

    Such a target (a single-threaded HTTP/1.1 server) answers every request of one kept-alive connection
    while the requests on our other connections wait past the deadline. The evidence, all three needed:

    - some requests were answered and some timed out, with more than one request allowed in flight;
    - no two answered requests were ever in flight at the same time: the target never answered in parallel;
    - the timed-out requests never filled every connection at once: one connection was being served.

    A multi-threaded target that stalls one request now and then answers in parallel between its stalls,
    so its stalled requests are M9 failures and are never resent.
    """
    answered = [e for e in exchanges if e.response is not None]
    timed_out = [e for e in exchanges if e.timed_out]
    if concurrency < 2 or not answered or not timed_out:
        return False
    return not _answered_in_parallel(answered) and _most_at_once(timed_out) < concurrency


def _fresh(case: AnyCase, contract: Contract) -> Case:
    """The case with new request ids, to send it again. A case whose request id is no string (a wrong-type case:
    an array or an object) goes again as it is: its id was never a usable one, and there is nothing to renew."""
    if isinstance(case, PlannedCase):
        return case.build()  # made anew: new ids where they are strings, the same values where they are not
    rid = contract.request_id_field
    ids = [s.payload.get(rid.name) for s in case.steps if rid is not None and isinstance(s.payload, dict)]
    if any(value is not None and not isinstance(value, str) for value in ids):
        return case
    return with_fresh_request_ids(case, contract)


class ConformanceRun:
    """One method's run. A whole-integration run (suite_run.py) makes one per method and gives each the
    target (the shared mock, started on first use), the mock's credentials and one circuit breaker."""

    def __init__(
        self,
        settings: RunSettings,
        *,
        values: Mapping[str, Any] | None = None,
        target: Callable[[], str] | None = None,
        breaker: CircuitBreaker | None = None,
        rate_limit: RateLimit | None = None,
        log: ExchangeLog | None = None,
    ) -> None:
        self.settings = settings
        self.contract = settings.contract
        self.name = self.contract.path.stem  # the method's key in test ids, results and the report
        if values is None:
            values = settings.values if settings.target_url else mock_credentials(self.contract)
        self.values = dict(values)
        self.secrets = self._secrets()
        # the requests of each case are made when it is sent; hypothesis' draws are kept between runs
        self.cases = plan_cases(self.contract, self.values, settings.seed, cache=draw_cache.cache_folder())
        profile = settings.profile
        if settings.target_url is None and not profile.code_table:
            from kyren_conformance.mock import reference_code_table

            profile = replace(profile, code_table=reference_code_table(self.contract))  # the mock declares its codes
        self.ctx = JudgeContext.for_contract(
            self.contract, profile, replay_policy=settings.replay_policy, timeout=settings.timeout
        )
        self.exchanges: dict[str, tuple[Exchange, ...]] = {}
        self.records: dict[str, RuleRecord] = {r.id: RuleRecord() for r in self.contract.rules}
        self.selected: set[str] | None = None  # case ids the collected tests need; None: all
        self.target_url = settings.target_url
        self.started_at = time.time()
        self.send_seconds = 0.0
        self.interrupted = False
        self.errors: list[str] = []  # internal errors of the suite in this method's checks (exit 3, label ERROR)
        self.unreachable: str | None = None  # why the target counts as unreachable, if it does
        self.resent_one_at_a_time = 0  # cases that timed out under concurrency and were answered alone
        self.superseded: dict[str, tuple[Exchange, ...]] = {}  # their first, timed-out exchanges: kept as evidence
        self._mock: object | None = None
        self._target = target
        self._breaker = breaker
        self._rate_limit = rate_limit  # one for the whole run: a target's limit is not per method
        self.throttled = 0  # requests answered 429 at least once (and waited out)
        self.retried = 0  # requests resent with a fresh request id after a stale keep-alive connection
        self._client: Client | None = None
        self._redactor = Redactor(self.secrets)
        self.log = log or ExchangeLog(None)  # exchanges.jsonl, written as each case ends
        self._held: dict[str, tuple[Exchange, ...]] = {}  # timed-out cases' exchanges: logged once a resend is decided
        self._bodies = PackedBodies()  # the long request bodies of the kept exchanges, until a finding quotes one

    def _secrets(self) -> dict[str, str]:
        """Every secret with its mask: the secret fields, the near-miss values derived from them, the profile's."""
        values = [self.values[f.name] for f in self.contract.secret_fields if f.name in self.values]
        masks = {extra: REDACTED for extra in self.settings.profile.extra_secrets if extra}
        password = urlsplit(self.settings.target_url or "").password
        if password:  # https://user:pw@host: the password is a secret like the token, wherever it shows up
            masks[password] = REDACTED
        for secret in values:
            # (a padded value holds the secret itself, which its own mask covers)
            derived = {k: v for k, v in near_misses(secret).items() if k in DERIVED_MASKS}
            masks.update({value: DERIVED_MASKS[kind] for kind, value in derived.items()})
            masks[secret] = REDACTED
        return masks

    @property
    def public_target(self) -> str | None:
        """The target URL as artefacts show it: userinfo and query values masked."""
        return self._redactor.url(self.target_url) if self.target_url else None

    @property
    def secret_env(self) -> str:
        return next((f.env for f in self.contract.secret_fields if f.env), "KYREN_TOKEN")

    @property
    def case_by_id(self) -> dict[str, AnyCase]:
        return {c.id: c for c in self.cases}

    def _start_target(self) -> str:
        if self.target_url is not None:
            return self.target_url
        if self._target is not None:
            self.target_url = self._target()
            return self.target_url
        from kyren_conformance.mock import MockServer

        mock = MockServer(self.contract, credentials=self.values)
        mock.start()
        self._mock = mock
        self.target_url = mock.url
        return mock.url

    def send_all(self, progress: Progress | None = None) -> None:
        """Send every selected case not sent yet (once per run)."""
        prepared = self.prepare_send()
        if prepared is None:
            return
        self.log.open()
        runner, todo = prepared
        started = time.monotonic()
        try:
            try:
                run_cases([(runner, case, self.landed) for case in todo], runner.concurrency, progress)
            finally:  # an interrupted run reports what it got, and goes no further
                self.send_seconds += time.monotonic() - started
                self.end_send(runner)
            self.resend_stalled(runner, todo)
        finally:
            self.log_held()

    def landed(self, case: AnyCase, exchanges: tuple[Exchange, ...]) -> None:
        """A case's exchanges, as it ends: written to exchanges.jsonl and kept for the judgements (a long request
        body packed). A case that timed out may be resent alone (`resend_stalled`): its lines wait until that is
        decided."""
        if any(e.timed_out for e in exchanges):
            self._held[case.id] = exchanges
        else:
            for e in exchanges:
                self.log.write(self.name, e, self.secret_env)
        # keyed by the id string its exchanges carry: one copy per case
        self.exchanges[exchanges[0].case_id if exchanges else case.id] = tuple(self._bodies.kept(e) for e in exchanges)

    def log_held(self) -> None:
        """Write the held exchanges: a resent case's first tries (marked superseded), then what its resend got."""
        held, self._held = self._held, {}
        for case_id, exchanges in held.items():
            resent = case_id in self.superseded
            for e in exchanges:
                self.log.write(self.name, e, self.secret_env, superseded=resent)
            for e in self.exchanges[case_id] if resent else ():
                self.log.write(self.name, e, self.secret_env)

    def prepare_send(self) -> tuple[Runner, list[AnyCase]] | None:
        """The runner and the selected cases not sent yet, cases of several steps (replays) first: a two-step
        case started last would hold the run's end for two round trips. None when there is nothing to send."""
        todo = [
            c for c in self.cases if c.id not in self.exchanges and (self.selected is None or c.id in self.selected)
        ]
        if not todo:
            return None
        url = self._start_target()
        if self._client is None:
            client_settings = ClientSettings(
                base_url=url,
                timeout=self.settings.timeout,
                ca_bundle=self.settings.ca_bundle,
                pool_size=self.settings.concurrency,
            )
            self._client = Client(client_settings, self._redactor)
        runner = Runner(
            self._client,
            self.contract.http_method,
            self.method_path,
            concurrency=self.settings.concurrency,
            breaker=self._breaker,
            redact=self._redactor.text,
            rate_limit=self._rate_limit,
            fresh_ids=self._fresh_ids,
        )
        return runner, sorted(todo, key=lambda case: -case.size)

    def end_send(self, runner: Runner) -> None:
        """What the sending taught, whether it ended or was interrupted."""
        self.throttled += runner.throttled
        self.retried += runner.retried
        self._note_unreachable(runner)

    def resend_stalled(self, runner: Runner, todo: list[AnyCase]) -> None:
        """Resend alone the cases that timed out, when the timings show a target serving one connection at a time."""
        timed_out = [c for c in todo if any(e.timed_out for e in self.exchanges.get(c.id, ()))]
        if not timed_out or runner.breaker.open:
            return
        if serves_one_connection_at_a_time(self.all_exchanges(), self.settings.concurrency):
            self._resend_one_at_a_time(timed_out)
            self._note_unreachable(runner)

    def _fresh_ids(self, case: Case) -> Case:
        return _fresh(case, self.contract)

    def _note_unreachable(self, runner: Runner) -> None:
        exchanges = self.all_exchanges()
        if runner.breaker.open:
            self.unreachable = runner.breaker.why
        elif exchanges and all(e.response is None for e in exchanges):
            self.unreachable = f"no request was answered (first: {exchanges[0].failure})"

    @property
    def method_path(self) -> str:
        """The contract's path, appended to the target URL unless the URL already ends with it.

        Users give the base URL ("https://staging/api") or, as often, the method's own URL
        ("https://staging/api/v1/CloseSession"); both mean the same endpoint.
        """
        path = self.contract.http_path
        given = urlsplit(self.target_url or "").path.rstrip("/")
        return "" if given.endswith(path.rstrip("/")) else path

    def _resend_one_at_a_time(self, cases: list[AnyCase]) -> None:
        """Resend, one at a time on a fresh connection, the cases that timed out under concurrency.

        A target that serves one connection at a time (a single-threaded HTTP/1.1 server) leaves our
        other kept-alive connections unanswered: that is a limit to report, not an M9 failure. The first
        case that times out again shows a genuinely slow path, and the resending stops there.
        """
        assert self._client is not None
        self._client.drop_connections()
        runner = Runner(
            self._client,
            self.contract.http_method,
            self.method_path,
            concurrency=1,
            redact=self._redactor.text,
            rate_limit=self._rate_limit,
            fresh_ids=self._fresh_ids,
        )
        for case in cases:
            fresh = _fresh(case, self.contract)
            exchanges = runner.run([fresh])[fresh.id]
            if any(e.timed_out for e in exchanges):
                break
            self.superseded[case.id] = self.exchanges[case.id]
            self.exchanges[case.id] = exchanges
            self.resent_one_at_a_time += 1

    def evidence(self) -> list[Exchange]:
        """Every exchange of the run, the timed-out first tries of resent cases too: what exchanges.jsonl keeps."""
        return [e for case in self.cases for e in (*self.superseded.get(case.id, ()), *self.exchanges.get(case.id, ()))]

    def all_exchanges(self) -> list[Exchange]:
        return [e for case in self.cases for e in self.exchanges.get(case.id, ())]

    @property
    def request_count(self) -> int:
        return sum(1 for e in self.evidence() if not e.not_sent)

    def redact(self, text: str) -> str:
        return self._redactor.text(text)

    def not_applicable(self, rule_id: str) -> str | None:
        """Why a rule has nothing to check on this run (e.g. no code table declared), or None."""
        reason = REGISTRY[rule_id].not_applicable(self.ctx)
        self.records[rule_id].not_applicable = reason
        return reason

    def judge(self, rule_id: str, case: AnyCase | None = None) -> list[Finding]:
        """The findings of one rule: on one case's exchanges, or on the whole run's."""
        judgement = REGISTRY[rule_id]
        exchanges: Iterable[Exchange] = self.exchanges.get(case.id, ()) if case else self.all_exchanges()
        exchanges = list(exchanges)
        # a finding quotes what was sent: its exchange with the request body as it went out
        findings = [
            replace(f, exchange=self._bodies.full(f.exchange)) if f.exchange is not None else f
            for f in judgement.judge(exchanges, self.ctx)
        ]
        record = self.records[rule_id]
        record.requests += sum(1 for e in exchanges if not e.not_sent) if case else 0
        record.findings.extend(findings)
        record.judged += 1
        return findings

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._mock is not None:
            self._mock.stop()  # type: ignore[attr-defined]
