"""Issue 14: a verdict that holds against odd and hostile targets, each a server on loopback.

Terminal escapes from the target are shown written out; a secret echoed in any encoding is masked and
flagged (S4); the mock authenticates before it replays; interim 1xx answers are read past; NaN, Infinity and
duplicate keys are not JSON; a huge integer reads without a traceback; a lost request is resent only from a
reused connection and with a fresh request id; 429 with Retry-After is waited out and counted; a rate limit
spaces the sends.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

import hostile
from kyren_conformance.cases import Case
from kyren_conformance.client import Client, ClientSettings, retry_after
from kyren_conformance.contract import Contract
from kyren_conformance.evidence import failure_text
from kyren_conformance.exchange import OutgoingRequest
from kyren_conformance.findings import Finding
from kyren_conformance.mock import MockServer
from kyren_conformance.mock.behaviour import Reference
from kyren_conformance.redaction import Redactor
from kyren_conformance.runner import RateLimit, Runner

REQUEST = OutgoingRequest(b'{"uuid": "first"}', "application/json", "probe")
AGAIN = OutgoingRequest(b'{"uuid": "fresh"}', "application/json", "probe")


def _client(url: str, secrets: list[str] | None = None, timeout: float = 2.0) -> Client:
    return Client(ClientSettings(url, timeout=timeout), Redactor(secrets or []))


# --- 1. terminal injection ------------------------------------------------------------------------------


def _hostile_head() -> bytes:
    e = hostile.ESCAPES
    return (
        f"HTTP/1.1 400 Bad{e}Request\r\nContent-Type: application/json{e}\r\nLocation: /x{e}\r\nX-Note: {e}\r\n"
    ).encode("latin-1") + b"X-C1: \x9b31m\r\n"


def test_escape_sequences_from_the_target_are_written_out() -> None:
    body = f"<html>{hostile.ESCAPES}\r overwritten</html>".encode()
    with hostile.LoopbackServer(hostile.raw_answer(_hostile_head(), body)) as server, _client(server.url) as client:
        exchange = client.send("POST", "/close", REQUEST, 0.0)
    assert exchange.response is not None and exchange.status == 400
    head = [exchange.response.reason, *(f"{name}: {value}" for name, value in exchange.response.headers)]
    assert not [line for line in head if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in line)], head
    assert exchange.response.header("content-type") == "application/json\\x1b]0;pwned\\x07\\x1b[2J\\x1b[31m"
    assert exchange.response.header("x-c1") == "\\x9b31m"
    # What pytest prints: a finding quoting the raw header (as judgements do) and the evidence of the exchange.
    finding = Finding("M2", "MUST", f"Content-Type {hostile.ESCAPES}", "JSON", exchange)
    text = failure_text("M2", "title", [finding])
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text and "\x9b" not in text
    assert "\\x1b]0;pwned\\x07" in text and "\\x0d overwritten" in text


def test_a_failure_line_quoting_the_target_is_written_out() -> None:
    # http.client quotes the protocol version it does not know in its exception, which the failure line quotes.
    head = f"HTTP/2{hostile.ESCAPES} 200 OK\r\n".encode()
    with hostile.LoopbackServer(hostile.raw_answer(head, b"{}")) as server, _client(server.url) as client:
        exchange = client.send("POST", "/close", REQUEST, 0.0)
    assert exchange.response is None and exchange.failure is not None
    assert exchange.failure.startswith("the target sent a malformed HTTP head: ")
    assert "\x1b" not in exchange.failure and "HTTP/2\\x1b]0;pwned\\x07" in exchange.failure


# --- 2. secrets echoed in other encodings, or only in a header ------------------------------------------

TOKEN = hostile.TOKEN


def _escaped(text: str, upper: bool) -> str:
    escaped = "".join(f"\\u{ord(c):04x}" for c in text)
    return escaped.replace("\\u", "\\U").upper().replace("\\U", "\\u") if upper else escaped


@pytest.mark.parametrize(
    "echo",
    [
        base64.b64encode(TOKEN.encode()).decode(),
        base64.urlsafe_b64encode(b"user:" + TOKEN.encode()).decode(),  # inside a longer encoded text
        _escaped(TOKEN, upper=False),
        _escaped(TOKEN, upper=True),
        _escaped(TOKEN[:5], upper=True) + TOKEN[5:],  # mixed
        base64.b64encode(TOKEN[:-1].encode()).decode(),  # a near miss, encoded
    ],
    ids=["base64", "base64-inside", "u-lower", "u-upper", "u-mixed", "near-miss-base64"],
)
def test_an_encoded_echo_is_masked_and_flagged(echo: str) -> None:
    redactor = Redactor({TOKEN: "***", TOKEN[:-1]: "***[:-1]"})
    body = json.dumps({"error": 0, "debug": "{echo}"}).replace("{echo}", echo).encode()
    with (
        hostile.LoopbackServer(hostile.json_responder(body=body)) as server,
        Client(ClientSettings(server.url), redactor) as client,
    ):
        exchange = client.send("POST", "/close", REQUEST, 0.0)
    assert exchange.response is not None
    assert exchange.secret_echoed  # what S4 reports
    assert echo.encode() not in exchange.response.body
    assert b"***" in exchange.response.body


@pytest.mark.parametrize("header", ["X-Debug", "X-Auth-Token", "X-Echo-Encoded"])
def test_a_token_echoed_only_in_a_header_is_masked_and_flagged(header: str) -> None:
    value = base64.b64encode(TOKEN.encode()).decode() if header.endswith("Encoded") else TOKEN
    with (
        hostile.LoopbackServer(hostile.json_responder(extra_headers=f"{header}: {value}\r\n")) as server,
        _client(server.url, [TOKEN]) as client,
    ):
        exchange = client.send("POST", "/close", REQUEST, 0.0)
    assert exchange.response is not None and TOKEN.encode() not in exchange.response.body
    assert exchange.secret_echoed
    assert exchange.response.header(header) == "***"


# --- 3. the mock authenticates before it replays ---------------------------------------------------------


@pytest.mark.parametrize("before", [False, True], ids=["reference", "replay-before-auth"])
def test_a_repeated_request_id_with_a_wrong_credential_is_still_refused(contract: Contract, before: bool) -> None:
    # The defect (replay_before_auth) is shown too, so that the test would see a reference that had it.
    rid, secret = contract.request_id_field, next(f for f in contract.credential_fields if f.secret)
    assert rid is not None
    behaviour = type("ReplayBeforeAuth", (Reference,), {"replay_before_auth": True}) if before else Reference
    with MockServer(contract, behaviour=behaviour) as mock, _client(mock.url) as client:
        valid = {**mock.credentials, rid.name: str(uuid.uuid4())}

        def code(body: dict[str, Any]) -> Any:
            request = OutgoingRequest(json.dumps(body).encode(), "application/json", "replay")
            exchange = client.send(contract.http_method, contract.http_path, request, 0.0)
            assert exchange.response is not None and isinstance(exchange.response.json, dict)
            return exchange.response.json[contract.code_field]

        assert code(valid) == contract.success_code
        wrong = code({**valid, secret.name: "wrong-" + valid[secret.name]})
        assert (wrong == contract.success_code) is before
        assert code(valid) == contract.success_code  # the refusal did not replace the first answer


# --- 4. HTTP and JSON as the RFCs read them ---------------------------------------------------------------


@pytest.mark.parametrize(
    "interim",
    [
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
        b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
    ],
    ids=["103", "102-and-103", "100"],
)
def test_interim_answers_are_read_past(interim: bytes) -> None:
    with (
        hostile.LoopbackServer(hostile.interim_then_numbered(interim)) as server,
        _client(server.url) as client,
    ):
        exchanges = [client.send("POST", "/close", REQUEST, 0.0) for _ in range(3)]
        assert server.accepted == 1  # one connection: each answer must go to its own request
    assert [e.status for e in exchanges] == [200, 200, 200]
    assert [e.response.json for e in exchanges if e.response] == [{"error": 0, "n": n} for n in (1, 2, 3)]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"error": 0, "balance": NaN}', "NaN is not a JSON value"),
        (b'{"error": 0, "balance": Infinity}', "Infinity is not a JSON value"),
        (b'{"error": 0, "balance": -Infinity}', "-Infinity is not a JSON value"),
        (b'{"error": 0, "error": 1}', "the key 'error' appears twice"),
        (b'{"error": 0, "nested": {"a": 1, "a": 1}}', "the key 'a' appears twice"),
    ],
    ids=["nan", "infinity", "minus-infinity", "duplicate-key", "duplicate-nested"],
)
def test_what_rfc_8259_does_not_read_is_not_json(body: bytes, problem: str) -> None:
    with hostile.LoopbackServer(hostile.json_responder(body=body)) as server, _client(server.url) as client:
        exchange = client.send("POST", "/close", REQUEST, 0.0)
    assert exchange.response is not None
    assert not exchange.response.is_json and exchange.response.json is None
    assert exchange.response.json_problem is not None and problem in exchange.response.json_problem


@pytest.mark.parametrize("digits", [5_000, 100_000])
def test_a_huge_integer_is_read_as_an_integer(digits: int) -> None:
    body = b'{"error": 0, "balance": -%s, "list": [%s]}' % (b"9" * digits, b"1" * digits)
    with hostile.LoopbackServer(hostile.json_responder(body=body)) as server, _client(server.url) as client:
        exchange = client.send("POST", "/close", REQUEST, 0.0)
    assert exchange.response is not None and exchange.response.is_json
    document = exchange.response.json
    assert document["error"] == 0
    assert isinstance(document["balance"], int) and document["balance"] < -(10**18)
    assert isinstance(document["list"][0], int) and document["list"][0] > 10**18
    assert f"({digits} digits)" in repr(document) and f"{document['balance']}".startswith("-999")


def test_the_cli_reports_on_a_body_with_a_100000_digit_integer(contract: Contract, tmp_path: Path) -> None:
    body = b'{"error": 0, "description": "Success", "balance": ' + b"7" * 100_000 + b"}"
    with contextlib.ExitStack() as servers:
        server = servers.enter_context(hostile.PatientServer(hostile.json_responder(body=body)))
        args, env = hostile.cli_options(hostile.Target(server.url), contract, timeout="5")
        run = hostile.run_measured(args, str(tmp_path / "reports" / "report.html"), env, str(tmp_path))
    tail = run.output[-3000:]
    assert "Traceback" not in run.output and "INTERNALERROR" not in run.output, tail
    assert run.code == 1, tail  # every wrong request "succeeds": not conformant, as for any such target
    assert (tmp_path / "reports" / "report.html").is_file()
    assert json.loads((tmp_path / "reports" / "results.json").read_text())["rules"]


def test_the_cli_writes_the_target_s_escapes_out(contract: Contract, tmp_path: Path) -> None:
    body = f'{{"error": 0, "description": "{hostile.ESCAPES.encode("unicode_escape").decode()}"}}'.encode()
    head = f"HTTP/1.1 200 OK{hostile.ESCAPES}\r\nContent-Type: text/x{hostile.ESCAPES}\r\n".encode()
    with contextlib.ExitStack() as servers:
        server = servers.enter_context(hostile.PatientServer(hostile.raw_answer(head, body)))
        args, env = hostile.cli_options(hostile.Target(server.url), contract, timeout="5")
        run = hostile.run_measured([*args, "-v"], str(tmp_path / "reports" / "report.html"), env, str(tmp_path))
    assert "Traceback" not in run.output, run.output[-3000:]
    assert "\x1b" not in run.output and "\x07" not in run.output
    assert "text/x\\x1b]0;pwned\\x07" in run.output  # the media type the terminal summary lists


# --- 5. a lost request: resent only from a reused connection, with a fresh request id ---------------------


def test_a_request_lost_on_a_reused_connection_is_resent_with_a_fresh_id() -> None:
    with (
        hostile.LoopbackServer(hostile.drops_the_second_request) as server,
        _client(server.url) as client,
    ):
        first = client.send("POST", "/close", REQUEST, 0.0, fresh=lambda: AGAIN)
        second = client.send("POST", "/close", REQUEST, 0.0, fresh=lambda: AGAIN)
        assert server.accepted == 2
    assert first.status == 200 and first.first_attempt is None
    assert second.status == 200 and second.request_body == AGAIN.body
    assert second.first_attempt is not None
    assert second.first_attempt.request_body == REQUEST.body
    assert second.first_attempt.failure == "the target closed the connection without answering"
    assert hostile.requests_received(server) == [REQUEST.body, REQUEST.body, AGAIN.body]


def test_without_a_fresh_id_nothing_is_resent() -> None:
    with hostile.LoopbackServer(hostile.drops_the_second_request) as server, _client(server.url) as client:
        client.send("POST", "/close", REQUEST, 0.0)
        lost = client.send("POST", "/close", REQUEST, 0.0)
        assert server.accepted == 1
    assert lost.response is None and lost.first_attempt is None
    assert hostile.requests_received(server) == [REQUEST.body, REQUEST.body]


@pytest.mark.parametrize("handler", [hostile.close_without_answer, hostile.reset], ids=["closed", "reset"])
def test_a_request_lost_on_a_fresh_connection_is_never_resent(handler: hostile.Handler) -> None:
    with hostile.LoopbackServer(handler) as server, _client(server.url) as client:
        exchange = client.send("POST", "/close", REQUEST, 0.0, fresh=lambda: AGAIN)
        assert server.accepted == 1
    assert exchange.response is None and exchange.first_attempt is None
    assert hostile.requests_received(server) == [REQUEST.body]


def test_a_replay_case_keeps_its_shared_id_after_a_resend() -> None:
    # The second step of a replay case meets the stale connection: it is resent with a fresh id, and so is
    # every later step that shared the old one, so that the case still replays one id.
    steps = tuple(OutgoingRequest(b'{"uuid": "u1", "n": %d}' % n, "application/json", f"s{n}") for n in range(3))
    case = Case("replay", "x", ("M7",), steps)

    def fresh_ids(c: Case) -> Case:
        return Case(
            c.group,
            c.param,
            c.rules,
            tuple(OutgoingRequest(s.body.replace(b"u1", b"u2"), s.content_type, s.label) for s in c.steps),
        )

    with hostile.LoopbackServer(hostile.drops_the_second_request) as server, _client(server.url) as client:
        runner = Runner(client, "POST", "/close", concurrency=1, fresh_ids=fresh_ids)
        exchanges = runner.run([case])[case.id]
    assert [e.status for e in exchanges] == [200, 200, 200]
    assert [e.request_body for e in exchanges] == [steps[0].body, *(s.body.replace(b"u1", b"u2") for s in steps[1:])]
    assert runner.retried == 2  # the server drops the second request of every connection: s1, then s2


# --- 6. rate limits ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["0", formatdate(time.time() - 60, usegmt=True)], ids=["seconds", "http-date-in-the-past"]
)
def test_a_429_with_retry_after_is_waited_out_and_counted(value: str) -> None:
    with hostile.LoopbackServer(hostile.throttle_first(2, value)) as server, _client(server.url) as client:
        exchange = client.send("POST", "/close", REQUEST, 0.0)
        assert client.throttled == 2
    assert exchange.status == 200 and exchange.throttled == 2
    assert hostile.requests_received(server) == [REQUEST.body] * 3  # the same request: it was not processed


@pytest.mark.parametrize("value", [None, "3600", "soon"], ids=["no-retry-after", "beyond-the-deadline", "unreadable"])
def test_a_429_that_cannot_be_waited_out_is_the_answer(value: str | None) -> None:
    with hostile.LoopbackServer(hostile.throttle_first(1, value)) as server, _client(server.url) as client:
        exchange = client.send("POST", "/close", REQUEST, 0.0)
        assert client.throttled == 1
    assert exchange.status == 429 and exchange.throttled == 1
    assert hostile.requests_received(server) == [REQUEST.body]


def test_retry_after_reads_seconds_and_dates() -> None:
    now = 1_700_000_000.0
    assert retry_after("120") == 120.0
    assert retry_after(formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30.0)
    assert retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert retry_after("-1") is None and retry_after("") is None and retry_after(None) is None


def test_the_runner_counts_throttled_requests() -> None:
    cases = [Case("g", f"c{i}", ("M1",), (REQUEST,)) for i in range(4)]
    with hostile.LoopbackServer(hostile.throttle_first(2, "0")) as server, _client(server.url) as client:
        runner = Runner(client, "POST", "/close", concurrency=1)
        results = runner.run(cases)
    assert [e.status for exchanges in results.values() for e in exchanges] == [200] * 4
    assert runner.throttled == 1  # the first request, answered 429 twice


class _FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []
        self.late = 0.0  # how much longer than asked the next sleep lasts (a loaded machine)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds + self.late
        self.late = 0.0


def test_a_rate_limit_spaces_every_send(monkeypatch: pytest.MonkeyPatch) -> None:
    import kyren_conformance.runner as runner_module

    clock = _FakeClock()
    monkeypatch.setattr(runner_module.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(runner_module.time, "sleep", clock.sleep)
    limit = RateLimit(4.0)
    for _ in range(5):
        limit.wait()
    assert clock.slept == [0.25, 0.25, 0.25, 0.25] and clock.now == 101.0  # one turn every 0.25 s; no burst
    clock.late = 0.2  # this thread wakes 0.2 s late: the next turn is 0.25 s after it, not at its booked time
    limit.wait()
    limit.wait()
    assert clock.slept[-2:] == [0.25, 0.25]
    with pytest.raises(ValueError, match="positive"):
        RateLimit(0)


def test_a_runner_with_a_rate_limit_waits_before_each_send(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[None] = []
    monkeypatch.setattr(RateLimit, "wait", lambda self: waits.append(None))
    cases = [Case("g", f"c{i}", ("M1",), (REQUEST, REQUEST)) for i in range(3)]
    with hostile.LoopbackServer(hostile.json_responder()) as server, _client(server.url) as client:
        runner = Runner(client, "POST", "/close", concurrency=3, rate_limit=50.0)
        runner.run(cases)
    assert isinstance(runner.rate_limit, RateLimit) and runner.rate_limit.per_second == 50.0
    assert len(waits) == 6
