"""Redaction: every form a secret takes on the wire is masked, and nothing the client stores holds one."""

from __future__ import annotations

import dataclasses
import json
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

import hostile
from kyren_conformance.client import Client, ClientSettings
from kyren_conformance.exchange import OutgoingRequest
from kyren_conformance.redaction import Redactor

TOKEN = 'tok"en/wïth+odd &chars='
redact = Redactor([TOKEN, "other-secret"])


def forms(secret: str) -> list[str]:
    """Written out here, independently of the module: how the secret may appear."""
    return [
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(secret)[1:-1].replace("/", "\\/"),
        quote(secret, safe=""),
        quote_plus(secret),
        quote(secret, safe="").lower(),
    ]


def test_text_masks_the_secret() -> None:
    assert redact.text(f"a {TOKEN} b {TOKEN}") == "a *** b ***"
    assert redact.text("nothing here") == "nothing here"


@pytest.mark.parametrize("form", forms(TOKEN), ids=["raw", "json", "json-utf8", "json-php", "url", "url-plus", "lower"])
def test_bytes_masks_every_wire_form(form: str) -> None:
    assert redact.bytes(b"<" + form.encode() + b">") == b"<***>"
    assert redact.text(f"<{form}>") == "<***>"
    assert redact.found_in(b"x" + form.encode() + b"x")


def test_a_json_body_keeps_its_shape() -> None:
    body = json.dumps({"token": TOKEN, "user": "u1"}).encode()
    assert json.loads(redact.bytes(body)) == {"token": "***", "user": "u1"}


def test_longest_secret_first() -> None:
    assert Redactor(["abc", "abcdef"]).text("abcdef abc") == "*** ***"


def test_empty_secrets_are_ignored() -> None:
    assert Redactor(["", "s"]).text("as is") == "a*** i***"
    nothing = Redactor([""])
    assert (nothing.text("text"), nothing.bytes(b"bytes"), nothing.found_in(b"")) == ("text", b"bytes", False)


def test_found_in() -> None:
    assert redact.found_in(f"x{TOKEN}x".encode())
    assert not redact.found_in(b"tok en")


def test_value_recurses_into_keys_and_values() -> None:
    value = {TOKEN: [TOKEN, {"k": f"pre-{TOKEN}"}, 3, None, True], "n": 1.5, "t": (TOKEN,), "b": TOKEN.encode()}
    expected = {"***": ["***", {"k": "pre-***"}, 3, None, True], "n": 1.5, "t": ("***",), "b": b"***"}
    assert redact.value(value) == expected


def test_headers() -> None:
    headers = [
        ("Authorization", "Bearer anything"),
        ("Cookie", "sid=1"),
        ("Set-Cookie", "sid=2"),
        ("X-Api-Key", "k"),
        ("X-Echo", f"is {TOKEN}"),
        ("Content-Type", "application/json"),
    ]
    assert redact.headers(headers) == (
        ("Authorization", "***"),
        ("Cookie", "***"),
        ("Set-Cookie", "***"),
        ("X-Api-Key", "***"),
        ("X-Echo", "is ***"),
        ("Content-Type", "application/json"),
    )
    assert redact.headers({"X-Echo": "other-secret"}) == (("X-Echo", "***"),)


def test_url() -> None:
    url = f"https://user:pw@host.example:8443/p/{quote(TOKEN, safe='')}?token={quote(TOKEN, safe='')}&flag&q=1"
    assert redact.url(url) == "https://***@host.example:8443/p/***?token=***&flag&q=***"
    assert redact.url("http://host/close") == "http://host/close"


def test_a_secret_across_the_cut_is_masked_whole() -> None:
    data = b"0123456789" + b"other-secret" + b"tail"
    assert redact.bytes_head(data, 13) == b"0123456789***"
    assert redact.bytes_head(data, 12) == b"0123456789**"
    assert redact.bytes_head(data, 5) == b"01234"


def test_the_redactor_never_shows_its_secrets() -> None:
    assert "other-secret" not in repr(redact)
    with pytest.raises(AttributeError):
        redact.longest = 0


# --- the client: the one choke point ------------------------------------------------------------------------


def strings_in(value: Any) -> list[str]:
    """Every str and bytes inside an Exchange, however deep: what a report could print."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [s for f in dataclasses.fields(value) for s in strings_in(getattr(value, f.name))]
    if isinstance(value, dict):
        return [s for item in value.items() for s in strings_in(item)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in strings_in(item)]
    if isinstance(value, bytes):
        return [value.decode("utf-8", "replace")]
    return [value] if isinstance(value, str) else []


def test_an_exchange_holds_no_secret_even_when_the_target_echoes_it() -> None:
    echoed_headers = f"X-Echo: other-secret\r\nLocation: /x?t={quote(TOKEN, safe='')}\r\n"
    with hostile.LoopbackServer(hostile.json_responder(extra_headers=echoed_headers, echo_request=True)) as server:
        payload = {"token": TOKEN, "nested": {TOKEN: [TOKEN]}}
        request = OutgoingRequest(
            json.dumps(payload).encode(),
            "application/json",
            f"label with {TOKEN}",
            payload=payload,
            extra_headers=(("Authorization", "Bearer other-secret"), ("X-Token", TOKEN)),
        )
        with Client(ClientSettings(server.url), redact) as client:
            exchange = client.send("POST", f"/close/{quote(TOKEN, safe='')}", request, 0.0)
        sent = bytes(server.received).decode("utf-8", "replace")
    assert quote(TOKEN, safe="") in sent and "other-secret" in sent  # the test does send the secrets
    assert exchange.response is not None and exchange.response.status == 200
    assert exchange.secret_echoed
    stored = [repr(exchange), *strings_in(exchange)]
    for form in [*forms(TOKEN), "other-secret"]:
        assert not [text for text in stored if form in text], form
    assert exchange.payload == {"token": "***", "nested": {"***": ["***"]}}
    assert exchange.response.header("X-Echo") == "***"


def test_no_echo_no_flag() -> None:
    with hostile.LoopbackServer(hostile.json_responder()) as server, Client(ClientSettings(server.url), redact) as c:
        exchange = c.send("POST", "/close", OutgoingRequest(TOKEN.encode(), None, "x"), 0.0)
    assert exchange.status == 200
    assert not exchange.secret_echoed
    assert exchange.request_body == b"***"


def test_a_failure_line_is_redacted_too() -> None:
    with Client(ClientSettings("http://other-secret.invalid"), Redactor(["other-secret"])) as client:
        exchange = client.send("POST", "/close", OutgoingRequest(b"{}", None, "x"), 0.0)
    assert exchange.failure == "name does not resolve: ***.invalid"
    assert exchange.url == "http://***.invalid/close"
