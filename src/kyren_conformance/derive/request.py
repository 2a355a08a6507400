"""The request side: the contract's fields and the request schema, from the request table and example.

The decisions follow one principle: the suite sends what every reading of the document accepts, and
demands a refusal only for what no reading accepts, so a server is never failed for having picked one
reading. A field the example spells otherwise is sent under both spellings; a field only the example
names is sent as it shows and never judged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kyren_conformance.contract import JSON_TYPES
from kyren_conformance.derive.derived import SCHEMA_DIALECT, SCHEMA_ID_BASE
from kyren_conformance.derive.document import Row
from kyren_conformance.derive.names import required_schema
from kyren_conformance.derive.nested import ChildSchema, nested_schema
from kyren_conformance.derive.reading import DocumentReading
from kyren_conformance.derive.roles import assign_request_id, field_entry, is_credential, is_secret
from kyren_conformance.derive.values import fits, is_placeholder, json_type_of, number_or_its_digits, plain_schema


@dataclass
class RequestParts:
    fields: list[dict[str, Any]]  # the contract's fields
    properties: dict[str, Any]  # the request schema's properties
    table_required: list[str]  # the names the table requires


def request_parts(reading: DocumentReading) -> RequestParts:
    """The contract's fields, the request schema's properties and the names its table requires."""
    rows = reading.rows("request")
    reading.table_gaps("request")
    _, example_line = reading.examples("request")
    example = reading.aliased_example("request")
    pairs = reading.pairs("request")
    reading.note_pairs(
        "request",
        "the suite sends both spellings with the example's value, as a server may read "
        "either; the absence of neither is judged, and the request schema requires one of the two",
    )
    parts = RequestParts([], {}, [])
    errata = reading.errata
    seen: dict[str, int] = {}
    for row in rows:
        name = errata.repaired(row.name, f"request.{row.name}.name-encoding", row.line, f"the name {row.name!r}")
        if name in seen:
            errata.add(f"request.{name}.duplicate", row.line, f"{name} is listed twice (first at line {seen[name]})",
                       "the first row is used")  # fmt: skip
            continue
        seen[name] = row.line
        description = errata.repaired(row.description, f"request.{name}.encoding", row.line, f"{name}'s description")
        entry, prop = _table_field(reading, row, name, description, example, example_line)
        if row.name in pairs and entry["required"]:
            entry["judge_missing"] = False  # a server reading the other spelling never misses this one
        parts.fields.append(entry)
        parts.properties[name] = prop
    _add_example_fields(reading, parts, seen)
    assign_request_id(parts.fields)
    parts.table_required = [f["name"] for f in parts.fields if f["required"] and f["name"] in seen]
    return parts


def _add_example_fields(reading: DocumentReading, parts: RequestParts, seen: dict[str, int]) -> None:
    """The example's other spelling of a table field, and the fields only the example sends."""
    original, example_line = reading.examples("request")
    spelt = {other: name for name, other in reading.pairs("request").items()}
    for name, value in (original or {}).items():
        if name in spelt and spelt[name] in parts.properties:
            twin = next(f for f in parts.fields if f["name"] == spelt[name])
            entry = {
                **twin,
                "name": name,
                "judge_missing": False,
                "source": f"Request example (line {example_line}): {name} (the table's {twin['name']})",
            }
            entry.pop("option", None)
            entry.pop("env", None)
            parts.fields.append(entry)
            parts.properties[name] = dict(parts.properties[spelt[name]])
        elif name not in seen:
            entry, prop = _example_only_field(reading, name, value, example_line)
            parts.fields.append(entry)
            parts.properties[name] = prop


def _table_field(
    reading: DocumentReading, row: Row, name: str, description: str, example: dict[str, Any] | None, example_line: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A table row's contract field and schema property."""
    required, judge_missing = reading.remark(row, name, "request")
    value = example.get(name) if example else None
    has_value = example is not None and name in example and not is_placeholder(value)
    if has_value and is_secret(name):
        has_value, value = False, None
        _secret_example(reading, name, row.line, example_line)
    types, prop, judge_type = _field_schema(reading, row, name, value, has_value)
    if required and example is not None and name not in example:
        judge_missing = False
        reading.errata.add(
            f"request.{name}.not-in-example", row.line,
            f"{name} is Required, yet the example body (line {example_line}) does not send it",
            "the suite sends it in every valid request, and never demands a refusal when it is missing",
        )  # fmt: skip
    if is_credential(name) and types != ["string"]:
        reading.errata.add(f"request.{name}.credential-type", row.line, f"{name} is a credential typed {row.type!r}",
                           "a string: a credential is compared as text")  # fmt: skip
        types, prop, judge_type = ["string"], plain_schema("string"), True
        has_value = has_value and isinstance(value, str)
    entry = field_entry(name, types, required, row_source("Request", row), description)
    if has_value:
        entry["example"] = value
    if not judge_missing:
        entry["judge_missing"] = False
    if not judge_type:
        entry["judge_type"] = False
    prop["description"] = description
    return entry, prop


def _field_schema(
    reading: DocumentReading, row: Row, name: str, value: Any, has_value: bool
) -> tuple[list[str], dict[str, Any], bool]:
    """(the field's JSON types, its schema, whether its type is judged) from the table and the example."""
    json_type = reading.table_type(row, name, "request")
    if row.children:
        types = [json_type or ("array" if isinstance(value, list) else "object")]
        remark = reading.remark_reader("request")
        return types, nested_schema(row, name, value, "request", _child(reading), remark, reading.errata.add), True
    if json_type is None:
        types = [json_type_of(value)] if has_value and value is not None else list(JSON_TYPES)
        return types, {"type": types if len(types) > 1 else types[0]}, False
    if has_value and not fits(json_type_of(value), json_type):
        return (*_type_conflict(reading, row, name, json_type, value), True)
    return [json_type], plain_schema(json_type), True


def _child(reading: DocumentReading) -> ChildSchema:
    """The schema of a sub-field of a list or object field: its table type, nothing more."""

    def schema(row: Row, label: str, example: dict[str, Any] | None, required: bool) -> tuple[dict[str, Any], bool]:
        json_type = reading.table_type(row, label, "request")
        return (plain_schema(json_type) if json_type else {}), required

    return schema


def _type_conflict(
    reading: DocumentReading, row: Row, name: str, json_type: str, value: Any
) -> tuple[list[str], dict[str, Any]]:
    """The table says one type, the example sends another: accept both, send the example's."""
    sent = json_type_of(value)
    said = f"{name} is typed {row.type!r}, yet the example sends {json.dumps(value)}"
    if json_type == "string" and sent in ("integer", "number"):
        reading.errata.add(
            f"request.{name}.type", row.line, said,
            f"as DESIGN.md E1: accept a JSON {sent} or a string of its digits; the suite sends the example's form",
        )  # fmt: skip
        return [sent, "string"], number_or_its_digits(sent)
    if sent == "string" and json_type in ("number", "integer"):
        decision = f"as DESIGN.md E2: a string, as the example shows; the table's {json_type} is accepted too"
    else:
        decision = f"accept both readings (a JSON {json_type} or {sent}); the suite sends the example's form"
    reading.errata.add(f"request.{name}.type", row.line, said, decision)
    types = [sent, json_type]
    return types, {"type": types}


def _secret_example(reading: DocumentReading, name: str, line: int, example_line: int) -> None:
    reading.errata.add(
        f"request.{name}.secret-example", line,
        f"the example (line {example_line}) shows a literal value for the secret {name}, not a <placeholder>",
        "kept neither as its example nor as the mock's value: a secret in a contract is guessable; the suite "
        "sends the configured one and the mock makes a random one",
    )  # fmt: skip


def _example_only_field(
    reading: DocumentReading, name: str, value: Any, example_line: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A field the example sends and the table does not list: sent as shown, never judged."""
    placeholder = is_placeholder(value)
    if not placeholder and is_secret(name):
        _secret_example(reading, name, example_line, example_line)
        placeholder = True  # its value is the configured secret, never the document's
    sent = json_type_of(value)
    types = ["string"] if placeholder or sent == "null" else [sent]
    reading.errata.add(
        f"request.{name}.not-in-table", example_line,
        f"the example body sends {name}, which the parameter table does not list",
        "sent only when --field gives a value; neither its absence nor its type is judged" if placeholder
        else "the suite sends it as the example shows; neither its absence nor its type is judged",
    )  # fmt: skip
    source = f"Request example (line {example_line}): {name} (not in the table)"
    entry = field_entry(name, types, not placeholder, source, "")
    if not placeholder:
        entry["example"] = value
    entry["judge_missing"] = False
    entry["judge_type"] = False
    prop = plain_schema(types[0]) if types[0] != "string" else {"type": "string"}
    return entry, prop


def row_source(side: str, row: Row) -> str:
    return f"{side} Parameters (line {row.line}): {row.name} | {row.type} | {row.remark or '(no remark)'}"


def request_schema(
    name: str, title: str, http: tuple[str, str], document_ref: str, parts: RequestParts, pairs: dict[str, str]
) -> dict[str, Any]:
    """The request body's schema: the table's fields, nothing else; a field spelt two ways required as either."""
    http_method, path = http
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": f"{SCHEMA_ID_BASE}{name}.request.schema.json",
        "title": f"{title} request",
        "description": f"Body of {http_method} {path}, derived from {document_ref} (request parameters table).",
        "type": "object",
        **required_schema([(n, pairs[n]) if n in pairs else n for n in parts.table_required]),
        "properties": parts.properties,
        "additionalProperties": False,
    }
