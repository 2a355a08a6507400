"""Contracts load, agree with their schemas, and a broken one gets an error naming the file and key."""

import json
from pathlib import Path

import pytest

from kyren_conformance.contract import ContractError, load_contract
from kyren_conformance.judgements import REGISTRY
from kyren_conformance.resources import default_contract_path

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def raw() -> dict:
    return json.loads(default_contract_path().read_text())


def _write(tmp_path: Path, raw: dict) -> Path:
    (tmp_path / "contracts").mkdir(exist_ok=True)
    path = tmp_path / "contracts" / "broken.json"
    path.write_text(json.dumps(raw))
    return path


def test_shipped_contract_loads_and_matches_its_request_schema() -> None:
    contract = load_contract(default_contract_path())
    schema = contract.request_schema
    assert {f.name for f in contract.fields} == set(schema["properties"])
    assert {f.name for f in contract.fields if f.required} == set(schema["required"])
    assert contract.http_path == "/v1/CloseSession"


def test_every_contract_rule_has_a_judgement_and_every_erratum_is_listed() -> None:
    contract = load_contract(default_contract_path())
    assert {r.id for r in contract.rules} == set(REGISTRY)
    # DESIGN.md's E1–E9, and E10: the document's damaged encoding, which derive found and review kept
    assert [e.id for e in contract.errata] == [f"E{i}" for i in range(1, 11)]
    assert not any(e.review for e in contract.errata)
    assert {f"M{i}" for i in range(1, 10)} <= {r.id for r in contract.rules if r.level == "MUST"}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r["fields"][1].update(role="optional"), r"fields\[1\]\(gameId\)\.role: 'optional' is not one of"),
        (lambda r: r.update(colour="red"), r"unknown key.*colour"),
        (lambda r: r["http"].pop("path"), r"http: 'path' is a required property"),
        (lambda r: r["rules"].append(dict(r["rules"][0])), r"the id 'M1' appears more than once"),
        (lambda r: r["fields"].append(dict(r["fields"][0])), r"the name 'secureLogin' appears more than once"),
    ],
    ids=["bad-role", "unknown-key", "missing-path", "duplicate-rule", "duplicate-field"],
)
def test_invalid_contract_names_file_and_key(tmp_path: Path, raw: dict, mutate, expected: str) -> None:
    mutate(raw)
    path = _write(tmp_path, raw)
    with pytest.raises(ContractError, match=expected) as info:
        load_contract(path)
    assert str(path) in str(info.value)


def test_contract_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text("{ nope")
    with pytest.raises(ContractError, match=r"c\.json: not JSON \(line 1"):
        load_contract(path)


def test_missing_contract_file(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="cannot read it"):
        load_contract(tmp_path / "absent.json")


# --- typed fields -------------------------------------------------------------------------------
def _f(raw: dict, name: str) -> dict:
    return next(f for f in raw["fields"] if f["name"] == name)


def _value_field(raw: dict) -> str:
    return next(f["name"] for f in raw["fields"] if f["role"] == "value" and f["required"])


def _retype(raw: dict, **changes) -> None:
    """Another type for the first required value field, without the values of its old type."""
    field = _f(raw, _value_field(raw))
    for key in ("mock_value", "example"):
        field.pop(key, None)
    field.update(changes)


def test_typed_fields_load_with_their_defaults(tmp_path: Path, raw: dict) -> None:
    name = _value_field(raw)
    _f(raw, name).update(type=["integer", "string"], example=7, mock_value="x", judge_missing=False)
    raw["errata"].append({"id": "E99", "document": "d", "decision": "x", "key": "k", "line": 3, "review": True})
    raw["response_example"] = {"error": 0, "description": "Success"}
    contract = load_contract(_write(tmp_path, raw))
    field = contract.field(name)
    assert field.type == ("integer", "string") and field.types == ("integer", "string")
    assert (field.example, field.mock_value, field.judge_missing, field.judge_type) == (7, "x", False, True)
    plain = next(f for f in contract.fields if f.name != name)
    assert plain.types == (plain.type,) and plain.judge_missing and plain.judge_type and plain.example is None
    erratum = contract.errata[-1]
    assert (erratum.key, erratum.line, erratum.clause, erratum.review) == ("k", 3, None, True)
    assert contract.errata[0].review is False
    assert contract.response_example == {"error": 0, "description": "Success"}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: _f(r, _value_field(r)).update(type="decimal"), r"\.type: 'decimal' is not valid"),
        (lambda r: _f(r, _value_field(r)).update(type=[]), r"\(\w+\)\.type: \[\] should be non-empty"),
        (lambda r: _f(r, _value_field(r)).update(type=["number", "number"]), r"\.type: \['number', 'number'\]"),
        (lambda r: _f(r, _value_field(r)).update(mock_value=42), r"fields\(\w+\)\.mock_value: 42 is not a string"),
        (lambda r: _retype(r, type="integer", example=1.5), r"fields\(\w+\)\.example: 1\.5 is not an integer"),
        (
            lambda r: _retype(r, type=["number", "boolean"], example="1"),
            r"\.example: '1' is not a number or a boolean",
        ),
        (lambda r: _retype(r, type="number", mock_value=True), r"\.mock_value: True is not a number"),
        (lambda r: _f(r, _value_field(r)).update(judge_type="no"), r"judge_type: 'no' is not of type 'boolean'"),
        (
            lambda r: next(f for f in r["fields"] if f["role"] == "credential").update(type=["string", "integer"]),
            r"fields\(\w+\)\.type: a credential field must have type 'string'",
        ),
        (
            lambda r: next(f for f in r["fields"] if f["role"] == "request_id").update(type="integer"),
            r"fields\(\w+\)\.type: a request_id field must have type 'string'",
        ),
        (lambda r: r["errata"][0].update(line=0), r"errata\[0\]\(E1\)\.line: 0 is less than the minimum of 1"),
        (lambda r: r["errata"][0].update(review="yes"), r"errata\[0\]\(E1\)\.review: 'yes' is not of type 'boolean'"),
        (lambda r: r.update(response_example=[1]), r"response_example: \[1\] is not of type 'object'"),
    ],
    ids=[
        "unknown-type",
        "no-type",
        "duplicate-type",
        "mock-value-type",
        "example-fraction-for-integer",
        "example-of-none-of-several",
        "bool-is-no-number",
        "judge-type-not-bool",
        "typed-credential",
        "typed-request-id",
        "erratum-line-0",
        "erratum-review-not-bool",
        "response-example-not-object",
    ],
)
def test_invalid_typed_contract_names_file_field_and_key(tmp_path: Path, raw: dict, mutate, expected: str) -> None:
    mutate(raw)
    path = _write(tmp_path, raw)
    with pytest.raises(ContractError, match=expected) as info:
        load_contract(path)
    assert str(path) in str(info.value)
