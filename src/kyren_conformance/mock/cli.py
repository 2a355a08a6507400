"""`kyren-conformance mock ...`: run the reference mock in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from kyren_conformance.contract import ContractError, load_contract
from kyren_conformance.mock.behaviour import Variant
from kyren_conformance.mock.dialects import DIALECTS
from kyren_conformance.mock.faults import FAULTS
from kyren_conformance.mock.flow_variants import FLOW_DIALECTS, FLOW_FAULTS
from kyren_conformance.mock.ledger import START_BALANCE
from kyren_conformance.mock.server import FAULT_DELAY_ENV, MockServer
from kyren_conformance.resources import contract_paths

if TYPE_CHECKING:
    from kyren_conformance.flows.declaration import FlowDeclaration

USAGE_ERROR = 4  # the project's exit code for a usage or configuration error


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kyren-conformance mock", description="Run the reference mock server on loopback until Ctrl-C."
    )
    parser.add_argument("--port", type=int, default=0, metavar="N", help="port to listen on (default: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--contract",
        action="append",
        metavar="FILE|DIR",
        help="a method contract or a folder of them, repeatable; each method at its own path (default: all shipped)",
    )
    parser.add_argument(
        "--flow",
        action="append",
        metavar="FILE",
        help="a flow declaration (contracts/flows/*.json), repeatable: the methods it names keep real balances",
    )
    parser.add_argument("--fault", metavar="NAME", help="a fault mode to inject (see --list)")
    parser.add_argument(
        "--method",
        action="append",
        metavar="NAME",
        help="the method the fault and dialect apply to (contract file stem or method name; default: every one)",
    )
    parser.add_argument("--dialect", metavar="NAME", help="a conformant dialect to speak (see --list)")
    delay_help = f"seconds the timing faults wait (default: ${FAULT_DELAY_ENV} or 15)"
    parser.add_argument("--fault-delay", type=float, metavar="S", help=delay_help)
    parser.add_argument("--latency", type=float, default=0.0, metavar="S", help="seconds added to every answer")
    parser.add_argument("--list", action="store_true", help="list the fault modes and dialects, then exit")
    return parser


def _listing(title: str, table: Mapping[str, Variant]) -> list[str]:
    width = max(len(name) for name in table)
    lines = [f"{title}:"]
    for name, variant in sorted(table.items()):
        rules = f" [{', '.join(variant.rules)}]" if variant.rules else ""
        lines.append(f"  {name:<{width}}  {variant.description}{rules}")
    return lines


def _fail(message: str) -> int:
    print(f"kyren-conformance mock: {message}", file=sys.stderr)
    return USAGE_ERROR


def run_mock(argv: list[str], *, stop: threading.Event | None = None) -> int:
    """Serve until Ctrl-C (or until `stop` is set, for tests); return the process exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage; map its exit code onto the project's
        return 0 if exc.code in (0, None) else USAGE_ERROR
    if args.list:
        listings = [
            _listing("faults (rules they trip)", FAULTS),
            _listing("dialects", DIALECTS),
            _listing("money-flow faults, with --flow (rules they trip)", FLOW_FAULTS),
            _listing("money-flow dialects, with --flow", FLOW_DIALECTS),
        ]
        print("\n\n".join("\n".join(lines) for lines in listings))
        return 0
    try:
        contracts = [load_contract(path) for path in contract_paths(args.contract)]
        flows = _flows(args.flow or [])
    except (ContractError, ValueError) as exc:  # a FlowError is a ValueError
        return _fail(str(exc))
    try:
        server = MockServer(
            contracts, host=args.host, port=args.port, fault=args.fault, dialect=args.dialect,
            fault_delay=args.fault_delay, latency=args.latency, faulty=args.method, flows=flows,
        )  # fmt: skip
        server.start()
    except (ValueError, OSError, OverflowError) as exc:  # OverflowError: a port outside 0-65535
        return _fail(str(exc))
    try:
        _announce(server)
        (stop or threading.Event()).wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _flows(paths: list[str]) -> list[FlowDeclaration]:
    if not paths:
        return []
    # Imported only when asked for: a mock serving no flow loads no flow code.
    from kyren_conformance.flows.declaration import load_flow

    return [load_flow(path) for path in paths]


def _announce(server: MockServer) -> None:
    for contract in server.contracts:
        endpoint = f"{contract.http_method} {server.url}{contract.http_path}"
        print(f"Kyren mock ({contract.title}) on {server.url}  ->  {endpoint}")
    print(f"fault: {server.fault or 'none'}   dialect: {server.dialect or 'none'}")
    for flow in server.flows:
        print(f"flow {flow.flow}: real balances for {', '.join(flow.methods)} (every user starts at {START_BALANCE})")
    # These are the mock's own throwaway test credentials, so printing them is the point.
    print("test credentials (this mock only):")
    shown_names: set[str] = set()
    for contract in server.contracts:
        credentials = server.credentials_of(contract)
        for field in contract.fields:
            if field.name in credentials and field.name not in shown_names:
                shown_names.add(field.name)
                hint = f"  (${field.env})" if field.env else ""  # the variable the suite reads it from
                value = credentials[field.name]
                shown = value if isinstance(value, str) else json.dumps(value)  # as --field takes it
                print(f"  {field.name} = {shown}{hint}")
    print("Ctrl-C to stop.", flush=True)
