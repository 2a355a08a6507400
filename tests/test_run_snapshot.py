"""The run frozen once at session finish (run_snapshot.py), and the report's one input made from it (report_input.py).

The unit tests build runs without sending and set their records and exchanges by hand; the last two run an inner
pytest session (pytester) and read the stash at its very end, as the CLI does.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from kyren_conformance.contract import Contract
from kyren_conformance.exchange import Exchange, Response
from kyren_conformance.mock import MockServer
from kyren_conformance.report_input import report_input
from kyren_conformance.resources import data_dir
from kyren_conformance.results import suite_results
from kyren_conformance.run_snapshot import snapshot_of
from kyren_conformance.settings import resolve_suite
from kyren_conformance.suite_run import SuiteRun
from kyren_conformance.verdict import verdict_of
from support import plugin_args

pytest_plugins = ["pytester"]

TWO = [str(data_dir("contracts") / "close-session.json"), str(data_dir("contracts") / "get-balance.json")]


def _suite(*contracts: str) -> SuiteRun:
    """A run against the embedded mock, never started: its records and exchanges are set by hand."""
    return SuiteRun(resolve_suite({"kyren_contract": list(contracts)}.get, {}))


def _answer(code: Any, elapsed: float) -> Exchange:
    body = json.dumps({"error": code, "description": "x"}).encode()
    response = Response(200, "OK", (("Content-Type", "application/json"),), body, False)
    return Exchange("POST", "u", (), b"{}", "x", 0.0, elapsed, response)


def _unanswered() -> Exchange:
    return Exchange("POST", "u", (), b"{}", "x", 0.0, 1.0, None, failure="no complete answer", timed_out=True)


def _land(suite: SuiteRun, name: str, *exchanges: Exchange) -> None:
    run = suite.runs[name]
    for case, exchange in zip(run.cases, exchanges, strict=False):
        run.exchanges[case.id] = (exchange,)


def test_later_changes_to_the_run_do_not_reach_its_snapshot(contract: Contract) -> None:
    suite = _suite(str(contract.path))
    run = next(iter(suite))
    run.records["M5"].failed = run.records["M5"].judged = 1
    snapshot = snapshot_of(suite)
    run.records["M5"].failed = 0
    run.records["M5"].tests.append("test_added_late")
    run.errors.append("late error")
    suite.interrupted = True
    verdict = verdict_of(snapshot)
    assert (verdict.label, verdict.must_failures, verdict.errors) == ("NOT CONFORMANT", 1, ())
    results = suite_results(snapshot)
    assert results["verdict"]["complete"] is True
    m5 = next(r for r in results["rules"] if r["id"] == "M5")
    assert m5["outcome"] == "failed" and "test_added_late" not in m5["tests"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.methods[0].rules[0].failed = 3
    with pytest.raises(TypeError):  # the mappings are read-only views of copies
        snapshot.methods[0].identity.public_values["userId"] = "someone else"


def test_the_whole_run_adds_up_its_methods_INFO_in_the_order_first_seen() -> None:
    suite = _suite(*TWO)
    _land(suite, "close-session", _answer(0, 0.004), _answer("21", 0.002), _unanswered())
    _land(suite, "get-balance", _answer(54, 0.010), _answer(0, 0.001))
    snapshot = snapshot_of(suite)
    close, balance = snapshot.methods
    assert close.info.latencies_s == (0.004, 0.002) and close.info.unanswered == 1
    assert dict(close.info.code_forms) == {"integer": 1, "digit string": 1}
    info = snapshot.info
    assert info.latencies_s == (0.004, 0.002, 0.010, 0.001)
    assert list(info.codes.items()) == [("0", 2), ("21", 1), ("54", 1)]
    assert dict(info.statuses) == {"200": 4} and dict(info.code_forms) == {"integer": 3, "digit string": 1}
    assert info.unanswered == 1
    verdict = verdict_of(snapshot)
    assert verdict.latency_ms["max"] == pytest.approx(10.0) and verdict.requests == 5
    assert verdict_of(balance).requests == 2 and verdict_of(balance).codes == {"54": 1, "0": 1}


def test_a_flow_failure_counts_in_the_run_verdict_not_in_any_method() -> None:
    suite = _suite(*(str(data_dir("contracts") / f"{m}.json") for m in _transfer_methods()))
    assert suite.flows, "the transfer flow's methods are all in the run"
    flow = next(iter(suite.flows.values()))
    flow.records["F1"].failed = 1
    snapshot = snapshot_of(suite)
    assert verdict_of(snapshot).must_failures == 1
    assert all(verdict_of(method).must_failures == 0 for method in snapshot)


def _transfer_methods() -> list[str]:
    from kyren_conformance.flows import load_flow

    return list(load_flow(data_dir("contracts") / "flows" / "transfer-wallet.json").methods)


def test_neither_the_snapshot_nor_the_report_input_holds_a_secret(contract: Contract) -> None:
    suite = _suite(str(contract.path))
    run = next(iter(suite))
    secret = next(str(run.values[f.name]) for f in contract.secret_fields)
    run.errors.append(f"crash quoting {secret}")
    snapshot = snapshot_of(suite)
    assert snapshot.methods[0].errors == ("crash quoting ***",)
    assert not {f.name for f in contract.secret_fields} & set(snapshot.methods[0].identity.public_values)
    report = report_input(suite_results(snapshot), snapshot)
    assert secret not in repr(snapshot) and secret not in repr(report)
    assert report.secret_envs == {run.name: run.secret_env}
    assert dict(report.contexts[run.name].secret_fields) == {f.name: f.env or "" for f in contract.secret_fields}


def test_the_report_input_has_a_context_per_method_in_the_run_order() -> None:
    suite = _suite(*TWO)
    _land(suite, "get-balance", _answer(0, 0.003), _unanswered())
    snapshot = snapshot_of(suite)
    report = report_input(suite_results(snapshot), snapshot)
    assert report.several and list(report.contexts) == ["close-session", "get-balance"]
    balance = report.contexts["get-balance"]
    assert balance.contract_title == "Get Balance" and balance.unanswered == 1
    assert balance.latencies_ms == [3.0]
    assert report.results["methods"][1]["name"] == "get-balance"


_READ_AT_THE_END = """
import json

from kyren_conformance import pytest_plugin
from kyren_conformance.stash_keys import REPORT, RESULTS, RUN, SNAPSHOT


def pytest_unconfigure(config):
    run = config.stash.get(RUN, None)
    first = verdict = pytest_plugin.current_verdict(config)
    if run is not None:  # the live run changed after the session finished: what was read stays as it was
        next(iter(run)).records["M5"].failed += 100
        verdict = pytest_plugin.current_verdict(config)
    results = config.stash.get(RESULTS, None)
    with open("read-at-the-end.json", "w") as out:
        json.dump({
            "run": run is not None,
            "label": verdict and verdict.label,
            "must": [first and first.must_failures, verdict and verdict.must_failures],
            "results_label": results and results["verdict"]["label"],
            "report_reads_the_results": REPORT in config.stash and config.stash[REPORT].results is results,
            "snapshot": SNAPSHOT in config.stash,
        }, out)
"""


def _read_at_the_end(pytester: pytest.Pytester) -> dict[str, Any]:
    return dict(json.loads((Path(pytester.path) / "read-at-the-end.json").read_text()))


def test_reading_the_verdict_of_a_plain_session_builds_no_run(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(_READ_AT_THE_END)
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=1)
    seen = _read_at_the_end(pytester)
    assert seen == {
        "run": False,
        "label": None,
        "must": [None, None],
        "results_label": None,
        "report_reads_the_results": False,
        "snapshot": False,
    }


def test_the_verdict_results_and_report_read_one_snapshot(
    pytester: pytest.Pytester, contract: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest(_READ_AT_THE_END)
    pytester.makepyfile(
        test_checks="def test_M5_wrong_credential(kyren_check, kyren_case):\n    kyren_check('M5', kyren_case)\n"
    )
    with MockServer(contract, fault="token-not-checked") as server:
        result = pytester.runpytest(*plugin_args(server, contract, monkeypatch))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    seen = _read_at_the_end(pytester)
    assert seen["run"] and seen["snapshot"] and seen["report_reads_the_results"]
    assert seen["label"] == seen["results_label"] == "NOT CONFORMANT"
    first, after = seen["must"]
    assert first > 0 and after == first  # the live run's later change reached no verdict
    result.stdout.fnmatch_lines([f"NOT CONFORMANT: {first} MUST failure*"])
