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
# Once the target has answered, a streak of failures is more likely one slow path than a dead target,
# so it takes a longer streak to stop the run.
BREAKER_THRESHOLD_AFTER_ANSWER = 20

Progress = Callable[[int, int], None]  # (requests done, requests planned)


class Sender(Protocol):
    def send(self, method: str, path: str, request: OutgoingRequest, run_started: float) -> Exchange: ...


_WAKE_UP_SECONDS = 0.25


class CircuitBreaker:
    """Opens after a streak of transport failures, so a dead target costs a few deadlines, not all of them."""

    def __init__(self, threshold: int = BREAKER_THRESHOLD, after_answer: int = BREAKER_THRESHOLD_AFTER_ANSWER) -> None:
        self.threshold = threshold
        self.after_answer = after_answer
        self._lock = threading.Lock()
        self._streak = 0
        self._answered = False
        self._last_failure = ""
        self.open = False

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            if exchange.response is not None:
                self._streak = 0
                self._answered = True
            elif not exchange.not_sent:
                self._streak += 1
                self._last_failure = exchange.failure or "no answer"
                limit = self.after_answer if self._answered else self.threshold
                self.open = self.open or self._streak >= limit

    @property
    def why(self) -> str:
        return f"{self._streak} requests in a row failed (last: {self._last_failure})"

    @property
    def reason(self) -> str:
        return f"target unreachable: {self.why}"


def _not_sent(method: str, url: str, request: OutgoingRequest, reason: str, redact: Callable[[str], str]) -> Exchange:
    # Built here, not by the client, so it goes through the same redaction before it becomes evidence.
    return Exchange(
        method,
        url,
        (),
        b"",
        redact(request.label),
        0.0,
        0.0,
        None,
        failure=redact(f"not sent, {reason}"),
        not_sent=True,
    )


class Runner:
    def __init__(
        self,
        sender: Sender,
        method: str,
        path: str,
        *,
        concurrency: int,
        breaker: CircuitBreaker | None = None,
        redact: Callable[[str], str] = str,
    ) -> None:
        self.sender = sender
        self.redact = redact
        self.method = method
        self.path = path
        self.concurrency = max(1, concurrency)
        self.breaker = breaker or CircuitBreaker()
        self.started = time.monotonic()

    def _run_case(self, case: Case) -> tuple[Exchange, ...]:
        out = []
        for step in case.steps:
            if self.breaker.open:
                exchange = _not_sent(self.method, self.path, step, self.breaker.reason, self.redact)
            else:
                exchange = self.sender.send(self.method, self.path, step, self.started)
                self.breaker.record(exchange)
            out.append(dataclasses.replace(exchange, case_id=case.id, defect=case.defect))
            if exchange.response is None and len(case.steps) > 1:
                # a sequence (a replay) means nothing once a step is lost
                rest = case.steps[len(out) :]
                out.extend(
                    _not_sent(self.method, self.path, s, "an earlier step of this case failed", self.redact)
                    for s in rest
                )
                break
        return tuple(out)

    def run(
        self,
        cases: Sequence[Case],
        progress: Progress | None = None,
        into: dict[str, tuple[Exchange, ...]] | None = None,
    ) -> dict[str, tuple[Exchange, ...]]:
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
                # Wake up now and then: Ctrl-C may reach a sending thread, and only the main thread acts on it,
                # when it next runs Python code; with every sender on a slow request that could be a timeout away.
                finished, _ = wait(pending, timeout=_WAKE_UP_SECONDS, return_when=FIRST_COMPLETED)
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
