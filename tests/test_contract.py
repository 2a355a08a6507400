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
    assert [e.id for e in contract.errata] == [f"E{i}" for i in range(1, 10)]
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
