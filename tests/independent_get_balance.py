"""A Get Balance server written from tests/documents/get-balance.md alone, not from the reference mock.

It stands in for the servers a new user points the suite at: its own error codes, 400 for errors,
its own reading of the document. `defect` turns on one integration mistake; None is conformant.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PARTNER, USER = "partner-7", "tester-7"
STRINGS = ("secureLogin", "userId", "token", "uuid")

DEFECTS = {  # defect -> the rule that must catch it
    "balance-as-string": "M1",
    "no-balance-on-success": "M1",
    "currency-type-unchecked": "M4",
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

    def answer(self, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if path != "/v1/GetBalance":
            return 404, {"error": 404, "description": "unknown method"}
        try:
            request = json.loads(body)
        except ValueError:
            return 400, {"error": 100, "description": "body is not JSON"}
        if not isinstance(request, dict):
            if self.defect == "500-on-non-object":
                raise TypeError("request is not a dict")
            return 400, {"error": 100, "description": "body is not a JSON object"}
        required = STRINGS if self.defect != "uuid-not-required" else STRINGS[:-1]
        for name in required:
            if name not in request:
                return 400, {"error": 101, "description": f"{name} is required"}
        for name in STRINGS:
            if name in request and (not isinstance(request[name], str) or not request[name]):
                return 400, {"error": 102, "description": f"{name} must be a non-empty string"}
        currency = request.get("currency", "EUR")
        if self.defect != "currency-type-unchecked" and (not isinstance(currency, str) or not currency):
            return 400, {"error": 102, "description": "currency must be a non-empty string"}
        token_ok = self.defect == "token-unchecked" or request["token"] == self.token
        if request["secureLogin"] != PARTNER or not token_ok:
            return 400, {"error": 103, "description": "invalid credentials"}
        uuid = request.get("uuid")
        with self.lock:
            if uuid in self.seen:
                if self.defect == "500-on-replay":
                    raise RuntimeError("duplicate key")
                return self.seen[uuid]
            answer = self.success(str(currency))
            if uuid is not None:
                self.seen[uuid] = answer
        return answer

    def success(self, currency: str) -> tuple[int, dict[str, Any]]:
        balance: Any = "1520.75" if self.defect == "balance-as-string" else 1520.75
        body = {"error": 0, "description": "Success", "balance": balance, "currency": currency}
        if self.defect == "no-balance-on-success":
            del body["balance"]
        return (400 if self.defect == "success-code-on-400" else 200), body

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

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
