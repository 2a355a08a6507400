"""exchanges.jsonl is written as the run goes: a line per exchange as its case ends, whole lines when the run is
interrupted or killed, secrets masked; a long request body is kept packed, and a finding still quotes it whole."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kyren_conformance.contract import Contract
from kyren_conformance.draws import LONG_VALUE_BYTES
from kyren_conformance.evidence import curl_command
from kyren_conformance.exchange import Exchange
from kyren_conformance.exchange_log import ExchangeLog
from kyren_conformance.mock import MockServer
from kyren_conformance.packed_bodies import PACKED_FROM, PackedBodies
from kyren_conformance.settings import resolve_suite
from kyren_conformance.suite_run import SuiteRun
from support import target_args


@pytest.fixture
def mock(contract: Contract) -> Iterator[MockServer]:
    with MockServer(contract) as server:
        yield server


def _suite(contract: Contract, server: MockServer, report: Path, **options: Any) -> SuiteRun:
    """A run of the contract against the mock, its results (and exchanges.jsonl) beside `report`."""
    args, env = target_args(server.url, server.credentials, contract)
    opts: dict[str, Any] = {"target_url": server.url, "kyren_contract": [str(contract.path)]}
    opts["kyren_field"] = [value for flag, value in zip(args, args[1:], strict=False) if flag == "--field"]
    opts.update(kyren_json_report=str(report), **options)
    return SuiteRun(resolve_suite(opts.get, env))


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_each_case_is_on_disk_as_it_ends_and_the_token_never_is(
    contract: Contract, mock: MockServer, tmp_path: Path
) -> None:
    suite = _suite(contract, mock, tmp_path / "results.json")
    path = tmp_path / "exchanges.jsonl"
    seen: list[tuple[int, int]] = []  # (requests done, lines on disk) at each step of the sending

    def progress(done: int, total: int) -> None:
        seen.append((done, len(path.read_text().splitlines())))

    try:
        suite.send_all(progress)
        midway = [lines for done, lines in seen if 0 < done < seen[-1][0]]
        assert midway, "the run ended before any progress was reported"
        assert all(lines == done for done, lines in seen)  # every answered exchange is a line, at once
        suite.log.close()
        lines = _lines(path)
        assert len(lines) == suite.request_count > 50
        assert {line["method"] for line in lines} == {contract.path.stem}
        token = mock.credentials["token"]
        text = path.read_text()
        assert token not in text and token[:-1] not in text
        assert any('"$KYREN_TOKEN"' in (line["curl"] or "") for line in lines)
    finally:
        suite.close()


def test_an_interrupted_run_leaves_a_whole_line_for_each_exchange_it_got(
    contract: Contract, mock: MockServer, tmp_path: Path
) -> None:
    suite = _suite(contract, mock, tmp_path / "results.json", kyren_concurrency=2)

    def interrupt(done: int, total: int) -> None:
        if done >= 20:
            raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            suite.send_all(interrupt)
        suite.log.close()
        lines = _lines(tmp_path / "exchanges.jsonl")  # each one parses
        kept = suite.all_exchanges()
        assert 20 <= len(lines) == len(kept) < 80
        assert sorted(line["case"] for line in lines) == sorted(e.case_id for e in kept)
    finally:
        suite.close()


def test_a_killed_run_leaves_whole_lines(contract: Contract, tmp_path: Path) -> None:
    # A slow target and one request at a time: the run is still sending when it is killed.
    with MockServer(contract, latency=0.05) as server:
        args, env = target_args(server.url, server.credentials, contract)
        report = tmp_path / "reports" / "report.html"
        command = [sys.executable, "-m", "kyren_conformance.cli", *args, "--report", str(report), "--concurrency", "1"]
        path = report.with_name("exchanges.jsonl")
        proc = subprocess.Popen(
            command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                if path.exists() and path.read_text().count("\n") >= 5:
                    break
                time.sleep(0.05)
            assert proc.poll() is None, "the run ended before it could be killed"
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait()
    text = path.read_text()
    assert text.endswith("\n")
    lines = _lines(path)
    assert len(lines) >= 5 and all(line["method"] == contract.path.stem for line in lines)
    assert not (report.with_name("results.json")).exists()  # killed before the end: only what was sent is there


def _exchange(body: bytes, label: str = "x") -> Exchange:
    return Exchange(
        "POST", "http://127.0.0.1:9/p", (("Content-Type", "application/json"),), body, label, 0.0, 0.001, None
    )


def test_the_log_replaces_a_previous_file_at_once_and_ends_empty_when_nothing_was_sent(tmp_path: Path) -> None:
    path = tmp_path / "exchanges.jsonl"
    path.write_text('{"from": "the previous run"}\n')
    log = ExchangeLog(path)
    log.open()
    assert path.read_text() == ""  # a run that is killed from now on leaves no line of another run
    log.close()
    assert path.read_text() == ""
    log.write("m", _exchange(b"{}"), "KYREN_TOKEN")  # after the end: nothing more
    assert path.read_text() == ""

    unopened = tmp_path / "never" / "exchanges.jsonl"
    ExchangeLog(unopened).close()  # a run that never sent (a crash before): an empty file, not a stale one
    assert unopened.read_text() == ""
    nothing = ExchangeLog(None)
    nothing.write("m", _exchange(b"{}"), "KYREN_TOKEN")
    nothing.close()
    assert nothing.lines == 0


def test_a_long_line_is_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "exchanges.jsonl"
    with ExchangeLog(path) as log:
        log.write("m", _exchange(b"x" * 300_000, label="y" * 200_000), "KYREN_TOKEN")
        log.write("m", _exchange(b"{}"), "KYREN_TOKEN")
    first, second = _lines(path)
    assert first["label"] == "y" * 200_000 and "(300000 bytes)" in first["request"]["body"]
    assert second["request"]["body"] == "{}"


def test_a_long_body_is_kept_packed_and_given_back_whole() -> None:
    packed = PackedBodies()
    long = _exchange(b'{"userId": "' + b"a" * 8000 + b'"}')
    short = _exchange(b"{}")
    kept = packed.kept(long)
    assert kept.request_body == b"" and packed.full(kept) == long
    assert packed.kept(short) is short and packed.full(short) is short
    assert packed.full(long) is long  # not one it packed: as it is
    assert len(_exchange(b"z" * PACKED_FROM).request_body) == PACKED_FROM


def test_a_finding_on_a_long_request_quotes_its_whole_body(contract: Contract, tmp_path: Path) -> None:
    with MockServer(contract, fault="long-value-crash") as server:
        suite = _suite(contract, server, tmp_path / "results.json")
        try:
            suite.send_all()
            run = next(iter(suite))
            case = next(c for c in run.cases if c.id == "malformed_input[userId-long]")
            (kept,) = run.exchanges[case.id]
            assert kept.request_body == b""  # held packed until a finding needs it
            (finding,) = run.judge("M6", case)
            assert finding.exchange is not None
            body = finding.exchange.request_body
            assert len(json.loads(body)["userId"]) == LONG_VALUE_BYTES  # the whole body, as it was sent
            assert len(curl_command(finding.exchange)) > LONG_VALUE_BYTES
        finally:
            suite.close()
    logged = next(line for line in _lines(tmp_path / "exchanges.jsonl") if line["case"] == case.id)
    assert len(logged["request"]["body"]) < len(body)  # the log keeps 4 KB, the finding the whole body
