"""Turn findings into text a person can act on: what was sent, what came back, how to reproduce it.

Exchanges are already redacted; a secret shows as `***`, which the curl command turns back into
`$KYREN_TOKEN` (or the environment variable the contract names for that secret).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from kyren_conformance.exchange import Exchange, printable
from kyren_conformance.findings import Finding
from kyren_conformance.redaction import MASK_PATTERN, SHELL_FOR_MASK

BODY_SHOWN = 2048  # bytes of a body quoted in a failure message


# Bash $'…' quoting: printable ASCII as is, but for \\ and '; every other byte as \xHH. Read as Latin-1, each
# byte is one character, so one regular-expression pass quotes a body (not a Python loop over its bytes).
_UNQUOTABLE = re.compile(r"[^\x20-\x26\x28-\x5b\x5d-\x7e]")
_QUOTED = {chr(b): f"\\x{b:02x}" for b in range(256)} | {"\\": "\\\\", "'": "\\'"}


def _ansi_c_quote(data: bytes) -> str:
    """Bash $'…' quoting, which carries any byte (control characters, non-UTF-8) exactly."""
    return "$'" + _UNQUOTABLE.sub(lambda m: _QUOTED[m.group()], data.decode("latin-1")) + "'"


def _quote_with_secret(data: bytes, secret_env: str) -> str:
    """Quote for bash, turning each mask back into the secret (or its derived value) from the environment."""
    out = []
    for i, part in enumerate(MASK_PATTERN.split(data)):
        if i % 2:  # a mask (split keeps the captured separators at odd positions)
            out.append(SHELL_FOR_MASK[part.decode()].format(env=secret_env))
        elif part or i == 0:
            out.append(_ansi_c_quote(part))
    return "".join(out)


def curl_command(exchange: Exchange, secret_env: str = "KYREN_TOKEN") -> str:
    """A bash command that sends the same request, reading the secret from the environment."""
    args = ["curl", "-sS", "-i", "-X", exchange.method, _ansi_c_quote(exchange.url.encode())]
    for name, value in exchange.request_headers:
        if name.lower() in ("content-type", "accept", "accept-encoding") or name.lower().startswith("x-"):
            args += ["-H", _quote_with_secret(f"{name}: {value}".encode(), secret_env)]
    if not any(n.lower() == "content-type" for n, _ in exchange.request_headers):
        args += ["-H", "'Content-Type:'"]  # curl would otherwise add a form Content-Type
    args += ["--data-binary", _quote_with_secret(exchange.request_body, secret_env)]
    return " ".join(args)


def _body(data: bytes, truncated: bool = False) -> str:
    text = printable(data[:BODY_SHOWN].decode("utf-8", "backslashreplace"), keep="\n\t")
    more = len(data) > BODY_SHOWN or truncated
    return text + (f" … ({len(data)} bytes kept{', cut at the cap' if truncated else ''})" if more else "")


def describe_exchange(exchange: Exchange, secret_env: str = "KYREN_TOKEN") -> str:
    lines = [f"  sent: {exchange.method} {exchange.url} ({exchange.label})"]
    lines += [f"    {name}: {value}" for name, value in exchange.request_headers]
    lines.append(f"    body: {_body(exchange.request_body)}")
    if exchange.response is None:
        lines.append(f"  got: no answer after {exchange.elapsed:.3f} s: {exchange.failure}")
    else:
        r = exchange.response
        if exchange.first_attempt is not None:
            lines.append(f"  resent with a fresh request id after: {exchange.first_attempt.failure}")
        if exchange.throttled:
            lines.append(f"  throttled: {exchange.throttled} answer(s) 429 before this one")
        lines.append(f"  got: HTTP {r.status} {r.reason} in {exchange.elapsed * 1000:.1f} ms")
        lines += [f"    {name}: {value}" for name, value in r.headers]
        lines.append(f"    body: {_body(r.body, r.truncated)}")
    if not exchange.not_sent:
        lines.append(f"  reproduce: {curl_command(exchange, secret_env)}")
    return "\n".join(lines)


def failure_text(
    rule_id: str, title: str, findings: Sequence[Finding], secret_env: str = "KYREN_TOKEN", shown: int = 5
) -> str:
    """The message of a failed rule: every finding in one line, the first few with full evidence."""
    more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
    lines = [f"{rule_id} {title}: {findings[0].message}{more}"]
    for i, f in enumerate(findings):
        lines.append(f"- [{f.case_id or 'run'}] {f.message}")
        if f.exchange is not None and i < shown:
            lines.append(describe_exchange(f.exchange, secret_env))
    if len(findings) > shown:
        lines.append(f"(evidence shown for the first {shown} findings)")
    # The one place what pytest prints is built: whatever the target sent (quoted in a finding's message, a
    # header, a body) reaches the terminal with its control characters written out, never acted on.
    return printable("\n".join(lines), keep="\n\t")
