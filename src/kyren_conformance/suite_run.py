"""A whole-integration run: every method of the run against one target, in one process.

Each method keeps its own `ConformanceRun` (its cases, exchanges and rule records); this module
holds what they share: the target (one embedded mock serving every contract at its own path, started
on first use), the mock's test credentials (the same partner id and token for every method, as a
real integration has), and one circuit breaker, so a dead target costs a few deadlines for the
whole run rather than a few per method. The money flows (flow_run.py) go after every case, one after the other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from kyren_conformance.client import ClientSettings
from kyren_conformance.conformance_run import ConformanceRun
from kyren_conformance.exchange import Exchange
from kyren_conformance.exchange_log import ExchangeLog
from kyren_conformance.flow_run import FlowRun
from kyren_conformance.redaction import Redactor
from kyren_conformance.runner import CircuitBreaker, Progress, RateLimit, Work, run_cases
from kyren_conformance.settings import SuiteSettings


class SuiteRun:
    def __init__(self, settings: SuiteSettings) -> None:
        self.settings = settings
        first = settings.first
        self.target_url = first.target_url
        self.started_at = time.time()
        self.started_monotonic = time.monotonic()  # a flow's exchanges are timed from the run's start
        self.interrupted = False
        self.errors: list[str] = []  # internal errors of the suite outside any one method's checks (exit 3)
        self._breaker = CircuitBreaker()
        self._sent = False
        self._send_seconds = 0.0
        rate_limit = RateLimit(first.rate_limit) if first.rate_limit else None  # one limit: one target
        # exchanges.jsonl beside results.json, written as each case ends (none without results)
        self.log = ExchangeLog(first.json_report.with_name("exchanges.jsonl") if first.json_report else None)
        self._mock: Any = None
        contracts = [m.contract for m in settings.methods]
        if first.target_url is None:
            from kyren_conformance.mock import MockServer

            flows = [flow.declaration for flow in settings.flows]  # the mock keeps balances for them
            self._mock = MockServer(contracts, flows=flows)  # one value per field name for every method
        self.runs: dict[str, ConformanceRun] = {}
        for method in settings.methods:
            values = self._mock.credentials_of(method.contract) if self._mock is not None else None
            target = self._start_mock if self._mock is not None else None
            run = ConformanceRun(
                method, values=values, target=target, breaker=self._breaker, rate_limit=rate_limit, log=self.log
            )
            self.runs[run.name] = run
        # the money flows, sent after every method's cases (flow_run.py); each with its methods' secret variable
        self.flows: dict[str, FlowRun] = {}
        for flow in settings.flows:
            secret_env = next((self.runs[m].secret_env for m in flow.declaration.methods
                               if self.runs[m].contract.secret_fields), "KYREN_TOKEN")  # fmt: skip
            self.flows[flow.name] = FlowRun(flow, secret_env)
        self._flows_seconds = 0.0

    def _start_mock(self) -> str:
        if self.target_url is None:
            self._mock.start()
            self.target_url = str(self._mock.url)
        return self.target_url

    @property
    def public_target(self) -> str | None:
        """The target URL as artefacts show it: userinfo and query values masked."""
        return next(iter(self)).public_target if self.target_url else None

    def __iter__(self) -> Iterator[ConformanceRun]:
        return iter(self.runs.values())

    @property
    def several(self) -> bool:
        return len(self.runs) > 1

    @property
    def planned(self) -> int:
        return sum(c.size for run in self for c in run.cases if run.selected is None or c.id in run.selected)

    def send_all(self, progress: Progress | None = None) -> None:
        """Send every method's selected cases through one pool of senders, once per run.

        One pool for all methods, not one after another: a method's last slow requests would otherwise leave
        the other senders idle, once per method. Cases of several steps (replays) go first, every method's.
        """
        if self._sent:
            return  # every test asks; only the first sends, and the others must not pay for a rescan
        prepared = [(run, run.prepare_send()) for run in self]
        self.log.open()
        work: list[Work] = []
        for run, ready in prepared:
            if ready is not None:
                runner, todo = ready
                work += [(runner, case, run.landed) for case in todo]
        work.sort(key=lambda item: -item[1].size)  # stable: within a length, each method's order
        started = time.monotonic()
        try:
            try:
                run_cases(work, self.settings.first.concurrency, progress)
            finally:  # an interrupted run reports what it got, and goes no further
                self._send_seconds += time.monotonic() - started
                for run, ready in prepared:
                    if ready:
                        run.end_send(ready[0])
            for run, ready in prepared:
                if ready:
                    run.resend_stalled(*ready)
        finally:
            for run in self:
                run.log_held()
        self._sent = True

    def run_flows(self, progress: Callable[[FlowRun], None] | None = None) -> None:
        """Send the selected money flows, one after the other, once: after every case (no case's traffic falls
        between a flow's balance reads) and before any rule is judged. `progress` is told as each flow ends."""
        todo = [flow for flow in self.flows.values() if flow.selected and flow.not_run is None and not flow.sent]
        if not todo:
            return
        self.send_all()  # every case first, whoever asks
        values = {name: run.values for name, run in self.runs.items()}  # against the mock: its credentials
        contracts = {name: run.contract for name, run in self.runs.items()}
        secrets = {secret: mask for run in self for secret, mask in run.secrets.items()}
        redactor = Redactor(secrets)
        first = self.settings.first
        for flow in todo:
            if self.unreachable:
                flow.stopped = f"not sent: the target is unreachable ({self.unreachable})"
            else:
                url = self._start_mock() if self._mock is not None else str(self.target_url)
                pool = max(first.concurrency, flow.declaration.race_requests)  # a burst's copies each in flight
                client = ClientSettings(url, timeout=first.timeout, ca_bundle=first.ca_bundle, pool_size=pool)
                try:
                    flow.send(contracts, values, client, redactor, self.log, self.started_monotonic)
                except Exception as exc:  # the suite's own failure: no verdict on the target (exit 3)
                    flow.stopped = f"internal error of the suite: {type(exc).__name__}: {redactor.text(str(exc))}"
                    self.errors.append(f"money flow {flow.name}: {type(exc).__name__}: {redactor.text(str(exc))}")
                self._flows_seconds += flow.seconds
            if progress is not None:
                progress(flow)

    def flow_lines(self) -> list[str]:
        """The run identity's lines on the money flows: what each moves and on which test user, or why it is not run."""
        values = {name: run.values for name, run in self.runs.items()}
        contracts = {name: run.contract for name, run in self.runs.items()}
        lines = []
        for flow in self.flows.values():
            if flow.not_run:
                lines.append(f"flow {flow.name}: not run ({flow.not_run})")
            else:
                lines.append(f"{flow.settings.note} ({flow.test_user(values, contracts)})")
        return lines

    @property
    def send_seconds(self) -> float:
        return self._send_seconds

    @property
    def request_count(self) -> int:
        """Every request sent: each method's cases and each money flow's requests."""
        return sum(run.request_count for run in self) + sum(flow.requests for flow in self.flows.values())

    def all_exchanges(self) -> list[Exchange]:
        return [e for run in self for e in run.all_exchanges()]

    @property
    def unreachable(self) -> str | None:
        return next((run.unreachable for run in self if run.unreachable), None)

    @property
    def resent_one_at_a_time(self) -> int:
        return sum(run.resent_one_at_a_time for run in self)

    @property
    def throttled(self) -> int:
        return sum(run.throttled for run in self)

    @property
    def retried(self) -> int:
        return sum(run.retried for run in self)

    def close(self) -> None:
        self.log.close()
        for run in self:
            run.close()
        if self._mock is not None:
            self._mock.stop()
