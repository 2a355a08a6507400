"""Two wallet servers written from the provider's pages alone (docs/spec/), not from the reference mock.

`TransferWallet` is Kyren's side of the Transfer Wallet API (the operator calls it, secureLogin + token):
Create-User.md, Create-Wallet.md, Deposit-Balance.md, Withdrawl-balance.md (at /tranfer/WithdrawlBalance, as the
page spells it), Get-Balance.md, Get-transfer-status.md, User-Info.md. `SeamlessWallet` is an operator's wallet
that Kyren calls (no credential field on any page): Balance.md, Check.md, Bet.md, Result.md, Refund.md,
Cancel-Round.md (/v1/Cancel), End-Round.md. Codes are Error-Code-1.md's.

Readings where the pages leave room (each its own, on purpose not the mock's):
- every business answer is HTTP 200 with the code in `error`, an integer as the examples show (Refund's example
  sends "0": Refund answers its codes as strings); an unknown path is 404 with code 404;
- a user is opened on first sight (Kyren_V1.md line 76: "it will be created automatically"), and so is a wallet
  in a supported currency, with `start` in it, so a plain conformance run's withdrawal of the example's 1000
  succeeds; the Transfer Wallet books that opening as a first transfer, so a wallet's history is never empty;
- a transaction id is idempotent (Deposit-Balance.md line 16, Bet.md line 7, Result.md lines 10-11, Refund.md
  line 8): a repeat is answered with the first answer (`duplicates="replay"`) or with 61 "Transaction already
  exists" (`duplicates="61"`) and changes nothing; a repeated uuid gets its first answer again;
- a refund or cancel names the bet by its `reference`, else the round's bets by `roundId`; an unknown bet: nothing
  happens and `unknown_bet_code` (0 by default) is answered (Refund.md lines 10-11); a bet is reversed once;
- a Result of 0 is a lost round (Result.md line 7: it "may contain a prize"); EndRound's `win` moves no money
  (End-Round.md line 29: "Intended to notify Operator"), the Result paid it.

`switches` turn on the integration mistakes money flows must catch (SWITCHES: switch -> rule). The two races hold
a request between its two steps until `race_width` requests are held or `race_window` seconds pass, so copies
sent at one instant meet there whatever the machine's load. `inject()` makes the next answers of a path a given
code (nothing applied) or a lost answer (applied, connection closed unanswered), for Kyren's retransmission rules
(Error-Code-1.md line 6).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

DECIMALS = {"USD": 2, "EUR": 2, "CNY": 2, "JPY": 0, "KRW": 0}  # ISO 4217 minor units; no page gives them
SWITCHES = {  # switch -> the money-flow rule that must catch it (issue 15: F1-F7)
    "double-credit-on-retry": "F2",
    "duplicates-under-race": "F3",
    "lost-update-under-race": "F1",
    "float-rounding": "F1",
    "overdraw": "F4",
    "refund-applied-twice": "F7",
}
DUPLICATES = ("replay", "61")
# Chosen so the float path's truncation to cents shows at the flows' default amount, 1.00, either way.
START = Decimal("1024.10")
TEXT = {  # Error-Code-1.md
    0: "Success",
    8: "This user ID has already been registered.",
    10: "The wallet has already been created.",
    15: "Insufficient balance.",
    19: "No records found with your search options.",
    21: "Parameter(s) is missing or incorrect",
    54: "Incorrect secure LOGIN and secure password combination",
    59: "Invalid Amount of bet or win",
    61: "Transaction already exists No action required.",
    71: "Currency code is incorrect or unsupported.",
    404: "Not Found",
    998: "Internal server error.",
    999: "Internal server error.",
}
MAX_AMOUNT = Decimal(10) ** 15  # beyond it Decimal's 28 digits would round a balance
Answer = dict[str, Any]


class Refused(Exception):
    """A request answered with a non-zero code and nothing applied."""

    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(code)
        self.code, self.detail = code, detail


def parse_amount(value: Any, decimals: int, *, zero: bool = False) -> Decimal:
    """A decimal amount from a JSON string or number (never through float): Refused(21) for another JSON type,
    Refused(59) for a string or number that is no valid amount."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise Refused(21, "amount is neither a string nor a number")
    text = str(value)
    if not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text):  # no exponent, NaN, Infinity or blanks
        raise Refused(59, "amount is not a decimal")
    amount = Decimal(text)
    if amount < 0 or (amount == 0 and not zero) or amount >= MAX_AMOUNT:
        raise Refused(59, "amount out of range")
    if amount != amount.quantize(Decimal(1).scaleb(-decimals)):
        raise Refused(59, f"amount has more than {decimals} decimals")
    return amount


@dataclass
class Transfer:
    """One applied movement of money: `amount` signed (credit positive), `balance` after it."""

    operation: str
    reference: str
    user: str
    currency: str
    amount: Decimal
    balance: Decimal
    round: str = ""
    reversed: bool = False


class Ledger:
    """Balances per (user, currency) in Decimal, and the applied transfers; one lock over both."""

    def __init__(self, switches: frozenset[str], start: Decimal, race_width: int, race_window: float) -> None:
        self.switches, self.start = switches, start
        self.balances: dict[tuple[str, str], Decimal] = {}
        self.transfers: list[Transfer] = []
        self.done: dict[tuple[str, str], Answer] = {}  # (operation kind, transaction id) -> the first answer
        self.cond = threading.Condition(threading.RLock())
        self.race_width, self.race_window = race_width, race_window
        self.waiting: dict[str, int] = {}  # a race's key -> requests held
        self.released: dict[str, int] = {}  # a race's key -> groups let go

    def open(self, user: str, currency: str) -> Decimal:
        """The wallet's balance, opened with `start` on first sight."""
        with self.cond:
            if (user, currency) not in self.balances:
                self.balances[(user, currency)] = self.start
                self.transfers.append(
                    Transfer("open", f"open-{user}-{currency}", user, currency, self.start, self.start)
                )
            return self.balances[(user, currency)]

    def add(self, user: str, currency: str, delta: Decimal, base: Decimal | None = None) -> Decimal:
        """The new balance, from `base` (the current one by default); the float path keeps whole minor units the
        way `int(x * 100)` does."""
        balance = self.open(user, currency) if base is None else base
        if "float-rounding" in self.switches:
            scale = 10 ** DECIMALS[currency]
            return Decimal(int((float(balance) + float(delta)) * scale)) / scale
        return balance + delta

    def race(self, key: str) -> None:
        """Hold a request until `race_width` of the same key are held (then let them go together) or `race_window`
        seconds pass: the racing paths widen the gap between their two steps, so a race never depends on timing."""
        with self.cond:
            group = self.released.get(key, 0)
            self.waiting[key] = self.waiting.get(key, 0) + 1
            if self.waiting[key] >= self.race_width:
                self.waiting[key], self.released[key] = 0, group + 1
                self.cond.notify_all()
                return
            if not self.cond.wait_for(lambda: self.released.get(key, 0) != group, timeout=self.race_window):
                self.waiting[key] -= 1  # nobody came: go on alone

    def move(self, kind: str, reference: str, user: str, currency: str, delta: Decimal, answer: Callable[[], Answer],
             round_id: str = "") -> Answer | None:  # fmt: skip
        """Apply `delta` once per (kind, reference) and return `answer()`; None: a repeat, nothing applied.
        Conformant, the check, the read and the write are one step under the lock."""
        repeat = (kind, reference)
        again = delta > 0 and "double-credit-on-retry" in self.switches  # a repeated credit is paid again
        book = (kind, reference, user, currency, delta, answer, round_id)
        if "duplicates-under-race" in self.switches:
            with self.cond:
                if repeat in self.done and not again:
                    return None
            self.race(f"transaction {reference}")  # checked, then booked: copies that came together all pass
            with self.cond:
                return self._book(*book)
        if "lost-update-under-race" in self.switches:
            with self.cond:
                stale = self.open(user, currency)
            self.race(f"wallet {user} {currency}")  # read, then written: a write in between is lost
            with self.cond:
                return None if repeat in self.done and not again else self._book(*book, base=stale)
        with self.cond:
            return None if repeat in self.done and not again else self._book(*book)

    def _book(self, kind: str, reference: str, user: str, currency: str, delta: Decimal, answer: Callable[[], Answer],
              round_id: str, base: Decimal | None = None) -> Answer:  # fmt: skip
        new = self.add(user, currency, delta, base)
        if new < 0 and "overdraw" not in self.switches:
            raise Refused(15)
        self.balances[(user, currency)] = new
        self.transfers.append(Transfer(kind, reference, user, currency, delta, new, round_id))
        first = answer()
        self.done.setdefault((kind, reference), first)
        return first

    def reverse(self, kind: str, reference: str, user: str, currency: str, round_id: str) -> list[Transfer] | None:
        """Give back the bet named by `reference`, else the round's bets, once (Refund.md line 8); the bets
        reversed ([]: none is known, nothing happens); None: a repeat of this reversal."""
        twice = "refund-applied-twice" in self.switches  # a repeat reverses again, and so does a second kind
        with self.cond:
            if (kind, reference) in self.done and not twice:
                return None
            bets = [t for t in self.transfers if t.operation == "bet" and t.user == user and t.currency == currency]
            named = [t for t in bets if t.reference == reference] or [t for t in bets if t.round == round_id]
            for bet in [t for t in named if twice or not t.reversed]:
                bet.reversed = True
                new = self.add(user, currency, -bet.amount)
                self.balances[(user, currency)] = new
                self.transfers.append(Transfer(kind, reference, user, currency, -bet.amount, new, bet.round))
            return named


class WalletServer:
    """The HTTP side both servers share: routing, JSON, the uuid cache, injected answers, a request log."""

    ROUTES: dict[str, str] = {}  # path -> the method that answers it
    REQUIRED: dict[str, tuple[str, ...]] = {}  # path -> its Required fields typed string (non-empty)
    STRING_CODES: frozenset[str] = frozenset()  # paths whose page's example sends the code as a string
    OPTIONAL: tuple[str, ...] = ()  # Optional fields typed string, on any path

    def __init__(self, *, switches: tuple[str, ...] = (), duplicates: str = "replay", start: Decimal = START,
                 race_width: int = 2, race_window: float = 0.5) -> None:  # fmt: skip
        unknown = [s for s in switches if s not in SWITCHES]
        if unknown or duplicates not in DUPLICATES:
            raise ValueError(f"unknown switch {unknown} or duplicates {duplicates!r}; expected {list(SWITCHES)}")
        self.switches, self.duplicates = frozenset(switches), duplicates
        self.ledger = Ledger(self.switches, start, race_width, race_window)
        self.seen: dict[tuple[str, str], Answer] = {}  # (path, uuid) -> the first answer
        self.injected: dict[str, list[int | str]] = {}
        self.received: list[tuple[str, Answer]] = []  # (path, request), the token masked
        self.serial = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        # a short poll: stopping the server waits for it, and tests start and stop many
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def inject(self, path: str, answer: int | str, times: int = 1) -> None:
        """The next `times` requests to `path`: answered with code `answer`, nothing applied; or, for
        "lose-answer", applied and left unanswered (the connection closed), as a lost connection does."""
        if path not in self.ROUTES or (isinstance(answer, str) and answer != "lose-answer"):
            raise ValueError(f"inject {path!r} {answer!r}: expected a path of {list(self.ROUTES)} and a code")
        with self.ledger.cond:
            self.injected.setdefault(path, []).extend([answer] * times)

    def balance_of(self, user: str, currency: str) -> Decimal:
        return self.ledger.open(user, currency)

    def applied(self, reference: str) -> list[Transfer]:
        """The movements booked under this transaction id, in order."""
        with self.ledger.cond:
            return [t for t in self.ledger.transfers if t.reference == reference]

    def operator_id(self) -> str:
        with self.ledger.cond:
            self.serial += 1
            return f"op-{self.serial}"

    def code(self, path: str, code: int, **extra: Any) -> Answer:
        return {"error": str(code) if path in self.STRING_CODES else code, "description": TEXT.get(code, ""), **extra}

    def check_auth(self, request: Answer) -> None:
        """No credential by default: the Seamless Wallet's pages name none."""

    def repeat(self, path: str, first: Answer, current: Answer) -> Answer:
        """A transaction id seen before, nothing applied: its first answer, or 61 (the `duplicates` dialect)."""
        return self.code(path, 61, **current) if self.duplicates == "61" else first

    def answer(self, path: str, body: bytes) -> Answer | None:
        """The answer to one request; None: leave it unanswered."""
        if path not in self.ROUTES:
            return {"error": 404, "description": "Not Found"}
        try:
            request = json.loads(body, parse_float=Decimal)
        except (ValueError, RecursionError):
            return self.code(path, 21, detail="the body is not JSON")
        if not isinstance(request, dict):
            return self.code(path, 21, detail="the body is not a JSON object")
        try:
            return self._answer(path, request)
        except Refused as refused:
            return self.code(path, refused.code, **({"detail": refused.detail} if refused.detail else {}))

    def _answer(self, path: str, request: Answer) -> Answer | None:
        with self.ledger.cond:
            self.received.append((path, {k: ("***" if k == "token" else v) for k, v in request.items()}))
        for name in self.REQUIRED[path]:
            if not isinstance(request.get(name), str) or not request[name].strip():
                raise Refused(21, f"{name} is missing or not a string")
        for name in self.OPTIONAL:
            if name in request and not isinstance(request[name], str):
                raise Refused(21, f"{name} is not a string")
        self.check_auth(request)  # before the uuid cache: a wrong token never gets a cached answer
        key = (path, request["uuid"])
        with self.ledger.cond:
            forced = self.injected[path].pop(0) if self.injected.get(path) else None
            if forced is None and key in self.seen and "double-credit-on-retry" not in self.switches:
                return self.seen[key]
        if isinstance(forced, int):
            return self.code(path, forced)
        reply = getattr(self, self.ROUTES[path])(request)
        if reply.get("error") == 0:
            reply = {**reply, "error": self.code(path, 0)["error"]}
        with self.ledger.cond:
            self.seen.setdefault(key, reply)
        return None if forced == "lose-answer" else reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(min(int(self.headers.get("Content-Length") or 0), 1 << 20))
                document = server.answer(self.path, body)
                if document is None:
                    self.close_connection = True  # applied, never answered: what a lost connection looks like
                    return
                payload = json.dumps(document).encode()
                self.send_response(404 if document.get("error") == 404 else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _currency(request: Answer) -> str:
    currency = str(request["currency"])
    if currency not in DECIMALS:
        raise Refused(71, f"currency {currency!r}")
    return currency


def _money(balance: Decimal, currency: str) -> str:
    return str(balance.quantize(Decimal(1).scaleb(-DECIMALS[currency])))


class TransferWallet(WalletServer):
    """Kyren's Transfer Wallet API: the operator's deposits and withdrawals on a player's Kyren balance."""

    _AUTH = ("secureLogin", "userId", "uuid", "token")
    _MONEY = ("secureLogin", "userId", "currency", "transactionId", "amount", "uuid", "token")  # amount: string
    OPTIONAL = ("userNickname",)  # Create-User.md line 18
    ROUTES = {
        "/transfer/CreateUser": "create_user",
        "/transfer/CreateWallet": "create_wallet",
        "/transfer/DepositBalance": "deposit",
        "/tranfer/WithdrawlBalance": "withdraw",
        "/transfer/GetBalance": "get_balance",
        "/transfer/GetTransferInfo": "transfer_info",
        "/transfer/UserInfo": "user_info",
    }
    REQUIRED = {
        "/transfer/CreateUser": _AUTH,
        "/transfer/CreateWallet": (*_AUTH, "currency"),
        "/transfer/DepositBalance": _MONEY,
        "/tranfer/WithdrawlBalance": _MONEY,
        "/transfer/GetBalance": (*_AUTH, "currency"),
        "/transfer/GetTransferInfo": _AUTH,
        "/transfer/UserInfo": _AUTH,
    }

    def __init__(self, token: str, partner: str = "partner-7", **options: Any) -> None:
        super().__init__(**options)
        self.token, self.partner = token, partner
        self.users: dict[str, str] = {}  # userId -> nickname

    def check_auth(self, request: Answer) -> None:
        if request["secureLogin"] != self.partner or request["token"] != self.token:
            raise Refused(54)

    def _user(self, request: Answer) -> tuple[str, bool]:
        """The user (opened on first sight), and whether it was known before."""
        with self.ledger.cond:
            known = request["userId"] in self.users
            self.users.setdefault(request["userId"], str(request.get("userNickname") or ""))
            return request["userId"], known

    def create_user(self, request: Answer) -> Answer:
        user, known = self._user(request)
        return self.code("", 8 if known else 0, userId=user)

    def create_wallet(self, request: Answer) -> Answer:
        user, _ = self._user(request)
        with self.ledger.cond:
            known = (user, _currency(request)) in self.ledger.balances
            self.ledger.open(user, request["currency"])
        return self.code("", 10 if known else 0, userId=user)

    def _transfer(self, request: Answer, path: str, kind: str, sign: int) -> Answer:
        user, _ = self._user(request)
        currency, reference = _currency(request), request["transactionId"]
        amount = parse_amount(request["amount"], DECIMALS[currency])

        def answer() -> Answer:
            balance = _money(self.ledger.balances[(user, currency)], currency)
            return {"error": 0, "description": "success", "transactionId": reference, "currency": currency,
                    "balance": balance}  # fmt: skip

        with self.ledger.cond:  # one history: a deposit's id cannot also be a withdrawal's, in either dialect
            if ("withdraw" if kind == "deposit" else "deposit", reference) in self.ledger.done:
                raise Refused(61, "the transactionId is another transfer's")
        done = self.ledger.move(kind, reference, user, currency, sign * amount, answer)
        if done is not None:
            return done
        current = {
            "transactionId": reference,
            "currency": currency,
            "balance": _money(self.balance_of(user, currency), currency),
        }
        return self.repeat(path, self.ledger.done[(kind, reference)], current)

    def deposit(self, request: Answer) -> Answer:
        return self._transfer(request, "/transfer/DepositBalance", "deposit", 1)

    def withdraw(self, request: Answer) -> Answer:
        return self._transfer(request, "/tranfer/WithdrawlBalance", "withdraw", -1)

    def get_balance(self, request: Answer) -> Answer:
        user, _ = self._user(request)
        balance = self.ledger.open(user, _currency(request))
        return {"error": 0, "description": "success", "balance": _money(balance, request["currency"])}

    def transfer_info(self, request: Answer) -> Answer:
        """Get-transfer-status.md: the latest transfer at the top level (as its example shows), all of them
        listed under `transactions` (line 4: "the status of entire transactions")."""
        user, _ = self._user(request)
        with self.ledger.cond:
            mine = [t for t in self.ledger.transfers if t.user == user]
        if not mine:
            return self.code("", 19)
        rows = [{"transactionId": t.reference, "amount": _money(t.amount, t.currency),
                 "balance": _money(t.balance, t.currency), "currency": t.currency} for t in mine]  # fmt: skip
        return {"error": 0, "description": "success", **rows[-1], "transactions": rows}

    def user_info(self, request: Answer) -> Answer:
        user, _ = self._user(request)
        with self.ledger.cond:
            wallets = {c: _money(b, c) for (u, c), b in self.ledger.balances.items() if u == user}
        times = {"dateTimeCreate": "2024-07-02 11:50:12", "dateTimeLogin": "2024-07-02 12:10:32"}  # the example's
        return {"error": 0, "description": "success", "userId": user, "userNickname": self.users[user], **times,
                "wallet": wallets}  # fmt: skip


class SeamlessWallet(WalletServer):
    """An operator's Seamless Wallet: Kyren debits bets and credits results on the operator's balance."""

    _BASE = ("providerId", "userId", "currency", "uuid")
    _GAME = (*_BASE, "gameId", "gameName", "roundId", "reference")
    ROUTES = {"/v1/Balance": "balance", "/v1/Check": "check", "/v1/Bet": "bet", "/v1/Result": "result",
              "/v1/Refund": "refund", "/v1/Cancel": "cancel", "/v1/EndRound": "end_round"}  # fmt: skip
    REQUIRED = {
        "/v1/Balance": (*_BASE, "sessionId"),
        "/v1/Check": (*_BASE, "sessionId"),
        "/v1/Bet": (*_GAME, "sessionId"),
        "/v1/Result": (*_GAME, "sessionId", "timestamp"),
        "/v1/Refund": _GAME,
        "/v1/Cancel": (*_GAME, "sessionId"),
        "/v1/EndRound": (*_BASE, "gameId", "roundId", "sessionId"),
    }
    STRING_CODES = frozenset({"/v1/Refund"})
    OPTIONAL = ("bonusCode",)  # Bet.md line 23, Refund.md line 30

    def __init__(self, unknown_bet_code: int = 0, **options: Any) -> None:
        super().__init__(**options)
        self.unknown_bet_code = unknown_bet_code

    def _cash(self, request: Answer) -> Answer:
        currency = _currency(request)
        return {"currency": currency, "cash": _money(self.ledger.open(request["userId"], currency), currency)}

    def balance(self, request: Answer) -> Answer:
        return {**self._cash(request), "error": 0, "description": "Success"}

    def check(self, request: Answer) -> Answer:
        _currency(request)
        return {"error": 0, "description": "Success"}

    def _game(self, request: Answer, path: str, kind: str) -> Answer:
        """Bet.md, Result.md: debit or credit `amount` once per `reference`."""
        # Bet.md's table spells timeStamp and types roundDetails string, its example timestamp and an object;
        # Result.md types it array, its example an object: either reading is taken, nothing else
        stamps = [request[n] for n in ("timeStamp", "timestamp") if n in request]
        details = (str, dict) if kind == "bet" else (list, dict)
        if not stamps or not all(isinstance(v, str) and v for v in stamps):
            raise Refused(21, "timeStamp is missing or not a string")
        if not isinstance(request.get("roundDetails"), details) or not request["roundDetails"]:
            raise Refused(21, "roundDetails is missing or of another type")
        if request.get("amount") in (None, ""):
            raise Refused(21, "amount is missing")
        user, currency, reference = request["userId"], _currency(request), request["reference"]
        amount = parse_amount(request["amount"], DECIMALS[currency], zero=kind == "result")

        def answer() -> Answer:
            return {"transactionId": self.operator_id(), **self._cash(request), "error": 0, "description": "Success"}

        delta = -amount if kind == "bet" else amount
        done = self.ledger.move(kind, reference, user, currency, delta, answer, request["roundId"])
        return done if done is not None else self.repeat(path, self.ledger.done[(kind, reference)], self._cash(request))

    def bet(self, request: Answer) -> Answer:
        return self._game(request, "/v1/Bet", "bet")

    def result(self, request: Answer) -> Answer:
        return self._game(request, "/v1/Result", "result")

    def _reverse(self, request: Answer, path: str, kind: str) -> Answer:
        """Refund.md, Cancel-Round.md; Refund's answer carries no balance, Cancel's does."""
        user, currency, reference = request["userId"], _currency(request), request["reference"]
        with self.ledger.cond:
            reversed_ = self.ledger.reverse(kind, reference, user, currency, request["roundId"])
            cash = {} if kind == "refund" else self._cash(request)
            if reversed_ is None:
                return self.repeat(path, self.ledger.done[(kind, reference)], cash)
            code = 0 if reversed_ else self.unknown_bet_code  # an unknown bet: nothing happened (Refund.md l. 10)
            first = self.code(path, code, transactionId=self.operator_id(), **cash)
            if reversed_:
                self.ledger.done.setdefault((kind, reference), first)
            return first

    def refund(self, request: Answer) -> Answer:
        return self._reverse(request, "/v1/Refund", "refund")

    def cancel(self, request: Answer) -> Answer:
        return self._reverse(request, "/v1/Cancel", "cancel")

    def end_round(self, request: Answer) -> Answer:
        """End-Round.md: moves no money, may come more than once, always success."""
        if "win" in request:
            parse_amount(request["win"], DECIMALS[_currency(request)], zero=True)
        return {**self._cash(request), "error": 0, "description": "Success"}
