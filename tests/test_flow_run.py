"""Money flows in a real run of the CLI (issue 15): the default run sends the Transfer Wallet flow to the embedded
mock, `--contract contracts/seamless-wallet` the Seamless one; each money fault of the mock fails its rule, each
dialect passes; against any other target flows run only with --flows; independently written wallets pass."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from independent_wallets import SeamlessWallet, TransferWallet
from kyren_conformance.contract import Contract
from kyren_conformance.flows import FlowDeclaration, load_flow
from kyren_conformance.mock import FLOW_DIALECTS, FLOW_FAULTS, MockServer
from kyren_conformance.mutation import flow_contracts, flow_plan, suite_target_args
from kyren_conformance.resources import data_dir, shipped_flow_paths
from support import CliRun, run_cli

ROOT = Path(__file__).resolve().parents[1]
FLOWS = {d.flow: d for d in (load_flow(p) for p in shipped_flow_paths())}
TRANSFER, SEAMLESS = FLOWS["transfer-wallet"], FLOWS["seamless-wallet"]
SCHEMA = jsonschema.Draft202012Validator(json.loads((ROOT / "schemas" / "results.schema.json").read_text()))


def _flow(result: CliRun, name: str) -> dict[str, Any]:
    return next(f for f in result.results["flows"] if f["flow"] == name)


def _rules(flow: dict[str, Any]) -> dict[str, str]:
    return {r["id"]: r["outcome"] for r in flow["rules"]}


def _exchanges(result: CliRun) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (result.report_dir / "exchanges.jsonl").read_text().splitlines()]


def _junit(result: CliRun) -> dict[str, ET.Element]:
    root = ET.parse(result.report_dir / "junit.xml").getroot()
    return {case.get("name", ""): case for case in root.iter("testcase") if "test_flows" in case.get("classname", "")}


def _against_mock(tmp_path: Path, flow: FlowDeclaration, *extra: str, **mock: Any) -> tuple[CliRun, list[str]]:
    """The CLI against a MockServer on loopback serving the flow's methods and keeping its balances; the secrets
    the mock accepts come back too, to look for in the artefacts."""
    contracts: list[Contract] = flow_contracts(flow)
    with MockServer(contracts, flows=[flow], **mock) as server:
        args, env = suite_target_args(server.url, server, contracts)
        result = run_cli([*args, *extra], tmp_path, env=env)
        secrets = [str(server.credentials_of(c)[f.name]) for c in contracts for f in c.secret_fields]
    return result, secrets


def _no_secret(result: CliRun, secrets: list[str]) -> None:
    for name, text in result.artefacts().items():
        for secret in secrets:
            assert secret not in text, name


def test_the_default_run_sends_the_transfer_flow_and_is_conformant(tmp_path: Path) -> None:
    result = run_cli([], tmp_path)
    assert result.code == 0, result.output[-3000:]
    SCHEMA.validate(result.results)
    [flow] = result.results["flows"]
    assert flow["flow"] == "transfer-wallet" and flow["verdict"] == "PASSED" and flow["problem"] is None
    assert set(_rules(flow).values()) == {"passed"} and "F7" not in _rules(flow) and len(flow["steps"]) > 15
    assert flow["note"] in result.results["identity"]["notes"]  # the run identity says what it moves
    assert f"{flow['note']} (test user " in result.output
    assert re.search(r"^flow transfer-wallet: [0-9]+ steps, [0-9]+ requests, [0-9.]+ s$", result.output, re.M)
    assert "  flow transfer-wallet: PASSED" in result.output
    # each call names its line in exchanges.jsonl, written with the flow and the method
    lines = _exchanges(result)
    calls = [call for step in flow["steps"] for call in step["calls"]]
    assert calls and all(call["exchange"] is not None for call in calls)
    for step in flow["steps"]:
        for call in step["calls"]:
            line = lines[call["exchange"]]
            assert line["case"] == "flow:transfer-wallet" and line["method"] == call["method"]
            assert line["label"].startswith(step["label"])
    cases = [i for i, e in enumerate(lines) if e["case"] != "flow:transfer-wallet"]
    assert min(c["exchange"] for c in calls) > max(cases)  # after every case
    # one test per rule; the rule without a clause skipped with its reason
    tests = _junit(result)
    rules = ["F1_balance_arithmetic", "F2_same_transaction_again", "F3_identical_requests_at_once",
             "F4_debit_past_the_balance", "F5_bad_amounts", "F6_transfer_history", "F7_refund_and_cancel",
             "S10_refusal_codes"]  # fmt: skip
    assert set(tests) == {f"test_{rule}[transfer-wallet]" for rule in rules}
    skipped = {name: case.find("skipped") for name, case in tests.items()}
    assert [name for name, s in skipped.items() if s is not None] == ["test_F7_refund_and_cancel[transfer-wallet]"]
    assert "no clause" in str(skipped["test_F7_refund_and_cancel[transfer-wallet]"].get("message"))
    page = (result.report_dir / "report.html").read_text()
    assert 'id="flow-transfer-wallet"' in page and 'href="#kc-flows"' in page


PLAN = flow_plan(list(FLOWS.values()))
FAULT_RUNS = [(d, name) for kind, d, name in PLAN if kind == "fault"]


def test_every_flow_fault_and_dialect_has_a_run() -> None:
    assert {name for _, name in FAULT_RUNS} == set(FLOW_FAULTS)
    assert {(d.flow, name) for kind, d, name in PLAN if kind == "dialect"} == {
        (flow, name) for flow in FLOWS for name in FLOW_DIALECTS
    }


@pytest.mark.parametrize(("flow", "fault"), FAULT_RUNS, ids=[f"{d.flow}/{n}" for d, n in FAULT_RUNS])
def test_each_mock_flow_fault_fails_the_run_on_its_rule(tmp_path: Path, flow: FlowDeclaration, fault: str) -> None:
    result, secrets = _against_mock(tmp_path, flow, "--flows", fault=fault)
    assert result.code == 1, result.output[-3000:]
    SCHEMA.validate(result.results)
    data = _flow(result, flow.flow)
    assert data["verdict"] == "FAILED"
    for rule_id in FLOW_FAULTS[fault].rules:
        assert _rules(data)[rule_id] == "failed", (rule_id, _rules(data))
    broken = [s for s in data["steps"] if s["outcome"] == "broke"]
    assert broken
    summary = next(line for line in result.output.splitlines() if line.startswith(f"  flow {flow.flow}: FAILED: "))
    assert f" step {broken[0]['index']} " in summary
    assert "NOT CONFORMANT" in result.output.splitlines()[-1]
    _no_secret(result, secrets)


def test_a_flow_dialect_passes(tmp_path: Path) -> None:
    result, secrets = _against_mock(tmp_path, TRANSFER, "--flows", dialect="duplicate-answers-61")
    assert result.code == 0, result.output[-3000:]
    data = _flow(result, "transfer-wallet")
    assert data["verdict"] == "PASSED"
    repeats = [c for s in data["steps"] if s["rule"] == "F2" for c in s["calls"]]
    assert repeats and {c["code"] for c in repeats} == {61}  # the dialect's answer to the same transaction again
    _no_secret(result, secrets)


def test_against_a_real_target_flows_run_only_when_asked(tmp_path: Path) -> None:
    result, secrets = _against_mock(tmp_path, TRANSFER)
    assert result.code == 0, result.output[-3000:]
    assert "money flows not run against this target: transfer-wallet; add --flows to run them" in result.output
    SCHEMA.validate(result.results)
    data = _flow(result, "transfer-wallet")
    assert data["verdict"] == "NOT RUN" and "--flows" in data["problem"] and data["steps"] == []
    assert set(_rules(data).values()) == {"skipped"}
    assert data["note"] not in result.results["identity"]["notes"]  # nothing was moved
    lines = _exchanges(result)
    assert lines and not [e for e in lines if e["case"].startswith("flow:")]
    deposits = [e for e in lines if e["method"] == "deposit-balance"]
    methods = {m["name"]: m["requests"] for m in result.results["methods"]}
    assert len(deposits) == methods["deposit-balance"]  # the cases' deposits, and no flow's
    tests = _junit(result)
    assert len(tests) == 8
    for case in tests.values():
        skipped = case.find("skipped")
        assert skipped is not None and "not run" in str(skipped.get("message"))
    _no_secret(result, secrets)


def test_the_seamless_flow_runs_against_the_embedded_mock(tmp_path: Path) -> None:
    result = run_cli(["--contract", str(data_dir("contracts") / "seamless-wallet")], tmp_path)
    assert result.code == 0, result.output[-3000:]
    SCHEMA.validate(result.results)
    [data] = result.results["flows"]
    assert data["flow"] == "seamless-wallet" and data["direction"] == "kyren-calls-operator"
    assert data["verdict"] == "PASSED"
    assert _rules(data) == dict.fromkeys(["F1", "F2", "F3", "F4", "F5", "F7", "S10"], "passed")
    assert "  flow seamless-wallet: PASSED" in result.output


# --- wallets written from the pages, not from the mock ------------------------------------------------------

TOKEN, PARTNER, USER = "wallet-token-9d2e71", "partner-7", "tester"
SEAMLESS_VALUES = {"userId": "421", "currency": "USD", "providerId": "Kyren", "sessionId": "s-1",
                   "gameId": "6_speed_baccarat1", "gameName": "SPEED BACCARAT1", "roundId": "5103188801"}  # fmt: skip


def _fields(values: dict[str, str]) -> list[str]:
    return [arg for name, value in values.items() for arg in ("--field", f"{name}={value}")]


def _transfer_wallet(tmp_path: Path, *switches: str) -> CliRun:
    with TransferWallet(TOKEN, PARTNER, switches=switches) as server:
        server.balance_of(USER, "USD")  # the configured test user has a wallet, as a real one would
        contracts = [arg for m in TRANSFER.methods for arg in ("--contract", str(ROOT / f"contracts/{m}.json"))]
        values = _fields({"secureLogin": PARTNER, "userId": USER, "currency": "USD"})
        args = ["--target-url", server.url, *contracts, *values, "--flows"]
        return run_cli(args, tmp_path, env={"KYREN_TOKEN": TOKEN})


def test_an_independent_transfer_wallet_is_conformant_with_flows(tmp_path: Path) -> None:
    result = _transfer_wallet(tmp_path)
    assert result.code == 0, result.output[-3000:]
    assert _flow(result, "transfer-wallet")["verdict"] == "PASSED"
    _no_secret(result, [TOKEN])


def test_an_independent_seamless_wallet_is_conformant_with_flows(tmp_path: Path) -> None:
    with SeamlessWallet() as server:
        args = ["--target-url", server.url, "--contract", str(ROOT / "contracts/seamless-wallet"), "--flows"]
        result = run_cli([*args, *_fields(SEAMLESS_VALUES)], tmp_path)
    assert result.code == 0, result.output[-3000:]
    assert _flow(result, "seamless-wallet")["verdict"] == "PASSED"


def test_an_independent_wallet_that_overdraws_is_caught(tmp_path: Path) -> None:
    result = _transfer_wallet(tmp_path, "overdraw")
    assert result.code == 1, result.output[-3000:]
    data = _flow(result, "transfer-wallet")
    assert data["verdict"] == "FAILED" and _rules(data)["F4"] == "failed"
    assert {rule for rule, outcome in _rules(data).items() if outcome == "failed"} == {"F4"}
    assert "  flow transfer-wallet: FAILED: F4 step " in result.output
    _no_secret(result, [TOKEN])


def test_the_mutation_command_scores_flow_faults_and_dialects(tmp_path: Path) -> None:
    only = ["--only", "transfer-wallet/overdraw", "--only", "seamless-wallet/duplicate-answers-61"]
    command = [sys.executable, "-m", "kyren_conformance.cli", "mutation", *only, "--jobs", "2"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYREN_")}
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {cells[1]: cells for line in proc.stdout.splitlines() if len(cells := line.split()) == 7}
    assert rows["transfer-wallet/overdraw"][2:5] == ["F4", "F4", "killed"]
    assert rows["seamless-wallet/duplicate-answers-61"][2:5] == ["-", "-", "passed"]
    assert set(rows) == {"transfer-wallet/overdraw", "seamless-wallet/duplicate-answers-61"}
    assert "money-flow faults killed by their expected rule: 1/1; money-flow dialects passed: 1/1" in proc.stdout
