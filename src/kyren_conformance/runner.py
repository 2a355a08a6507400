"""Send a run's cases to the target, concurrently, and stop early when it is unreachable."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Protocol

from kyren_conformance.cases import Case
from kyren_conformance.exchange import Exchange, OutgoingRequest

BREAKER_THRESHOLD = 5  # consecutive failures (timeouts, refusals) before the run stops sending

Progress = Callable[[int, int], None]  # (requests done, requests planned)


class Sender(Protocol):
    def send(self, method: str, path: str, request: OutgoingRequest, run_started: float) -> Exchange: ...


class CircuitBreaker:
    """Opens after `threshold` transport failures in a row, so a dead target costs a few deadlines, not all."""

    def __init__(self, threshold: int = BREAKER_THRESHOLD) -> None:
        self.threshold = threshold
        self._lock = threading.Lock()
        self._streak = 0
        self._last_failure = ""
        self.open = False

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            if exchange.response is None and not exchange.not_sent:
                self._streak += 1
                self._last_failure = exchange.failure or "no answer"
                self.open = self.open or self._streak >= self.threshold
            elif exchange.response is not None:
                self._streak = 0

    @property
    def why(self) -> str:
        return f"{self.threshold} requests in a row failed (last: {self._last_failure})"

    @property
    def reason(self) -> str:
        return f"target unreachable: {self.why}"


def _not_sent(method: str, url: str, request: OutgoingRequest, reason: str) -> Exchange:
    return Exchange(method, url, (), b"", request.label, 0.0, 0.0, None, failure=f"not sent, {reason}", not_sent=True)


class Runner:
    def __init__(self, sender: Sender, method: str, path: str, *, concurrency: int, breaker: CircuitBreaker | None = None) -> None:
        self.sender = sender
        self.method = method
        self.path = path
        self.concurrency = max(1, concurrency)
        self.breaker = breaker or CircuitBreaker()
        self.started = time.monotonic()

    def _run_case(self, case: Case) -> tuple[Exchange, ...]:
        out = []
        for step in case.steps:
            if self.breaker.open:
                exchange = _not_sent(self.method, self.path, step, self.breaker.reason)
            else:
                exchange = self.sender.send(self.method, self.path, step, self.started)
                self.breaker.record(exchange)
            out.append(dataclasses.replace(exchange, case_id=case.id, defect=case.defect))
            if exchange.response is None and len(case.steps) > 1:
                # a sequence (a replay) means nothing once a step is lost
                out.extend(_not_sent(self.method, self.path, s, "an earlier step of this case failed") for s in case.steps[len(out):])
                break
        return tuple(out)

    def run(self, cases: Sequence[Case], progress: Progress | None = None,
            into: dict[str, tuple[Exchange, ...]] | None = None) -> dict[str, tuple[Exchange, ...]]:
        """Every case's exchanges, by case id. Steps of one case go in order; cases run in parallel.

        Results land in `into` as each case ends, so an interrupted run keeps what it got.
        """
        results: dict[str, tuple[Exchange, ...]] = {} if into is None else into
        total = sum(len(c.steps) for c in cases)
        done = 0
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="kyren-send")
        try:
            pending: dict[Future[tuple[Exchange, ...]], Case] = {pool.submit(self._run_case, c): c for c in cases}
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    case = pending.pop(future)
                    results[case.id] = future.result()
                    done += len(case.steps)
                if progress:
                    progress(done, total)
        finally:
            # On Ctrl-C, drop what has not started; requests in flight end at their own deadline.
            pool.shutdown(wait=False, cancel_futures=True)
        return results
