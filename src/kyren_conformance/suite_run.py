"""A whole-integration run: every method of the run against one target, in one process.

Each method keeps its own `ConformanceRun` (its cases, exchanges and rule records); this module
holds what they share: the target (one embedded mock serving every contract at its own path, started
on first use), the mock's test credentials (the same partner id and token for every method, as a
real integration has), and one circuit breaker, so a dead target costs a few deadlines for the
whole run rather than a few per method.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from kyren_conformance.conformance_run import ConformanceRun
from kyren_conformance.contract import Contract, mock_default
from kyren_conformance.exchange import Exchange
from kyren_conformance.runner import CircuitBreaker, Progress, RateLimit
from kyren_conformance.settings import SuiteSettings


def shared_mock_values(contracts: list[Contract]) -> dict[str, Any]:
    """One value per field name for the whole mock: the first method that names a field chooses it."""
    values: dict[str, Any] = {}
    for contract in contracts:
        for f in contract.fields:
            if f.role != "request_id" and f.name not in values:
                values[f.name] = mock_default(f)
    return values


class SuiteRun:
    def __init__(self, settings: SuiteSettings) -> None:
        self.settings = settings
        first = settings.first
        self.target_url = first.target_url
        self.started_at = time.time()
        self.interrupted = False
        self.errors: list[str] = []  # internal errors of the suite outside any one method's checks (exit 3)
        self._breaker = CircuitBreaker()
        rate_limit = RateLimit(first.rate_limit) if first.rate_limit else None  # one limit: one target
        self._mock: Any = None
        contracts = [m.contract for m in settings.methods]
        if first.target_url is None:
            from kyren_conformance.mock import MockServer

            self._mock = MockServer(contracts, credentials=shared_mock_values(contracts))
        self.runs: dict[str, ConformanceRun] = {}
        for method in settings.methods:
            values = self._mock.credentials_of(method.contract) if self._mock is not None else None
            target = self._start_mock if self._mock is not None else None
            run = ConformanceRun(method, values=values, target=target, breaker=self._breaker, rate_limit=rate_limit)
            self.runs[run.name] = run

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
        return sum(len(c.steps) for run in self for c in run.cases if run.selected is None or c.id in run.selected)

    def send_all(self, progress: Progress | None = None) -> None:
        """Send every method's selected cases, method after method, each as concurrently as its settings say."""
        total = self.planned
        done_before = 0

        def overall(done: int, _: int) -> None:
            if progress:
                progress(done_before + done, total)

        for run in self:
            run.send_all(overall)
            # once the shared breaker is open, the later methods' cases get their not-sent evidence at once
            done_before += sum(len(c.steps) for c in run.cases if run.selected is None or c.id in run.selected)

    @property
    def send_seconds(self) -> float:
        return sum(run.send_seconds for run in self)

    @property
    def request_count(self) -> int:
        return sum(run.request_count for run in self)

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
        for run in self:
            run.close()
        if self._mock is not None:
            self._mock.stop()
