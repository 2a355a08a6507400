"""Send a run's cases to the target, concurrently, and stop early when it is unreachable."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Protocol, cast

from kyren_conformance.cases import AnyCase, Case
from kyren_conformance.exchange import Exchange, Headers, OutgoingRequest

BREAKER_THRESHOLD = 5  # consecutive failures (timeouts, refusals) before the run stops sending
# Once the target has answered, a streak of failures is more likely one slow path than a dead target,
# so it takes a longer streak to stop the run.
BREAKER_THRESHOLD_AFTER_ANSWER = 20

Progress = Callable[[int, int], None]  # (requests done, requests planned)


class Sender(Protocol):
    def send(self, method: str, path: str, request: OutgoingRequest, run_started: float) -> Exchange: ...


class RetryingSender(Sender, Protocol):
    """A sender that may resend a request lost on a stale connection, with `fresh()` (a new request id)."""

    def send(
        self,
        method: str,
        path: str,
        request: OutgoingRequest,
        run_started: float,
        *,
        fresh: Callable[[], OutgoingRequest] | None = None,
    ) -> Exchange: ...


class RateLimit:
    """At most `per_second` requests a second, spaced evenly, over every thread that shares it (no bursts).

    A staging endpoint behind a rate limiter answers 429 to a burst; spacing the sends avoids that.
    One RateLimit may be shared by several runners (the methods of one run against one target).
    """

    def __init__(self, per_second: float) -> None:
        if not per_second > 0 or per_second == float("inf"):
            raise ValueError(f"a rate limit must be a positive number of requests per second, not {per_second!r}")
        self.per_second = per_second
        self._interval = 1.0 / per_second
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        """Block until this thread's turn: one interval after the previous turn actually began.

        The threads wait in turn, holding the lock: a thread that wakes late (a loaded machine) pushes the
        next turn back, instead of the next thread going at its booked time, right behind it.
        """
        with self._lock:
            delay = self._next - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._next = time.monotonic() + self._interval


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


class _Interned:
    """One copy of each header line, list of them, URL and reason phrase: a run's exchanges repeat the same few
    (User-Agent, Content-Type, the target's Server, "OK"), and 10,000 exchanges would otherwise hold 10,000 copies
    of each."""

    def __init__(self) -> None:
        self._seen: dict[object, object] = {}

    def text(self, text: str) -> str:
        return cast(str, self._seen.setdefault(text, text))

    def headers(self, headers: Headers) -> Headers:
        pairs = tuple(cast(tuple[str, str], self._seen.setdefault(pair, pair)) for pair in headers)
        return cast(Headers, self._seen.setdefault(pairs, pairs))


def _kept(exchange: Exchange, case_id: str, case: Case, step: OutgoingRequest, interned: _Interned) -> Exchange:
    """The exchange as the run keeps it until the end: tagged with its case (one id string for all its exchanges),
    without what no one reads again (the redacted copy of the payload: the body is the evidence), the text it
    shares with the other exchanges shared."""
    response = exchange.response
    if response is not None:
        response = dataclasses.replace(
            response, reason=interned.text(response.reason), headers=interned.headers(response.headers)
        )
    return dataclasses.replace(
        exchange,
        case_id=case_id,
        defect=case.defect,
        setup=step.setup,
        payload=None,
        url=interned.text(exchange.url),
        request_headers=interned.headers(exchange.request_headers),
        response=response,
    )


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
        rate_limit: float | RateLimit | None = None,
        fresh_ids: Callable[[Case], Case] | None = None,
    ) -> None:
        """`rate_limit`: requests per second over all sending threads (a RateLimit to share one between runners).
        `fresh_ids`: the case with new request ids (cases.with_fresh_request_ids); given it, the sender may resend
        a request lost on a stale keep-alive connection, with a new id. Without it, nothing is ever resent."""
        self.sender = sender
        self.redact = redact
        self.method = method
        self.path = path
        self.concurrency = max(1, concurrency)
        self.breaker = breaker or CircuitBreaker()
        self.started = time.monotonic()
        self.rate_limit = RateLimit(rate_limit) if isinstance(rate_limit, int | float) else rate_limit
        self.fresh_ids = fresh_ids
        self._lock = threading.Lock()
        self._interned = _Interned()
        self.throttled = 0  # requests answered 429 (too many requests) at least once, in this runner's runs
        self.retried = 0  # requests resent with a fresh request id after a stale keep-alive connection

    def _send(self, case: Case, steps: list[OutgoingRequest], index: int) -> Exchange:
        """Send steps[index]; after a retry with a fresh id, the case's later steps take the same new ids."""
        if self.rate_limit is not None:
            self.rate_limit.wait()
        if self.fresh_ids is None:
            exchange = self.sender.send(self.method, self.path, steps[index], self.started)
        else:
            fresh_ids = self.fresh_ids
            renamed: list[Case] = []

            def fresh() -> OutgoingRequest:
                rest = dataclasses.replace(case, steps=tuple(steps[index:]))
                renamed.append(fresh_ids(rest))
                return renamed[-1].steps[0]

            sender = cast(RetryingSender, self.sender)
            exchange = sender.send(self.method, self.path, steps[index], self.started, fresh=fresh)
            if exchange.first_attempt is not None and renamed:
                steps[index:] = renamed[-1].steps
        with self._lock:
            self.throttled += exchange.throttled > 0
            self.retried += exchange.first_attempt is not None
        return exchange

    def _run_case(self, planned: AnyCase) -> tuple[Exchange, ...]:
        case = planned.build()  # a planned case's requests are made now, just before they are sent
        case_id = case.id
        out: list[Exchange] = []
        steps = list(case.steps)
        for index in range(len(steps)):
            if self.breaker.open:
                exchange = _not_sent(self.method, self.path, steps[index], self.breaker.reason, self.redact)
            else:
                exchange = self._send(case, steps, index)
                self.breaker.record(exchange)
            out.append(_kept(exchange, case_id, case, steps[index], self._interned))
            if exchange.response is None and len(case.steps) > 1:
                # a sequence (a replay) means nothing once a step is lost
                reason = "an earlier step of this case failed"
                out.extend(
                    _kept(_not_sent(self.method, self.path, s, reason, self.redact), case_id, case, s, self._interned)
                    for s in case.steps[len(out) :]
                )
                break
        return tuple(out)

    def run(
        self,
        cases: Sequence[AnyCase],
        progress: Progress | None = None,
        into: dict[str, tuple[Exchange, ...]] | None = None,
    ) -> dict[str, tuple[Exchange, ...]]:
        """Every case's exchanges, by case id. Steps of one case go in order; cases run in parallel.

        Results land in `into` as each case ends, so an interrupted run keeps what it got.
        """
        results: dict[str, tuple[Exchange, ...]] = {} if into is None else into

        def land(case: AnyCase, exchanges: tuple[Exchange, ...]) -> None:
            results[case.id] = exchanges

        run_cases([(self, case, land) for case in cases], self.concurrency, progress)
        return results


# Where a case's exchanges go as it ends (called on the thread that runs `run_cases`, one case at a time).
Sink = Callable[[AnyCase, tuple[Exchange, ...]], None]
Work = tuple[Runner, AnyCase, Sink]  # who sends the case, and where its exchanges go


def run_cases(work: Sequence[Work], concurrency: int, progress: Progress | None = None) -> None:
    """Send the cases of any number of runners (the methods of a run) through one pool of `concurrency`
    senders, in the order given; each case's exchanges go to its sink as it ends.

    Only a small window of cases is handed to the pool at a time: `wait` registers with every future it is
    given, so handing it all of them would cost the main thread time in proportion to the cases left, at
    every completion (quadratic over a run).
    """
    concurrency = max(1, concurrency)
    total = sum(case.size for _, case, _ in work)
    done = 0
    queue = deque(work)
    pending: dict[Future[tuple[Exchange, ...]], tuple[AnyCase, Sink]] = {}
    pool = ThreadPoolExecutor(concurrency, thread_name_prefix="kyren-send")
    try:
        while queue or pending:
            while queue and len(pending) < 2 * concurrency:  # the next case is ready when a sender is free
                runner, case, sink = queue.popleft()
                pending[pool.submit(runner._run_case, case)] = (case, sink)
            # Wake up now and then: Ctrl-C may reach a sending thread, and only the main thread acts on it,
            # when it next runs Python code; with every sender on a slow request that could be a timeout away.
            finished, _ = wait(pending, timeout=_WAKE_UP_SECONDS, return_when=FIRST_COMPLETED)
            for future in finished:
                case, sink = pending.pop(future)
                sink(case, future.result())
                done += case.size
            if progress:
                progress(done, total)
    finally:
        # On Ctrl-C, drop what has not started; requests in flight end at their own deadline.
        pool.shutdown(wait=False, cancel_futures=True)
