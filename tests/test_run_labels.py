"""A verdict that holds against odd and hostile targets (issue 14): the run's label is never CONFORMANT when
the suite crashed (ERROR, exit 3) or was interrupted (INCOMPLETE, exit 2), the counts read what they are,
unwritable outputs stop the run before it starts, and a stalled request is never forgiven by a resend.

The unit tests build runs without sending; the others run the real CLI in a subprocess against loopback.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hostile import LoopbackServer, closed_port
from kyren_conformance.cases import build_cases
from kyren_conformance.conformance_run import _fresh, serves_one_connection_at_a_time
from kyren_conformance.contract import Contract
from kyren_conformance.exchange import Exchange, Response
from kyren_conformance.mock import MockServer
from kyren_conformance.results import suite_results
from kyren_conformance.run_snapshot import snapshot_of
from kyren_conformance.settings import resolve_suite
from kyren_conformance.suite_run import SuiteRun
from kyren_conformance.verdict import verdict_of
from support import CliRun, run_cli, target_args

ROOT = Path(__file__).resolve().parents[1]


def _suite(contract: Contract, **options: Any) -> SuiteRun:
    """A run of the contract against the embedded mock, never started: its records are set by hand."""
    opts = {"kyren_contract": [str(contract.path)], **options}
    return SuiteRun(resolve_suite(opts.get, {}))


def _schema_errors(results: dict[str, Any]) -> list[str]:
    schema = json.loads((ROOT / "schemas/results.schema.json").read_text())
    return [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(results)]


# --- labels and counts ---------------------------------------------------------------------------------
def test_exactly_one_must_failure_is_not_conformant_and_singular(contract: Contract) -> None:
    suite = _suite(contract)
    run = next(iter(suite))
    run.records["M5"].failed = 1
    verdict = verdict_of(snapshot_of(suite))
    assert verdict.label == "NOT CONFORMANT"
    assert verdict.headline.startswith("NOT CONFORMANT: 1 MUST failure, 0 SHOULD warnings, ")
    run.records["M5"].failed = 0
    run.records["S3"].warned = 1
    assert verdict_of(snapshot_of(suite)).headline.startswith(
        "CONFORMANT WITH WARNINGS: 0 MUST failures, 1 SHOULD warning, "
    )


def test_under_strict_a_should_warning_fails_the_run_but_is_no_must_failure(contract: Contract) -> None:
    suite = _suite(contract, kyren_strict=True)
    run = next(iter(suite))
    run.records["S3"].failed = 2  # under --strict a SHOULD check fails its test
    verdict = verdict_of(snapshot_of(suite))
    assert (verdict.label, verdict.must_failures, verdict.should_warnings) == ("NOT CONFORMANT", 0, 2)
    assert verdict.headline.startswith(
        "NOT CONFORMANT: 0 MUST failures, 2 SHOULD warnings (strict: warnings fail the run), "
    )
    results = suite_results(snapshot_of(suite))
    assert results["verdict"]["must_failures"] == 0 and results["verdict"]["should_warnings"] == 2
    assert not _schema_errors(results)


def test_an_internal_error_is_ERROR_never_CONFORMANT(contract: Contract) -> None:
    suite = _suite(contract)
    next(iter(suite)).errors.append("test_M2[close-session]: RuntimeError: boom")
    verdict = verdict_of(snapshot_of(suite))
    assert verdict.label == "ERROR" and verdict.so_far == "CONFORMANT"
    assert verdict.headline.startswith("ERROR (") and "CONFORMANT" not in verdict.headline
    results = suite_results(snapshot_of(suite))
    assert results["verdict"]["label"] == "ERROR" and results["verdict"]["complete"] is False
    assert results["methods"][0]["verdict"]["label"] == "ERROR"
    assert results["verdict"]["errors"] == ["test_M2[close-session]: RuntimeError: boom"]
    assert not _schema_errors(results)


def test_an_error_of_the_run_as_a_whole_is_ERROR_too(contract: Contract) -> None:
    suite = _suite(contract)
    suite.errors.append("sending the requests: TypeError: unhashable type: 'list'")
    snapshot = snapshot_of(suite)
    assert verdict_of(snapshot).label == "ERROR"
    assert suite_results(snapshot)["verdict"]["label"] == "ERROR"


def test_an_interrupted_run_is_INCOMPLETE(contract: Contract) -> None:
    suite = _suite(contract)
    suite.interrupted = True
    verdict = verdict_of(snapshot_of(suite))
    assert verdict.label == "INCOMPLETE" and "CONFORMANT" not in verdict.headline
    results = suite_results(snapshot_of(suite))
    assert results["verdict"]["label"] == "INCOMPLETE" and results["verdict"]["so_far"] == "CONFORMANT"
    assert results["methods"][0]["verdict"]["label"] == "INCOMPLETE"
    assert not _schema_errors(results)


def test_an_error_message_is_redacted_in_the_results(contract: Contract) -> None:
    suite = _suite(contract)
    run = next(iter(suite))
    secret = next(run.values[f.name] for f in contract.secret_fields)
    run.errors.append(f"crash quoting {secret}")
    assert suite_results(snapshot_of(suite))["verdict"]["errors"] == ["crash quoting ***"]


# --- the resend of timed-out cases -----------------------------------------------------------------------
def _ex(started: float, elapsed: float, *, timed_out: bool = False) -> Exchange:
    response = None if timed_out else Response(200, "OK", (), b'{"error": 0}', False)
    failure = "no complete answer within 1 s" if timed_out else None
    return Exchange("POST", "u", (), b"{}", "x", started, elapsed, response, failure=failure, timed_out=timed_out)


def test_serial_evidence_one_connection_served_the_others_waited() -> None:
    # What the one-connection-at-a-time dialect gives at concurrency 4: three requests wait on their
    # connections past the deadline while the fourth connection gets every answer, one after another.
    serial = [_ex(0.001 * i, 1.0, timed_out=True) for i in range(1, 4)]
    serial += [_ex(0.01 + 0.002 * i, 0.0015) for i in range(50)]
    assert serves_one_connection_at_a_time(serial, 4)
    assert not serves_one_connection_at_a_time(serial, 1)  # nothing in parallel: nothing to explain
    # A stall on a server that answers in parallel: other answers overlap each other.
    parallel = [_ex(0.5, 1.0, timed_out=True), *(_ex(0.01 * i + d, 0.008) for i in range(50) for d in (0, 0.001))]
    assert not serves_one_connection_at_a_time(parallel, 4)
    # Every connection timing out at once: the one that was being served stalled too.
    all_four = [_ex(0.5 + 0.001 * i, 1.0, timed_out=True) for i in range(4)] + serial[3:]
    assert not serves_one_connection_at_a_time(all_four, 4)


def test_a_case_whose_request_id_is_an_array_or_object_is_resent_as_it_is(contract: Contract) -> None:
    values = {"secureLogin": "partner-1", "userId": "12345", "gameId": "g1", "token": "Secret-Token"}
    cases = build_cases(contract, values, 0)
    rid = contract.request_id_field
    assert rid is not None
    odd = [c for c in cases if any(isinstance(s.payload, dict) and isinstance(s.payload.get(rid.name), (list, dict))
                                   for s in c.steps)]  # fmt: skip
    assert odd, "no case sends the request id as an array or an object"
    for case in odd:
        assert _fresh(case, contract) is case  # no "unhashable type"
    valid = next(c for c in cases if c.group == "valid_request")
    renewed = _fresh(valid, contract)
    assert renewed.steps[0].payload[rid.name] != valid.steps[0].payload[rid.name]


# --- the CLI against loopback targets -------------------------------------------------------------------
def _mock_run(contract: Contract, tmp_path: Path, *extra: str, fault: str | None = None, **env: str) -> CliRun:
    with MockServer(contract, fault=fault, fault_delay=2.0) as server:
        args, secrets = target_args(server.url, server.credentials, contract)
        return run_cli([*args, "--timeout", "1", *extra], tmp_path, env={**secrets, **env})


_CRASH_PLUGIN = """
import dataclasses

from kyren_conformance import judgements


def _boom(exchanges, ctx):
    raise RuntimeError("injected crash of a judgement")


def pytest_configure(config):
    judgements.REGISTRY["M2"] = dataclasses.replace(judgements.REGISTRY["M2"], judge=_boom)
"""


def test_a_crash_in_a_judgement_is_exit_3_with_every_report_saying_ERROR(contract: Contract, tmp_path: Path) -> None:
    (tmp_path / "crash_m2.py").write_text(_CRASH_PLUGIN)
    result = _mock_run(contract, tmp_path, PYTEST_ADDOPTS="-p crash_m2", PYTHONPATH=str(tmp_path))
    assert result.code == 3, result.output[-3000:]
    assert {"report.html", "junit.xml", "results.json", "exchanges.jsonl"} <= {
        p.name for p in result.report_dir.iterdir()
    }
    verdict = result.results["verdict"]
    assert verdict["label"] == "ERROR" and verdict["complete"] is False
    assert any("injected crash of a judgement" in e for e in verdict["errors"])
    assert not _schema_errors(result.results)
    page = (result.report_dir / "report.html").read_text(encoding="utf-8")
    assert re.search(r'class="kc kc-banner kc-error".*?>ERROR<', page, flags=re.S)
    assert "<title>ERROR" in page.replace('<title id="head-title">', "<title>")
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("ERROR (") and "CONFORMANT" not in last, last
    assert (result.report_dir / "exchanges.jsonl").read_text().count("\n") > 50


def test_dev_full_as_the_report_is_a_usage_error_before_the_run(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    result = run_cli(["--report", "/dev/full"], tmp_path)
    assert result.code == 4, result.output[-3000:]
    assert result.output.strip() == "kyren-conformance: cannot write the results to /dev/full: not a regular file"


def test_a_directory_as_the_results_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    result = run_cli(["--json-report", str(tmp_path / "taken")], tmp_path)
    assert result.code == 4 and "not a regular file" in result.output and len(result.output.splitlines()) == 1


def test_strict_counts_should_warnings_apart_from_must_failures(contract: Contract, tmp_path: Path) -> None:
    result = _mock_run(contract, tmp_path, "--strict", fault="echo-token")
    assert result.code == 1, result.output[-3000:]
    verdict = result.results["verdict"]
    assert verdict["label"] == "NOT CONFORMANT" and verdict["must_failures"] == 0 and verdict["should_warnings"] > 0
    last = result.output.strip().splitlines()[-1]
    assert (
        last.startswith(f"NOT CONFORMANT: 0 MUST failures, {verdict['should_warnings']} SHOULD warning")
        and "(strict: warnings fail the run)" in last
    ), last


def test_off_a_terminal_each_failure_reason_is_printed_whole(contract: Contract, tmp_path: Path) -> None:
    result = _mock_run(contract, tmp_path, fault="token-not-checked")
    assert result.code == 1, result.output[-3000:]
    failed = [line for line in result.output.splitlines() if line.startswith("FAILED ")]
    assert failed and all(" - M5 " in line or " - M5:" in line or "M5" in line for line in failed), failed
    assert not any(line.endswith("...") for line in failed), failed  # pytest's cut at 80 columns
    assert max(len(line) for line in failed) > 80
    finding = result.results["findings"][0]
    assert any(finding["received"][:60] in line for line in failed), (failed[0], finding["received"])


def test_a_dead_target_is_one_unreachable_line_not_a_failed_line_per_check(contract: Contract, tmp_path: Path) -> None:
    with MockServer(contract) as server:
        credentials = server.credentials
    args, env = target_args(f"http://127.0.0.1:{closed_port()}", credentials, contract)
    result = run_cli([*args, "--timeout", "1"], tmp_path, env=env)
    assert result.code == 1, result.output[-3000:]
    lines = result.output.splitlines()
    assert not [line for line in lines if line.startswith(("FAILED ", "ERROR "))], result.output[-3000:]
    unreachable = [line for line in lines if "checks failed because the target is unreachable" in line]
    assert len(unreachable) == 1, result.output[-3000:]
    junit = ET.parse(result.report_dir / "junit.xml").getroot()
    assert sum(1 for case in junit.iter("testcase") if case.find("failure") is not None) > 10  # junit keeps each
    assert "target unreachable" in lines[-1]


# --- a multi-threaded target that stalls one request in twenty --------------------------------------------
STALL_EVERY = 20


def _stalling_proxy(upstream_port: int) -> Any:
    """Relays each request to the mock, on a thread per connection, but holds every 20th one past the deadline."""
    count = iter(range(1, 1_000_000))
    lock = threading.Lock()

    def handler(conn: socket.socket, server: LoopbackServer) -> None:
        upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=10)
        try:
            while (request := server.read_request(conn)) is not None:
                with lock:
                    n = next(count)
                if n % STALL_EVERY == 0:
                    server.stop.wait(3.0)  # the suite's deadline is 1 s
                    return
                conn.sendall(_relay(upstream, request))
        finally:
            upstream.close()

    return handler


def _relay(upstream: http.client.HTTPConnection, request: bytes) -> bytes:
    head, _, body = request.partition(b"\r\n\r\n")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, path, _ = request_line.split(" ", 2)
    headers = dict(line.split(": ", 1) for line in header_lines if ": " in line)
    headers.pop("Connection", None)
    upstream.request(method, path, body=body, headers=headers)
    answer = upstream.getresponse()
    payload = answer.read()
    lines = [f"HTTP/1.1 {answer.status} {answer.reason}"]
    lines += [f"{k}: {v}" for k, v in answer.getheaders() if k.lower() not in ("content-length", "connection")]
    lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


@pytest.fixture
def stalling_target(contract: Contract) -> Iterator[tuple[str, dict[str, Any]]]:
    with MockServer(contract) as mock:
        port = int(mock.url.rsplit(":", 1)[1])
        with LoopbackServer(_stalling_proxy(port)) as proxy:
            yield proxy.url, mock.credentials


def test_a_stall_on_a_parallel_server_fails_M9_and_is_never_resent(
    contract: Contract, tmp_path: Path, stalling_target: tuple[str, dict[str, Any]]
) -> None:
    url, credentials = stalling_target
    args, env = target_args(url, credentials, contract)
    result = run_cli([*args, "--timeout", "1", "--concurrency", "4"], tmp_path, env=env)
    assert result.code == 1, result.output[-3000:]
    assert result.results["verdict"]["label"] == "NOT CONFORMANT"
    assert result.outcomes()["M9"] == "failed"
    assert result.results["info"]["resent_one_at_a_time"] == 0
    stalled = [f for f in result.results["findings"] if f["rule"] == "M9"]
    assert stalled and all("no complete answer within 1 s" in f["received"] for f in stalled)


_SEND_CRASH_PLUGIN = """
from kyren_conformance import suite_run


def _boom(self, progress=None):
    raise TypeError("injected crash while sending")


def pytest_configure(config):
    suite_run.SuiteRun.send_all = _boom
"""


def test_a_crash_while_sending_is_exit_3_with_the_reports_saying_ERROR(contract: Contract, tmp_path: Path) -> None:
    (tmp_path / "crash_send.py").write_text(_SEND_CRASH_PLUGIN)
    result = _mock_run(contract, tmp_path, PYTEST_ADDOPTS="-p crash_send", PYTHONPATH=str(tmp_path))
    assert result.code == 3, result.output[-3000:]
    assert {"report.html", "junit.xml", "results.json", "exchanges.jsonl"} <= {
        p.name for p in result.report_dir.iterdir()
    }
    verdict = result.results["verdict"]
    assert verdict["label"] == "ERROR" and any("injected crash while sending" in e for e in verdict["errors"])
    assert not _schema_errors(result.results)
    page = (result.report_dir / "report.html").read_text(encoding="utf-8")
    assert re.search(r'class="kc kc-banner kc-error".*?>ERROR<', page, flags=re.S)
    assert result.output.strip().splitlines()[-1].startswith("ERROR (")
