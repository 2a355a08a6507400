"""A Get Balance server written from the provider's real page alone, not from the reference mock.

tests/documents/kyren/Get-Balance.md (Transfer Wallet API, hosted by Kyren): POST /transfer/GetBalance with
five Required strings (secureLogin, userId, currency, uuid, token); a successful answer is
{"error": 0, "description": "success", "balance": "1000"}, balance typed string. The codes are the Error
Code page's (tests/documents/kyren/Error-Code-1.md): 21 "Parameter(s) is missing or incorrect", 54
"Incorrect secure LOGIN and secure password combination", 12 "Your account could not be found in Kyren
system", 14 "There is no wallet for that currency".

It stands in for the servers a user points the suite at, with its own readings where the page leaves room:
the code is sent as the table types it (a string of digits, where the example shows the number 0), errors
come with HTTP 400, a repeated uuid gets the first answer again. `defect` turns on one integration mistake;
None is conformant.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATH = "/transfer/GetBalance"
PARTNER, USER = "partner-7", "tester-7"
WALLETS = {USER: {"USD": "1000", "EUR": "250.50"}}
REQUIRED = ("secureLogin", "userId", "currency", "uuid", "token")
MISSING, BAD_LOGIN, NO_ACCOUNT, NO_WALLET = "21", "54", "12", "14"

DEFECTS = {  # defect -> the rule that must catch it
    "balance-as-number": "M1",
    "no-balance-on-success": "M1",
    "one-element-array-unwrapped": "M4",
    "token-unchecked": "M5",
    "uuid-not-required": "M3",
    "500-on-non-object": "M6",
    "500-on-replay": "M7",
    "success-code-on-400": "M8",
}


class GetBalanceServer:
    def __init__(self, token: str, defect: str | None = None) -> None:
        if defect is not None and defect not in DEFECTS:
            raise ValueError(f"unknown defect {defect!r}")
        self.token, self.defect = token, defect
        self.seen: dict[str, tuple[int, dict[str, Any]]] = {}
        self.requests = 0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> GetBalanceServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @staticmethod
    def error(code: str, description: str) -> tuple[int, dict[str, Any]]:
        return 400, {"error": code, "description": description}

    def answer(self, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests += 1
        if path != PATH:
            return 404, {"error": "404", "description": "Not Found"}
        try:
            request = json.loads(body)
        except ValueError:
            return self.error(MISSING, "Parameter(s) is missing or incorrect: the body is not JSON")
        if not isinstance(request, dict):
            if self.defect == "500-on-non-object":
                raise TypeError("request is not a dict")
            return self.error(MISSING, "Parameter(s) is missing or incorrect: the body is not a JSON object")
        required = REQUIRED if self.defect != "uuid-not-required" else tuple(n for n in REQUIRED if n != "uuid")
        for name in required:
            if name not in request:
                return self.error(MISSING, f"Parameter(s) is missing or incorrect: {name}")
        if self.defect == "one-element-array-unwrapped":  # a form parser's habit: ["USD"] read as "USD"
            request = {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in request.items()}
        for name in REQUIRED:
            if name in request and (not isinstance(request[name], str) or not request[name]):
                return self.error(MISSING, f"Parameter(s) is missing or incorrect: {name}")
        token_ok = self.defect == "token-unchecked" or request["token"] == self.token
        if request["secureLogin"] != PARTNER or not token_ok:
            return self.error(BAD_LOGIN, "Incorrect secure LOGIN and secure password combination")
        uuid = request.get("uuid")
        with self.lock:
            if uuid in self.seen:
                if self.defect == "500-on-replay":
                    raise RuntimeError("duplicate key")
                return self.seen[uuid]
            answer = self.balance(request["userId"], str(request["currency"]))
            if uuid is not None:
                self.seen[uuid] = answer
        return answer

    def balance(self, user: str, currency: str) -> tuple[int, dict[str, Any]]:
        if user not in WALLETS:
            return self.error(NO_ACCOUNT, "Your account could not be found in Kyren system.")
        if currency not in WALLETS[user]:
            return self.error(NO_WALLET, "There is no wallet for that currency.")
        balance: Any = WALLETS[user][currency]
        if self.defect == "balance-as-number":
            balance = float(balance)
        body = {"error": "0", "description": "success", "balance": balance}
        if self.defect == "no-balance-on-success":
            del body["balance"]
        return (400 if self.defect == "success-code-on-400" else 200), body

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once, not 40 ms apart

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    status, document = server.answer(self.path, body)
                    payload = json.dumps(document).encode()
                    ctype = "application/json"
                except Exception:  # a defect crashing: what a careless framework answers
                    status, payload, ctype = 500, b"<html><body>Internal Server Error</body></html>", "text/html"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
