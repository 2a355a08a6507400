"""A side's example body: the JSON block under its heading, repaired where it has one reading.

A response side may also show error examples: the example of a successful response is the one whose
result code is 0, else the first. An example that cannot be read is not used, and an erratum says why.
"""

from __future__ import annotations

from typing import Any

from kyren_conformance.derive.document import Block, MethodDoc, Side
from kyren_conformance.derive.errata import Errata
from kyren_conformance.derive.json_repair import RepairError
from kyren_conformance.derive.roles import CODE_FIELD_NAMES
from kyren_conformance.derive.values import is_json_block, parse_json_example

Example = tuple[dict[str, Any] | None, int]  # the example's object (None: there is none) and its line


def find_example(doc: MethodDoc, errata: Errata, side: Side) -> Example:
    """The side's example body and its line (0 when there is none)."""
    found: list[tuple[dict[str, Any], int]] = []
    for block in doc.blocks:
        if block.side == side and is_json_block(block):
            value = _read_example(errata, side, block)
            if value is not None:
                found.append((value, block.line))
    if not found:
        return None, 0
    if side == "response":
        for value, line in found:
            if any(value.get(name) in (0, "0") for name in CODE_FIELD_NAMES):
                return value, line
    return found[0]


def _read_example(errata: Errata, side: Side, block: Block) -> dict[str, Any] | None:
    """The example's object, repaired where one reading exists; None (an erratum says why) when it is not used."""
    line = block.line
    where = f"the {side} example (line {line})"
    key = f"{side}.example@{line}" if errata.any_key_starts(f"{side}.example.") else f"{side}.example"
    try:
        repaired = parse_json_example(block)
    except RepairError as exc:
        errata.add(f"{key}.unreadable", line, f"{where} is not JSON and has no single repair: {exc}",
                   "not used: the fields come from the table alone")  # fmt: skip
        return None
    if repaired.repairs:
        counted = {r: repaired.repairs.count(r) for r in repaired.repairs}
        named = "; ".join(r if n == 1 else f"{r} (x{n})" for r, n in counted.items())
        errata.add(f"{key}.json-repaired", line, f"{where} is not valid JSON", f"read with these repairs: {named}")
    if not isinstance(repaired.value, dict):
        errata.add(f"{key}.not-an-object", line, f"{where} is not a JSON object", "not used")
        return None
    return repaired.value
