"""A method the engine has never seen, from its document alone: derive Get Balance, then run the suite on it.

Against the reference mock serving the derived contract (zero configuration), against the mock with a
fault, and against a Get Balance server written independently from the document, conformant and
with one defect at a time.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from independent_get_balance import DEFECTS, PARTNER, USER, GetBalanceServer
from kyren_conformance.cli import main
from kyren_conformance.contract import load_contract
from kyren_conformance.mock import MockServer
from support import CliRun, run_cli, target_args

GET_BALANCE = Path(__file__).parent / "documents/get-balance.md"
TOKEN = "gb-token-5c1e0a9d"


@pytest.fixture(scope="module")
def contract_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("derived")
    assert main(["derive", str(GET_BALANCE), "--out", str(out), "--check"]) == 1  # nothing there yet
    assert main(["derive", str(GET_BALANCE), "--out", str(out)]) == 0
    return out / "contracts/get-balance.json"


def _passed(test: str, output: str) -> bool:
    """`test_M1[case] PASSED`, its id prefixed with the contract's name (`[get-balance:case]`) or not."""
    name, case = test.split("[", 1)
    return re.search(rf"{re.escape(name)}\[([\w-]+:)?{re.escape(case)} PASSED", output) is not None


def test_zero_configuration_run_of_a_derived_method(contract_path: Path, tmp_path: Path) -> None:
    run = run_cli(["--contract", str(contract_path), "-v"], tmp_path)
    assert run.code == 0, run.output[-3000:]
    assert run.results["identity"]["method"] == "GetBalance"
    outcomes = run.outcomes()
    assert all(outcomes[f"M{n}"] == "passed" for n in range(1, 10)), outcomes
    for test in ("test_M1_valid_request[with_currency]", "test_M4_wrong_type[currency-number]",
                 "test_M3_missing_field[userId]", "test_M5_wrong_credential[token-random]",
                 "test_M7_uuid_replay[valid]"):  # fmt: skip
        assert _passed(test, run.output), test


@pytest.mark.parametrize(("fault", "rule"), [("types-coerced", "M4"), ("token-not-checked", "M5")])
def test_the_reference_mock_with_a_fault_fails(contract_path: Path, fault: str, rule: str, tmp_path: Path) -> None:
    contract = load_contract(contract_path)
    with MockServer(contract, fault=fault) as server:
        args, env = target_args(server.url, server.credentials, contract)
        run = run_cli(["--contract", str(contract_path), "--timeout", "2", *args], tmp_path, env=env)
    assert run.code == 1, run.output[-3000:]
    assert run.outcomes()[rule] == "failed"


def _against_independent_server(contract_path: Path, tmp_path: Path, defect: str | None, *extra: str) -> CliRun:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    with GetBalanceServer(TOKEN, defect) as server:
        args = ["--contract", str(contract_path), "--target-url", server.url, "--secure-login", PARTNER]
        args += ["--user-id", USER, "--token-file", str(token_file), "--timeout", "2", *extra]
        return run_cli(args, tmp_path)


def test_an_independently_written_conformant_server_passes(contract_path: Path, tmp_path: Path) -> None:
    run = _against_independent_server(contract_path, tmp_path, None, "--game-id", "6_speed_baccarat1")
    assert run.code == 0, run.output[-3000:]
    assert "note: --game-id is ignored" in run.output  # Get Balance has no gameId
    for name, text in run.artefacts().items():
        assert TOKEN not in text, name


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_an_independently_written_server_with_one_defect_fails(
    contract_path: Path, tmp_path: Path, defect: str
) -> None:
    run = _against_independent_server(contract_path, tmp_path, defect)
    assert run.code == 1, run.output[-3000:]
    assert run.outcomes()[DEFECTS[defect]] == "failed", run.outcomes()


def test_a_method_with_typed_fields_runs_from_its_document(tmp_path: Path) -> None:
    """Bet: decimal, integer and boolean request fields, a required gameId, a string-typed id shown as a number."""
    out = tmp_path / "derived"
    assert main(["derive", str(Path(__file__).parent / "documents/bet.md"), "--out", str(out)]) == 0
    contract = load_contract(out / "contracts/bet.json")
    assert {f.name: f.types for f in contract.fields if f.name in ("amount", "betCount", "freeSpin", "roundId")} == {
        "roundId": ("integer", "string"),  # E1-style: typed string, the example sends 1234567
        "amount": ("number",),
        "betCount": ("integer",),
        "freeSpin": ("boolean",),
    }
    run = run_cli(["--contract", str(out / "contracts/bet.json"), "-v"], tmp_path)
    assert run.code == 0, run.output[-3000:]
    for test in ("test_M4_wrong_type[amount-as_string]", "test_M4_wrong_type[betCount-fraction]",
                 "test_M4_wrong_type[freeSpin-as_string]", "test_M4_wrong_type[roundId-fraction]",
                 "test_M3_missing_field[gameId]", "test_M1_valid_request[with_betCount+freeSpin]"):  # fmt: skip
        assert _passed(test, run.output), test
    assert not re.search(r"test_M4_wrong_type\[([\w-]+:)?roundId-number\]", run.output)  # a number: one reading
