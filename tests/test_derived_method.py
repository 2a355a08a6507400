"""Methods the engine has never seen, from the provider's real pages alone: derive them, then run the suite.

Get Balance (tests/documents/kyren/Get-Balance.md, Transfer Wallet API, hosted by Kyren) runs against the
reference mock serving its derived contract (zero configuration), against the mock with a fault, and against
a Get Balance server written independently from the page and the Error Code page, conformant and with one
defect at a time. Bet (tests/documents/kyren/Bet.md) is a Seamless Wallet callback: Kyren sends it to the
operator, so the operator hosts it and the suite plays Kyren's side; the page names no credential field
("Requested "Bet" API URL will be notified individually, for security reasons"), and its typed fields
contradict its example. derive reads the Error Code page beside each page (Error-Code-1.md) into the
contract's code table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from independent_servers import DEFECTS, PARTNER, PATH, USER, GetBalanceServer
from kyren_conformance.cli import main
from kyren_conformance.contract import Contract, load_contract
from kyren_conformance.mock import MockServer
from support import CliRun, run_cli, target_args

PAGES = Path(__file__).parent / "documents/kyren"
GET_BALANCE, BET, ERROR_CODES = PAGES / "Get-Balance.md", PAGES / "Bet.md", PAGES / "Error-Code-1.md"
TOKEN = "gb-token-5c1e0a9d"


def _derive(page: Path, out: Path, name: str) -> Path:
    assert main(["derive", str(page), "--out", str(out), "--check"]) == 1  # nothing there yet
    assert main(["derive", str(page), "--out", str(out)]) == 0
    assert main(["derive", str(page), "--out", str(out), "--check"]) == 0  # what is there is what the page says
    return out / f"contracts/{name}.json"


@pytest.fixture(scope="module")
def contract_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _derive(GET_BALANCE, tmp_path_factory.mktemp("derived"), "get-balance")


@pytest.fixture(scope="module")
def bet_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _derive(BET, tmp_path_factory.mktemp("derived-bet"), "bet")


def _passed(method: str, test: str, output: str) -> bool:
    """`test_M1_valid_request[case]` PASSED in a run of `method`: its id is `test_M1_valid_request[method:case]`."""
    name, case = test.split("[", 1)
    return f"{name}[{method}:{case} PASSED" in output


def _cases(method: str, test: str, output: str) -> set[str]:
    """The cases of one test the run collected, with any outcome."""
    return set(re.findall(rf"{re.escape(test)}\[{re.escape(method)}:([\w+-]+)\]", output))


def _error_code_page_codes() -> dict[str, str]:
    """The code table, read here from the Error Code page's rows (`| 21 |string| Parameter(s) ... |`)."""
    rows = re.findall(r"^\|\s*(\d+)\s*\|[^|]*\|([^|]*)\|", ERROR_CODES.read_text(encoding="utf-8"), re.M)
    return {code: text.strip() for code, text in rows}


def test_get_balance_is_derived_from_the_real_page(contract_path: Path) -> None:
    contract = load_contract(contract_path)
    assert (contract.method, contract.http_method, contract.http_path) == ("GetBalance", "POST", PATH)
    assert [f.name for f in contract.fields] == ["secureLogin", "userId", "currency", "uuid", "token"]
    assert {f.name for f in contract.required_fields} == {"secureLogin", "userId", "currency", "uuid", "token"}
    assert [f.name for f in contract.credential_fields] == ["secureLogin", "token"]
    assert [f.name for f in contract.secret_fields] == ["token"]
    raw = json.loads(contract_path.read_text())
    assert raw["codes"]["source"].endswith("Error-Code-1.md")  # read from the page beside the document
    page = _error_code_page_codes()
    assert set(raw["codes"]["table"]) == set(page)
    assert raw["codes"]["table"]["21"] == page["21"] == "Parameter(s) is missing or incorrect"
    assert 21 in raw["codes"]["kinds"]["missing_field"] and 54 in raw["codes"]["kinds"]["bad_credentials"]
    # the table types error 'string', the example sends 0 (E1): the answer schema takes both forms
    response = json.loads((contract_path.parent.parent / "schemas/get-balance.response.schema.json").read_text())
    for body, valid in [({"error": 0, "balance": "1000"}, True), ({"error": "0", "balance": "1000"}, True),
                        ({"error": "zero", "balance": "1000"}, False)]:  # fmt: skip
        assert jsonschema.Draft202012Validator(response).is_valid(body) is valid, body


def test_zero_configuration_run_of_a_derived_method(contract_path: Path, tmp_path: Path) -> None:
    run = run_cli(["--contract", str(contract_path), "-v"], tmp_path)
    assert run.code == 0, run.output[-3000:]
    assert "CONFORMANT: 0 MUST failures" in run.output
    assert run.results["identity"]["method"] == "GetBalance"
    outcomes = run.outcomes()
    assert all(outcomes[f"M{n}"] == "passed" for n in range(1, 10)), outcomes
    assert outcomes["S7"] == outcomes["S9"] == "passed", outcomes  # the Error Code page's codes, no profile
    for test in ("test_M1_valid_request[required_fields_only]", "test_M4_wrong_type[currency-number]",
                 "test_M3_missing_field[currency]", "test_M3_missing_field[userId]",
                 "test_M5_wrong_credential[token-random]", "test_M5_wrong_credential[secureLogin-random]",
                 "test_M7_uuid_replay[valid]"):  # fmt: skip
        assert _passed("get-balance", test, run.output), test


@pytest.mark.parametrize(("fault", "rule"), [("types-coerced", "M4"), ("token-not-checked", "M5")])
def test_the_reference_mock_with_a_fault_fails(contract_path: Path, fault: str, rule: str, tmp_path: Path) -> None:
    contract = load_contract(contract_path)
    with MockServer(contract, fault=fault) as server:
        args, env = target_args(server.url, server.credentials, contract)
        run = run_cli(["--contract", str(contract_path), "--timeout", "2", *args], tmp_path, env=env)
    assert run.code == 1, run.output[-3000:]
    assert run.outcomes()[rule] == "failed"


def _against_independent_server(
    contract_path: Path, tmp_path: Path, defect: str | None, *extra: str
) -> tuple[CliRun, int]:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    with GetBalanceServer(TOKEN, defect) as server:
        args = ["--contract", str(contract_path), "--target-url", server.url, "--secure-login", PARTNER]
        args += ["--user-id", USER, "--token-file", str(token_file), "--timeout", "2", *extra]
        return run_cli(args, tmp_path), server.requests


def test_an_independently_written_conformant_server_passes(contract_path: Path, tmp_path: Path) -> None:
    run, requests = _against_independent_server(contract_path, tmp_path, None, "--game-id", "6_speed_baccarat1", "-v")
    assert run.code == 0, run.output[-3000:]
    assert "CONFORMANT: 0 MUST failures, 0 SHOULD warnings" in run.output
    assert requests == run.results["identity"]["requests"] > 0, (requests, run.results["identity"])
    assert "note: --game-id is ignored" in run.output  # Get Balance has no gameId
    assert "digit string" in run.output  # the server sends "0", as the table types it; the mock sends 0
    assert run.outcomes()["S7"] == run.outcomes()["S9"] == "passed"  # 21 and 54, as the Error Code page names them
    assert _passed("get-balance", "test_M5_wrong_credential[token-random]", run.output)
    for name, text in run.artefacts().items():
        assert TOKEN not in text, name


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_an_independently_written_server_with_one_defect_fails(
    contract_path: Path, tmp_path: Path, defect: str
) -> None:
    run, requests = _against_independent_server(contract_path, tmp_path, defect)
    assert run.code == 1, run.output[-3000:]
    assert "NOT CONFORMANT" in run.output and requests > 0
    assert run.outcomes()[DEFECTS[defect]] == "failed", run.outcomes()


def _bet(bet_path: Path) -> Contract:
    return load_contract(bet_path)


def test_bet_is_derived_from_the_real_page_with_its_contradictions(bet_path: Path) -> None:
    """The real Bet: string and decimal fields, no credential, and a table that contradicts its example."""
    contract = _bet(bet_path)
    assert (contract.method, contract.http_path) == ("Bet", "/v1/Bet")
    types = {f.name: set(f.types) for f in contract.fields}
    assert types["amount"] == {"number", "string"}  # E2-style: typed decimal, the example sends "13"
    assert types["roundDetails"] == {"string", "object"}  # typed string, the example sends an object
    assert types["roundId"] == types["reference"] == {"string"}  # typed string, a string example
    assert not contract.credential_fields and not contract.secret_fields
    assert not {"secureLogin", "token"} & set(types)
    errata = {e["key"]: e for e in json.loads(bet_path.read_text())["errata"]}
    assert {"request.amount.type", "request.roundDetails.type", "request.timeStamp.spelling",
            "response.cash.type", "response.error.type"} <= set(errata)  # fmt: skip
    # E1-style, on the answer: error typed 'string', the example sends the number 0
    assert "example sends the number 0" in errata["response.error.type"]["document"]
    assert all(e["review"] for e in errata.values())


def test_a_callback_with_typed_fields_and_no_credential_runs_from_its_page(bet_path: Path, tmp_path: Path) -> None:
    run = run_cli(["--contract", str(bet_path), "-v"], tmp_path)
    assert run.code == 0, run.output[-3000:]
    assert "CONFORMANT: 0 MUST failures" in run.output and "Traceback" not in run.output
    outcomes = run.outcomes()
    assert all(outcomes[f"M{n}"] == "passed" for n in (1, 2, 3, 4, 6, 7, 8, 9)), outcomes
    assert outcomes["M5"] == "not applicable", outcomes
    rule = next(r for r in run.results["rules"] if r["id"] == "M5")
    assert "no credential field" in json.dumps(rule), rule
    assert "M5 not applicable: the document names no credential field" in run.output
    assert _cases("bet", "test_M5_wrong_credential", run.output) == {"not-applicable"}
    for test in ("test_M4_wrong_type[amount-boolean]", "test_M4_wrong_type[amount-object]",
                 "test_M4_wrong_type[roundId-as_number]", "test_M4_wrong_type[roundDetails-number]",
                 "test_M3_missing_field[amount]", "test_M3_missing_field[roundDetails]",
                 "test_M1_valid_request[with_bonusCode]", "test_M7_uuid_replay[valid]"):  # fmt: skip
        assert _passed("bet", test, run.output), test
    amount = _cases("bet", "test_M4_wrong_type", run.output)
    # both readings of amount (a number, a string of one) are valid; both of roundDetails (a string, an object)
    assert {"amount-boolean", "roundDetails-number"} <= amount
    assert not {"amount-number", "amount-as_string", "amount-string", "roundDetails-object"} & amount


def test_a_callback_that_coerces_types_fails(bet_path: Path, tmp_path: Path) -> None:
    contract = _bet(bet_path)
    with MockServer(contract, fault="types-coerced") as server:
        args, env = target_args(server.url, server.credentials, contract)
        run = run_cli(["--contract", str(bet_path), "--timeout", "2", *args], tmp_path, env=env)
    assert run.code == 1, run.output[-3000:]
    assert run.outcomes()["M4"] == "failed"
