"""A flow in the run, judged and written: FlowRun (the outcome subject), flow_results (results.json's `flows` and
the terminal's line), and the settings that choose the run's flows. A flow that stopped early never passes a
rule it did not get to; one not run is skipped with its reason; a broken declaration is one line, exit 4."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from flow_report_examples import results_with
from independent_wallets import TransferWallet
from kyren_conformance.client import ClientSettings
from kyren_conformance.exchange_log import ExchangeLog
from kyren_conformance.flow_results import flow_data, summary_line
from kyren_conformance.flow_run import FlowRun
from kyren_conformance.flows import load_flow
from kyren_conformance.flows.engine import staging_note
from kyren_conformance.flows.record import FlowRecord
from kyren_conformance.mutation import flow_contracts
from kyren_conformance.outcome import rule_outcome
from kyren_conformance.redaction import Redactor
from kyren_conformance.resources import data_dir
from kyren_conformance.run_snapshot import flow_snapshot
from kyren_conformance.settings import FLOWS_NOT_ASKED, ConfigError, FlowSettings, resolve_suite

ROOT = Path(__file__).resolve().parents[1]
TRANSFER = load_flow(data_dir("contracts") / "flows" / "transfer-wallet.json")
SCHEMA = jsonschema.Draft202012Validator(json.loads((ROOT / "schemas" / "results.schema.json").read_text()))
TOKEN, PARTNER, USER = "wallet-token-9d2e71", "partner-7", "tester"


def _valid(flow: FlowRun) -> dict[str, Any]:
    data = flow_data(flow_snapshot(flow))
    SCHEMA.validate(results_with(data))
    return data


def _judged(flow: FlowRun) -> dict[str, str]:
    return {rule.id: rule_outcome(flow, rule, strict=False).kind for rule in flow.rules}


def test_a_flow_stopped_before_its_first_step_passes_no_rule() -> None:
    flow = FlowRun(FlowSettings(TRANSFER, staging_note(TRANSFER)))
    problem = "the balance before the flow could not be read: code 999"
    flow.record = FlowRecord(TRANSFER, USER, "USD", 2, "1.00", (), None, (), problem)
    outcomes = _judged(flow)
    assert outcomes == {**dict.fromkeys(["F1", "F2", "F3", "F4", "F5", "F6"], "fail"), "S10": "warn"}
    for rule in flow.rules:
        [finding] = flow.records[rule.id].findings
        assert finding.received == f"the flow stopped before this could be checked: {problem}"
    data = _valid(flow)
    assert data["verdict"] == "STOPPED" and data["problem"] == problem and data["steps"] == []
    assert {r["outcome"] for r in data["rules"]} == {"failed", "warned"}
    assert summary_line(data) == f"flow transfer-wallet: STOPPED ({problem})"


def test_a_flow_not_run_is_skipped_with_its_reason() -> None:
    flow = FlowRun(FlowSettings(TRANSFER, staging_note(TRANSFER), FLOWS_NOT_ASKED))
    outcome = rule_outcome(flow, flow.rule("F1"), strict=False)
    assert outcome.kind == "skip" and FLOWS_NOT_ASKED in outcome.text
    no_clause = rule_outcome(flow, flow.rule("F7"), strict=False)
    assert no_clause.kind == "skip" and "gives F7 no clause" in no_clause.text
    data = _valid(flow)
    assert data["verdict"] == "NOT RUN" and data["problem"] == FLOWS_NOT_ASKED
    assert {r["outcome"] for r in data["rules"]} == {"skipped"} and data["user"] is None


class _BalanceGoesAway(TransferWallet):
    """Answers the first `reads` balance reads, then 999 'Internal server error' to every one."""

    def __init__(self, reads: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads_left = reads

    def get_balance(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.ledger.cond:
            self.reads_left -= 1
            gone = self.reads_left < 0
        return self.code("/transfer/GetBalance", 999) if gone else super().get_balance(request)


def test_a_flow_stopped_midway_fails_the_rules_it_did_not_get_to() -> None:
    flow = FlowRun(FlowSettings(TRANSFER, staging_note(TRANSFER)))
    contracts = {c.path.stem: c for c in flow_contracts(TRANSFER)}
    values = dict.fromkeys(contracts, {"secureLogin": PARTNER, "token": TOKEN, "userId": USER, "currency": "USD"})
    with _BalanceGoesAway(3, TOKEN, PARTNER) as server:  # the start, a deposit, the same again; then no balance
        flow.send(contracts, values, ClientSettings(server.url, timeout=5), Redactor([TOKEN]), ExchangeLog(None),
                  time.monotonic())  # fmt: skip
    assert flow.record is not None and flow.record.problem and "999" in flow.record.problem
    last = flow.record.steps[-1]
    assert last.rule == "F3"
    outcomes = _judged(flow)
    assert outcomes["F1"] == outcomes["F2"] == "pass"  # judged on the steps they got, which were right
    assert outcomes["F3"] == outcomes["F4"] == outcomes["F5"] == "fail" and outcomes["S10"] == "warn"
    [here] = flow.records["F3"].findings
    assert here.received.startswith(f"{last.label}: the flow stopped here: the balance could not be read")
    [before] = flow.records["F4"].findings
    assert before.received.startswith("the flow stopped before this could be checked: ")
    data = _valid(flow)
    assert data["verdict"] == "STOPPED"
    stopped_at = len(data["steps"]) - 1
    f4 = next(r for r in data["rules"] if r["id"] == "F4")
    assert f4["findings"][0]["step"] == stopped_at and data["steps"][stopped_at]["outcome"] == "broke"
    assert all(call["exchange"] is None for step in data["steps"] for call in step["calls"])  # no log: no line
    assert flow.requests == sum(len(s.exchanges) for s in (*flow.record.setup, *flow.record.steps)) + 1
    assert "; stopped: the balance could not be read" in flow.progress_line()


def test_the_summary_line_names_the_first_broken_step() -> None:
    data = {
        "flow": "transfer-wallet", "verdict": "FAILED", "problem": None,
        "rules": [
            {"id": "S10", "findings": [{"received": "withdraw 9: refused with code 99; the page names 15", "step": 4}]},
            {"id": "F1", "findings": [{"received": "deposit 1.00: balance 1000.00 before, 1002.00 after", "step": 3}]},
        ],
        "steps": [{"label": f"step {i}", "expected": None, "after": None} for i in range(3)]
        + [{"label": "deposit 1.00", "expected": "1001.00", "after": "1002.00"},
           {"label": "withdraw 9", "expected": "1001.00", "after": "1001.00"}],
    }  # fmt: skip
    assert summary_line(data) == "flow transfer-wallet: FAILED: F1 step 3 deposit 1.00: expected 1001.00, saw 1002.00"
    data["rules"].pop()
    assert summary_line(data) == "flow transfer-wallet: FAILED: S10 step 4 withdraw 9: refused with code 99; " \
        "the page names 15"  # fmt: skip
    assert summary_line({**data, "verdict": "PASSED", "rules": []}) == "flow transfer-wallet: PASSED"


def _options(**given: Any) -> Any:
    return lambda dest: given.get(dest)


def test_the_run_takes_the_flows_whose_methods_it_has() -> None:
    every = resolve_suite(_options())
    assert [f.name for f in every.flows] == ["transfer-wallet"] and every.flows[0].not_run is None
    seamless = resolve_suite(_options(kyren_contract=[str(data_dir("contracts") / "seamless-wallet")]))
    assert [f.name for f in seamless.flows] == ["seamless-wallet"]
    close_session = [str(data_dir("contracts") / "close-session.json")]
    alone = resolve_suite(_options(kyren_contract=close_session))
    assert alone.flows == () and alone.notes == ()
    asked = resolve_suite(_options(kyren_contract=close_session, kyren_flows=True))
    assert asked.notes == ("--flows is ignored: no money flow has all its methods among the run's contracts",)


def test_a_broken_flow_declaration_is_a_one_line_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = json.loads((data_dir("contracts") / "flows" / "transfer-wallet.json").read_text())
    broken["operations"]["deposit"]["amount_field"] = "amout"
    path = tmp_path / "transfer-wallet.json"
    path.write_text(json.dumps(broken))
    monkeypatch.setattr("kyren_conformance.settings.shipped_flow_paths", lambda: [path])
    with pytest.raises(ConfigError) as error:
        resolve_suite(_options())
    message = str(error.value)
    assert "\n" not in message and "amout" in message and "deposit-balance" in message
