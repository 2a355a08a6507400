"""Contracts load, agree with their schemas, and a broken one gets an error naming the file and key."""

import json
from pathlib import Path

import pytest

from kyren_conformance.contract import ContractError, load_contract
from kyren_conformance.judgements import REGISTRY
from kyren_conformance.profile import load_profile
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


# --- the code table (the provider's Error Code page) --------------------------------------------
CODES = {
    "source": "docs/spec/Error-Code-1.md",
    "table": {"0": "Success", "21": "Parameter(s) is missing or incorrect", "401": "Unauthorized"},
    "kinds": {"missing_field": [21], "bad_credentials": [401]},
}


def test_a_contract_without_codes_still_loads(tmp_path: Path, raw: dict) -> None:
    assert raw.pop("codes") is not None  # the shipped contract carries its Error Code page: leave it out
    contract = load_contract(_write(tmp_path, raw))
    assert contract.codes is None
    assert contract.fields == load_contract(default_contract_path()).fields


def test_the_shipped_contract_carries_its_error_code_page() -> None:
    codes = load_contract(default_contract_path()).codes
    assert codes is not None and codes.source == "docs/spec/Error-Code-1.md"
    assert codes.kinds["missing_field"] == (21, 64) and codes.kinds["bad_credentials"] == (54, 401)
    assert codes.table[0] == "Success" and codes.table[21] == "Parameter(s) is missing or incorrect"


def test_the_codes_section_loads_typed(tmp_path: Path, raw: dict) -> None:
    raw["codes"] = CODES
    codes = load_contract(_write(tmp_path, raw)).codes
    assert codes is not None and codes.source == "docs/spec/Error-Code-1.md"
    assert codes.table == {0: "Success", 21: "Parameter(s) is missing or incorrect", 401: "Unauthorized"}
    assert codes.kinds == {"missing_field": (21,), "bad_credentials": (401,)}
    raw["codes"] = {k: v for k, v in CODES.items() if k != "kinds"}
    assert load_contract(_write(tmp_path, raw)).codes.kinds == {}


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ({**CODES, "table": {"x1": "a"}}, r"codes\.table: 'x1' does not match"),
        ({**CODES, "table": {"1": 2}}, r"codes\.table\.1: 2 is not of type 'string'"),
        ({**CODES, "table": {}}, r"codes\.table: \{\} should be non-empty"),
        ({"table": CODES["table"]}, r"codes: 'source' is a required property"),
        ({**CODES, "kinds": {"bad_login": [401]}}, r"codes\.kinds: 'bad_login' is not one of"),
        ({**CODES, "kinds": {"missing_field": ["21"]}}, r"codes\.kinds\.missing_field\[0\]: '21' is not of type"),
        ({**CODES, "kinds": {"missing_field": [22]}}, r"codes\.kinds\.missing_field: 22 is not a code of codes\.table"),
        ({**CODES, "kinds": {"missing_field": [0]}}, r"codes\.kinds\.missing_field: 0 is the success code"),
        ({**CODES, "table": {"7": "a", "07": "b"}, "kinds": {}}, r"codes\.table: a code appears more than once"),
        ({**CODES, "colour": 1}, r"codes: unknown key.*colour"),
    ],
    ids=[
        "code-not-integer",
        "description-not-text",
        "empty-table",
        "no-source",
        "unknown-kind",
        "kind-code-not-integer",
        "kind-code-undocumented",
        "kind-code-success",
        "code-written-twice",
        "unknown-key",
    ],
)
def test_a_bad_codes_section_names_the_key(tmp_path: Path, raw: dict, codes: dict, expected: str) -> None:
    raw["codes"] = codes
    path = _write(tmp_path, raw)
    with pytest.raises(ContractError, match=expected) as info:
        load_contract(path)
    assert str(path) in str(info.value)


# --- the target profile -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"valid_request_codes": "104"}', r"valid_request_codes: expected a list of integers, not '104'"),
        ('{"valid_request_codes": [104, true]}', r"valid_request_codes: expected a list of integers"),
        ('{"valid_request_codes": [1.5]}', r"valid_request_codes: expected a list of integers"),
        ('{"extra_secrets": "ab"}', r"extra_secrets: expected a list of strings, not 'ab'"),
        ('{"extra_secrets": ["a", 1]}', r"extra_secrets: expected a list of strings"),
        ('{"p95_ms": NaN}', r"not JSON we accept: NaN is not JSON"),
        ('{"p95_ms": 1e400}', r"not JSON we accept: the number 1e400 is too large"),
        ('{"p95_ms": "800"}', r"p95_ms: expected a positive number of milliseconds, at most 86400000, not '800'"),
        ('{"p95_ms": -1}', r"p95_ms: expected a positive number"),
        ('{"p95_ms": 0}', r"p95_ms: expected a positive number"),
        ('{"p95_ms": true}', r"p95_ms: expected a positive number.*not True"),
        ('{"p95_ms": 86400000.5}', r"p95_ms: expected .* at most 86400000, not 86400000\.5"),
        ('{"p95_ms": 1e300}', r"p95_ms: expected .* at most 86400000, not 1e\+300"),
        ('{"p95_ms": 1' + "0" * 60 + "}", r"p95_ms: expected .* not 10000"),  # float() would overflow at 400 digits
        ('{"p95_ms": 1' + "0" * 400 + "}", r"not JSON we accept: an integer of 401 digits \(at most 64\)"),
        ('{"p95_ms": ' + "9" * 5000 + "}", r"not JSON we accept: an integer of 5000 digits"),
        ('{"code_table": ["0"]}', r"code_table: expected an object of code -> description"),
        ('{"code_table": {"x": "a"}}', r"code_table: the code 'x' is not an integer"),
        ('{"code_table": {"\u0663": "a"}}', r"code_table: the code '\u0663' is not an integer"),  # an Arabic-Indic 3
        ('{"code_table": {"+1": "a"}}', r"code_table: the code '\+1' is not an integer"),
        ('{"code_table": {" 1": "a"}}', r"code_table: the code ' 1' is not an integer"),
        ('{"code_table": {"-": "a"}}', r"code_table: the code '-' is not an integer"),
        ('{"code_table": {"' + "9" * 65 + '": "a"}}', r"code_table: the code '9999.*… is not an integer"),
        ('{"code_table": {"' + "9" * 5000 + '": "a"}}', r"code_table: the code '9999.*… is not an integer"),
        ('{"code_table": {"1": 2}}', r"code_table\.1: expected a description \(a string\), not 2"),
        ('{"code_table": {"1": null}}', r"code_table\.1: expected a description \(a string\), not None"),
        ('{"code_table": {"7": "a", "07": "b"}}', r"code_table: the code 7 appears more than once"),
        ('{"p95_ms": 800, "p95": 800}', r"unknown key 'p95'; expected one of: code_table, extra_secrets, p95_ms"),
        ('{"extra_secrets": []} ', None),  # valid: the last row proves the test can pass
        ("[800]", r"expected a JSON object, not \[800\]"),
        ("{", r"not JSON \(line 1, column 2"),
        ("[" * 100_000, r"nested too deeply \(at most 64 levels\)"),
        ('{"extra_secrets": ' + "[" * 70 + "]" * 70 + "}", r"nested too deeply"),
        ("", r"not JSON \(line 1, column 1"),
    ],
)
def test_a_profile_of_wrong_types_is_one_clear_error(tmp_path: Path, text: str, expected: str | None) -> None:
    path = tmp_path / "profile.json"
    path.write_text(text)
    if expected is None:
        load_profile(path)
        return
    with pytest.raises(ContractError, match=expected) as info:
        load_profile(path)
    message = str(info.value)
    assert message.startswith(f"profile {path}: ") and "\n" not in message


def test_a_profile_of_the_right_types_loads(tmp_path: Path) -> None:
    path = tmp_path / "profile.json"
    path.write_text(
        '{"code_table": {"0": "Success", "-1": "x", "104": "No active session"}, "valid_request_codes": [104],'
        ' "p95_ms": 800, "extra_secrets": ["s3cr3t"]}'
    )
    profile = load_profile(path)
    assert profile.code_table == {0: "Success", -1: "x", 104: "No active session"}
    assert profile.valid_request_codes == frozenset({104}) and profile.p95_ms == 800.0
    assert profile.extra_secrets == ("s3cr3t",)


def test_a_bad_profile_is_a_configuration_error(tmp_path: Path) -> None:
    from kyren_conformance.settings import ConfigError, resolve

    path = tmp_path / "profile.json"
    path.write_text('{"valid_request_codes": "104"}')
    options = {"kyren_profile": str(path)}
    with pytest.raises(ConfigError, match="valid_request_codes"):
        resolve(lambda dest: options.get(dest), environ={})
