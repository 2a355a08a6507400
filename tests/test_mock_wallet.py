"""The mock keeps real balances (issue 15): Decimal arithmetic, idempotency per dialect, races, refusals, faults.

Every test talks to a real MockServer on 127.0.0.1 with real HTTP requests. The flow declarations are written
here (tmp_path), so the tests pin what the mock reads from a declaration, whatever the shipped files say.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from kyren_conformance.contract import Contract, load_contract
from kyren_conformance.flows import FlowDeclaration, load_flow
from kyren_conformance.mock import DIALECTS, FAULTS, FLOW_DIALECTS, FLOW_FAULTS, MockServer
from kyren_conformance.mock.cli import run_mock
from kyren_conformance.mutation import suite_target_args
from support import run_cli

ROOT = Path(__file__).resolve().parents[1]
TRANSFER = ["create-user", "create-wallet", "deposit-balance", "withdrawl-balance", "get-balance", "get-transfer-info"]
SEAMLESS = ["bet", "result", "refund", "cancel", "end-round", "balance"]
CLAUSES = {rule: "a declaration written by the test" for rule in ("F1", "F2", "F3", "F4", "F5", "F6", "F7", "S10")}
BAD_AMOUNT, INSUFFICIENT, ALREADY_EXISTS = 59, 15, 61
N = 20  # concurrent requests in the race tests


def _declaration(**overrides: Any) -> dict[str, Any]:
    common = {
        "title": "a test flow",
        "source": "tests/test_mock_wallet.py",
        "user_field": "userId",
        "currency_field": "currency",
        "currency_decimals": {"USD": 2, "JPY": 0},
        "default_decimals": 2,
        "amount": "1.00",
        "codes": {"insufficient": [INSUFFICIENT], "already_exists": [ALREADY_EXISTS], "bad_amount": [BAD_AMOUNT, 21]},
        "clauses": {**CLAUSES, "retry": "a declaration written by the test"},
    }
    return {**common, **overrides}


TRANSFER_FLOW = _declaration(
    flow="transfer-test",
    direction="operator-calls-kyren",
    setup=["create-user", "create-wallet"],
    balance={"method": "get-balance", "field": "balance"},
    operations={
        "deposit": {"method": "deposit-balance", "effect": "credit", "amount_field": "amount",
                    "transaction_field": "transactionId", "balance_field": "balance"},
        "withdraw": {"method": "withdrawl-balance", "effect": "debit", "amount_field": "amount",
                     "transaction_field": "transactionId", "balance_field": "balance"},
    },
    history={"method": "get-transfer-info", "transaction_field": "transactionId", "amount_field": "amount",
             "balance_field": "balance", "aliases": {"transctionId": "transactionId"}},
    retry=None,
)  # fmt: skip

SEAMLESS_FLOW = _declaration(
    flow="seamless-test",
    direction="kyren-calls-operator",
    setup=[],
    balance={"method": "balance", "field": "cash"},
    operations={
        "bet": {"method": "bet", "effect": "debit", "amount_field": "amount", "transaction_field": "reference",
                "round_field": "roundId", "balance_field": "cash"},
        "result": {"method": "result", "effect": "credit", "amount_field": "amount", "transaction_field": "reference",
                   "round_field": "roundId", "balance_field": "cash"},
        "refund": {"method": "refund", "effect": "reverse", "reverses": "bet", "transaction_field": "reference",
                   "round_field": "roundId", "balance_field": None},
        "cancel": {"method": "cancel", "effect": "reverse", "reverses": "bet", "transaction_field": "reference",
                   "round_field": "roundId", "balance_field": "cash"},
        "end_round": {"method": "end-round", "effect": "none", "round_field": "roundId", "balance_field": "cash"},
    },
    history=None,
    retry={"retransmissions": 3, "no_retry_codes": [15, 999], "retry_codes": [998]},
)  # fmt: skip


def _flow(tmp_path: Path, raw: dict[str, Any]) -> FlowDeclaration:
    path = tmp_path / f"{raw['flow']}.json"
    path.write_text(json.dumps(raw))
    return load_flow(path)


def _contracts(kind: str) -> list[Contract]:
    if kind == "transfer":
        return [load_contract(ROOT / "contracts" / f"{name}.json") for name in TRANSFER]
    folder = ROOT / "contracts" / "seamless-wallet" / "contracts"
    return [load_contract(folder / f"{name}.json") for name in SEAMLESS]


@dataclass
class Client:
    """One wallet on the mock: calls a method by its contract's file stem, with a fresh uuid unless given."""

    server: MockServer
    contracts: dict[str, Contract]
    session: requests.Session = field(default_factory=requests.Session)

    def body(self, method: str, **fields: Any) -> dict[str, Any]:
        contract = self.contracts[method]
        rid = contract.request_id_field
        assert rid is not None
        return {**self.server.credentials_of(contract), rid.name: str(uuid.uuid4()), **fields}

    def send(self, method: str, body: dict[str, Any], session: requests.Session | None = None) -> dict[str, Any]:
        url = self.server.url + self.contracts[method].http_path
        response = (session or self.session).post(url, json=body, timeout=10)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert isinstance(answer, dict)
        return answer

    def call(self, method: str, **fields: Any) -> dict[str, Any]:
        return self.send(method, self.body(method, **fields))


class Transfer(Client):
    def deposit(self, transaction: str, amount: Any, user: str = "u1", currency: str = "USD") -> dict[str, Any]:
        return self.call("deposit-balance", userId=user, currency=currency, transactionId=transaction, amount=amount)

    def withdraw(self, transaction: str, amount: Any, user: str = "u1", currency: str = "USD") -> dict[str, Any]:
        fields = {"userId": user, "currency": currency, "transactionId": transaction, "amount": amount}
        return self.call("withdrawl-balance", **fields)

    def balance(self, user: str = "u1", currency: str = "USD") -> str:
        answer = self.call("get-balance", userId=user, currency=currency)
        assert answer["error"] == 0, answer
        return str(answer["balance"])

    def history(self, user: str = "u1") -> dict[str, Any]:
        return self.call("get-transfer-info", userId=user)


class Seamless(Client):
    def move(self, method: str, reference: str, amount: Any, round_id: str = "r1") -> dict[str, Any]:
        return self.call(method, userId="p1", currency="USD", reference=reference, roundId=round_id, amount=amount)

    def reverse(self, method: str, reference: str, round_id: str = "r1") -> dict[str, Any]:
        return self.call(method, userId="p1", currency="USD", reference=reference, roundId=round_id)

    def cash(self) -> str:
        answer = self.call("balance", userId="p1", currency="USD")
        assert answer["error"] == 0, answer
        return str(answer["cash"])


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start a mock serving one flow ("transfer" or "seamless"), with a fault and a dialect if given."""
    started: list[Client] = []

    def start(kind: str = "transfer", **options: Any) -> Any:
        contracts = _contracts(kind)
        flow = _flow(tmp_path, TRANSFER_FLOW if kind == "transfer" else SEAMLESS_FLOW)
        server = MockServer(contracts, flows=[flow], **options).start()
        client = (Transfer if kind == "transfer" else Seamless)(server, {c.path.stem: c for c in contracts})
        started.append(client)
        return client

    yield start
    for client in started:
        client.session.close()
        client.server.stop()


def _at_once(client: Client, method: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send every body from its own thread and connection, all released by one barrier."""
    barrier = threading.Barrier(len(bodies))
    answers: list[dict[str, Any]] = [{} for _ in bodies]
    errors: list[BaseException] = []

    def send(index: int) -> None:
        with requests.Session() as session:
            session.post(client.server.url + "/no-such-path", json={}, timeout=10)  # connect before the barrier
            barrier.wait(timeout=10)
            try:
                answers[index] = client.send(method, bodies[index], session)
            except BaseException as exc:  # reported below: a thread's failure must fail the test
                errors.append(exc)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    return answers


# -- arithmetic --------------------------------------------------------------------------------------------------


def test_balances_move_by_exactly_the_amount_in_decimals(start):
    wallet = start()
    assert wallet.balance() == "1000.00"  # any user starts at 1000.00
    first = wallet.deposit("t1", "0.10")
    assert (first["error"], first["balance"], first["transactionId"], first["currency"]) == (0, "1000.10", "t1", "USD")
    assert wallet.deposit("t2", "0.20")["balance"] == "1000.30"  # not 1000.3000000000001
    assert wallet.withdraw("t3", "0.30")["balance"] == "1000.00"
    assert wallet.withdraw("t4", "999.99")["balance"] == "0.01"
    assert wallet.balance() == "0.01"
    assert wallet.balance(user="u2") == "1000.00"  # balances are per user
    assert wallet.deposit("t5", "7", currency="JPY")["balance"] == "1007"  # and per currency, in its decimals
    assert wallet.balance(currency="JPY") == "1007" and wallet.balance() == "0.01"


def test_the_history_shows_the_latest_applied_transaction_signed(start):
    wallet = start()
    wallet.deposit("t1", "5.00")
    wallet.withdraw("t2", "1.25")
    wallet.withdraw("t3", "5000.00")  # refused: not in the history
    latest = wallet.history()
    assert latest["error"] == 0
    assert (latest["transactionId"], latest["amount"], latest["balance"], latest["currency"]) == (
        "t2",
        "-1.25",
        "1003.75",
        "USD",
    )
    assert latest["transctionId"] == "t2"  # the page's other spelling says the same
    wallet.deposit("t4", "2.00", user="u2")
    assert wallet.history()["transactionId"] == "t2" and wallet.history(user="u2")["amount"] == "2.00"


# -- idempotency ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", [None, "duplicate-replays-first", "duplicate-answers-61"])
def test_a_repeated_transaction_id_applies_once(start, dialect):
    wallet = start(dialect=dialect)
    first = wallet.deposit("t1", "1.00")
    again = wallet.deposit("t1", "1.00")  # a retry: the same transaction id, a new uuid
    if dialect == "duplicate-answers-61":
        assert again["error"] == ALREADY_EXISTS
    else:
        assert again == first
    assert wallet.balance() == "1001.00"
    assert wallet.withdraw("w1", "2.00")["balance"] == "999.00"
    assert wallet.withdraw("w1", "2.00")["error"] in (0, ALREADY_EXISTS)
    assert wallet.balance() == "999.00"
    # The same id in another operation is another transaction.
    assert wallet.withdraw("t1", "1.00")["balance"] == "998.00"


@pytest.mark.parametrize("dialect", [None, "duplicate-answers-61"])
def test_the_same_uuid_again_gets_the_first_answer_whatever_the_dialect(start, dialect):
    wallet = start(dialect=dialect)
    body = wallet.body("deposit-balance", userId="u1", currency="USD", transactionId="t1", amount="1.00")
    first = wallet.send("deposit-balance", body)
    assert first["error"] == 0 and wallet.send("deposit-balance", body) == first  # the uuid replay cache answers
    assert wallet.balance() == "1001.00"


@pytest.mark.parametrize("dialect", [None, "duplicate-answers-61"])
def test_identical_deposits_at_the_same_instant_apply_once(start, dialect):
    wallet = start(dialect=dialect)
    bodies = [
        wallet.body("deposit-balance", userId="u1", currency="USD", transactionId="same", amount="1.00")
        for _ in range(N)
    ]
    answers = _at_once(wallet, "deposit-balance", bodies)
    assert wallet.balance() == "1001.00"
    successes = [a for a in answers if a["error"] == 0]
    if dialect == "duplicate-answers-61":
        assert len(successes) == 1 and sorted(a["error"] for a in answers) == [0] + [ALREADY_EXISTS] * (N - 1)
    else:
        assert len(successes) == N and all(a == successes[0] for a in successes)


def test_concurrent_different_deposits_all_count(start):
    wallet = start()
    bodies = [
        wallet.body("deposit-balance", userId="u1", currency="USD", transactionId=f"t{i}", amount="1.00")
        for i in range(N)
    ]
    assert all(a["error"] == 0 for a in _at_once(wallet, "deposit-balance", bodies))
    assert wallet.balance() == f"{1000 + N}.00"


# -- refusals ---------------------------------------------------------------------------------------------------


def test_a_withdrawal_past_the_balance_is_refused_and_changes_nothing(start):
    wallet = start()
    refused = wallet.withdraw("w1", "1000.01")
    assert refused["error"] == INSUFFICIENT and "balance" not in refused
    assert wallet.balance() == "1000.00" and wallet.history().get("transactionId") != "w1"
    # A refused transaction id is not spent: the same id for what the balance covers goes through.
    assert wallet.withdraw("w1", "1000.00")["balance"] == "0.00"
    assert wallet.withdraw("w2", "0.01")["error"] == INSUFFICIENT
    assert wallet.balance() == "0.00"


@pytest.mark.parametrize(
    "amount",
    ["0", "0.00", "-1.00", "1.001", "abc", "1e2", "NaN", "Infinity", " 1", "1,00", "0x10", "1" + "0" * 25],
)
def test_a_bad_amount_gets_the_flows_code_and_changes_nothing(start, amount):
    wallet = start()
    wallet.deposit("t0", "1.00")
    assert wallet.deposit("t1", amount)["error"] == BAD_AMOUNT
    assert wallet.withdraw("t2", amount)["error"] == BAD_AMOUNT
    assert wallet.balance() == "1001.00" and wallet.history()["transactionId"] == "t0"
    # The refused transaction id stays free.
    assert wallet.deposit("t1", "1.00")["balance"] == "1002.00"


def test_an_amount_over_the_currencys_decimals_is_refused_where_it_has_fewer(start):
    wallet = start()
    assert wallet.deposit("t1", "0.5", currency="JPY")["error"] == BAD_AMOUNT
    assert wallet.deposit("t2", "1.000")["balance"] == "1001.00"  # 1.000 is 1.00: a trailing zero is no precision
    assert wallet.balance(currency="JPY") == "1000"


def test_an_amount_of_another_json_type_is_refused_by_the_contract_first(start):
    wallet = start()
    answer = wallet.deposit("t1", 1)  # the contract types the Transfer Wallet's amount as a string
    assert answer["error"] not in (0, BAD_AMOUNT)
    assert wallet.balance() == "1000.00"


# -- the Seamless Wallet: the operator's side --------------------------------------------------------------------


def test_bets_results_and_reverses_on_the_operators_wallet(start):
    wallet = start("seamless")
    assert wallet.cash() == "1000.00"
    assert wallet.move("bet", "b1", "13")["cash"] == "987.00"
    assert wallet.move("result", "w1", 31.0)["cash"] == "1018.00"  # a JSON number, as the table types it
    assert wallet.reverse("refund", "b1")["error"] == 0
    assert wallet.cash() == "1031.00"  # the bet is restored
    assert wallet.reverse("refund", "b1")["error"] == 0  # a retry (new uuid) restores nothing more
    assert wallet.reverse("cancel", "b1")["cash"] == "1031.00"  # nor does another reverse of the same bet
    assert wallet.reverse("refund", "no-such-bet", round_id="no-such-round")["error"] == 0  # Refund.md: success
    assert wallet.cash() == "1031.00"
    assert wallet.move("bet", "b2", 0.1, round_id="r2")["cash"] == "1030.90"  # 0.1 read from the body's text
    assert wallet.reverse("cancel", "c2", round_id="r2")["cash"] == "1031.00"  # found by its round
    assert wallet.call("end-round", userId="p1", currency="USD", roundId="r2")["cash"] == "1031.00"


def test_the_operators_wallet_refuses_what_the_balance_does_not_cover_and_bad_amounts(start):
    wallet = start("seamless")
    assert wallet.move("bet", "b1", "1000.01")["error"] == INSUFFICIENT
    assert wallet.move("bet", "b2", 1.001)["error"] == BAD_AMOUNT
    assert wallet.move("bet", "b3", True)["error"] not in (0, BAD_AMOUNT)  # a boolean: the contract's type check
    assert wallet.move("result", "w1", -5)["error"] == BAD_AMOUNT
    assert wallet.cash() == "1000.00"


# -- faults and dialects ----------------------------------------------------------------------------------------


def _double_credit(wallet: Transfer) -> bool:
    wallet.deposit("t1", "1.00")
    wallet.deposit("t1", "1.00")
    return wallet.balance() == "1002.00"


def _lost_update(wallet: Transfer) -> bool:
    bodies = [
        wallet.body("deposit-balance", userId="u1", currency="USD", transactionId=f"t{i}", amount="1.00")
        for i in range(N)
    ]
    _at_once(wallet, "deposit-balance", bodies)
    return wallet.balance() != f"{1000 + N}.00"


def _float_rounding(wallet: Transfer) -> bool:
    wallet.deposit("t1", "0.10")
    return wallet.deposit("t2", "0.20")["balance"] == "1000.3000000000001"


def _overdraw(wallet: Transfer) -> bool:
    answer = wallet.withdraw("w1", "1000.01")
    return answer["error"] == 0 and wallet.balance() == "-0.01"


def _refund_twice(wallet: Seamless) -> bool:
    wallet.move("bet", "b1", "10.00")
    wallet.reverse("refund", "b1")
    wallet.reverse("refund", "b1")
    return wallet.cash() == "1010.00"


# One probe per money-flow fault (the flow it needs, the probe): True when the defect shows.
DEFECTS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "double-credit-on-retry": ("transfer", _double_credit),
    "lost-update-under-race": ("transfer", _lost_update),
    "float-rounding": ("transfer", _float_rounding),
    "overdraw": ("transfer", _overdraw),
    "refund-applied-twice": ("seamless", _refund_twice),
}


def test_every_money_flow_fault_has_a_probe_and_the_registries_stay_apart():
    assert set(DEFECTS) == set(FLOW_FAULTS)
    assert set(FLOW_DIALECTS) == {"duplicate-answers-61", "duplicate-replays-first"}
    assert all(v.rules and all(r.startswith("F") for r in v.rules) for v in FLOW_FAULTS.values())
    assert not (set(FLOW_FAULTS) | set(FLOW_DIALECTS)) & (set(FAULTS) | set(DIALECTS))


@pytest.mark.parametrize("name", sorted(FLOW_FAULTS))
def test_each_money_flow_fault_shows_its_defect_and_the_reference_does_not(start, name):
    kind, probe = DEFECTS[name]
    assert probe(start(kind, fault=name)), f"fault {name} did not show its defect"
    assert not probe(start(kind)), f"the reference shows the defect of {name}"


def test_faults_and_a_money_flow_dialect_combine(start):
    wallet = start(faults=["overdraw", "double-credit-on-retry"], dialect="duplicate-answers-61")
    assert wallet.withdraw("w1", "1000.01")["error"] == 0 and wallet.withdraw("w2", "0.01")["error"] == 0
    assert wallet.withdraw("w2", "0.01")["error"] == ALREADY_EXISTS  # a repeated debit: the dialect's 61
    assert wallet.deposit("t1", "1.00")["error"] == 0 and wallet.deposit("t1", "1.00")["error"] == 0
    assert wallet.balance() == "1.98"


def test_a_per_method_fault_still_works_on_a_wallet_method(start):
    wallet = start(fault="token-not-checked")
    contract = wallet.contracts["deposit-balance"]
    secret = next(f.name for f in contract.credential_fields if f.secret)
    body = wallet.body("deposit-balance", userId="u1", currency="USD", transactionId="t1", amount="1.00")
    assert wallet.send("deposit-balance", {**body, secret: "wrong"})["balance"] == "1001.00"


# -- configuration ----------------------------------------------------------------------------------------------


def test_a_flow_naming_a_method_not_served_is_refused(tmp_path):
    contracts = [c for c in _contracts("transfer") if c.path.stem != "get-balance"]
    with pytest.raises(ValueError, match="balance.method: 'get-balance' is not a contract of the run"):
        MockServer(contracts, flows=[_flow(tmp_path, TRANSFER_FLOW)])


def test_a_method_given_two_parts_is_refused(tmp_path):
    raw = json.loads(json.dumps(TRANSFER_FLOW))
    raw["operations"]["withdraw"]["method"] = "deposit-balance"
    with pytest.raises(ValueError, match="'deposit-balance' already has a part"):
        MockServer(_contracts("transfer"), flows=[_flow(tmp_path, raw)])


def test_a_money_flow_variant_without_a_flow_is_the_reference():
    contracts = _contracts("transfer")
    with MockServer(contracts, fault="overdraw") as server, requests.Session() as session:
        contract = contracts[TRANSFER.index("withdrawl-balance")]
        body = {**server.credentials_of(contract), "uuid": str(uuid.uuid4())}
        answer = session.post(server.url + contract.http_path, json=body, timeout=10).json()
    assert answer == {**contract.response_example, "description": "Success"}  # no wallet: the documented example


def test_the_whole_plain_conformance_run_passes_against_the_wallet(tmp_path):
    """With real balances the per-method run still passes: its withdrawals succeed from the 1000.00 start."""
    contracts = _contracts("transfer")
    flow = _flow(tmp_path, TRANSFER_FLOW)
    with MockServer(contracts, flows=[flow]) as server:
        args, env = suite_target_args(server.url, server, contracts)
        result = run_cli([*args, "--timeout", "2"], tmp_path, env=env, timeout=300)
        assert result.code == 0, result.output[-3000:]
    assert "\nCONFORMANT: 0 MUST failures, 0 SHOULD warnings" in result.output


def test_the_mock_command_serves_a_flow(tmp_path, capsys):
    path = tmp_path / "transfer-test.json"
    path.write_text(json.dumps(TRANSFER_FLOW))
    contracts = [str(ROOT / "contracts" / f"{name}.json") for name in TRANSFER]
    args = [arg for c in contracts for arg in ("--contract", c)] + ["--flow", str(path), "--fault", "overdraw"]
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(run_mock(args, stop=stop)))
    thread.start()
    try:
        out = ""
        for _ in range(250):  # until the banner is printed (at most 5 s)
            out += capsys.readouterr().out
            if "Ctrl-C" in out:
                break
            time.sleep(0.02)
        assert "flow transfer-test: real balances for" in out and "fault: overdraw" in out
        url = out.split(" on ", 1)[1].split()[0]
        printed = out.split("test credentials (this mock only):", 1)[1].split("Ctrl-C", 1)[0]
        credentials = dict(line.split("  (")[0].strip().split(" = ", 1) for line in printed.strip().splitlines())
        contract = load_contract(contracts[TRANSFER.index("withdrawl-balance")])
        wanted = {f.name for f in contract.fields}
        body = {k: v for k, v in credentials.items() if k in wanted}
        body.update(uuid="u-1", userId="u1", currency="USD", transactionId="w1", amount="1000.01")
        answer = requests.post(url + contract.http_path, json=body, timeout=10).json()
        assert answer["error"] == 0 and answer["balance"] == "-0.01"
    finally:
        stop.set()
        thread.join(5)
    assert result == [0]


def test_the_mock_command_refuses_a_bad_flow_file_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**TRANSFER_FLOW, "direction": "sideways"}))
    assert run_mock(["--flow", str(bad)]) == 4
    err = capsys.readouterr().err
    assert "bad.json" in err and "direction" in err and err.count("\n") == 1 and "Traceback" not in err
    assert run_mock(["--flow", str(tmp_path / "missing.json")]) == 4
    assert capsys.readouterr().err.count("\n") == 1
    assert run_mock(["--list"]) == 0
    out = capsys.readouterr().out
    assert "refund-applied-twice" in out and "[F7]" in out and "duplicate-answers-61" in out
