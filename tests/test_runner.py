"""The runner: cases in parallel, steps in order, and a circuit breaker for dead targets."""

from __future__ import annotations

import dataclasses
import threading
import time
from functools import partial

from kyren_conformance.cases import Case, PlannedCase
from kyren_conformance.exchange import Exchange, OutgoingRequest, Response
from kyren_conformance.runner import CircuitBreaker, Runner, run_cases


class FakeSender:
    """Answers from a rule; records the order and the concurrency it saw."""

    def __init__(self, answer: bool | None = True, delay: float = 0.0, fail_labels: tuple[str, ...] = ()) -> None:
        self.answer, self.delay, self.fail_labels = answer, delay, fail_labels
        self.sent: list[str] = []
        self.in_flight = self.peak = 0
        self.lock = threading.Lock()

    def send(self, method: str, path: str, request: OutgoingRequest, run_started: float) -> Exchange:
        with self.lock:
            self.sent.append(request.label)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        time.sleep(self.delay)
        with self.lock:
            self.in_flight -= 1
        ok = self.answer and request.label not in self.fail_labels
        response = Response(200, "OK", (), b'{"error": 0}', False) if ok else None
        return Exchange(
            method,
            path,
            (),
            request.body,
            request.label,
            0.0,
            self.delay,
            response,
            failure=None if ok else "connection refused by 127.0.0.1:9",
        )


def _cases(n: int, steps: int = 1, prefix: str = "c") -> list[Case]:
    return [
        Case(
            "g",
            f"{prefix}{i}",
            ("M1",),
            tuple(OutgoingRequest(b"{}", "application/json", f"{prefix}{i}.{s}") for s in range(steps)),
        )
        for i in range(n)
    ]


def test_concurrency_is_bounded_and_every_case_answered() -> None:
    sender = FakeSender(delay=0.02)
    results = Runner(sender, "POST", "/p", concurrency=3).run(_cases(12))
    assert len(results) == 12 and sender.peak == 3
    assert all(e.response is not None and e.case_id == f"g[{cid[2:-1]}]" for cid, ex in results.items() for e in ex)


def test_steps_of_a_case_go_in_order() -> None:
    sender = FakeSender()
    Runner(sender, "POST", "/p", concurrency=4).run(_cases(3, steps=3))
    for i in range(3):
        mine = [label for label in sender.sent if label.startswith(f"c{i}.")]
        assert mine == [f"c{i}.0", f"c{i}.1", f"c{i}.2"]


def test_dead_target_stops_after_the_threshold() -> None:
    sender = FakeSender(answer=None)
    results = Runner(sender, "POST", "/p", concurrency=1).run(_cases(50))
    exchanges = [e for ex in results.values() for e in ex]
    assert len(sender.sent) == 5
    not_sent = [e for e in exchanges if e.not_sent]
    assert len(not_sent) == 45
    # every request not sent says why (results arrive in completion order, so no position is assumed)
    assert all(
        "target unreachable: 5 requests in a row failed (last: connection refused" in (e.failure or "")
        for e in not_sent
    )


def test_a_slow_path_on_a_live_target_does_not_stop_the_run() -> None:
    labels = tuple(f"c{i}.0" for i in range(3, 15))  # twelve failures in a row, after answers
    sender = FakeSender(fail_labels=labels)
    Runner(sender, "POST", "/p", concurrency=1).run(_cases(30))
    assert len(sender.sent) == 30


def test_breaker_after_answers_needs_a_longer_streak() -> None:
    breaker = CircuitBreaker(threshold=2, after_answer=4)
    ok = Exchange("POST", "/", (), b"", "x", 0, 0, Response(200, "", (), b"", False))
    bad = Exchange("POST", "/", (), b"", "x", 0, 0, None, failure="timed out")
    breaker.record(ok)
    for _ in range(3):
        breaker.record(bad)
    assert not breaker.open
    breaker.record(bad)
    assert breaker.open and breaker.why.startswith("4 requests in a row failed")


def test_a_lost_step_marks_the_rest_of_its_case_not_sent() -> None:
    sender = FakeSender(fail_labels=("c0.0",))
    results = Runner(sender, "POST", "/p", concurrency=1).run(_cases(1, steps=2))
    first, second = results["g[c0]"]
    assert first.response is None and second.not_sent and sender.sent == ["c0.0"]


def test_a_planned_case_is_made_when_it_is_sent_and_only_then() -> None:
    made: list[str] = []

    def make(name: str) -> tuple[OutgoingRequest, ...]:
        made.append(name)
        return (OutgoingRequest(b"{}", "application/json", f"{name}.0"), OutgoingRequest(b"{}", None, f"{name}.1"))

    plans = [PlannedCase("g", f"p{i}", ("M7",), partial(make, f"p{i}"), size=2) for i in range(5)]
    assert made == []  # planning made no request
    sender = FakeSender()
    landed: list[tuple[str, int]] = []
    runner = Runner(sender, "POST", "/p", concurrency=2)
    run_cases([(runner, plan, lambda case, ex: landed.append((case.id, len(ex)))) for plan in plans], 2)
    assert sorted(made) == [f"p{i}" for i in range(5)]  # each made once, by the sender
    assert sorted(landed) == [(f"g[p{i}]", 2) for i in range(5)]  # each case lands once, with all its steps
    assert sorted(sender.sent) == sorted(f"p{i}.{s}" for i in range(5) for s in (0, 1))


class HeaderSender(FakeSender):
    """Answers with the same headers every time, each a new string as a real client reads them."""

    def send(self, method: str, path: str, request: OutgoingRequest, run_started: float) -> Exchange:
        sent = super().send(method, path, request, run_started)
        head = (("Content-Type", "".join(["application/", "json"])), ("Server", "".join(["mock", "/1"])))
        response = Response(200, "".join(["O", "K"]), head, b'{"error": 0}', False)
        return dataclasses.replace(sent, request_headers=head, response=response, payload={"big": "x" * 1000})


def test_the_exchanges_kept_share_their_header_lines_and_drop_the_payload_copy() -> None:
    results = Runner(HeaderSender(), "POST", "/p", concurrency=1).run(_cases(3))
    first, second, third = (ex[0] for ex in results.values())
    assert first.payload is second.payload is None  # the redacted payload copy: the body is the evidence
    assert first.request_headers is second.request_headers is third.request_headers
    assert first.response is not None and second.response is not None
    assert first.response.headers is second.response.headers and first.response.reason is second.response.reason
    assert first.response.headers == (("Content-Type", "application/json"), ("Server", "mock/1"))
    assert first.case_id == "g[c0]" and second.case_id == "g[c1]"
