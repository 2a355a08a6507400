"""The schema of a list or object field whose sub-fields a nested table lists.

`| gameList | | array | ... |` followed by rows of `| | gameId | string | ... |`: an array of objects
with those properties. One sub-row under a list whose example holds scalars (`"CurrencyList": ["JPY",
"EUR"]`) reads two ways (objects with one property, or the scalars themselves): the example decides,
and the decision is an erratum.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kyren_conformance.derive.document import Row
from kyren_conformance.derive.values import doc_type_to_json, fits, json_type_of

# (sub-row, label for errata keys, the example object it sits in or None, required) -> (schema, required)
ChildSchema = Callable[[Row, str, "dict[str, Any] | None", bool], "tuple[dict[str, Any], bool]"]
Remark = Callable[[Row, str], bool]
Note = Callable[[str, int, str, str], None]


def nested_schema(
    row: Row, label: str, value: Any, side: str, child_schema: ChildSchema, remark: Remark, note: Note
) -> dict[str, Any]:
    """The array or object schema of `row` from its sub-rows; `value` is the example's value of the field."""
    said = doc_type_to_json(row.type)
    kind = said if said in ("array", "object") else None
    if kind is None:
        kind = "array" if isinstance(value, list) else "object"
        note(
            f"{side}.{label}.nested-type", row.line,
            f"{label} is typed {row.type!r}, yet the table lists sub-fields under it",
            f"an {kind} of its sub-fields" + (", as the example shows" if isinstance(value, (list, dict)) else ""),
        )  # fmt: skip
    if kind == "object":
        return _object(row.children, label, value if isinstance(value, dict) else None, side, child_schema, remark,
                       note)  # fmt: skip
    items = value if isinstance(value, list) else []
    scalars = [v for v in items if not isinstance(v, (dict, list))]
    if len(row.children) == 1 and items and len(scalars) == len(items):
        return {"type": "array", "items": _scalar_items(row, label, items, side, note)}
    first = next((v for v in items if isinstance(v, dict)), None)
    return {"type": "array", "items": _object(row.children, f"{label}[]", first, side, child_schema, remark, note)}


def _object(
    children: tuple[Row, ...],
    label: str,
    example: dict[str, Any] | None,
    side: str,
    child_schema: ChildSchema,
    remark: Remark,
    note: Note,
) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for child in children:
        if child.name in properties:
            continue
        child_label = f"{label}.{child.name}"
        said_required = remark(child, child_label)
        schema, is_required = child_schema(child, child_label, example, said_required)
        if is_required and example is not None and child.name not in example:
            is_required = False
            note(
                f"{side}.{child_label}.not-in-example", child.line,
                f"{child_label} is Required, yet the example's item does not carry it",
                "optional: checked only when present",
            )  # fmt: skip
        schema["description"] = child.description
        properties[child.name] = schema
        if is_required:
            required.append(child.name)
    schema_: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema_["required"] = required
    return schema_


def _scalar_items(row: Row, label: str, items: list[Any], side: str, note: Note) -> dict[str, Any]:
    (child,) = row.children
    seen = sorted({json_type_of(v) for v in items})
    said = doc_type_to_json(child.type)
    if said is not None and all(fits(t, said) for t in seen):
        types = [said]
    else:
        types = seen if said is None else sorted({said, *seen})
    shown = json.dumps(items[:3])[:-1] + (", ...]" if len(items) > 3 else "]")
    note(
        f"{side}.{label}.items", row.line,
        f"{label} lists one sub-field, {child.name} ({child.type}), and the example shows a list of scalars {shown}: "
        "a list of objects with one property, or a list of the values themselves",
        f"a list of {' or '.join(types)} values, as the example shows; {child.name} names each item",
    )  # fmt: skip
    return {"type": types[0] if len(types) == 1 else types, "description": child.description}
