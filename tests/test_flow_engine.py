"""Money flows end to end: the engine against a wallet server written from the pages (tests/flow_servers.py) and
against the reference mock. Each defect is caught by its rule; both duplicate dialects pass."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from flow_servers import (
    DEFECTS,
    SEAMLESS_DECLARATION,
    TOKEN,
    WalletServer,
    seamless_values,
    transfer_values,
)
from kyren_conformance.client import Client, ClientSettings
from kyren_conformance.contract import Contract, load_contract
from kyren_conformance.findings import Finding
from kyren_conformance.flows.amounts import as_decimal, fits, over_precise, quantized, text
from kyren_conformance.flows.declaration import FlowDeclaration, load_flow
from kyren_conformance.flows.engine import run_flow, staging_note
from kyren_conformance.flows.judgements import judge_flow
from kyren_conformance.flows.record import FlowRecord, Step
from kyren_conformance.flows.wire import dumps
from kyren_conformance.redaction import Redactor

ROOT = Path(__file__).resolve().parents[1]
SEAMLESS_CONTRACTS = ROOT / "contracts" / "seamless-wallet" / "contracts"


@pytest.fixture(scope="module")
def transfer() -> tuple[FlowDeclaration, dict[str, Contract]]:
    d = load_flow(ROOT / "contracts" / "flows" / "transfer-wallet.json")
    return d, {m: load_contract(ROOT / "contracts" / f"{m}.json") for m in d.methods}


@pytest.fixture(scope="module")
def seamless(tmp_path_factory: pytest.TempPathFactory) -> tuple[FlowDeclaration, dict[str, Contract]]:
    path = tmp_path_factory.mktemp("flows") / "seamless-wallet-test.json"
    path.write_text(json.dumps(SEAMLESS_DECLARATION), encoding="utf-8")
    d = load_flow(path)
    return d, {m: load_contract(SEAMLESS_CONTRACTS / f"{m}.json") for m in d.methods}


@pytest.fixture(scope="module")
def shipped_seamless() -> tuple[FlowDeclaration, dict[str, Contract]]:
    """The reviewed Seamless Wallet declaration (contracts/flows/seamless-wallet.json)."""
    d = load_flow(ROOT / "contracts" / "flows" / "seamless-wallet.json")
    return d, {m: load_contract(SEAMLESS_CONTRACTS / f"{m}.json") for m in d.methods}


def run(
    flow: tuple[FlowDeclaration, dict[str, Contract]], server: WalletServer, values: dict[str, dict[str, Any]]
) -> tuple[FlowRecord, list[Finding]]:
    d, contracts = flow
    with Client(ClientSettings(server.url, timeout=5), Redactor([TOKEN])) as client:
        record = run_flow(d, contracts, client, values)
    return record, judge_flow(record)


def run_transfer(flow: Any, **server: Any) -> tuple[FlowRecord, list[Finding], WalletServer]:
    with WalletServer(**server) as wallet:
        record, findings = run(flow, wallet, transfer_values(list(flow[0].methods)))
    return record, findings, wallet


def run_seamless(flow: Any, **server: Any) -> tuple[FlowRecord, list[Finding], WalletServer]:
    with WalletServer(**server) as wallet:
        record, findings = run(flow, wallet, seamless_values(list(flow[0].methods)))
    return record, findings, wallet


def rules(findings: list[Finding]) -> set[str]:
    return {f.rule_id for f in findings}


def steps(record: FlowRecord, rule: str) -> list[Step]:
    return [s for s in record.steps if s.rule == rule]


# --- Transfer Wallet: the suite plays the operator ------------------------------------------------------------


@pytest.mark.parametrize(
    "server",
    [{"dialect": "replays-first"}, {"dialect": "answers-61"}, {"history": "list"}],
    ids=["replays-first", "answers-61", "history-as-a-list"],
)
def test_a_conformant_transfer_wallet_passes_and_ends_where_it_began(transfer: Any, server: dict[str, Any]) -> None:
    record, findings, wallet = run_transfer(transfer, **server)
    assert record.problem is None
    assert findings == []
    assert wallet.balance() == Decimal("1000.00")  # net zero: what the flow deposited it withdrew
    assert {s.rule for s in record.steps} == {"F1", "F2", "F3", "F4", "F5"}
    assert all(s.history is not None for s in record.steps if s.history_amount is not None)
    assert len([s for s in record.steps if s.history is not None]) >= 4  # F6 read after each applied transaction


TRANSFER_DEFECTS = [d for d in DEFECTS if d != "refund-twice"]


@pytest.mark.parametrize("defect", TRANSFER_DEFECTS)
def test_each_transfer_defect_is_caught_by_its_rule(transfer: Any, defect: str) -> None:
    record, findings, _ = run_transfer(transfer, defect=defect)
    assert record.problem is None
    assert DEFECTS[defect] in rules(findings), [f.message for f in findings]


def test_a_finding_says_where_the_arithmetic_broke(transfer: Any) -> None:
    record, findings, _ = run_transfer(transfer, defect="overdraw")
    f4 = [f for f in findings if f.rule_id == "F4"]
    step = steps(record, "F4")[0]
    assert step.before == Decimal("1002.00") and step.expected == Decimal("1002.00")
    assert step.balance_after == Decimal("-1.00")
    assert any("1002.00 before, -1.00 after; expected 1002.00 (unchanged)" in f.received for f in f4)
    assert all(f.level == "MUST" and "Error-Code-1.md line 25" in f.documented for f in f4)
    assert all(f.exchange is not None and f.case_id.startswith("transfer-wallet: ") for f in f4)
    # the overdraft was put back (a restoring step, never judged), so the later steps judge from a sane balance
    restore = record.steps[record.steps.index(step) + 1]
    assert restore.rule == "restore" and restore.amount == "1003.00" and restore.outcome is None


def test_the_race_sends_identical_copies_at_once(transfer: Any) -> None:
    record, findings, wallet = run_transfer(transfer)
    race = steps(record, "F3")[0]
    sent = [b for b in wallet.sent("/transfer/DepositBalance") if b["transactionId"] == race.transaction]
    assert len(sent) == len(race.answers) == 8
    assert len({b["uuid"] for b in sent}) == 8  # one transaction, each copy its own request
    assert race.balance_after == race.before + Decimal("1.00")  # type: ignore[operator]


def test_amounts_go_out_as_decimal_text_and_come_back_as_decimals(transfer: Any) -> None:
    record, _, wallet = run_transfer(transfer)
    amounts = [b["amount"] for b in wallet.sent("/transfer/DepositBalance")]
    assert {"1.00", "0.10", "0.20", "0", "-1.00", "0.001", "abc"} <= set(amounts)
    assert all(isinstance(a, str) for a in amounts)  # the page types it string: never a float on the wire
    assert all(isinstance(s.balance_after, Decimal) for s in record.steps)
    assert [s.amount for s in steps(record, "F5")][:4] == ["0", "-1.00", "0.001", "abc"]


def test_a_currency_without_decimals_gets_its_own_amounts(transfer: Any) -> None:
    """JPY: the setup creates the wallet (balance 0); "1" is moved, "0.1" is the over-precise amount."""
    with WalletServer() as wallet:
        values = transfer_values(list(transfer[0].methods))
        for method_values in values.values():
            method_values["currency"] = "JPY"
        record, findings = run(transfer, wallet, values)
        assert findings == [] and record.problem is None
        assert (record.currency, record.decimals, record.amount) == ("JPY", 0, "1")
        assert "0.1" in [s.amount for s in steps(record, "F5")]
        assert wallet.balance(currency="JPY") == 0


def test_the_token_never_reaches_the_record(transfer: Any) -> None:
    record, _, _ = run_transfer(transfer)
    assert record.exchanges
    for exchange in record.exchanges:
        assert TOKEN.encode() not in exchange.request_body
        assert TOKEN not in repr(exchange.payload) and TOKEN not in repr(exchange.request_headers)


def test_the_staging_note_names_the_amount_and_the_user(transfer: Any) -> None:
    note = staging_note(transfer[0])
    assert "moves 1.00 at a time on the configured test user" in note and "8 at one instant" in note


def test_an_unreachable_target_stops_the_flow_with_a_reason(transfer: Any) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    d, contracts = transfer
    with Client(ClientSettings(f"http://127.0.0.1:{port}", timeout=2), Redactor([TOKEN])) as client:
        record = run_flow(d, contracts, client, transfer_values(list(d.methods)))
    assert record.problem is not None and "could not be read" in record.problem
    assert record.steps == () and judge_flow(record) == []


# --- Seamless Wallet: the suite plays Kyren -------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["replays-first", "answers-61"])
def test_a_conformant_seamless_wallet_passes(seamless: Any, dialect: str) -> None:
    record, findings, wallet = run_seamless(seamless, dialect=dialect)
    assert record.problem is None and findings == []
    assert wallet.balance() == Decimal("1000.00")
    assert {s.rule for s in record.steps} == {"F1", "F2", "F4", "F5", "F7"}
    end_rounds = [s for s in record.steps if s.operation == "end_round"]
    assert len(end_rounds) == 2 and all(s.answers[-1].success for s in end_rounds)


SEAMLESS_DEFECTS = ["double-credit-on-retry", "lost-update-under-race", "float-rounding", "overdraw",
                    "refund-twice", "bad-amount-accepted"]  # fmt: skip


@pytest.mark.parametrize("defect", SEAMLESS_DEFECTS)
def test_each_seamless_defect_is_caught_by_its_rule(seamless: Any, defect: str) -> None:
    record, findings, _ = run_seamless(seamless, defect=defect)
    assert DEFECTS[defect] in rules(findings), [f.message for f in findings]


@pytest.mark.parametrize("dialect", ["replays-first", "answers-61"])
def test_the_shipped_seamless_flow_passes_a_conformant_wallet(shipped_seamless: Any, dialect: str) -> None:
    record, findings, wallet = run_seamless(shipped_seamless, dialect=dialect)
    assert record.problem is None and findings == []
    assert wallet.balance() == Decimal("1000.00")
    race = steps(record, "F3")
    assert len(race) == 1 and race[0].operation == "bet" and len(race[0].answers) == 8


@pytest.mark.parametrize("defect", ["duplicates-under-race", "refund-twice", "double-credit-on-retry"])
def test_the_shipped_seamless_flow_catches_defects(shipped_seamless: Any, defect: str) -> None:
    _, findings, _ = run_seamless(shipped_seamless, defect=defect)
    assert DEFECTS[defect] in rules(findings), [f.message for f in findings]


def test_a_bet_after_998_is_retransmitted_with_the_same_reference(seamless: Any) -> None:
    record, findings, wallet = run_seamless(seamless, fail={"Bet": (998, 1)})
    assert findings == []
    bet = record.steps[0]
    assert [a.code for a in bet.answers] == [998, 0] and [a.retransmission for a in bet.answers] == [0, 1]
    sent = [b for b in wallet.sent("/v1/Bet") if b["reference"] == bet.transaction]
    assert len(sent) >= 2 and sent[0]["roundId"] == sent[1]["roundId"] and sent[0]["uuid"] != sent[1]["uuid"]


def test_a_network_error_is_retransmitted(seamless: Any) -> None:
    record, findings, _ = run_seamless(seamless, fail={"Bet": (-1, 1)})
    assert findings == []
    first = record.steps[0].answers[0]
    assert first.code is None and first.exchange.status == 500 and record.steps[0].answers[1].success


def test_a_bet_that_never_gets_a_good_answer_is_cancelled(seamless: Any) -> None:
    record, _, wallet = run_seamless(seamless, fail={"Bet": (998, 99)})
    bet, then = record.steps[0], record.steps[1]
    assert [a.code for a in bet.answers] == [998] * 4  # the first send and 3 retransmissions (Bet.md line 5)
    assert then.operation == "cancel" and then.rule == "F7" and then.transaction == bet.transaction
    cancels = [b for b in wallet.sent("/v1/Cancel") if b["reference"] == bet.transaction]
    # one after the bet, one after the same bet sent again (it got no good answer either)
    assert len(cancels) == 2 and {c["roundId"] for c in cancels} == {wallet.sent("/v1/Bet")[0]["roundId"]}


def test_a_result_is_retransmitted_ten_times(seamless: Any) -> None:
    record, _, _ = run_seamless(seamless, fail={"Result": (998, 99)})
    result = next(s for s in record.steps if s.operation == "result")
    assert len(result.answers) == 11 and result.answers[-1].retransmission == 10


def test_never_a_retransmission_after_15_or_999(seamless: Any) -> None:
    record, _, _ = run_seamless(seamless)
    (f4,) = steps(record, "F4")
    assert [a.code for a in f4.answers] == [15]
    record, findings, wallet = run_seamless(seamless, fail={"Bet": (999, 1)})
    bet = record.steps[0]
    assert [a.code for a in bet.answers] == [999]
    assert record.steps[1].operation == "bet"  # no cancel: 999 is an answer, and it asks for no retry
    assert "F1" in rules(findings)  # the bet was not applied: a finding, where the arithmetic broke


# --- the reference mock ---------------------------------------------------------------------------------------


@pytest.fixture
def mock_run(transfer: Any) -> Iterator[Any]:
    from kyren_conformance.mock import MockServer

    def go(flow: Any, **options: Any) -> tuple[FlowRecord, list[Finding]]:
        d, contracts = flow
        with MockServer(list(contracts.values()), flows=[d], **options) as mock:
            secrets = [mock.credentials_of(c)[f.name] for c in contracts.values() for f in c.secret_fields]
            with Client(ClientSettings(mock.url, timeout=5), Redactor(secrets)) as client:
                values = {m: mock.credentials_of(c) for m, c in contracts.items()}
                record = run_flow(d, contracts, client, values)
        return record, judge_flow(record)

    yield go


@pytest.mark.parametrize("dialect", [None, "duplicate-answers-61"])
def test_the_reference_mock_passes_the_transfer_flow(mock_run: Any, transfer: Any, dialect: str | None) -> None:
    record, findings = mock_run(transfer, dialect=dialect)
    assert record.problem is None and findings == []
    assert len(steps(record, "F1")) >= 6


@pytest.mark.parametrize(
    ("fault", "rule"),
    [("double-credit-on-retry", "F2"), ("lost-update-under-race", "F1"), ("float-rounding", "F1"), ("overdraw", "F4")],
)
def test_the_mock_faults_are_caught_by_their_rules(mock_run: Any, transfer: Any, fault: str, rule: str) -> None:
    _, findings = mock_run(transfer, faults=[fault])
    assert rule in rules(findings)


def test_the_mock_seamless_flow(mock_run: Any, shipped_seamless: Any) -> None:
    record, findings = mock_run(shipped_seamless)
    assert record.problem is None and findings == []
    _, findings = mock_run(shipped_seamless, faults=["refund-applied-twice"])
    assert rules(findings) == {"F7"}
    _, findings = mock_run(shipped_seamless, faults=["double-credit-on-retry"])
    assert "F2" in rules(findings)


# --- amounts ------------------------------------------------------------------------------------------------------


def test_amounts_are_decimals_read_from_their_text() -> None:
    assert as_decimal("1000.10") == Decimal("1000.10") and as_decimal(1000) == Decimal(1000)
    assert as_decimal(Decimal("1000.3000000000001")) == Decimal("1000.3000000000001")
    for not_an_amount in ("1e3", "abc", "", True, None, [1], "NaN", Decimal("Infinity"), "1" * 50):
        assert as_decimal(not_an_amount) is None, not_an_amount
    assert fits(Decimal("1000.10"), 2) and fits(Decimal("1000.100"), 2) and not fits(Decimal("0.001"), 2)
    assert not fits(Decimal("1000.3000000000000000000000000000001"), 2)  # beyond the default 28 digits
    assert quantized(Decimal("1000.3000000000001"), 2) == Decimal("1000.30")
    assert text(Decimal("1.00"), 0) == "1" and text(Decimal("1"), 2) == "1.00"
    assert over_precise(2) == "0.001" and over_precise(0) == "0.1"
    assert dumps({"amount": Decimal("1.10"), "note": "x"}) == b'{"amount": 1.10, "note": "x"}'
