"""Fields of other JSON types than string run end to end: cases, settings, the mock, the CLI and the report.

PlaceBet is made up for these tests; no name of it is known to the engine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from kyren_conformance.cases import build_cases
from kyren_conformance.conformance_run import mock_credentials
from kyren_conformance.contract import Contract, ContractError, Field, load_contract
from kyren_conformance.mock import MockServer
from kyren_conformance.mock.behaviour import EMPTY, MISSING, WRONG_TYPE, Reference
from kyren_conformance.resources import default_contract_path
from kyren_conformance.settings import ConfigError, resolve
from support import run_cli, target_args


def _field(name: str, kind: Any, required: bool, role: str = "value", **extra: Any) -> dict[str, Any]:
    secret = extra.pop("secret", False)
    fixed = {"name": name, "type": kind, "required": required, "secret": secret, "role": role, "source": "made up"}
    return fixed | extra


PLACE_BET: dict[str, Any] = {
    "contract_version": 1,
    "method": "PlaceBet",
    "title": "Place Bet (made up for this test)",
    "source": {"document": "nowhere"},
    "http": {"method": "POST", "path": "/v2/PlaceBet", "content_type": "application/json"},
    "schemas": {"request": "place-bet.request.schema.json", "response": "place-bet.response.schema.json"},
    "result": {"code_field": "error", "success_code": 0, "description_field": "description"},
    "fields": [
        _field("secureLogin", "string", True, "credential", option="secure_login", env="KYREN_SECURE_LOGIN"),
        _field("token", "string", True, "credential", secret=True, option="token_file", env="KYREN_TOKEN"),
        _field("userId", "string", True, option="user_id", env="KYREN_USER_ID", mock_value="tester"),
        _field("amount", "number", True, example=10.5),
        _field("rounds", "integer", False, example=3),
        _field("bonus", ["string", "integer"], False, example=5, judge_type=True),
        _field("channel", "string", True, judge_missing=False, example="web"),
        _field("tags", "array", False, judge_type=False, example=["a"]),
        _field("uuid", "string", True, "request_id"),
    ],
    "rules": json.loads(default_contract_path().read_text())["rules"],
    "errata": [
        {
            "id": "E1",
            "document": "amount is typed 'decimal'",
            "decision": "a JSON number",
            "key": "request.amount.type",
            "line": 12,
            "clause": "amount | decimal | Required",
            "review": True,
        },
        {"id": "E2", "document": "channel is 'Required?'", "decision": "sent, its absence not judged"},
    ],
    "response_example": {"error": 0, "description": "Success", "balance": 99.5},
}
REQUEST_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["secureLogin", "token", "userId", "amount", "channel", "uuid"],
    "properties": {
        **{name: {"type": "string", "minLength": 1} for name in ("secureLogin", "token", "userId", "channel", "uuid")},
        "amount": {"type": "number"},
        "rounds": {"type": "integer"},
        "bonus": {"type": ["string", "integer"]},
        "tags": {"type": "array"},
    },
}
RESPONSE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"oneOf": [{"type": "integer"}, {"type": "string", "pattern": "^-?[0-9]+$"}]},
        "description": {"type": "string"},
        "balance": {"type": "number"},
    },
    "if": {"properties": {"error": {"enum": [0, "0"]}}},
    "then": {"required": ["balance"]},  # a success carries the decimal balance
}


def _write(root: Path, contract: dict[str, Any]) -> Path:
    (root / "contracts").mkdir(exist_ok=True)
    (root / "schemas").mkdir(exist_ok=True)
    (root / "schemas" / "place-bet.request.schema.json").write_text(json.dumps(REQUEST_SCHEMA))
    (root / "schemas" / "place-bet.response.schema.json").write_text(json.dumps(RESPONSE_SCHEMA))
    path = root / "contracts" / "place-bet.json"
    path.write_text(json.dumps(contract))
    return path


@pytest.fixture
def place_bet_path(tmp_path: Path) -> Path:
    return _write(tmp_path, PLACE_BET)


@pytest.fixture
def place_bet(place_bet_path: Path) -> Contract:
    return load_contract(place_bet_path)


# --- the plan -----------------------------------------------------------------------------------


def test_cases_follow_the_fields_types(place_bet: Contract) -> None:
    cases = {c.id: c for c in build_cases(place_bet, mock_credentials(place_bet), 0)}
    prefix = "wrong_type[{}-"
    kinds = {
        name: {i.removeprefix(prefix.format(name)).rstrip("]") for i in cases if i.startswith(prefix.format(name))}
        for name in ("amount", "rounds", "bonus", "channel", "tags")
    }
    assert kinds["amount"] == {"string", "boolean", "null", "array", "object", "as_array", "as_string"}
    assert kinds["rounds"] == {"string", "boolean", "null", "array", "object", "fraction", "as_array", "as_string"}
    # a string or an integer: no string, no number kind; "5" is valid, so 5 has no as_string either
    assert kinds["bonus"] == {"boolean", "null", "array", "object", "fraction", "as_array"}
    assert kinds["channel"] == {"number", "boolean", "null", "array", "object", "as_array"}
    assert kinds["tags"] == set()  # judge_type false
    step = cases["wrong_type[amount-as_string]"].steps[0]
    assert json.loads(step.body)["amount"] == "10.5"
    fraction = json.loads(cases["wrong_type[rounds-fraction]"].steps[0].body)["rounds"]
    assert isinstance(fraction, float) and not fraction.is_integer()
    assert isinstance(json.loads(cases["wrong_type[amount-string]"].steps[0].body)["amount"], str)

    assert "missing_field[channel]" not in cases and "missing_field[amount]" in cases  # judge_missing false
    assert cases["empty_string[amount]"].rules == ("M6", "M4") and cases["empty_string[amount]"].defect == "type:amount"
    assert cases["empty_string[channel]"].rules == ("M6",)  # unsure whether required: S1 does not judge it
    assert cases["empty_string[userId]"].rules == ("M6", "S1")
    assert cases["empty_string[bonus]"].rules == ("M6",) and cases["empty_string[bonus]"].defect == "empty:bonus"
    assert cases["empty_string[tags]"].rules == ("M6",) and cases["empty_string[tags]"].defect == ""
    assert "malformed_input[amount-long]" in cases  # the odd-text cases stay for every field

    valid = json.loads(cases["valid_request[required_fields_only]"].steps[0].body)
    assert (valid["amount"], valid["channel"]) == (10.5, "web") and "rounds" not in valid
    assert json.loads(cases["valid_request[with_rounds+bonus+tags]"].steps[0].body)["rounds"] == 3


def test_reference_values_fall_back_to_the_example_then_to_one_of_the_first_type(tmp_path: Path) -> None:
    fields = [dict(f) for f in PLACE_BET["fields"]]
    for f in fields:
        if f["name"] in ("amount", "rounds"):
            f.pop("example")
    contract = load_contract(_write(tmp_path, {**PLACE_BET, "fields": fields}))
    values = mock_credentials(contract)
    assert (values["amount"], values["rounds"], values["bonus"]) == (1.5, 1, 5)
    ids = {c.id for c in build_cases(contract, {k: v for k, v in values.items() if k != "rounds"}, 0)}
    assert "wrong_type[rounds-as_string]" in ids  # reference 1 (generated), sent as "1"


def test_close_session_cases_keep_todays_kinds() -> None:
    contract = load_contract(default_contract_path())
    values = {"secureLogin": "partner-1", "userId": "12345", "gameId": "g1", "token": "Secret-Token"}
    ids = {c.id for c in build_cases(contract, values, 0)}
    kinds = {i.split("-", 1)[1].rstrip("]") for i in ids if i.startswith("wrong_type[")}
    assert kinds == {"number", "boolean", "null", "array", "object", "as_array", "as_number"}


# --- settings -----------------------------------------------------------------------------------


def _options(contract: Path, **given: Any) -> Any:
    base = {"kyren_contract": str(contract), "target_url": "http://127.0.0.1:9"}
    return {**base, **given}.get


ENV = {"KYREN_SECURE_LOGIN": "p", "KYREN_TOKEN": "t", "KYREN_USER_ID": "u"}


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([], {"amount": 10.5, "channel": "web", "rounds": 3, "bonus": 5, "tags": ["a"]}),  # the examples
        (["amount=7", "rounds=4", "bonus=9", "channel=a"], {"amount": 7, "rounds": 4, "bonus": "9", "channel": "a"}),
        (["amount=0.25", "tags=[1, 2]"], {"amount": 0.25, "tags": [1, 2]}),
    ],
)
def test_field_values_are_coerced_to_the_fields_type(place_bet_path: Path, tmp_path: Path, items, expected) -> None:
    settings = resolve(_options(place_bet_path, kyren_field=items), ENV)
    assert {k: settings.values[k] for k in expected} == expected
    assert settings.values["userId"] == "u" and settings.notes == ()


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("amount=abc", "--field amount 'abc': expected a number"),
        ("amount=true", "--field amount 'true': expected a number"),
        ("amount=NaN", "--field amount 'NaN': expected a number"),
        ("rounds=1.5", "--field rounds '1.5': expected an integer"),
        ("tags=a", "--field tags 'a': expected an array"),
    ],
)
def test_a_value_of_the_wrong_type_is_one_line(place_bet_path: Path, tmp_path: Path, item: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(_options(place_bet_path, kyren_field=[item]), ENV)
    assert str(info.value) == message
    with pytest.raises(ConfigError, match="expected"):  # against the embedded mock too
        resolve(_options(place_bet_path, kyren_field=[item], target_url=None), {})


def test_a_required_field_with_no_example_needs_a_field_option(tmp_path: Path) -> None:
    fields = [{k: v for k, v in f.items() if k != "example"} for f in PLACE_BET["fields"]]
    path = _write(tmp_path, {**PLACE_BET, "fields": fields})
    with pytest.raises(ConfigError, match=r"^no value for amount of PlaceBet: set --field amount=VALUE$"):
        resolve(_options(path), ENV)
    assert resolve(_options(path, kyren_field=["amount=1", "channel=web"]), ENV).values["amount"] == 1


def test_an_option_the_method_has_no_field_for_is_ignored_with_a_note(place_bet_path: Path, tmp_path: Path) -> None:
    env = {**ENV, "KYREN_GAME_ID": "from-env"}
    settings = resolve(_options(place_bet_path, game_id="g-7"), env)
    assert settings.notes == (
        "--game-id is ignored: PlaceBet has no field for it",
        "KYREN_GAME_ID is ignored: PlaceBet has no field for it",
    )
    assert "g-7" not in settings.values.values()
    close_session = resolve(_options(default_contract_path(), game_id="g-7", target_url=None), env)
    assert close_session.notes == ()


# --- the mock -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("amount", 10, None),
        ("amount", 10.5, None),
        ("amount", True, WRONG_TYPE),  # a boolean is no number
        ("amount", "10.5", WRONG_TYPE),
        ("amount", "", WRONG_TYPE),  # empty only where a string is valid
        ("rounds", 3.0, None),  # an integral float is an integer, as in JSON Schema
        ("rounds", 3.5, WRONG_TYPE),
        ("bonus", "x", None),
        ("bonus", 2, None),
        ("bonus", "", EMPTY),
        ("bonus", None, WRONG_TYPE),
        ("tags", {}, WRONG_TYPE),
        ("amount", MISSING, "missing"),
        ("rounds", MISSING, None),
    ],
)
def test_the_reference_checks_each_type(place_bet: Contract, name: str, value: Any, problem: str | None) -> None:
    reference = Reference(place_bet, mock_credentials(place_bet))
    assert reference.check_field(place_bet.field(name), value) == problem


def test_the_mock_answers_the_documented_success_body_and_names_the_type(place_bet: Contract) -> None:
    with MockServer(place_bet) as server, requests.Session() as session:
        body = {**server.credentials, "uuid": "u-1"}
        assert server.credentials["amount"] == 10.5 and server.credentials["rounds"] == 3
        url = server.url + place_bet.http_path
        assert session.post(url, json=body, timeout=5).json() == {"error": 0, "description": "Success", "balance": 99.5}
        refused = session.post(url, json={**body, "uuid": "u-2", "amount": "10.5"}, timeout=5).json()
        assert refused["description"] == "field amount must be a number" and refused["error"] != 0
        refused = session.post(url, json={**body, "uuid": "u-3", "bonus": 1.5}, timeout=5).json()
        assert refused["description"] == "field bonus must be a string or an integer"
        assert "balance" not in refused


def test_a_dialect_without_a_success_description_drops_the_documented_one(place_bet: Contract) -> None:
    with MockServer(place_bet, dialect="no-description-on-success") as server, requests.Session() as session:
        body = {**server.credentials, "uuid": "u-1"}
        assert session.post(server.url + place_bet.http_path, json=body, timeout=5).json() == {
            "error": 0,
            "balance": 99.5,
        }


def test_mock_credentials_of_the_wrong_type_are_refused(place_bet: Contract) -> None:
    with pytest.raises(ValueError, match=r"credentials: amount must be a number \(not empty\), got '1'"):
        MockServer(place_bet, credentials={"amount": "1"})


def test_a_response_example_must_match_the_response_schema(tmp_path: Path) -> None:
    path = _write(tmp_path, {**PLACE_BET, "response_example": {"error": 0, "description": "Success"}})
    with pytest.raises(ContractError, match=r"response_example: does not match the response schema.*'balance'"):
        load_contract(path)


# --- end to end, through the CLI ------------------------------------------------------------------


class _AmountAsText(Reference):
    """A target that takes a decimal amount as text as well (a lenient number parser)."""

    def check_field(self, field: Field, value: Any) -> str | None:
        if field.name == "amount" and isinstance(value, str):
            return None
        return super().check_field(field, value)


def _cli(path: Path, tmp_path: Path, *extra: str, behaviour: type[Reference] | None = None):
    contract = load_contract(path)
    with MockServer(contract, behaviour=behaviour) as server:
        args, env = target_args(server.url, server.credentials, contract)
        result = run_cli(["--contract", str(path), "--timeout", "2", "-v", *args, *extra], tmp_path, env=env)
        return result, server.credentials


def test_a_typed_contract_runs_conformant_end_to_end(place_bet_path: Path, tmp_path: Path) -> None:
    result, credentials = _cli(place_bet_path, tmp_path)
    assert result.code == 0, result.output[-3000:]
    assert "test_M4_wrong_type[place-bet:amount-as_string] PASSED" in result.output
    assert "test_M4_wrong_type[place-bet:rounds-fraction] PASSED" in result.output
    assert "test_M4_wrong_type[place-bet:empty_string-amount] PASSED" in result.output
    assert "note:" not in result.output
    identity = result.results["identity"]
    assert identity["fields"]["amount"] == 10.5 and identity["notes"] == []
    page = (result.report_dir / "report.html").read_text()
    assert "⚠ needs review</strong> a JSON number" in page
    assert "amount | decimal | Required" in page and "line 12" in page
    assert page.count("needs review</strong>") == 1
    for name, text in result.artefacts().items():
        assert credentials["token"] not in text, name


def test_a_target_taking_a_number_as_text_is_not_conformant(place_bet_path: Path, tmp_path: Path) -> None:
    result, _ = _cli(place_bet_path, tmp_path, behaviour=_AmountAsText)
    assert result.code == 1, result.output[-3000:]
    assert result.outcomes()["M4"] == "failed"
    assert "test_M4_wrong_type[place-bet:amount-as_string] FAILED" in result.output
    assert "test_M4_wrong_type[place-bet:rounds-as_string] PASSED" in result.output


def test_a_field_value_of_the_wrong_type_is_exit_4_in_one_line(place_bet_path: Path, tmp_path: Path) -> None:
    result, _ = _cli(place_bet_path, tmp_path, "--field", "amount=abc")
    assert result.code == 4
    assert result.output == "kyren-conformance: --field amount 'abc': expected a number\n"


def test_a_generic_option_of_another_method_is_a_note_and_the_run_goes_on(place_bet_path: Path, tmp_path: Path) -> None:
    result, _ = _cli(place_bet_path, tmp_path, "--game-id", "X")
    assert result.code == 0, result.output[-3000:]
    note = "kyren-conformance: note: --game-id is ignored: PlaceBet has no field for it\n"
    assert result.output.count(note) == 1
    assert result.results["identity"]["notes"] == ["--game-id is ignored: PlaceBet has no field for it"]
    assert "--game-id is ignored" in (result.report_dir / "report.html").read_text()
