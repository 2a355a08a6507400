"""The mock as a real HTTP/1.1 server on loopback: keep-alive, one thread per connection, quiet."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import socket
import socketserver
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from kyren_conformance.contract import Contract, describe_types, mock_default
from kyren_conformance.mock.behaviour import Incoming, Reference, Reply, pick
from kyren_conformance.mock.dialects import DIALECTS
from kyren_conformance.mock.faults import FAULTS
from kyren_conformance.mock.flow_variants import FLOW_DIALECTS, FLOW_FAULTS
from kyren_conformance.mock.wallet import WalletReference, bind_flows, with_wallet

if TYPE_CHECKING:
    from kyren_conformance.flows.declaration import FlowDeclaration

BODY_CAP = 1 << 20  # bytes of request body read at most; more gets 413
DEFAULT_FAULT_DELAY = 15.0  # longer than the suite's default 10 s timeout
FAULT_DELAY_ENV = "KYREN_MOCK_FAULT_DELAY"
_DIGITS = re.compile(r"^[0-9]+$")


class MockServer:
    """The reference mock, optionally with one fault and one dialect. Usable as a context manager.

    Given several contracts, it serves each method at its own path (a whole integration on one port);
    `faulty` names the methods (contract file stems or method names) the fault and dialect apply to:
    by default, all of them. Given flow declarations, the methods they name keep real balances (wallet.py),
    one set of books per flow; `fault`, `faults` and `dialect` take the money-flow variants' names too.
    """

    def __init__(
        self,
        contract: Contract | Sequence[Contract],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: Mapping[str, Any] | None = None,
        fault: str | None = None,
        dialect: str | None = None,
        fault_delay: float | None = None,
        latency: float = 0.0,
        behaviour: type[Reference] | None = None,  # a subclass of your own, instead of a fault and a dialect
        faulty: Sequence[str] | None = None,
        flows: Sequence[FlowDeclaration] = (),
        faults: Sequence[str] = (),  # more faults besides `fault`, combined
    ) -> None:
        _require_loopback(host)
        if latency < 0:
            raise ValueError(f"latency {latency!r}: expected seconds >= 0")
        self.latency = latency  # added to every answer: a staging link for benchmarks
        self.contracts = _distinct_paths([contract] if isinstance(contract, Contract) else list(contract))
        self.contract = self.contracts[0]
        named = list(dict.fromkeys([*([fault] if fault else []), *faults]))
        self.fault = ", ".join(named) or None
        self.dialect = dialect
        if behaviour is not None and (named or dialect):
            raise ValueError("behaviour: give a Reference subclass, or a fault and a dialect, not both")
        self._behaviour = behaviour or _combine(named, dialect)
        self._faulty = _faulty_methods(self.contracts, faulty)
        self.flows = tuple(flows)
        self._wallets = bind_flows(self.contracts, self.flows)
        several = len(self.contracts) > 1  # a value one method's field cannot take is that method's to choose
        if credentials is None and several:  # one token for the whole mock, as the CLI prints it and a wallet needs
            credentials = shared_defaults(self.contracts)
        self._credentials_by_path = {
            c.http_path: _resolve_credentials(c, credentials, only_accepted=several) for c in self.contracts
        }
        self._credentials = self._credentials_by_path[self.contract.http_path]
        self._host, self._port = host, port
        self.fault_delay = _fault_delay(fault_delay)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def credentials(self) -> dict[str, Any]:
        return dict(self._credentials)

    def credentials_of(self, contract: Contract) -> dict[str, Any]:
        """The test credentials the mock accepts for one of its methods."""
        return dict(self._credentials_by_path[contract.http_path])

    @property
    def url(self) -> str:
        host, port = self._started().server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"

    @property
    def request_count(self) -> int:
        return 0 if self._httpd is None else self._httpd.request_count

    def start(self) -> MockServer:
        if self._httpd is not None:
            raise RuntimeError("the mock server is already started")
        routes = {c.http_path: self._route(c) for c in self.contracts}
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        self._httpd = _HTTPServer((self._host, self._port), routes, self.contract.http_path, family)
        self._httpd.latency = self.latency
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, name="kyren-mock", daemon=True
        )
        self._thread.start()
        return self

    def _route(self, contract: Contract) -> Reference:
        """The behaviour serving one method: the chosen variant or the reference, with a wallet if a flow names it."""
        behaviour = self._behaviour if contract.http_path in self._faulty else Reference
        credentials = self._credentials_by_path[contract.http_path]
        wallet = self._wallets.get(contract.http_path)
        if wallet is not None:
            return with_wallet(behaviour)(contract, credentials, fault_delay=self.fault_delay, wallet=wallet)
        if issubclass(behaviour, WalletReference):  # a money-flow variant on a method no flow names: the reference
            return WalletReference(contract, credentials, fault_delay=self.fault_delay)
        return behaviour(contract, credentials, fault_delay=self.fault_delay)

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.stopping.set()  # wakes handlers waiting in a delay or a drip
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> MockServer:
        return self if self._httpd is not None else self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def _started(self) -> _HTTPServer:
        if self._httpd is None:
            raise RuntimeError("the mock server is not started; call start() first")
        return self._httpd


def _combine(faults: Sequence[str], dialect: str | None) -> type[Reference]:
    picked = [pick({**FAULTS, **FLOW_FAULTS}, "fault", name) for name in faults]
    picked.append(pick({**DIALECTS, **FLOW_DIALECTS}, "dialect", dialect))
    chosen = list(dict.fromkeys(cls for cls in picked if cls is not None))
    if not chosen:
        return Reference
    if len(chosen) == 1:
        return chosen[0]
    # The faults come first in the MRO, so where a fault and the dialect change the same step the defect wins.
    name = "+".join([*faults, *([dialect] if dialect else [])])
    return cast(type[Reference], type(name, tuple(chosen), {}))


def _distinct_paths(contracts: list[Contract]) -> list[Contract]:
    if not contracts:
        raise ValueError("no contract to serve")
    paths = [c.http_path for c in contracts]
    twice = sorted({p for p in paths if paths.count(p) > 1})
    if twice:
        raise ValueError(f"two contracts for the same path {', '.join(twice)}: one contract per method")
    return contracts


def _faulty_methods(contracts: list[Contract], faulty: Sequence[str] | None) -> set[str]:
    """The paths of the methods a fault or dialect applies to."""
    if faulty is None:
        return {c.http_path for c in contracts}
    by_name = {name: c.http_path for c in contracts for name in (c.path.stem, c.method)}
    unknown = [name for name in faulty if name not in by_name]
    if unknown:
        raise ValueError(f"no such method {', '.join(unknown)}; expected one of: {', '.join(sorted(by_name))}")
    return {by_name[name] for name in faulty}


def shared_defaults(contracts: list[Contract]) -> dict[str, Any]:
    """One value per field name for every method: the first method naming a field chooses it."""
    values: dict[str, Any] = {}
    for contract in contracts:
        for f in contract.fields:
            if f.role != "request_id" and f.name not in values:
                values[f.name] = mock_default(f)
    return values


def _resolve_credentials(
    contract: Contract, given: Mapping[str, Any] | None, *, only_accepted: bool = False
) -> dict[str, Any]:
    wanted = [f for f in contract.fields if f.role != "request_id"]
    given = dict(given or {})
    if only_accepted:  # credentials shared by several methods: each takes the names and types it has
        fields = {f.name: f for f in wanted}
        given = {k: v for k, v in given.items() if k in fields and fields[k].accepts(v) and v != ""}
    unknown = sorted(set(given) - {f.name for f in wanted})
    if unknown:
        raise ValueError(f"credentials: unknown field(s) {unknown}; expected some of: {[f.name for f in wanted]}")
    resolved = {}
    for f in wanted:
        value = given[f.name] if f.name in given else mock_default(f)
        if not f.accepts(value) or value == "":
            raise ValueError(f"credentials: {f.name} must be {describe_types(f.types)} (not empty), got {value!r}")
        resolved[f.name] = value
    return resolved


def _require_loopback(host: str) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"host {host!r}: the mock binds to loopback only (127.0.0.1, ::1 or localhost)")


def _fault_delay(value: float | None) -> float:
    if value is None:
        raw = os.environ.get(FAULT_DELAY_ENV, str(DEFAULT_FAULT_DELAY))
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{FAULT_DELAY_ENV}={raw!r}: expected a number of seconds") from None
    if value < 0:
        raise ValueError(f"fault_delay {value!r}: expected a number of seconds >= 0")
    return value


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # The suite opens ~8 connections at once; the default backlog of 5 can drop a SYN and cost a 1 s retransmit.
    request_queue_size = 64

    def __init__(
        self, address: tuple[str, int], routes: dict[str, Reference], default: str, family: socket.AddressFamily
    ) -> None:
        self.address_family = family
        self.routes = routes
        self.behaviour = routes[default]  # answers unknown paths and unparsable HTTP
        self.stopping = threading.Event()
        self.latency = 0.0
        self.one_connection = threading.Lock()
        self.one_at_a_time = any(b.one_connection_at_a_time for b in routes.values())
        self._lock = threading.Lock()
        self._count = 0
        self._open: set[socket.socket] = set()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn), which can stall for seconds without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    @property
    def request_count(self) -> int:
        with self._lock:
            return self._count

    def count_request(self) -> None:
        with self._lock:
            self._count += 1

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End idle keep-alive connections, so that their threads exit with the server."""
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer (its timeout ran out) is routine, not worth a traceback.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle would hold the second one
    timeout = 60  # an idle keep-alive connection is dropped after a minute rather than holding a thread
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a run sends about a hundred requests."""

    def handle(self) -> None:
        if not self.server.one_at_a_time:
            super().handle()
            return
        with self.server.one_connection:  # every request of this connection before any other connection
            super().handle()

    def parse_request(self) -> bool:
        self.server.count_request()
        return super().parse_request()

    def do_POST(self) -> None:
        self._serve()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_POST

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, QUERY, ...) is routed too and gets 405 + Allow, never a 501 (E4: no 5xx).
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The stock error page is HTML; the mock answers JSON even to HTTP it cannot parse.
        self._write(self.server.behaviour.transport_error(code, message or "bad request"))

    def _serve(self) -> None:
        incoming = self._read()
        behaviour = self.server.routes.get(incoming.path, self.server.behaviour)
        try:
            reply = behaviour.handle(incoming)
        except Exception:  # a bug in the mock: report it, and still answer JSON
            self.server.handle_error(self.request, self.client_address)
            reply = behaviour.transport_error(500, "mock internal error")
        if incoming.framing is not None:  # the body was not consumed, so the connection cannot be reused
            reply = replace(reply, close=True)
        if self.server.latency:
            reply = replace(reply, delay=reply.delay + self.server.latency)
        self._write(reply)

    def _read(self) -> Incoming:
        headers = {name.lower(): value for name, value in reversed(self.headers.items())}  # first one wins
        body, framing = b"", None
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body, framing = self._read_chunked()
        elif "content-length" in headers:
            raw = headers["content-length"].strip()
            if not _DIGITS.match(raw):
                framing = (400, "invalid Content-Length")
            elif int(raw) > BODY_CAP:
                framing = (413, f"body larger than {BODY_CAP} bytes")
            else:
                body = self.rfile.read(int(raw))
        return Incoming(self.command, self.path, headers, body, framing)

    def _read_chunked(self) -> tuple[bytes, tuple[int, str] | None]:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                return b"", (400, "invalid chunked body")
            if size == 0:
                break
            total += size
            if total > BODY_CAP:
                return b"", (413, f"body larger than {BODY_CAP} bytes")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)
        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):  # trailers
            pass
        return b"".join(chunks), None

    def _write(self, reply: Reply) -> None:
        stopping = self.server.stopping
        if reply.delay and stopping.wait(reply.delay):
            self.close_connection = True
            return
        if reply.chunked and self.request_version != "HTTP/1.1":  # an HTTP/1.0 client cannot de-chunk
            reply = replace(reply, chunked=False)
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        if reply.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(reply.body)))
        if reply.close:
            self.send_header("Connection", "close")  # also makes the handler close after this answer
        self.end_headers()
        if self.command == "HEAD" or not reply.body and not reply.chunked:
            return
        if reply.chunked:
            step = 16  # a few small chunks, so that a client's de-chunking is really exercised
            pieces = [reply.body[i : i + step] for i in range(0, len(reply.body), step)]
            self.wfile.write(b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n")
        elif reply.drip:
            pause = reply.drip / len(reply.body)
            for i in range(len(reply.body)):
                self.wfile.write(reply.body[i : i + 1])
                if stopping.wait(pause):
                    self.close_connection = True
                    return
        else:
            self.wfile.write(reply.body)
