"""A wallet server written from the provider's pages alone, not from the reference mock, for the flow tests.

Transfer Wallet (Kyren-hosted; tests/documents/kyren/): Create-User, Create-Wallet, Deposit-Balance,
Withdrawl-balance (at the page's own path, `/tranfer/WithdrawlBalance`), Get-Balance, Get-transfer-status
(its answer spelt as the page's example spells it: `transctionId`, the amount signed, line 60). Seamless
Wallet (operator-hosted): Balance, Bet, Result, Refund (it answers no cash, as its table says), Cancel,
EndRound. Codes from Error-Code-1.md: 8 and 10 already registered, 12 no account, 14 no wallet, 15
insufficient, 21 missing, 54 bad login, 59 invalid amount, 61 already exists, 62 no player, 998 retry.

Its own readings where the pages leave room: business errors come with HTTP 200 and an integer code; a
balance is a string with the currency's decimals; a Result of 0 is a loss, not an invalid amount.
`defect` turns on one mistake, `dialect` picks how a repeat is answered, `history="list"` answers Get Transfer
Info with every transaction (a reading the page's "entire transactions", line 4, allows); `fail={"Bet": (998, 1)}`
answers code 998 to the first try of every bet (Kyren must retransmit, Error-Code-1.md line 52); code -1 is an
HTTP 500 with no body (a network error, Deposit-Balance.md line 9).
"""

from __future__ import annotations

import json
import threading
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PARTNER, TOKEN, USER, CURRENCY = "partner-15", "tok-3f9c2a71e0", "player-15", "USD"
DECIMALS = {"USD": 2, "EUR": 2, "JPY": 0}
DEFECTS = {  # defect -> the rule that must catch it
    "double-credit-on-retry": "F2",
    "duplicates-under-race": "F3",
    "lost-update-under-race": "F1",
    "float-rounding": "F1",
    "overdraw": "F4",
    "refund-twice": "F7",
    "bad-amount-accepted": "F5",
    "history-unsigned": "F6",
}
DIALECTS = ("answers-61", "replays-first")
Reply = tuple[int, dict[str, Any]]


def _ok(**fields: Any) -> Reply:
    return 200, {"error": 0, "description": "success", **fields}


def _error(code: int, description: str) -> Reply:
    return 200, {"error": code, "description": description}


class WalletServer:
    """Both wallets of one player base, on one loopback port."""

    def __init__(
        self,
        defect: str | None = None,
        dialect: str = "replays-first",
        start: str = "1000.00",
        fail: dict[str, tuple[int, int]] | None = None,
        history: str = "latest",
    ) -> None:
        if defect is not None and defect not in DEFECTS:
            raise ValueError(f"unknown defect {defect!r}")
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}")
        self.defect, self.dialect, self.fail, self.history_kind = defect, dialect, fail or {}, history
        self.start = start
        self.lock = threading.RLock()
        self.arrived = threading.Condition(self.lock)  # the lock, for the defects' windows
        self.users: set[str] = {USER}
        # float-rounding keeps the balance as a float, as the defect does; else as a Decimal
        self.wallets: dict[tuple[str, str], Any] = {(USER, CURRENCY): self._number(start)}
        self.done: dict[tuple[str, str], Reply] = {}  # (kind, transaction id) -> the first answer
        self.history: list[dict[str, str]] = []
        self.bets: dict[str, Decimal] = {}  # reference -> amount
        self.tries: dict[tuple[str, str], int] = {}  # (method, reference) -> tries seen (for `fail`)
        self.waiting: dict[str, int] = {}  # the defects' windows: requests waiting for a second one, by key
        self.arrivals: dict[str, int] = {}
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> WalletServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def balance(self, user: str = USER, currency: str = CURRENCY) -> Any:
        return self.wallets[(user, currency)]

    def sent(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body in self.requests if p == path]

    # --- money -------------------------------------------------------------------------------------------

    def _number(self, text: str) -> Any:
        return float(text) if self.defect == "float-rounding" else Decimal(text)

    def _shown(self, value: Any, currency: str) -> str:
        if isinstance(value, float):
            return repr(value)
        return str(value.quantize(Decimal(1).scaleb(-DECIMALS.get(currency, 2))))

    def _amount(self, raw: Any, currency: str, zero_ok: bool = False) -> Any:
        """The amount, or None when it is no valid amount of the currency (59)."""
        if self.defect == "bad-amount-accepted":
            try:
                return self._number(str(raw))
            except (InvalidOperation, ValueError):
                return self._number("0")
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            return None
        try:
            value = Decimal(str(raw))
        except InvalidOperation:
            return None
        places = -value.as_tuple().exponent if isinstance(value.as_tuple().exponent, int) else 99
        if not value.is_finite() or value < 0 or (value == 0 and not zero_ok):
            return None
        if places > DECIMALS.get(currency, 2) and value != value.quantize(
            Decimal(1).scaleb(-DECIMALS.get(currency, 2))
        ):
            return None
        return self._number(str(value))

    def _once(self, kind: str, transaction: str, apply: Any) -> Reply:
        """Apply a transaction once; a repeat gets the first answer again or 61, as the dialect says."""
        with self.arrived:
            first = self.done.get((kind, transaction))
            repeat_applies = self.defect == "double-credit-on-retry" and kind in ("deposit", "Result")
            if first is not None and not repeat_applies:
                return _error(61, "Transaction already exists") if self.dialect == "answers-61" else first
        with self.arrived:
            if self.defect == "duplicates-under-race" and first is None:
                self._wait_for_another(transaction)  # the check above and the write below are not one step
            reply = apply()
            if reply[1]["error"] == 0:
                self.done.setdefault((kind, transaction), reply)
            return reply

    def _wait_for_another(self, key: str) -> None:
        """A defect's window: the first request of a pair waits (a tenth of a second at most: a burst's copies arrive
        within a few milliseconds) for a second one of the same key, so both pass the point before either writes.
        Called with the lock held; waiting releases it."""
        if self.waiting.get(key, 0) > 0:
            self.arrivals[key] = self.arrivals.get(key, 0) + 1
            self.arrived.notify_all()
            return
        self.waiting[key] = self.waiting.get(key, 0) + 1
        seen = self.arrivals.get(key, 0)
        self.arrived.wait_for(lambda: self.arrivals.get(key, 0) > seen, timeout=0.1)
        self.waiting[key] -= 1

    def _move(self, key: tuple[str, str], amount: Any, sign: int) -> Any:
        """Add to the balance; `lost-update-under-race` reads it, lets another request read it too, writes back."""
        if self.defect != "lost-update-under-race":
            self.wallets[key] = self.wallets[key] + sign * amount
            return self.wallets[key]
        read = self.wallets[key]
        self._wait_for_another(f"move {key}")  # the window where another request's write and ours cross
        self.wallets[key] = read + sign * amount
        return self.wallets[key]

    # --- Transfer Wallet (the operator calls Kyren) ------------------------------------------------------

    def transfer(self, name: str, body: dict[str, Any]) -> Reply:
        need = {"CreateUser": ("userId",), "GetTransferInfo": ("userId",)}.get(name, ("userId", "currency"))
        if name in ("DepositBalance", "WithdrawlBalance"):
            need = (*need, "transactionId", "amount")
        missing = [f for f in ("secureLogin", "token", "uuid", *need) if body.get(f) in (None, "")]
        if missing:
            return _error(21, f"Parameter(s) is missing or incorrect: {missing[0]}")
        if body["secureLogin"] != PARTNER or body["token"] != TOKEN:
            return _error(54, "Incorrect secure LOGIN and secure password combination")
        user = str(body["userId"])
        if name == "CreateUser":
            with self.lock:
                if user in self.users:
                    return _error(8, "This user ID has already been registered.")
                self.users.add(user)
            return _ok(userId=user)
        if user not in self.users:
            return _error(12, "Your account could not be found in Kyren system.")
        if name == "GetTransferInfo":
            with self.lock:
                if not self.history:
                    return _error(19, "No records found with your search options.")
                return _ok(transactions=list(self.history)) if self.history_kind == "list" else _ok(**self.history[-1])
        currency = str(body["currency"])
        key = (user, currency)
        if name == "CreateWallet":
            with self.lock:
                if key in self.wallets:
                    return _error(10, "The wallet has already been created.")
                self.wallets[key] = self._number("0")
            return _ok(userId=user)
        if key not in self.wallets:
            return _error(14, "There is no wallet for that currency.")
        if name == "GetBalance":
            with self.lock:
                return _ok(balance=self._shown(self.wallets[key], currency))
        amount = self._amount(body["amount"], currency)
        if amount is None:
            return _error(59, "Invalid Amount")
        sign = 1 if name == "DepositBalance" else -1
        transaction = str(body["transactionId"])

        def apply() -> Reply:
            if sign < 0 and self.defect != "overdraw" and self.wallets[key] < amount:
                return _error(15, "Insufficient balance.")
            after = self._shown(self._move(key, amount, sign), currency)
            signed = self._shown((1 if self.defect == "history-unsigned" else sign) * amount, currency)
            self.history.append({"transctionId": transaction, "currency": currency, "amount": signed, "balance": after})
            return _ok(transactionId=transaction, currency=currency, balance=after)

        return self._once("deposit" if sign > 0 else "withdraw", transaction, apply)

    # --- Seamless Wallet (Kyren calls the operator) ------------------------------------------------------

    def seamless(self, name: str, body: dict[str, Any]) -> Reply:
        user, currency = str(body.get("userId", "")), str(body.get("currency", ""))
        key = (user, currency)
        if body.get("uuid") in (None, "") or key not in self.wallets:
            return _error(62, "No specific player has been found") if body.get("uuid") else _error(21, "uuid")
        cash = lambda: self._shown(self.wallets[key], currency)  # noqa: E731
        if name in ("Balance", "EndRound"):
            with self.lock:
                return _ok(currency=currency, cash=cash())
        reference = str(body.get("reference", ""))
        if not reference or not body.get("roundId"):
            return _error(21, "Parameter(s) is missing or incorrect")
        if name in self.fail:
            code, times = self.fail[name]
            with self.lock:
                self.tries[(name, reference)] = self.tries.get((name, reference), 0) + 1
                if self.tries[(name, reference)] <= times:
                    return (500, {}) if code < 0 else _error(code, "Internal server error")
        if name in ("Bet", "Result"):
            amount = self._amount(body.get("amount"), currency, zero_ok=name == "Result")
            if amount is None:
                return _error(59, "Invalid Amount of bet or win")
            sign = -1 if name == "Bet" else 1

            def move() -> Reply:
                if sign < 0 and self.defect != "overdraw" and self.wallets[key] < amount:
                    return _error(15, "Insufficient balance.")
                self._move(key, amount, sign)
                if name == "Bet":
                    self.bets[reference] = amount
                return _ok(transactionId=f"op-{reference}", currency=currency, cash=cash())

            return self._once(name, reference, move)

        def undo() -> Reply:  # Refund and Cancel: give the bet back, once
            bet = self.bets.get(reference)
            if bet is not None:
                self._move(key, bet, 1)
            extra = {"currency": currency, "cash": cash()} if name == "Cancel" else {}
            return _ok(transactionId=f"op-undo-{reference}", **extra)

        with self.lock:
            if self.bets.get(reference) is None:  # Refund.md line 10: nothing happens, success
                return _ok(transactionId=f"op-none-{reference}")
        if self.defect == "refund-twice":
            with self.lock:
                return undo()
        return self._once("undo", reference, undo)

    # --- HTTP --------------------------------------------------------------------------------------------

    def answer(self, path: str, raw: bytes) -> Reply:
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, {"error": 21, "description": "Parameter(s) is missing or incorrect: not JSON"}
        if not isinstance(body, dict):
            return 400, {"error": 21, "description": "Parameter(s) is missing or incorrect: not an object"}
        with self.lock:
            self.requests.append((path, body))
        family, _, name = path.strip("/").partition("/")
        if family in ("transfer", "tranfer") and name in TRANSFER:
            return self.transfer(name, body)
        if family == "v1" and name in SEAMLESS:
            return self.seamless(name, body)
        return 404, {"error": 404, "description": "Not Found"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # the head and the body in separate writes would wait out delayed ACKs

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body = server.answer(self.path, raw)
                data = json.dumps(body).encode() if body else b"Internal Server Error"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


TRANSFER = ("CreateUser", "CreateWallet", "DepositBalance", "WithdrawlBalance", "GetBalance", "GetTransferInfo")
SEAMLESS = ("Balance", "Bet", "Result", "Refund", "Cancel", "EndRound")


def transfer_values(methods: list[str]) -> dict[str, dict[str, Any]]:
    """What a user configures for the Transfer Wallet: the partner, the token, the test user and currency."""
    values = {"secureLogin": PARTNER, "token": TOKEN, "userId": USER, "currency": CURRENCY, "userNickname": "p15"}
    return {method: dict(values) for method in methods}


def seamless_values(methods: list[str]) -> dict[str, dict[str, Any]]:
    """What the suite, playing Kyren, sends besides the flow's own fields."""
    values = {
        "userId": USER,
        "currency": CURRENCY,
        "providerId": "Kyren",
        "sessionId": "session-15",
        "gameId": "6_speed_baccarat1",
        "gameName": "SPEED BACCARAT1",
        "roundId": "1",
        "reference": "1",
        "timestamp": "1482429190374",
        "timeStamp": "1482429190374",
        "roundDetails": {"type": "bet", "desc": []},
        "amount": "1",
    }
    return {method: dict(values) for method in methods}


# The Seamless Wallet flow as these tests declare it (the shipped one is another helper's; this one keeps the
# tests of the engine independent of it). Clauses point at tests/documents/kyren/.
SEAMLESS_DECLARATION: dict[str, Any] = {
    "flow": "seamless-wallet-test",
    "title": "Seamless Wallet: Kyren's calls to the operator's wallet",
    "direction": "kyren-calls-operator",
    "source": "Bet.md line 7: 'The call is idempotent, i.e. sending bet again only creates one transaction.'",
    "user_field": "userId",
    "currency_field": "currency",
    "currency_decimals": {"USD": 2, "JPY": 0},
    "default_decimals": 2,
    "amount": "1.00",
    "setup": [],
    "balance": {"method": "balance", "field": "cash"},
    "operations": {
        "bet": {"method": "bet", "effect": "debit", "amount_field": "amount", "transaction_field": "reference",
                "balance_field": "cash", "round_field": "roundId", "on_no_answer": "cancel"},
        "result": {"method": "result", "effect": "credit", "amount_field": "amount", "transaction_field": "reference",
                   "balance_field": "cash", "round_field": "roundId", "retransmissions": 10},
        "refund": {"method": "refund", "effect": "reverse", "reverses": "bet", "transaction_field": "reference",
                   "balance_field": None, "round_field": "roundId"},
        "cancel": {"method": "cancel", "effect": "reverse", "reverses": "bet", "transaction_field": "reference",
                   "balance_field": "cash", "round_field": "roundId"},
        "end_round": {"method": "end-round", "effect": "none", "balance_field": "cash", "round_field": "roundId"},
    },
    "history": None,
    "codes": {"insufficient": [15], "already_exists": [61], "bad_amount": [59]},
    "retry": {"retransmissions": 3, "no_retry_codes": [15, 999], "retry_codes": [998]},
    "bad_amount_operations": ["bet"],
    "clauses": {
        "F1": "Bet.md line 4: the bet is subtracted; Result.md lines 4-5: the balance changes and is returned",
        "F2": "Bet.md line 7, Result.md lines 10-11; End-Round.md line 10: a repeated EndRound gets success",
        "F4": "Error-Code-1.md line 25: 15 Insufficient balance",
        "F5": "Error-Code-1.md line 40: 59 Invalid Amount of bet or win",
        "F7": "Refund.md lines 6-11: money back once; an unknown bet: nothing happens",
        "S10": "Error-Code-1.md lines 25, 40, 42",
        "retry": "Error-Code-1.md line 6; Bet.md line 5 (3, then a cancel); Result.md line 8 (10)",
    },
}  # fmt: skip
