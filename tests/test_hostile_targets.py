"""Issue 6: hostile and broken targets give a clear failed verdict, in bounded time and memory, and nothing leaks.

Each test runs the real CLI in a subprocess (`--timeout 1`) against a loopback server from `hostile.py`, and
asserts the exit code, a bound on the sending and wall time, the one-line reason, the process's peak RSS, and
that the token (`hostile.TOKEN`, or a near miss of it) is in no artefact, in no terminal line and in no byte
that reached the "thief" behind a redirect. Configuration errors end with exit 4, one line, before any request.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

import hostile
from kyren_conformance.contract import Contract
from kyren_conformance.runner import BREAKER_THRESHOLD
from kyren_conformance.settings import DEFAULT_CONCURRENCY
from support import CliRun

TIMEOUT = 1.0  # hostile.cli_options passes --timeout 1
SEND_MARGIN = 0.75  # seconds beyond the predicted sending time (thread start-up, a loaded CI machine)
OVERHEAD = 10.0  # seconds of a run that are not sending: interpreter, pytest, collection, report writing
REQUEST_MARGIN = 0.4  # seconds one request may run past its deadline (the watchdog's reaction)
MAX_RSS_MB = 400  # "well under 1 GiB": an idle run peaks near 60 MB; four uncapped 300 MB bodies would not fit
LEAK = hostile.TOKEN.lower()[4:13]  # "secret-42": the token, and its near misses (case-swapped, one char off)

# Rounds of deadlines before the breaker opens on a target that never answers: every request in flight
# fails at the same deadline, so the run costs this many timeouts, not one per request.
DEAD_ROUNDS = math.ceil(BREAKER_THRESHOLD / DEFAULT_CONCURRENCY)

_SENDING = re.compile(r"^sending (\d+) requests", re.M)
_SENT = re.compile(r"^sent (\d+) requests in ([0-9.]+) s; (\d+) answered$", re.M)


def _no_leak(texts: dict[str, str], where: str) -> None:
    for name, text in texts.items():
        assert LEAK not in text.lower(), f"the token (or a near miss) leaked into {name} ({where})"


def _lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def _evidence(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [f["evidence"] for f in results["findings"] if f["evidence"]]


@pytest.mark.parametrize("case", hostile.CLI_CASES, ids=[c.name for c in hostile.CLI_CASES])
def test_hostile_target(case: hostile.CliCase, contract: Contract, tmp_path: Path) -> None:
    with contextlib.ExitStack() as servers:
        target = case.start(servers, str(tmp_path))
        args, env = hostile.cli_options(target, contract)
        run = hostile.run_measured(args, str(tmp_path / "reports" / "report.html"), env, str(tmp_path))
    output, tail = run.output, run.output[-3000:]
    cli = CliRun(run.code, output, run.seconds, tmp_path / "reports")

    assert run.code == case.exit_code, tail
    assert "Traceback" not in output and "INTERNALERROR" not in output, tail
    assert run.peak_rss_mb < MAX_RSS_MB, f"peak RSS {run.peak_rss_mb:.0f} MB"

    # Bounded time, predictable from the timeout and the request count.
    planned = int(_SENDING.search(output).group(1))  # type: ignore[union-attr]
    sent_line = _SENT.search(output)
    assert sent_line, tail
    sent, send_seconds, answered = int(sent_line[1]), float(sent_line[2]), int(sent_line[3])
    rounds = DEAD_ROUNDS if case.unreachable else math.ceil(planned / DEFAULT_CONCURRENCY)
    assert send_seconds <= rounds * TIMEOUT + SEND_MARGIN, f"sending took {send_seconds} s ({rounds} deadlines)"
    assert run.seconds <= OVERHEAD + rounds * TIMEOUT + SEND_MARGIN, f"the run took {run.seconds:.1f} s"
    results = cli.results
    for exchange in _evidence(results):
        assert exchange["elapsed_ms"] <= (TIMEOUT + REQUEST_MARGIN) * 1000, exchange

    # Nothing leaked: artefacts, terminal, and the thief behind a redirect.
    _no_leak(cli.artefacts(), case.name)
    if target.thief is not None:
        assert target.thief.accepted == 0, "a redirect was followed"
        assert hostile.TOKEN.encode() not in bytes(target.thief.received)

    reason = re.compile(case.reason)
    report = html.unescape((cli.report_dir / "report.html").read_text(encoding="utf-8"))
    if case.unreachable:
        # The breaker stopped sending: at most the threshold plus what was already in flight.
        assert answered == 0 and sent <= BREAKER_THRESHOLD + DEFAULT_CONCURRENCY - 1, sent_line[0]
        said = [line for line in _lines(output) if line.startswith("target unreachable:")]
        assert said and reason.search(said[0]), tail  # the reason, in one line
        assert _lines(output)[-1].startswith("NOT CONFORMANT") and reason.search(_lines(output)[-1]), tail
        assert results["info"]["unreachable"] and reason.search(results["info"]["unreachable"])
        assert reason.search(report) and "target unreachable" in report
    elif case.exit_code == 0:
        assert results["verdict"]["must_failures"] == 0 and answered == planned, tail
        assert _lines(output)[-1].startswith("CONFORMANT"), tail
    else:
        assert answered > 0, tail
        found = [f["received"] for f in results["findings"] if reason.search(f["received"])]
        assert found, f"no finding matches {case.reason!r}"
        assert reason.search(report), "the finding is not in the HTML report"
        if "secret" in case.reason:
            assert "***" in found[0]
        if "cap" in case.reason:  # cut at the cap, and the evidence kept small
            assert any(e["response"] and e["response"]["truncated"] for e in _evidence(results))
            sizes = {p.name: p.stat().st_size for p in cli.report_dir.iterdir()}
            assert max(sizes.values()) < 10 * 1024 * 1024, sizes


# --- configuration errors: exit 4, one line, nothing sent -------------------------------------------------


def _token_file(tmp_path: Path, kind: str) -> str:
    path = tmp_path / "token"
    if kind == "missing":
        return str(path)
    if kind == "directory":  # unreadable as a file even for root
        path.mkdir()
    elif kind == "empty":
        path.write_text("  \n")
    elif kind == "not UTF-8":  # unreadable as text even for root
        path.write_bytes(b"\xff\xfe" + hostile.TOKEN.encode())
    return str(path)


def _contract_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "contract.json"
    path.write_text(text)
    return str(path)


def _bytes_file(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _profile(tmp_path: Path, text: str) -> list[str]:
    return ["--profile", _bytes_file(tmp_path, "profile.json", text.encode())]


def _remote_ref_contract(tmp_path: Path) -> str:
    """A copy of Close Session whose request schema takes a field's schema from a URL (jsonschema would fetch it)."""
    from kyren_conformance.resources import data_dir, default_contract_path

    (tmp_path / "remote" / "contracts").mkdir(parents=True)
    (tmp_path / "remote" / "schemas").mkdir()
    raw = json.loads(default_contract_path().read_text())
    raw["schemas"]["request"] = "remote.request.schema.json"
    (tmp_path / "remote" / "contracts" / "remote.json").write_text(json.dumps(raw))
    for name in (raw["schemas"]["response"], "contract.schema.json"):
        (tmp_path / "remote" / "schemas" / name).write_text((data_dir("schemas") / name).read_text())
    schema = json.loads((data_dir("schemas") / "close-session.request.schema.json").read_text())
    schema["properties"]["userId"] = {"$ref": "http://127.0.0.1:9/userId.schema.json"}
    (tmp_path / "remote" / "schemas" / "remote.request.schema.json").write_text(json.dumps(schema))
    return str(tmp_path / "remote" / "contracts" / "remote.json")


def _bad_pem(tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    return str(path)


def _a_file(tmp_path: Path) -> Path:
    """A plain file, where the report folder should be: no run can save its results there."""
    path = tmp_path / "not-a-folder"
    path.write_text("")
    return path


def _error(name: str, extra: Any, message: str, token_in_env: bool = True, **marks: Any) -> Any:
    """A configuration error: extra options (given a scratch dir), what its one line says, KYREN_TOKEN set or not."""
    return pytest.param(extra, message, token_in_env, id=name, **marks)


CONFIG_ERRORS = [
    _error("--token value", lambda d: ["--token", hostile.TOKEN], r"a token is never given on the command line"),
    _error("--token=value", lambda d: [f"--token={hostile.TOKEN}"], r"a token is never given on the command line"),
    _error("mistyped flag, secret", lambda d: ["--tokn-file", hostile.TOKEN], r"unrecognized arguments: --tokn-file"),
    _error("no verify-off flag", lambda d: ["--insecure"], r"unrecognized arguments: --insecure"),
    _error("URL without scheme", lambda d: ["--target-url", "127.0.0.1:8080"], r"must start with http:// or https://"),
    _error("URL with password", lambda d: ["--target-url", f"http://u:{hostile.TOKEN}@127.0.0.1:x"], r"has a bad port"),
    _error("URL without host", lambda d: ["--target-url", "http:///v1"], r"has no host"),
    _error("no token", lambda d: [], r"no value for token of CloseSession: set --token-file or KYREN_TOKEN", False),
    _error("token file missing", lambda d: ["--token-file", _token_file(d, "missing")], r"no such file", False),
    _error("token file empty", lambda d: ["--token-file", _token_file(d, "empty")], r"the file is empty", False),
    _error(
        "token file is a directory",
        lambda d: ["--token-file", _token_file(d, "directory")],
        r"--token-file .*: cannot be read \(Is a directory\)",
        False,
    ),
    _error(
        "token file not UTF-8",
        lambda d: ["--token-file", _token_file(d, "not UTF-8")],
        r"--token-file .*: cannot be read \('utf-8' codec can't decode",
        False,
    ),
    _error(
        "report folder not writable",
        lambda d: ["--report", str(_a_file(d) / "report.html")],
        r"cannot write the results in .*not-a-folder: File exists",
    ),
    _error("contract not JSON", lambda d: ["--contract", _contract_file(d, '{"method": ')], r"contract .*: not JSON"),
    _error(
        "contract invalid",
        lambda d: ["--contract", _contract_file(d, '{"method": 1}')],
        r"contract .*: \(top level\): '.*' is a required property",
    ),
    # Issue 14: odd and hostile configuration files, each one line (no traceback), exit 4
    _error(
        "contract not UTF-8",
        lambda d: ["--contract", _bytes_file(d, "c.json", b'{"method": "\xff"}')],
        r"contract .*c\.json: not UTF-8 \(byte 0xff at offset 12\)",
    ),
    _error(
        "contract nested 100,000 deep",
        lambda d: ["--contract", _bytes_file(d, "c.json", b"[" * 100_000)],
        r"contract .*: nested too deeply \(at most 64 levels\)",
    ),
    _error(
        "contract with a 5,000-digit integer",
        lambda d: ["--contract", _bytes_file(d, "c.json", b'{"method": ' + b"9" * 5000 + b"}")],
        r"contract .*: not JSON we accept: an integer of 5000 digits",
    ),
    _error(
        "contract schema with a remote $ref",
        lambda d: ["--contract", _remote_ref_contract(d)],
        r"contract .*remote\.json: schemas\.request: the \$ref 'http://127\.0\.0\.1:9/userId\.schema\.json' is neither",
    ),
    _error(
        "contract path with CR/LF",
        lambda d: ["--contract", _bytes_file(d, "bad\r\ncontract.json", b"{")],
        r"contract '.*bad\\r\\ncontract\.json': not JSON",
    ),
    _error(
        "token file path with LF",
        lambda d: ["--token-file", str(d / "no\ntoken")],
        r"--token-file '.*no\\ntoken': no such file",
        False,
    ),
    _error(
        "profile not UTF-8",
        lambda d: ["--profile", _bytes_file(d, "p.json", b'{"p95_ms": "\xfe"}')],
        r"profile .*p\.json: not UTF-8 \(byte 0xfe",
    ),
    _error("profile nested deep", lambda d: _profile(d, "[" * 100_000), r"profile .*: nested too deeply"),
    _error("profile huge integer", lambda d: _profile(d, '{"p95_ms": ' + "9" * 5000 + "}"), r"5000 digits"),
    _error("profile p95 of 61 digits", lambda d: _profile(d, '{"p95_ms": 1' + "0" * 60 + "}"), r"p95_ms: .*at most"),
    _error("profile p95 NaN", lambda d: _profile(d, '{"p95_ms": NaN}'), r"profile .*: not JSON we accept: NaN"),
    _error("profile p95 boolean", lambda d: _profile(d, '{"p95_ms": true}'), r"p95_ms: expected .* not True"),
    _error("profile p95 negative", lambda d: _profile(d, '{"p95_ms": -5}'), r"p95_ms: expected a positive number"),
    _error("profile p95 huge", lambda d: _profile(d, '{"p95_ms": 1e300}'), r"p95_ms: .* at most 86400000"),
    _error(
        "profile codes as a digit string",
        lambda d: _profile(d, '{"valid_request_codes": "104"}'),
        r"valid_request_codes: expected a list of integers, not '104'",
    ),
    _error(
        "profile codes with a boolean",
        lambda d: _profile(d, '{"valid_request_codes": [true]}'),
        r"valid_request_codes: expected a list of integers",
    ),
    _error(
        "profile secrets as a string",
        lambda d: _profile(d, '{"extra_secrets": "ab"}'),
        r"extra_secrets: expected a list of strings, not 'ab'",
    ),
    _error(
        "profile code key not ASCII digits",
        lambda d: _profile(d, '{"code_table": {"\\u0663": "three"}}'),
        r"code_table: the code '\u0663' is not an integer",
    ),
    _error(
        "profile code key written twice",
        lambda d: _profile(d, '{"code_table": {"7": "a", "007": "b"}}'),
        r"code_table: the code 7 appears more than once",
    ),
    _error(
        "profile description not a string",
        lambda d: _profile(d, '{"code_table": {"1": ["a"]}}'),
        r"code_table\.1: expected a description \(a string\), not \['a'\]",
    ),
    _error("CA bundle not PEM", lambda d: ["--ca-bundle", _bad_pem(d)], r"CA bundle .* holds no PEM certificate"),
    _error(
        "CA bundle is a directory", lambda d: ["--ca-bundle", str(d)], r"CA bundle .* cannot be read: Is a directory"
    ),
    _error("timeout zero", lambda d: ["--timeout", "0"], r"--timeout 0(\.0)?: expected a positive number"),
    _error("timeout infinite", lambda d: ["--timeout", "inf"], r"--timeout inf: at most \d+ seconds"),
]


@pytest.mark.parametrize(("extra", "message", "token_in_env"), CONFIG_ERRORS)
def test_configuration_error(extra: Any, message: str, token_in_env: bool, contract: Contract, tmp_path: Path) -> None:
    with hostile.LoopbackServer(hostile.json_responder()) as server:
        args, env = hostile.cli_options(hostile.Target(server.url), contract)
        if not token_in_env:
            env.pop("KYREN_TOKEN")
        args += extra(tmp_path)  # after --timeout 1: the last value of an option wins
        run = hostile.run_measured(args, str(tmp_path / "reports" / "report.html"), env, str(tmp_path), timeout=30)
    assert run.code == 4, run.output[-3000:]
    lines = _lines(run.output)
    assert len(lines) == 1, run.output  # one clear line, no traceback, no usage block
    assert re.search(message, lines[0]), lines[0]
    assert LEAK not in run.output.lower(), "the token was echoed"
    assert server.accepted == 0, "a request was sent despite the configuration error"
    assert not (tmp_path / "reports" / "results.json").exists()
