"""The independent wallet servers, over real HTTP on loopback: each page's rule holds when no switch is on, and
each switch shows the mistake it stands for, so a flow check pointed at them has something true to find."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from http.client import RemoteDisconnected
from pathlib import Path
from typing import Any

import pytest

from independent_wallets import START, SWITCHES, SeamlessWallet, TransferWallet, WalletServer
from support import run_cli

ROOT = Path(__file__).resolve().parents[1]
TOKEN, PARTNER, USER = "wallet-token-9d2e71", "partner-7", "tester"
DEPOSIT, WITHDRAW = "/transfer/DepositBalance", "/tranfer/WithdrawlBalance"


def post(server: WalletServer, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(server.url + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


GONE = object()  # a field left out of the request


class Caller:
    """Requests with a fresh uuid each, unless one is given; a field given as GONE is left out."""

    def __init__(self, server: WalletServer, base: dict[str, Any]) -> None:
        self.server, self.base, self.count = server, base, 0

    def __call__(self, path: str, **fields: Any) -> dict[str, Any]:
        self.count += 1
        body = {k: v for k, v in {**self.base, "uuid": f"u-{self.count}", **fields}.items() if v is not GONE}
        status, body = post(self.server, path, body)
        assert status == 200, (status, body)
        return body


@pytest.fixture
def transfer(request: pytest.FixtureRequest) -> Iterator[Caller]:
    options = getattr(request, "param", {})
    with TransferWallet(TOKEN, PARTNER, **options) as server:
        yield Caller(server, {"secureLogin": PARTNER, "token": TOKEN, "userId": USER, "currency": "USD"})


@pytest.fixture
def seamless(request: pytest.FixtureRequest) -> Iterator[Caller]:
    options = getattr(request, "param", {})
    with SeamlessWallet(**options) as server:
        base = {"providerId": "Kyren", "userId": USER, "currency": "USD", "sessionId": "s-1", "gameId": "g-1",
                "gameName": "SPEED BACCARAT1", "roundId": "r-1", "timestamp": "1482429190374",
                "roundDetails": {"type": "bet"}}  # fmt: skip
        yield Caller(server, base)


def money(caller: Caller, currency: str = "USD") -> Decimal:
    return caller.server.balance_of(USER, currency)


# --- Transfer Wallet ---------------------------------------------------------------------------------------


def test_a_deposit_and_a_withdrawal_move_the_balance_exactly(transfer: Caller) -> None:
    assert transfer("/transfer/GetBalance") == {"error": 0, "description": "success", "balance": "1024.10"}
    assert transfer(DEPOSIT, transactionId="d-1", amount="0.10")["balance"] == "1024.20"
    assert transfer(WITHDRAW, transactionId="w-1", amount="1.05")["balance"] == "1023.15"
    assert transfer("/transfer/GetBalance")["balance"] == "1023.15" and money(transfer) == Decimal("1023.15")
    info = transfer("/transfer/GetTransferInfo")
    assert (info["transactionId"], info["amount"], info["balance"]) == ("w-1", "-1.05", "1023.15")
    assert [(t["transactionId"], t["amount"]) for t in info["transactions"][1:]] == [("d-1", "0.10"), ("w-1", "-1.05")]
    assert transfer("/transfer/UserInfo")["wallet"] == {"USD": "1023.15"}


def test_the_transfer_wallet_refuses_bad_requests_and_moves_nothing(transfer: Caller) -> None:
    before = money(transfer)
    assert transfer(DEPOSIT, transactionId="d-1", amount="1.00", token="wrong")["error"] == 54
    assert transfer(DEPOSIT, transactionId="d-2", amount="1.00", secureLogin="other")["error"] == 54
    assert transfer(DEPOSIT, transactionId="d-3")["error"] == 21  # no amount
    assert transfer(DEPOSIT, transactionId="d-4", amount=1)["error"] == 21  # the table types it string
    for bad in ("0", "-1.00", "1.001", "abc", "1e2", " 1"):
        assert transfer(DEPOSIT, transactionId=f"bad-{bad}", amount=bad)["error"] == 59, bad
    assert transfer(DEPOSIT, transactionId="d-5", amount="1", currency="XYZ")["error"] == 71
    assert transfer(DEPOSIT, transactionId="d-6", amount="1.5", currency="JPY")["error"] == 59  # JPY has no decimals
    assert transfer(WITHDRAW, transactionId="w-1", amount="5000.00")["error"] == 15
    assert money(transfer) == before and transfer.server.applied("w-1") == []
    status, body = post(transfer.server, "/transfer/WithdrawlBalance", {})  # the page spells it /tranfer/
    assert (status, body["error"]) == (404, 404)
    assert all(request.get("token") in ("***", None) for _, request in transfer.server.received)


def test_users_and_wallets_are_created_once(transfer: Caller) -> None:
    assert transfer("/transfer/CreateUser", userId="new-1")["error"] == 0
    assert transfer("/transfer/CreateUser", userId="new-1")["error"] == 8
    assert transfer("/transfer/CreateWallet", userId="new-1", currency="EUR")["error"] == 0
    assert transfer("/transfer/CreateWallet", userId="new-1", currency="EUR")["error"] == 10


@pytest.mark.parametrize(("transfer", "repeat_code"), [({}, 0), ({"duplicates": "61"}, 61)], indirect=["transfer"])
def test_a_repeated_transaction_applies_once_in_either_dialect(transfer: Caller, repeat_code: int) -> None:
    first = transfer(DEPOSIT, transactionId="d-1", amount="2.00")
    again = transfer(DEPOSIT, transactionId="d-1", amount="2.00")
    assert again["error"] == repeat_code and (repeat_code != 0 or again == first)
    assert money(transfer) == START + 2 and len(transfer.server.applied("d-1")) == 1
    assert transfer(WITHDRAW, transactionId="d-1", amount="2.00")["error"] == 61  # another transfer's id
    assert money(transfer) == START + 2


def test_a_repeated_uuid_gets_its_first_answer(transfer: Caller) -> None:
    body = {"secureLogin": PARTNER, "token": TOKEN, "userId": USER, "currency": "USD", "uuid": "same"}
    first = post(transfer.server, DEPOSIT, {**body, "transactionId": "d-1", "amount": "1.00"})
    assert post(transfer.server, DEPOSIT, {**body, "transactionId": "d-2", "amount": "3.00"}) == first
    wrong = {**body, "transactionId": "d-1", "amount": "1.00", "token": "wrong"}
    assert post(transfer.server, DEPOSIT, wrong)[1]["error"] == 54  # the token is checked before the cache
    assert money(transfer) == START + 1


@pytest.mark.parametrize("transfer", [{"switches": ("double-credit-on-retry",)}], indirect=True)
def test_double_credit_on_retry_pays_a_repeated_deposit_again(transfer: Caller) -> None:
    transfer(DEPOSIT, transactionId="d-1", amount="1.00")
    assert transfer(DEPOSIT, transactionId="d-1", amount="1.00")["balance"] == "1026.10"
    transfer(WITHDRAW, transactionId="w-1", amount="1.00")
    transfer(WITHDRAW, transactionId="w-1", amount="1.00")  # a debit is still taken once
    assert money(transfer) == START + 1


def _race(caller: Caller, path: str, copies: int, **fields: Any) -> list[dict[str, Any]]:
    """`copies` requests released together, each its own uuid; a field given as a list gives each copy its own."""
    gate, answers = threading.Barrier(copies), []

    def send(index: int) -> None:
        own = {k: v[index] if isinstance(v, list) else v for k, v in fields.items()}
        gate.wait()
        answers.append(post(caller.server, path, {**caller.base, "uuid": f"race-{index}", **own})[1])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


@pytest.mark.parametrize(
    ("transfer", "applied"),
    [({}, 1), ({"switches": ("duplicates-under-race",), "race_width": 4, "race_window": 30.0}, 4)],
    indirect=["transfer"],
)
def test_identical_deposits_at_one_instant(transfer: Caller, applied: int) -> None:
    """Conformant: once. The race switch: the duplicate check and the booking are two steps, and all four pass
    the check before any is booked (the server holds each until four have arrived: no timing involved)."""
    answers = _race(transfer, DEPOSIT, 4, transactionId="d-race", amount="1.00")
    assert len(answers) == 4 and all(a["error"] == 0 for a in answers)
    assert len(transfer.server.applied("d-race")) == applied and money(transfer) == START + applied


@pytest.mark.parametrize(
    ("transfer", "lost"),
    [({}, False), ({"switches": ("lost-update-under-race",), "race_width": 4, "race_window": 30.0}, True)],
    indirect=["transfer"],
)
def test_different_deposits_at_one_instant(transfer: Caller, lost: bool) -> None:
    """Conformant: each is added. The lost-update switch: each reads the balance, all four read it before any
    writes, and each write replaces the others: one deposit's worth remains, though all four were answered 0."""
    answers = _race(transfer, DEPOSIT, 4, transactionId=["d-1", "d-2", "d-3", "d-4"], amount=["1", "2", "3", "4"])
    assert sorted(a["error"] for a in answers) == [0, 0, 0, 0]
    gained = money(transfer) - START
    assert gained in (1, 2, 3, 4) if lost else gained == 10


@pytest.mark.parametrize(("transfer", "after"), [({}, "1025.10"), ({"switches": ("float-rounding",)}, "1025.09")],
                         indirect=["transfer"])  # fmt: skip
def test_float_rounding_loses_a_cent_the_decimal_path_keeps(transfer: Caller, after: str) -> None:
    assert transfer(DEPOSIT, transactionId="d-1", amount="1.00")["balance"] == after


@pytest.mark.parametrize(("transfer", "code"), [({}, 15), ({"switches": ("overdraw",)}, 0)], indirect=["transfer"])
def test_a_withdrawal_past_the_balance(transfer: Caller, code: int) -> None:
    answer = transfer(WITHDRAW, transactionId="w-1", amount="2000.00")
    assert answer["error"] == code
    assert money(transfer) == (START if code else START - 2000)


# --- Seamless Wallet ---------------------------------------------------------------------------------------


def test_a_bet_and_a_result_move_the_operators_balance(seamless: Caller) -> None:
    assert seamless("/v1/Balance") == {"currency": "USD", "cash": "1024.10", "error": 0, "description": "Success"}
    assert seamless("/v1/Check") == {"error": 0, "description": "Success"}
    bet = seamless("/v1/Bet", reference="b-1", amount="13", timeStamp="1", timestamp=GONE)  # the table's spelling
    assert (bet["error"], bet["cash"]) == (0, "1011.10") and bet["transactionId"]
    assert seamless("/v1/Result", reference="w-1", amount=31)["cash"] == "1042.10"  # a JSON number
    assert seamless("/v1/Result", reference="w-2", amount="0")["error"] == 0  # a lost round, not a bad amount
    ended = seamless("/v1/EndRound", win="31.0")
    assert (ended["error"], ended["cash"]) == (0, "1042.10")  # win tells, the Result paid
    assert seamless("/v1/EndRound", win="31.0") == ended  # may come again: success, nothing moves
    assert money(seamless) == Decimal("1042.10")


def test_the_seamless_wallet_refuses_bad_requests_and_moves_nothing(seamless: Caller) -> None:
    for bad in ("0", "-1.00", "0.001", "abc"):
        assert seamless("/v1/Bet", reference=f"b-{bad}", amount=bad)["error"] == 59, bad
    assert seamless("/v1/Bet", reference="b-1", amount=["1"])["error"] == 21
    assert seamless("/v1/Bet", reference="b-2", amount="1", bonusCode=7)["error"] == 21
    assert seamless("/v1/Result", reference="w-1", amount="1", roundDetails="type:result")["error"] == 21
    assert seamless("/v1/Result", reference="w-2", amount="1", sessionId=GONE)["error"] == 21  # Result.md line 32
    assert seamless("/v1/Bet", reference="b-3", amount="5000")["error"] == 15
    assert money(seamless) == START


@pytest.mark.parametrize(("seamless", "repeat_code"), [({}, 0), ({"duplicates": "61"}, 61)], indirect=["seamless"])
def test_a_repeated_bet_applies_once_in_either_dialect(seamless: Caller, repeat_code: int) -> None:
    first = seamless("/v1/Bet", reference="b-1", amount="1.00")
    again = seamless("/v1/Bet", reference="b-1", amount="1.00")
    assert again["error"] == repeat_code and (repeat_code != 0 or again == first)
    assert money(seamless) == START - 1


def test_a_refund_or_a_cancel_gives_the_bet_back_once(seamless: Caller) -> None:
    seamless("/v1/Bet", reference="b-1", amount="5.00")
    refund = seamless("/v1/Refund", reference="b-1")
    assert refund["error"] == "0" and "cash" not in refund  # as Refund.md's example and table
    assert seamless("/v1/Refund", reference="b-1") == refund
    assert seamless("/v1/Cancel", reference="b-1")["cash"] == "1024.10"  # already given back: nothing more
    seamless("/v1/Bet", reference="b-2", amount="2.00", roundId="r-2")
    assert seamless("/v1/Cancel", reference="c-9", roundId="r-2")["cash"] == "1024.10"  # the round's bet
    assert seamless("/v1/Refund", reference="b-unknown", roundId="r-unknown")["error"] == "0"
    assert money(seamless) == START


@pytest.mark.parametrize("seamless", [{"unknown_bet_code": 17}], indirect=True)
def test_a_refund_of_an_unknown_bet_may_answer_a_code_of_its_own(seamless: Caller) -> None:
    assert seamless("/v1/Refund", reference="b-unknown", roundId="r-unknown")["error"] == "17"
    assert money(seamless) == START


@pytest.mark.parametrize("seamless", [{"switches": ("refund-applied-twice",)}], indirect=True)
def test_refund_applied_twice_gives_the_bet_back_again(seamless: Caller) -> None:
    seamless("/v1/Bet", reference="b-1", amount="5.00")
    seamless("/v1/Refund", reference="b-1")
    seamless("/v1/Refund", reference="b-1")
    assert money(seamless) == START + 5


@pytest.mark.parametrize("seamless", [{"switches": ("double-credit-on-retry",)}], indirect=True)
def test_double_credit_on_retry_pays_a_repeated_result_again(seamless: Caller) -> None:
    seamless("/v1/Result", reference="w-1", amount="1.00")
    seamless("/v1/Result", reference="w-1", amount="1.00")
    assert money(seamless) == START + 2


@pytest.mark.parametrize(
    ("seamless", "applied"),
    [({}, 1), ({"switches": ("duplicates-under-race",), "race_width": 3, "race_window": 30.0}, 3)],
    indirect=["seamless"],
)
def test_identical_bets_at_one_instant(seamless: Caller, applied: int) -> None:
    answers = _race(seamless, "/v1/Bet", 3, reference="b-race", amount="1.00")
    assert len(answers) == 3 and len(seamless.server.applied("b-race")) == applied
    assert money(seamless) == START - applied


@pytest.mark.parametrize(("seamless", "after"), [({}, "1023.10"), ({"switches": ("float-rounding",)}, "1023.09")],
                         indirect=["seamless"])  # fmt: skip
def test_float_rounding_on_a_bet(seamless: Caller, after: str) -> None:
    assert seamless("/v1/Bet", reference="b-1", amount="1.00")["cash"] == after


@pytest.mark.parametrize("seamless", [{"switches": ("overdraw",)}], indirect=True)
def test_overdraw_takes_a_bet_past_the_balance(seamless: Caller) -> None:
    assert seamless("/v1/Bet", reference="b-1", amount="2000.00")["cash"] == "-975.90"


def test_an_injected_998_applies_nothing_and_its_retransmission_applies(seamless: Caller) -> None:
    seamless.server.inject("/v1/Bet", 998)
    body = {**seamless.base, "uuid": "bet-1", "reference": "b-1", "amount": "1.00"}
    assert post(seamless.server, "/v1/Bet", body)[1]["error"] == 998 and money(seamless) == START
    assert post(seamless.server, "/v1/Bet", body)[1]["error"] == 0 and money(seamless) == START - 1


def test_a_lost_answer_is_applied_and_its_retransmission_gets_the_first_answer(seamless: Caller) -> None:
    seamless.server.inject("/v1/Bet", "lose-answer")
    body = {**seamless.base, "uuid": "bet-1", "reference": "b-1", "amount": "1.00"}
    with pytest.raises((RemoteDisconnected, ConnectionError, urllib.error.URLError)):
        post(seamless.server, "/v1/Bet", body)
    assert money(seamless) == START - 1
    assert post(seamless.server, "/v1/Bet", {**body, "uuid": "bet-1-again"})[1]["cash"] == "1023.10"
    assert money(seamless) == START - 1


def test_an_unknown_switch_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown switch"):
        SeamlessWallet(switches=("pays-twice",))
    with pytest.raises(ValueError, match="duplicates"):
        TransferWallet(TOKEN, duplicates="ignore")
    assert set(SWITCHES.values()) == {"F1", "F2", "F3", "F4", "F7"}


# --- the suite pointed at them -----------------------------------------------------------------------------

TRANSFER_CONTRACTS = ("create-user", "create-wallet", "deposit-balance", "withdrawl-balance", "get-balance",
                      "get-transfer-info", "user-info")  # fmt: skip
SEAMLESS_VALUES = {"userId": "421", "currency": "USD", "providerId": "Kyren", "sessionId": "s-1",
                   "gameId": "6_speed_baccarat1", "gameName": "SPEED BACCARAT1", "roundId": "5103188801"}  # fmt: skip


def _fields(values: dict[str, str]) -> list[str]:
    return [arg for name, value in values.items() for arg in ("--field", f"{name}={value}")]


def test_the_suite_finds_the_transfer_wallet_conformant(tmp_path: Path) -> None:
    with TransferWallet(TOKEN, PARTNER) as server:
        server.balance_of(USER, "USD")  # the configured test user has a wallet, as a real one would
        contracts = [arg for name in TRANSFER_CONTRACTS for arg in ("--contract", str(ROOT / f"contracts/{name}.json"))]
        values = _fields({"secureLogin": PARTNER, "userId": USER, "currency": "USD"})
        result = run_cli(["--target-url", server.url, *contracts, *values], tmp_path, env={"KYREN_TOKEN": TOKEN})
    assert result.code == 0, result.output[-3000:]
    assert {m["name"]: m["verdict"]["label"] for m in result.results["methods"]} == dict.fromkeys(
        TRANSFER_CONTRACTS, "CONFORMANT"
    )
    assert TOKEN not in result.output


def test_the_suite_finds_the_seamless_wallet_conformant(tmp_path: Path) -> None:
    with SeamlessWallet() as server:
        args = ["--target-url", server.url, "--contract", str(ROOT / "contracts/seamless-wallet")]
        result = run_cli([*args, *_fields(SEAMLESS_VALUES)], tmp_path)
    assert result.code == 0, result.output[-3000:]
    labels = {m["name"]: m["verdict"]["label"] for m in result.results["methods"]}
    assert len(labels) == 7 and set(labels.values()) == {"CONFORMANT"}, labels
