"""The client against misbehaving loopback servers: deadline, cap, redirects, TLS, keep-alive, threads."""

from __future__ import annotations

import gzip
import resource
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests.adapters
import trustme

import hostile
from kyren_conformance.client import Client, ClientSettings, check_target_url
from kyren_conformance.exchange import Exchange, OutgoingRequest
from kyren_conformance.redaction import Redactor

TIMEOUT = 1.0
MARGIN = (
    1.0  # a loaded CI machine (2 cores, two test workers) wakes the watchdog late; a missed deadline hangs for good
)
REQUEST = OutgoingRequest(b'{"token": "t"}', "application/json", "probe", payload={"token": "t"})

Send = Callable[..., Exchange]


def send(url: str, request: OutgoingRequest = REQUEST, path: str = "/close", **settings: object) -> Exchange:
    settings.setdefault("timeout", TIMEOUT)
    with Client(ClientSettings(url, **settings), Redactor([])) as client:  # type: ignore[arg-type]
        return client.send("POST", path, request, time.monotonic())


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls(ca: trustme.CA) -> ssl.SSLContext:
    return hostile.tls_server_context(ca.issue_cert("127.0.0.1"))


@pytest.fixture(scope="module")
def ca_pem(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "private-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


# --- the deadline is on the whole response ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("handler", "scheme", "where"),
    [
        (hostile.hang_after_accept, "http", "no status line and headers"),
        (hostile.hang_after_accept, "https", "no status line and headers"),  # stuck in the TLS handshake
        (hostile.headers_drip, "http", "no status line and headers"),
        (hostile.body_drip, "http", "headers received, body incomplete after"),
        (hostile.endless_chunked(0.05), "http", "headers received, body incomplete after"),
    ],
    ids=["hang-after-accept", "hang-in-tls-handshake", "headers-drip", "body-drip", "endless-slow-stream"],
)
def test_a_target_that_never_completes_ends_at_the_deadline(handler: hostile.Handler, scheme: str, where: str) -> None:
    with hostile.LoopbackServer(handler) as server:
        url = server.https_url() if scheme == "https" else server.http_url()
        began = time.monotonic()
        exchange = send(url)
        wall = time.monotonic() - began
    assert exchange.timed_out
    assert exchange.response is None
    assert exchange.failure is not None
    assert exchange.failure.startswith(f"no complete answer within {TIMEOUT:g} s (the whole response")
    assert where in exchange.failure
    assert TIMEOUT - 0.05 <= exchange.elapsed < TIMEOUT + MARGIN
    assert wall < TIMEOUT + MARGIN


def test_a_dripping_body_reports_how_far_it_got() -> None:
    with hostile.LoopbackServer(hostile.body_drip) as server:
        exchange = send(server.url)
    assert exchange.failure is not None
    received = int(exchange.failure.rsplit("after ", 1)[1].split()[0])
    assert 5 <= received <= 11  # one byte per 100 ms for a second


@pytest.mark.parametrize(
    ("handler", "failure"),
    [
        (hostile.random_bytes, "the target does not speak HTTP (bad status line)"),
        (hostile.reset, "connection reset by the target"),
        (hostile.close_without_answer, "the target closed the connection without answering"),
        (hostile.tls_alert, "the target answered TLS to an http:// URL"),
    ],
    ids=["random-bytes", "reset", "close-without-answer", "tls-alert"],
)
def test_a_broken_answer_is_one_clear_line(handler: hostile.Handler, failure: str) -> None:
    with hostile.LoopbackServer(handler) as server:
        exchange = send(server.url)
    assert (exchange.failure, exchange.response, exchange.timed_out) == (failure, None, False)
    assert exchange.elapsed < MARGIN


def test_refused_and_unresolvable_targets() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed when the block ends: nothing listens there any more
    assert send(f"http://127.0.0.1:{port}").failure == f"connection refused by 127.0.0.1:{port}"
    assert send("http://nope.invalid").failure == "name does not resolve: nope.invalid"


# --- the cap, and compressed bodies ------------------------------------------------------------------------


def test_a_300_mb_body_is_cut_at_the_cap_without_being_read() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    with hostile.LoopbackServer(hostile.huge_body) as server:
        exchange = send(server.url, timeout=10.0)
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert exchange.response is not None
    assert exchange.response.truncated
    assert len(exchange.response.body) == 1_048_576
    assert exchange.elapsed < 2.0  # reading 300 MB would take longer than that, and far more memory
    assert growth_mb < 100


def test_an_endless_fast_stream_is_cut_at_the_cap() -> None:
    with hostile.LoopbackServer(hostile.endless_chunked(0.0)) as server:
        exchange = send(server.url, max_body_bytes=65_536)
    assert exchange.response is not None
    assert (exchange.response.truncated, len(exchange.response.body), exchange.timed_out) == (True, 65_536, False)


def test_a_gzip_body_is_decoded() -> None:
    payload = b'{"error": 0, "description": "Success"}'
    with hostile.LoopbackServer(hostile.gzip_responder(payload)) as server:
        exchange = send(server.url)
    assert exchange.response is not None
    assert (exchange.response.body, exchange.response.truncated) == (payload, False)
    assert exchange.response.json == {"error": 0, "description": "Success"}


def test_the_cap_applies_to_the_decoded_body() -> None:
    payload = b'{"pad": "' + b" " * 5_000_000 + b'"}'  # a few KB compressed
    assert len(gzip.compress(payload)) < 65_536
    with hostile.LoopbackServer(hostile.gzip_responder(payload)) as server:
        exchange = send(server.url, max_body_bytes=100_000)
    assert exchange.response is not None
    assert (exchange.response.truncated, exchange.response.body) == (True, payload[:100_000])


# --- redirects ----------------------------------------------------------------------------------------------


def test_a_redirect_is_evidence_and_never_followed() -> None:
    with hostile.LoopbackServer(hostile.json_responder()) as thief:
        with hostile.LoopbackServer(hostile.redirect_to(thief.url + "/stolen")) as server:
            request = OutgoingRequest(b'{"token": "t"}', "application/json", "r", extra_headers=(("X-Token", "t"),))
            exchange = send(server.url, request)
        time.sleep(0.1)  # a client following the redirect would have connected by now
    assert exchange.response is not None
    assert exchange.response.status == 302
    assert exchange.response.header("Location") == thief.url + "/stolen"
    assert (thief.accepted, bytes(thief.received)) == (0, b"")


# --- TLS ------------------------------------------------------------------------------------------------


def test_a_certificate_from_an_unknown_ca_is_not_trusted(tls: ssl.SSLContext) -> None:
    with hostile.LoopbackServer(hostile.json_responder(), tls) as server:
        exchange = send(server.url)
    assert exchange.failure is not None
    assert exchange.failure.startswith("TLS certificate not trusted: ")
    assert exchange.failure.endswith("; use --ca-bundle for a private CA")
    assert exchange.response is None


def test_ca_bundle_adds_a_private_ca(tls: ssl.SSLContext, ca_pem: str) -> None:
    with hostile.LoopbackServer(hostile.json_responder(), tls) as server:
        exchange = send(server.url, ca_bundle=ca_pem)
    assert exchange.failure is None
    assert exchange.status == 200


def test_ca_bundle_keeps_the_default_roots(
    ca_pem: str, tls: ssl.SSLContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stand a second CA in for certifi's roots: with --ca-bundle, both must be trusted.
    default_ca = trustme.CA()
    default_pem = tmp_path / "default-roots.pem"
    default_ca.cert_pem.write_to_path(str(default_pem))
    monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", str(default_pem))
    public = hostile.tls_server_context(default_ca.issue_cert("127.0.0.1"))
    with hostile.LoopbackServer(hostile.json_responder(), public) as server:
        assert send(server.url, ca_bundle=ca_pem).status == 200
    with hostile.LoopbackServer(hostile.json_responder(), tls) as server:
        assert send(server.url, ca_bundle=ca_pem).status == 200


@pytest.mark.parametrize("content", [None, "not a certificate\n"], ids=["missing", "garbage"])
def test_an_unusable_ca_bundle_is_a_one_line_error(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=r"^CA bundle .*ca\.pem") as raised:
        Client(ClientSettings("https://127.0.0.1:1", ca_bundle=str(path)), Redactor([]))
    assert "\n" not in str(raised.value)


def test_plain_http_answering_an_https_url() -> None:
    with hostile.LoopbackServer(hostile.json_responder()) as server:
        exchange = send(server.https_url())
    assert exchange.failure == "the target answered plain HTTP to an https:// URL"


def test_an_https_server_hit_with_http(tls: ssl.SSLContext) -> None:
    # Python's TLS server (like many) drops the connection on a plain-HTTP request.
    with hostile.LoopbackServer(hostile.json_responder(), tls) as server:
        exchange = send(server.http_url())
    assert exchange.failure in ("connection reset by the target", "the target closed the connection without answering")
    assert not exchange.timed_out


# --- keep-alive and threads ------------------------------------------------------------------------------


@pytest.fixture
def answering() -> Iterator[hostile.LoopbackServer]:
    with hostile.LoopbackServer(hostile.slow_or_fast) as server:
        yield server


def test_keep_alive_reuses_one_connection(answering: hostile.LoopbackServer) -> None:
    with Client(ClientSettings(answering.url, timeout=0.3), Redactor([])) as client:
        statuses = [client.send("POST", "/close", REQUEST, 0.0).status for _ in range(3)]
        time.sleep(0.4)  # the finished sends' deadlines pass: they must leave the pooled connection alone
        statuses.append(client.send("POST", "/close", REQUEST, 0.0).status)
    assert statuses == [200] * 4
    assert answering.accepted == 1


def test_a_cut_body_closes_its_connection() -> None:
    with hostile.LoopbackServer(hostile.endless_chunked(0.0)) as server:
        with Client(ClientSettings(server.url, max_body_bytes=1000), Redactor([])) as client:
            first, second = (client.send("POST", "/close", REQUEST, 0.0) for _ in range(2))
        assert server.accepted == 2
    assert first.response and second.response and first.response.truncated and second.response.truncated


def test_concurrent_sends_share_the_pool(answering: hostile.LoopbackServer) -> None:
    with Client(ClientSettings(answering.url, pool_size=8), Redactor([])) as client, ThreadPoolExecutor(8) as pool:
        exchanges = list(pool.map(lambda _: client.send("POST", "/close", REQUEST, 0.0), range(200)))
    assert [e.status for e in exchanges] == [200] * 200
    assert answering.accepted <= 8


def test_each_thread_has_its_own_deadline(answering: hostile.LoopbackServer) -> None:
    settings = ClientSettings(answering.url, timeout=TIMEOUT, pool_size=8)
    paths = ["/slow", "/fast"] * 4 + ["/fast"] * 40
    with Client(settings, Redactor([])) as client, ThreadPoolExecutor(8) as pool:
        exchanges = list(pool.map(lambda p: client.send("POST", p, REQUEST, 0.0), paths))
    slow = [e for p, e in zip(paths, exchanges, strict=True) if p == "/slow"]
    fast = [e for p, e in zip(paths, exchanges, strict=True) if p == "/fast"]
    assert all(e.timed_out and TIMEOUT - 0.05 <= e.elapsed < TIMEOUT + MARGIN for e in slow)
    assert all(e.status == 200 and e.elapsed < MARGIN for e in fast)


# --- what is sent, and what send never does --------------------------------------------------------------


def test_the_headers_sent(answering: hostile.LoopbackServer) -> None:
    no_type = OutgoingRequest(b"{}", None, "no content type", extra_headers=(("accept", "*/*"), ("X-Trace", "1")))
    with Client(ClientSettings(answering.url), Redactor([])) as client:
        exchange = client.send("POST", "/close", no_type, 0.0)
    sent = bytes(answering.received).lower()
    assert b"content-type" not in sent
    assert b"accept-encoding: gzip, deflate\r\n" in sent
    assert b"\r\naccept: */*\r\n" in sent and b"application/json" not in sent  # an extra header wins
    assert dict(exchange.request_headers)["X-Trace"] == "1"
    assert exchange.url == answering.url + "/close"
    assert exchange.request_body == b"{}"


def test_content_type_is_sent_as_given(answering: hostile.LoopbackServer) -> None:
    request = OutgoingRequest(b"x", "text/plain; charset=latin-1", "odd type")
    send(answering.url, request)
    assert b"\r\nContent-Type: text/plain; charset=latin-1\r\n" in bytes(answering.received)


def test_started_is_relative_to_the_run(answering: hostile.LoopbackServer) -> None:
    with Client(ClientSettings(answering.url), Redactor([])) as client:
        run_started = time.monotonic() - 5.0
        exchange = client.send("POST", "/close", REQUEST, run_started)
    assert 5.0 <= exchange.started < 5.5
    assert 0 < exchange.elapsed < MARGIN


def test_a_server_that_silently_closes_kept_alive_connections_is_retried_once() -> None:
    # Without the retry, some sends reuse a connection the server has already closed and get no answer.
    again = OutgoingRequest(b'{"token": "t", "uuid": "new"}', "application/json", "probe")
    with (
        hostile.LoopbackServer(hostile.one_answer_then_close) as server,
        Client(ClientSettings(server.url), Redactor([])) as client,
    ):
        exchanges = [client.send("POST", "/close", REQUEST, 0.0, fresh=lambda: again) for _ in range(30)]
    assert [e.failure for e in exchanges if e.response is None] == []
    assert server.accepted >= 30
    retried = [e for e in exchanges if e.first_attempt is not None]
    assert all(e.request_body == again.body and e.first_attempt.request_body == REQUEST.body for e in retried)  # type: ignore[union-attr]


def test_send_never_raises(answering: hostile.LoopbackServer) -> None:
    bad_header = OutgoingRequest(b"{}", "application/json", "bad", extra_headers=(("X-Bad", "a\r\nb"),))
    client = Client(ClientSettings(answering.url), Redactor([]))
    exchange = client.send("POST", "/close", bad_header, 0.0)
    assert exchange.failure is not None and exchange.failure.startswith("the request could not be built: ")
    client.close()
    closed = client.send("POST", "/close", REQUEST, 0.0)
    assert closed.failure == "internal client error: RuntimeError: the client is closed"


# --- the target URL -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("https://staging.example/api/", "https://staging.example/api"),
        ("https://[::1]:8443/", "https://[::1]:8443"),
    ],
)
def test_check_target_url_accepts(url: str, expected: str) -> None:
    assert check_target_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.org", "must start with http:// or https://"),
        ("localhost:8080", "must start with http:// or https://"),
        ("", "must start with http:// or https://"),
        ("http://", "has no host"),
        ("http://:8080/api", "has no host"),
        ("http://example.org:99999", "has a bad port"),
        ("http://example.org:http", "has a bad port"),
        ("http://example.org:0", "has a bad port"),
        ("http://example.org/api?key=1", "must not hold a query"),
        ("http://user:hunter2@example.org:abc", "has a bad port"),
    ],
)
def test_check_target_url_rejects(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        check_target_url(url)
    assert "\n" not in str(raised.value)
    assert "hunter2" not in str(raised.value)
