"""`kyren-conformance mutation`: the suite's power, measured on the mock's own catalogue.

Every fault mode must be caught by its expected rule (killed); every conformant dialect must pass.
Each variant is a real run of the CLI, in its own process, against a fresh mock. The money-flow faults and
dialects (FLOW_FAULTS, FLOW_DIALECTS) run the same way, with `--flows`, against a mock keeping the flow's
balances and serving its methods: each fault on the first shipped flow that judges all its rules, each dialect
on every shipped flow (named `<flow>/<variant>`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kyren_conformance.contract import Contract, ContractError, load_contract
from kyren_conformance.flows import FlowDeclaration, FlowError, load_flow
from kyren_conformance.mock import DIALECTS, FAULTS, FLOW_DIALECTS, FLOW_FAULTS, MockServer, reference_code_table
from kyren_conformance.resources import data_dir, default_contract_path, shipped_flow_paths
from kyren_conformance.settings import MAX_TIMEOUT
from kyren_conformance.usage import UsageParser


@dataclass(frozen=True)
class Outcome:
    kind: str  # "fault" or "dialect"
    name: str
    expected: tuple[str, ...]
    failed: tuple[str, ...]  # rules that failed (or warned, for SHOULD-only faults run with --strict)
    exit_code: int
    requests: int
    seconds: float
    flow: str | None = None  # a money-flow variant: the flow it ran on

    @property
    def ok(self) -> bool:
        if self.kind == "dialect":
            return self.exit_code == 0
        return self.exit_code == 1 and set(self.expected) <= set(self.failed)

    @property
    def verdict(self) -> str:
        if self.kind == "dialect":
            return "passed" if self.ok else "WRONGLY FAILED"
        return "killed" if self.ok else "SURVIVED"


def target_args(url: str, credentials: Mapping[str, Any], contract: Contract) -> tuple[list[str], dict[str, str]]:
    """CLI options and environment that point a run of this contract at a target with these credentials
    (secrets via env)."""
    args, env = ["--target-url", url, "--contract", str(contract.path)], {}
    for f in contract.fields:
        if f.name in credentials:
            value = credentials[f.name]
            text = value if isinstance(value, str) else json.dumps(value)  # --field reads a non-string as JSON
            if f.secret and f.env:
                env[f.env] = text
            else:
                args += ["--field", f"{f.name}={text}"]
    return args, env


def suite_target_args(url: str, server: MockServer, contracts: Sequence[Contract]) -> tuple[list[str], dict[str, str]]:
    """CLI options and environment for a run of several contracts against a mock serving them all: one value
    per field name (the mock shares them across methods, as an integration does), every contract named."""
    args: list[str] = ["--target-url", url]
    env: dict[str, str] = {}
    fields: dict[str, str] = {}
    for contract in contracts:
        one_args, one_env = target_args(url, server.credentials_of(contract), contract)
        env.update(one_env)
        for flag, value in zip(one_args, one_args[1:], strict=False):
            if flag == "--field":
                fields.setdefault(value.split("=", 1)[0], value)
            elif flag == "--contract":
                args += [flag, value]
    for value in fields.values():
        args += ["--field", value]
    return args, env


def reference_profile(contract: Contract, timeout: float) -> dict[str, object]:
    """The profile the catalogue runs with: the mock's code table (S7) and a p95 objective of 0.4 x timeout (S5)."""
    table = {str(code): text for code, text in reference_code_table(contract).items()}
    return {"code_table": table, "p95_ms": 400 * timeout}


def run_variant(contract: Contract, kind: str, name: str, timeout: float, fault_delay: float) -> Outcome:
    variant = (FAULTS if kind == "fault" else DIALECTS)[name]
    strict = kind == "fault" and not any(r.startswith("M") for r in variant.rules)
    extra = ["--strict"] if strict else []
    if name == "replay-rejects":
        extra += ["--uuid-replay", "reject"]
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="kyren-mutation-") as tmp,
        MockServer(
            contract,
            fault=name if kind == "fault" else None,
            dialect=name if kind == "dialect" else None,
            fault_delay=fault_delay,
        ) as server,
    ):
        args, env = target_args(server.url, server.credentials, contract)
        report = Path(tmp) / "report.html"
        profile = Path(tmp) / "profile.json"
        profile.write_text(json.dumps(reference_profile(contract, timeout)))
        extra += ["--profile", str(profile)]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "kyren_conformance.cli",
                *args,
                "--contract",
                str(contract.path),
                "--timeout",
                str(timeout),
                "--report",
                str(report),
                *extra,
            ],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=timeout * 200 + 60,
        )
        results = json.loads((Path(tmp) / "results.json").read_text()) if (Path(tmp) / "results.json").exists() else {}
    failed = tuple(r["id"] for r in results.get("rules", []) if r["outcome"] in ("failed", "warned"))
    requests = results.get("identity", {}).get("requests", 0)
    return Outcome(kind, name, variant.rules, failed, proc.returncode, requests, time.monotonic() - started)


def flow_contracts(declaration: FlowDeclaration) -> list[Contract]:
    """The shipped contracts of a flow's methods: from contracts/, or from the first folder under it holding them
    all (contracts/seamless-wallet/contracts/). FlowError when no folder has every one."""
    root = data_dir("contracts")
    for folder in [root, *sorted(p / "contracts" for p in root.iterdir() if (p / "contracts").is_dir())]:
        paths = [folder / f"{method}.json" for method in declaration.methods]
        if all(path.is_file() for path in paths):
            return [load_contract(path) for path in paths]
    raise FlowError(f"flow {declaration.flow}: no shipped folder of contracts has all its methods")


def flow_plan(flows: Sequence[FlowDeclaration]) -> list[tuple[str, FlowDeclaration, str]]:
    """(kind, flow, variant): each flow fault on the first flow that judges every rule it must be caught by (the
    Transfer Wallet's direction first: its faults are named for it), each flow dialect on every flow."""
    flows = sorted(flows, key=lambda d: (d.direction != "operator-calls-kyren", d.flow))
    plan: list[tuple[str, FlowDeclaration, str]] = []
    for name in sorted(FLOW_FAULTS):
        rules = set(FLOW_FAULTS[name].rules)
        flow = next((d for d in flows if rules <= set(d.clauses)), None)
        if flow is not None:
            plan.append(("fault", flow, name))
    plan += [("dialect", d, name) for name in sorted(FLOW_DIALECTS) for d in flows]
    return plan


def run_flow_variant(declaration: FlowDeclaration, kind: str, name: str, timeout: float) -> Outcome:
    """The CLI with --flows against a mock serving the flow's methods with the flow's fault or dialect."""
    variant = (FLOW_FAULTS if kind == "fault" else FLOW_DIALECTS)[name]
    contracts = flow_contracts(declaration)
    started = time.monotonic()
    fault, dialect = (name, None) if kind == "fault" else (None, name)
    with (
        tempfile.TemporaryDirectory(prefix="kyren-mutation-") as tmp,
        MockServer(contracts, flows=[declaration], fault=fault, dialect=dialect) as server,
    ):
        args, env = suite_target_args(server.url, server, contracts)
        report = Path(tmp) / "report.html"
        command = [sys.executable, "-m", "kyren_conformance.cli", *args, "--flows", "--timeout", str(timeout)]
        proc = subprocess.run(
            [*command, "--report", str(report)],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=timeout * 200 + 60,
        )
        results = json.loads((Path(tmp) / "results.json").read_text()) if (Path(tmp) / "results.json").exists() else {}
    flows = [f for f in results.get("flows", []) if f["flow"] == declaration.flow]
    failed = tuple(r["id"] for f in flows for r in f["rules"] if r["outcome"] in ("failed", "warned"))
    requests = results.get("identity", {}).get("requests", 0)
    label = f"{declaration.flow}/{name}"
    seconds = time.monotonic() - started
    return Outcome(kind, label, variant.rules, failed, proc.returncode, requests, seconds, declaration.flow)


def _table(outcomes: list[Outcome]) -> str:
    rows = [("kind", "name", "expected", "rules failed", "result", "requests", "seconds")]
    for o in outcomes:
        rows.append(
            (
                o.kind,
                o.name,
                ",".join(o.expected) or "-",
                ",".join(o.failed) or "-",
                o.verdict,
                str(o.requests),
                f"{o.seconds:.2f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)


def run_mutation(argv: list[str]) -> int:
    parser = UsageParser(
        prog="kyren-conformance mutation",
        allow_abbrev=False,
        description="Run the suite against every fault mode and dialect of the mock.",
    )
    parser.add_argument("--contract", default=str(default_contract_path()), metavar="FILE")
    parser.add_argument("--timeout", type=float, default=1.0, help="the suite's deadline (default 1 s)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="variants run at once")
    parser.add_argument("--only", action="append", metavar="NAME", help="only these faults or dialects")
    ns = parser.parse_args(argv)
    if not 0 < ns.timeout <= MAX_TIMEOUT:  # NaN too: every run would be a usage error, every fault "SURVIVED"
        parser.error(f"--timeout {ns.timeout:g}: expected a positive number of seconds, at most {MAX_TIMEOUT:g}")
    if ns.jobs < 1:
        parser.error(f"--jobs {ns.jobs}: expected at least 1")
    try:
        flows = flow_plan([load_flow(path) for path in shipped_flow_paths()])
    except FlowError as exc:
        print(f"kyren-conformance mutation: {exc}", file=sys.stderr)
        return 4
    plan = [("fault", n) for n in sorted(FAULTS)] + [("dialect", n) for n in sorted(DIALECTS)]
    names = [n for _, n in plan] + [f"{d.flow}/{n}" for _, d, n in flows]
    unknown = sorted(set(ns.only or ()) - set(names))
    if unknown:  # a typo must not measure nothing and report success
        parser.error(f"--only {unknown[0]!r}: no such fault or dialect; expected one of: {', '.join(names)}")
    try:
        contract = load_contract(ns.contract)
    except ContractError as exc:
        print(f"kyren-conformance mutation: {exc}", file=sys.stderr)
        return 4
    if ns.only:
        plan = [(k, n) for k, n in plan if n in ns.only]
        flows = [(k, d, n) for k, d, n in flows if f"{d.flow}/{n}" in ns.only]
    started = time.monotonic()
    with ThreadPoolExecutor(ns.jobs) as pool:
        runs = [pool.submit(run_variant, contract, k, n, ns.timeout, ns.timeout * 2) for k, n in plan]
        runs += [pool.submit(run_flow_variant, d, k, n, ns.timeout) for k, d, n in flows]
        outcomes = [run.result() for run in runs]
    print(_table(outcomes))
    methods = [o for o in outcomes if o.flow is None]
    faults = [o for o in methods if o.kind == "fault"]
    dialects = [o for o in methods if o.kind == "dialect"]
    print(
        f"\nfaults killed by their expected rule: {sum(o.ok for o in faults)}/{len(faults)}; "
        f"dialects passed: {sum(o.ok for o in dialects)}/{len(dialects)}; "
        f"{time.monotonic() - started:.1f} s"
    )
    flow_faults = [o for o in outcomes if o.flow is not None and o.kind == "fault"]
    flow_dialects = [o for o in outcomes if o.flow is not None and o.kind == "dialect"]
    if flow_faults or flow_dialects:
        print(
            f"money-flow faults killed by their expected rule: {sum(o.ok for o in flow_faults)}/{len(flow_faults)}; "
            f"money-flow dialects passed: {sum(o.ok for o in flow_dialects)}/{len(flow_dialects)}"
        )
    return 0 if all(o.ok for o in outcomes) else 1
