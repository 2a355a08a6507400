"""The response side: the response schema and the contract's result (code field, success code, description).

An error answer carries the code (and description) only, so the other Required fields are required on
success alone (`if`/`then`). The result code accepts an integer or a digit string whatever the table
says (DESIGN.md E1); the description is text (E2). A response may carry fields the table does not list.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import jsonschema

from kyren_conformance.derive.derived import SCHEMA_DIALECT, SCHEMA_ID_BASE
from kyren_conformance.derive.document import DocumentError, Row
from kyren_conformance.derive.names import Required, required_schema
from kyren_conformance.derive.nested import ChildSchema, nested_schema
from kyren_conformance.derive.reading import DocumentReading
from kyren_conformance.derive.roles import CODE_FIELD_NAMES
from kyren_conformance.derive.values import (
    DIGITS,
    doc_type_to_json,
    fits,
    is_decimal_string,
    is_placeholder,
    json_type_of,
    kind_of,
    number_or_its_digits,
    plain_schema,
)


@dataclass
class ResponseParts:
    properties: dict[str, Any]  # the response schema's properties
    always: list[Required]  # required in every answer: the result code
    on_success: list[Required]  # required in a successful answer
    result: dict[str, Any]  # the contract's result: code field, success code, description field
    code_row: Row
    description_row: Row | None


def response_parts(reading: DocumentReading) -> ResponseParts:
    """The response schema's parts; a field the document spells two ways is required as one of the two,
    a (table name, example name) pair."""
    rows = reading.rows("response")
    reading.table_gaps("response")
    _, example_line = reading.examples("response")
    example = reading.aliased_example("response")
    pairs = reading.pairs("response")
    reading.note_pairs("response", "a server may send either spelling: the schema accepts both, and a Required "
                       "field is required as one of the two")  # fmt: skip
    code_row = reading.find_code_row()
    if code_row is None:
        raise DocumentError(
            f"{reading.doc.path}:{reading.doc.table_lines['response']}: no result-code field in the response table "
            f"(expected one of {', '.join(CODE_FIELD_NAMES)}, or a description saying 'code of error')"
        )
    description_row = reading.find_description_row()
    properties: dict[str, Any] = {}
    on_success: list[Required] = []
    errata = reading.errata
    for row in rows:
        name = errata.repaired(row.name, f"response.{row.name}.name-encoding", row.line, f"the name {row.name!r}")
        if name in properties:
            continue
        description = errata.repaired(row.description, f"response.{name}.encoding", row.line, f"{name}'s description")
        if row is code_row:
            reading.remark(row, name, "response")  # an unclear remark is an erratum all the same
            properties[name] = _code_schema(reading, row, example)
        else:
            is_description = row is description_row
            properties[name], required = _field_schema(reading, row, name, is_description, example, example_line)
            if required:
                on_success.append((name, pairs[row.name]) if row.name in pairs else name)
        properties[name]["description"] = description
        if row.name in pairs:
            properties.setdefault(pairs[row.name], dict(properties[name]))
    _note_fields_not_in_table(reading, properties, example, example_line)
    result = _result(reading, code_row, description_row, example, example_line)
    always: Required = (code_row.name, pairs[code_row.name]) if code_row.name in pairs else code_row.name
    return ResponseParts(properties, [always], on_success, result, code_row, description_row)


def _note_fields_not_in_table(
    reading: DocumentReading, properties: dict[str, Any], example: dict[str, Any] | None, example_line: int
) -> None:
    for name in example or {}:
        if name not in properties:
            reading.errata.add(
                f"response.{name}.not-in-table", example_line,
                f"the response example carries {name}, which the response table does not list",
                "allowed and not checked (a response may carry extra fields)",
            )  # fmt: skip


def _field_schema(
    reading: DocumentReading,
    row: Row,
    name: str,
    is_description: bool,
    example: dict[str, Any] | None,
    example_line: int,
) -> tuple[dict[str, Any], bool]:
    """(schema, required in a successful answer) of a field other than the result code."""
    required, _ = reading.remark(row, name, "response")
    if is_description:
        schema, required = _description_schema(reading, row, name, example, required)
    elif row.children:
        value = example.get(name) if example else None
        schema = nested_schema(row, name, value, "response", _child(reading), reading.remark_reader("response"),
                               reading.errata.add)  # fmt: skip
    else:
        schema, required = _value_schema(reading, row, name, example, required)
    if required and example is not None and name not in example:
        required = False
        reading.errata.add(
            f"response.{name}.not-in-example", row.line,
            f"{name} is Required, yet the example of a successful response (line {example_line}) does not carry it",
            "optional: checked only when present",
        )  # fmt: skip
    return schema, required


def _child(reading: DocumentReading) -> ChildSchema:
    """The schema of a sub-field of a list or object field, judged against the example's item as any field is."""

    def schema(row: Row, label: str, example: dict[str, Any] | None, required: bool) -> tuple[dict[str, Any], bool]:
        return _value_schema(reading, row, row.name, example, required, label=label)

    return schema


def _code_schema(reading: DocumentReading, row: Row, example: dict[str, Any] | None) -> dict[str, Any]:
    """The result code accepts an integer or a digit string whatever the table says: DESIGN.md E1."""
    value = example.get(row.name) if example else None
    said_type = reading.table_type(row, row.name, "response")
    if value is not None and said_type is not None and not fits(json_type_of(value), said_type):
        reading.errata.add(
            f"response.{row.name}.type", row.line,
            f"{row.name} is typed {row.type!r}, yet the example sends the {kind_of(value)} {json.dumps(value)}",
            "accept a JSON integer or a string of decimal digits; record the form used; "
            "mixing both forms is a SHOULD warning (S6)",
        )  # fmt: skip
    return {"oneOf": [{"type": "integer"}, {"type": "string", "pattern": DIGITS}]}


def _description_schema(
    reading: DocumentReading, row: Row, name: str, example: dict[str, Any] | None, required: bool
) -> tuple[dict[str, Any], bool]:
    """The description is text whatever the table says (the suite reads it, S3): DESIGN.md E2."""
    said_type = doc_type_to_json(row.type)
    value = example.get(name) if example else None
    if said_type in (None, "string"):
        reading.table_type(row, name, "response")  # an unknown type is still an erratum
        return {"type": "string"}, required
    if isinstance(value, str) and not is_placeholder(value):
        return _value_schema(reading, row, name, example, required)
    reading.errata.add(
        f"response.{name}.type", row.line, f"{name} is typed {row.type!r}, yet it is the response's description",
        "as DESIGN.md E2: optional; when present it must be a string",
    )  # fmt: skip
    return {"type": "string"}, False


def _value_schema(
    reading: DocumentReading,
    row: Row,
    name: str,
    example: dict[str, Any] | None,
    required: bool,
    label: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """`label` names a sub-field in errata (`gameList[].rtp`); `name` is its key in `example`."""
    label = label or name
    said_type = reading.table_type(row, label, "response")
    value = example.get(name) if example else None
    has_value = example is not None and name in example and not is_placeholder(value) and value is not None
    if said_type is None:
        return ({"type": json_type_of(value)} if has_value else {}), required
    if not has_value or fits(json_type_of(value), said_type):
        return plain_schema(said_type, min_length=False), required
    return _type_conflict(reading, row, label, said_type, value, required)


def _type_conflict(
    reading: DocumentReading, row: Row, label: str, said_type: str, value: Any, required: bool
) -> tuple[dict[str, Any], bool]:
    """The table says one type, the example shows another: accept every reading a server may have taken."""
    sent = json_type_of(value)
    shown = json.dumps(value)
    said = f"{label} is typed {row.type!r}, yet the example is {shown if len(shown) < 120 else shown[:117] + '...'}"
    if said_type == "string" and sent in ("integer", "number"):
        reading.errata.add(f"response.{label}.type", row.line, said,
                           f"as DESIGN.md E1: accept a JSON {sent} or a string of its digits")  # fmt: skip
        return number_or_its_digits(sent), required
    if sent == "string" and said_type in ("number", "integer"):
        if is_decimal_string(value) and (said_type == "number" or re.match(DIGITS, str(value))):
            reading.errata.add(
                f"response.{label}.type", row.line, said,
                f"both readings: a JSON {said_type} as the table says, or a string of "
                f"{'digits' if said_type == 'integer' else 'a decimal'} as the example shows; "
                + ("still Required" if required else "optional as the table says"),
            )  # fmt: skip
            return number_or_its_digits(said_type), required
        reading.errata.add(f"response.{label}.type", row.line, said, "optional; when present it must be a string")
        return {"type": "string"}, False
    reading.errata.add(f"response.{label}.type", row.line, said, f"accept both readings (a JSON {said_type} or {sent})")
    return {"type": [said_type, sent]}, required


def _result(
    reading: DocumentReading, code_row: Row, description_row: Row | None, example: dict[str, Any] | None, line: int
) -> dict[str, Any]:
    """The contract's result: the code field, its success value (0 when no example shows one), the description."""
    code = example.get(code_row.name) if example else None
    if isinstance(code, str) and re.match(DIGITS, code):
        code = int(code)
    if not isinstance(code, int) or isinstance(code, bool):
        reading.errata.add(f"response.{code_row.name}.success-code", line or code_row.line,
                           f"no success value of {code_row.name} in an example of a successful response",
                           "0 is success")  # fmt: skip
        code = 0
    result: dict[str, Any] = {"code_field": reading.contract_name(code_row), "success_code": code}
    if description_row is not None:
        result["description_field"] = reading.contract_name(description_row)
    return result


def response_schema(name: str, title: str, document_ref: str, parts: ResponseParts) -> dict[str, Any]:
    """The response body's schema: the code always, the other Required fields on success, extra fields allowed."""
    schema: dict[str, Any] = {
        "$schema": SCHEMA_DIALECT,
        "$id": f"{SCHEMA_ID_BASE}{name}.response.schema.json",
        "title": f"{title} response",
        "description": f"Body of every {title} answer, derived from {document_ref} (response parameters table). "
        "A response may carry extra fields.",
        "type": "object",
        **required_schema(parts.always),
        "properties": parts.properties,
        "additionalProperties": True,
    }
    if parts.on_success:  # an error answer carries the code (and description) only
        code_field, success = parts.result["code_field"], parts.result["success_code"]
        schema["if"] = {"properties": {code_field: {"enum": [success, str(success)]}}, "required": [code_field]}
        schema["then"] = required_schema(parts.on_success)
    return schema


def example_fits(reading: DocumentReading, schema: dict[str, Any], result: dict[str, Any]) -> bool:
    """The mock answers the documented success body (code and description its own): it must fit the schema."""
    example, line = reading.examples("response")
    if example is None:
        return True
    body = {**example, result["code_field"]: result["success_code"]}
    if "description_field" in result:
        body[result["description_field"]] = "Success"
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(body))
    if error is None:
        return True
    where = "/".join(map(str, error.absolute_path)) or "(top level)"
    reading.errata.add("response.example.does-not-fit", line,
                       f"the example of a successful response (line {line}) does not fit the response table: "
                       f"at {where}, {error.message[:200]}",
                       "not kept as the contract's response example (the mock's success body)")  # fmt: skip
    return False
