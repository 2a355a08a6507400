"""How a Kyren document's data types and example values read as JSON and JSON Schema.

The vocabulary `derive` reads a document with: `decimal` is a JSON number, `"<token>"` is a stand-in
and not a value, a JSON example may carry unquoted placeholders and trailing commas.
"""

from __future__ import annotations

import re
from typing import Any

from kyren_conformance.derive.document import Block
from kyren_conformance.derive.json_repair import Repaired, repair_json

DIGITS = "^-?[0-9]+$"
DECIMAL = r"^-?[0-9]+(\.[0-9]+)?$"
_DECIMAL = re.compile(DECIMAL)
_PLACEHOLDER = re.compile(r"^\s*<[^<>]*>\s*$")

# The document's data types (lower-cased, size suffix such as `(10,2)` dropped) and their JSON type.
DOC_TYPES = {
    **dict.fromkeys(("string", "str", "text", "char", "varchar", "uuid", "guid", "date", "datetime", "timestamp",
                     "enum", "url"), "string"),
    **dict.fromkeys(("decimal", "number", "numeric", "float", "double", "money", "real"), "number"),
    **dict.fromkeys(("integer", "int", "long", "short", "int32", "int64", "bigint"), "integer"),
    **dict.fromkeys(("boolean", "bool"), "boolean"),
    **dict.fromkeys(("object", "json", "map", "dictionary"), "object"),
    **dict.fromkeys(("array", "list"), "array"),
}  # fmt: skip


def doc_type_to_json(doc_type: str) -> str | None:
    """`decimal` → number, `varchar(32)` → string, `string[]` → array; None when unknown."""
    text = doc_type.strip().lower()
    if text.endswith("[]") or text.startswith(("array", "list")):
        return "array"
    if text.endswith(")") and "(" in text:  # string methods, not a regex: a cell of many '(' stays linear
        text = text[: text.index("(")].rstrip()
    return DOC_TYPES.get(text)


def json_type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return "array" if isinstance(value, list) else "object"


def fits(value_type: str, json_type: str) -> bool:
    return value_type == json_type or (json_type == "number" and value_type == "integer")


def is_placeholder(value: Any) -> bool:
    """`"<token>"`, `"<uuid>"`: the document's stand-ins, not values anyone may send."""
    return isinstance(value, str) and bool(_PLACEHOLDER.match(value))


def plain_schema(json_type: str, *, min_length: bool = True) -> dict[str, Any]:
    # Request strings are non-empty (an empty required value is a defect, S1); response strings may be empty.
    return {"type": "string", "minLength": 1} if json_type == "string" and min_length else {"type": json_type}


def number_or_its_digits(json_type: str) -> dict[str, Any]:
    """DESIGN.md E1 for any field typed string whose example is a number: the number, or a string of it."""
    pattern = DIGITS if json_type == "integer" else DECIMAL
    return {"oneOf": [{"type": json_type}, {"type": "string", "pattern": pattern}]}


def is_decimal_string(value: Any) -> bool:
    return isinstance(value, str) and len(value) < 400 and bool(_DECIMAL.match(value))


def kind_of(value: Any) -> str:
    return "number" if json_type_of(value) in ("integer", "number") else json_type_of(value)


def is_json_block(block: Block) -> bool:
    # a body under an `http` or `html` fence (Session-Expired.md) is JSON all the same
    if block.info in ("json", "json5", "javascript", "js"):
        return True
    body = block.text.lstrip()
    if block.info == "":
        return body.startswith(("{", "["))
    # not `{API_URL}/v1/Method`: a body opens with a lone brace or a quoted key
    return block.info in ("http", "html", "text") and (body.startswith('{"') or body.split("\n", 1)[0].strip() == "{")


def parse_json_example(block: Block) -> Repaired:
    """JSON as documents write it: unquoted `<placeholders>`, a trailing comma and `//` comments are forgiven,
    the other unambiguous mistakes repaired and named; raise RepairError (its line within the block) otherwise."""
    return repair_json(block.text, block.line + 1)
