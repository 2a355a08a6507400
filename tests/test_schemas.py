"""The derived schemas are valid 2020-12 schemas and accept the document's own examples."""

import json
import re
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = sorted((ROOT / "schemas").glob("*.schema.json"))
DOCUMENT = (ROOT / "docs/spec/close-session.md").read_text(encoding="utf-8")


def _schema(name: str) -> dict:
    return json.loads((ROOT / "schemas" / name).read_text())


def _document_json_examples() -> list[dict]:
    blocks = re.findall(r"``` json\n(.*?)```", DOCUMENT, flags=re.S)
    return [json.loads(b) for b in blocks]


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_schema_is_valid_2020_12(path: Path) -> None:
    schema = json.loads(path.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_document_has_one_request_and_one_response_example() -> None:
    examples = _document_json_examples()
    assert len(examples) == 2, "the document's examples changed: re-derive the schemas"


def test_request_schema_accepts_the_documents_example() -> None:
    request_example = _document_json_examples()[0]
    jsonschema.Draft202012Validator(_schema("close-session.request.schema.json")).validate(request_example)


def test_response_schema_accepts_the_documents_example() -> None:
    response_example = _document_json_examples()[1]
    jsonschema.Draft202012Validator(_schema("close-session.response.schema.json")).validate(response_example)


@pytest.mark.parametrize(
    "body",
    [{"error": 0}, {"error": "0"}, {"error": "104", "description": "No session"}, {"error": 3, "extra": [1]}],
    ids=["int", "digit-string-E1", "no-description", "extra-field"],
)
def test_response_schema_accepts_errata_readings(body: dict) -> None:
    assert jsonschema.Draft202012Validator(_schema("close-session.response.schema.json")).is_valid(body)


@pytest.mark.parametrize(
    "body",
    [{}, {"error": True}, {"error": "ok"}, {"error": 1.5}, {"error": 0, "description": 5}, [], "0"],
    ids=["no-error", "bool", "word", "fraction", "description-number-E2", "array", "string"],
)
def test_response_schema_refuses(body: object) -> None:
    assert not jsonschema.Draft202012Validator(_schema("close-session.response.schema.json")).is_valid(body)


def test_request_schema_requires_the_documents_required_fields() -> None:
    schema = _schema("close-session.request.schema.json")
    request_section = DOCUMENT.split("###  Request Parameters", 1)[1].split("### Examples", 1)[0]
    table = re.findall(r"^\|\s*(\w+)\s*\|\s*string\s*\|.*\|\s*(Required|optional)\s*\|", request_section, flags=re.M)
    assert table, "could not read the document's parameter table"
    assert sorted(schema["required"]) == sorted(name for name, remark in table if remark == "Required")
    assert sorted(schema["properties"]) == sorted(name for name, _ in table)
