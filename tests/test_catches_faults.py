"""The suite's power, measured on the mock's catalogue: every fault caught by its rule, every dialect passed.

Each case runs the real CLI in a subprocess against a real loopback server, as a user would.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kyren_conformance.contract import Contract, load_contract
from kyren_conformance.mock import DIALECTS, FAULTS, MockServer
from kyren_conformance.mutation import reference_profile
from kyren_conformance.resources import data_dir
from support import CliRun, run_cli, target_args

TIMEOUT = 1.0  # the suite's deadline in these runs; timing faults wait twice as long
FAULT_DELAY = 2.0


def _run_against(
    contract: Contract,
    tmp_path: Path,
    *,
    fault: str | None = None,
    dialect: str | None = None,
    extra: tuple[str, ...] = (),
) -> CliRun:
    profile = tmp_path / "profile.json"  # the mock's code table (S7) and a p95 objective under the timeout (S5)
    profile.write_text(json.dumps(reference_profile(contract, TIMEOUT)))
    with MockServer(contract, fault=fault, dialect=dialect, fault_delay=FAULT_DELAY) as server:
        args, env = target_args(server.url, server.credentials, contract)
        return run_cli([*args, "--timeout", str(TIMEOUT), "--profile", str(profile), *extra], tmp_path, env=env)


def test_reference_mock_is_conformant(contract: Contract, tmp_path: Path) -> None:
    result = _run_against(contract, tmp_path)
    assert result.code == 0, result.output[-3000:]
    assert set(result.outcomes().values()) == {"passed"}
    assert "CONFORMANT: 0 MUST failures, 0 SHOULD warnings" in result.output.splitlines()[-1]
    # every exchange is kept as evidence, one JSON line each, not only those behind a finding
    lines = (result.report_dir / "exchanges.jsonl").read_text().splitlines()
    assert len(lines) == result.results["identity"]["requests"] > 50


def test_the_method_url_itself_works_as_the_target_url(contract: Contract, tmp_path: Path) -> None:
    with MockServer(contract) as server:
        args, env = target_args(server.url + contract.http_path, server.credentials, contract)
        result = run_cli(args, tmp_path, env=env)
    assert result.code == 0, result.output[-3000:]
    assert result.results["findings"] == []


def test_without_a_code_table_S7_is_not_applicable_and_says_why(contract: Contract, tmp_path: Path) -> None:
    # The shipped contract carries the Error Code page's table: run a copy of it without one.
    raw = json.loads(contract.path.read_text())
    assert raw.pop("codes", None) is not None
    (tmp_path / "contracts").mkdir()
    shutil.copytree(data_dir("schemas"), tmp_path / "schemas")
    (tmp_path / "contracts" / contract.path.name).write_text(json.dumps(raw))
    bare = load_contract(tmp_path / "contracts" / contract.path.name)
    assert bare.codes is None
    with MockServer(bare) as server:
        args, env = target_args(server.url, server.credentials, bare)
        result = run_cli([*args, "-v"], tmp_path, env=env)
    assert result.code == 0 and result.outcomes()["S7"] == "not applicable"
    assert "S7 not applicable: no code table declared in the target profile" in result.output


def test_with_the_contracts_code_table_and_no_profile_the_mock_passes_S7_and_S9(
    contract: Contract, tmp_path: Path
) -> None:
    assert contract.codes is not None  # the Error Code page's table, read by derive
    with MockServer(contract) as server:
        args, env = target_args(server.url, server.credentials, contract)
        result = run_cli([*args, "-v"], tmp_path, env=env)
    assert result.code == 0, result.output[-3000:]
    assert result.outcomes()["S7"] == "passed" and result.outcomes()["S9"] == "passed"
    assert result.results["findings"] == []


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_is_caught_by_its_rule(contract: Contract, tmp_path: Path, name: str) -> None:
    fault = FAULTS[name]
    must = any(r.startswith("M") for r in fault.rules)
    result = _run_against(contract, tmp_path, fault=name, extra=() if must else ("--strict",))
    outcomes = result.outcomes()
    assert result.code == 1, f"{name} survived:\n{result.output[-3000:]}"
    missed = [r for r in fault.rules if outcomes[r] != "failed"]
    assert not missed, f"{name}: expected {fault.rules} to fail, got {outcomes}"


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_dialect_is_conformant(contract: Contract, tmp_path: Path, name: str) -> None:
    extra = ("--uuid-replay", "reject") if name == "replay-rejects" else ()
    result = _run_against(contract, tmp_path, dialect=name, extra=extra)
    assert result.code == 0, f"{name} wrongly failed:\n{result.output[-4000:]}"


def test_one_connection_at_a_time_is_resent_alone_and_its_first_tries_kept(contract: Contract, tmp_path: Path) -> None:
    # The timings show a target that serves one connection at a time: its timeouts are resent one at a
    # time (and pass), and the timed-out first tries stay in exchanges.jsonl as evidence.
    result = _run_against(contract, tmp_path, dialect="one-connection-at-a-time")
    assert result.code == 0, result.output[-3000:]
    resent = result.results["info"]["resent_one_at_a_time"]
    assert resent >= 1, "no case timed out under concurrency: the dialect did not show itself"
    lines = [json.loads(line) for line in (result.report_dir / "exchanges.jsonl").read_text().splitlines()]
    first_tries = [e for e in lines if e.get("superseded_by_resend")]
    # Every exchange of each resent case's first try is kept, the step that timed out among them (a replay may
    # have had its first step answered, or its second never sent once its first timed out).
    by_case: dict[str, list[dict]] = {}
    for e in first_tries:
        by_case.setdefault(e["case"], []).append(e)
    assert len(by_case) == resent
    assert all(any(e["response"] is None and not e["failure"].startswith("not sent") for e in tries)
               for tries in by_case.values())  # fmt: skip
    assert "serve one connection at a time" in result.output
