"""Curl commands rebuild the exact request from the environment, near-miss tokens included."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from kyren_conformance.cases import near_misses
from kyren_conformance.evidence import curl_command, failure_text
from kyren_conformance.exchange import Exchange, Response
from kyren_conformance.findings import Finding
from kyren_conformance.redaction import DERIVED_MASKS, REDACTED, Redactor

TOKEN = "Tok-en/42'x"


def _redactor() -> Redactor:
    masks = {value: DERIVED_MASKS[kind] for kind, value in near_misses(TOKEN).items() if kind in DERIVED_MASKS}
    return Redactor({**masks, TOKEN: REDACTED})


def _exchange(body: bytes, content_type: str | None = "application/json") -> Exchange:
    r = _redactor()
    headers = (("Content-Type", content_type),) if content_type else ()
    return Exchange(
        "POST",
        "http://127.0.0.1:1/v1/CloseSession",
        headers,
        r.bytes(body),
        "case",
        0,
        0.01,
        Response(200, "OK", (), b'{"error": 0}', False),
    )


def _data_sent_by(command: str) -> bytes:
    """Run the command in bash with a `curl` that prints its --data-binary argument."""
    fake_curl = 'curl() { while [ "$#" -gt 0 ]; do [ "$1" = --data-binary ] && printf %s "$2"; shift; done; }; '
    result = subprocess.run(
        ["bash", "-c", fake_curl + command], capture_output=True, env={**os.environ, "KYREN_TOKEN": TOKEN}, check=True
    )
    return result.stdout


@pytest.mark.parametrize("value", [TOKEN, *near_misses(TOKEN).values(), "unrelated"])
def test_curl_rebuilds_the_body_from_the_environment(value: str) -> None:
    body = json.dumps({"token": value, "note": "ünï \x01 $HOME `x` 'q'"}, ensure_ascii=False).encode()
    exchange = _exchange(body)
    assert TOKEN.encode() not in exchange.request_body
    command = curl_command(exchange)
    assert TOKEN not in command
    assert ("KYREN_TOKEN" in command) is (value != "unrelated")
    assert _data_sent_by(command) == body


def test_curl_sends_no_content_type_when_the_request_had_none() -> None:
    assert "-H 'Content-Type:'" in curl_command(_exchange(b"{}", content_type=None))


def test_failure_text_leads_with_the_first_finding() -> None:
    exchange = _exchange(b'{"token": "x"}')
    findings = [Finding("M5", "MUST", "HTTP 200 error=0", "a wrong credential gets an error", exchange, "c1")] * 3
    text = failure_text("M5", "a wrong credential gets a non-zero error", findings)
    assert text.splitlines()[0] == (
        "M5 a wrong credential gets a non-zero error: received HTTP 200 error=0 / "
        "the document says a wrong credential gets an error (+2 more)"
    )
    assert text.count("reproduce: curl") == 3


def test_ansi_c_quoting_carries_every_byte_exactly() -> None:
    """The curl command's quoting, in one pass: every byte, printable or not, quoted as bash reads it."""
    from kyren_conformance.evidence import _ansi_c_quote

    data = bytes(range(256)) + b"\\'plain text"
    quoted = _ansi_c_quote(data)
    assert quoted.startswith("$'") and quoted.endswith("'")
    assert "\\x00" in quoted and "\\x7f" in quoted and "\\xff" in quoted and "\\\\" in quoted and "\\'" in quoted
    assert "plain text" in quoted and "\x1b" not in quoted
    import subprocess

    sent = data[1:]  # bash's $'' string ends at a NUL byte, as any C string does
    command = f"printf %s {_ansi_c_quote(sent)} | od -An -v -tx1"
    printed = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True)
    assert bytes.fromhex(printed.stdout.replace("\n", " ")) == sent
