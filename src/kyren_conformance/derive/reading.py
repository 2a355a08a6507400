"""One document as derive reads it: its tables, its examples, the names it spells two ways, its errata.

`DocumentReading` holds what the request and the response derivations share: each side's example
(read once), the pairs of spellings, how a Remark or a Data Type cell reads, and where the result
code and its description are. Every gap it reads past becomes an erratum.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from kyren_conformance.derive.document import DocumentError, MethodDoc, NotAMethodDocument, Row, Side
from kyren_conformance.derive.errata import Errata
from kyren_conformance.derive.examples import Example, find_example
from kyren_conformance.derive.names import pair_names
from kyren_conformance.derive.nested import Remark
from kyren_conformance.derive.roles import CODE_FIELD_NAMES, DESCRIPTION_FIELD_NAMES
from kyren_conformance.derive.values import DOC_TYPES, doc_type_to_json

_REQUIRED_WORDS = {"required", "mandatory", "yes", "y", "m", "true", "必須"}
_OPTIONAL_WORDS = {"optional", "no", "n", "o", "false", "conditional", ""}
_TABLE_HEADER = "Name | Data Type | Description | Remark"


class DocumentReading:
    """The state of one derivation: the document, each side's example and pairs, the errata found so far."""

    def __init__(self, doc: MethodDoc) -> None:
        self.doc = doc
        self.errata = Errata(doc.lines)
        self._examples: dict[Side, Example] = {}
        self._pairs: dict[Side, dict[str, str]] = {}
        for side in ("request", "response"):
            self._remark_as_description(side)

    def rows(self, side: Side) -> list[Row]:
        """The side's parameter table; raise DocumentError when the document has none."""
        rows = self.doc.tables[side]
        if not rows:
            raise DocumentError(f"{self.doc.path}: no {side} parameter table ({_TABLE_HEADER})")
        return rows

    # -- examples and the names they spell otherwise -------------------------------------------------

    def examples(self, side: Side) -> Example:
        """The side's example body and its line, read once."""
        if side not in self._examples:
            self._examples[side] = find_example(self.doc, self.errata, side)
        return self._examples[side]

    def pairs(self, side: Side) -> dict[str, str]:
        """{table name: the example's spelling of it} for the fields the document spells two ways."""
        if side not in self._pairs:
            example, _ = self.examples(side)
            self._pairs[side] = pair_names((r.name for r in self.doc.tables[side]), example or {})
        return self._pairs[side]

    def aliased_example(self, side: Side) -> dict[str, Any] | None:
        """The example with each paired key also under the table's spelling, so that fields find their value."""
        example, _ = self.examples(side)
        if example is None:
            return None
        return {**example, **{name: example[key] for name, key in self.pairs(side).items()}}

    def note_pairs(self, side: Side, decision: str) -> None:
        _, example_line = self.examples(side)
        for row in self.doc.tables[side]:
            if row.name in self.pairs(side):
                other = self.pairs(side)[row.name]
                self.errata.add(
                    f"{side}.{row.name}.spelling", row.line,
                    f"the table names {row.name}, the example (line {example_line}) spells it {other}",
                    f"one field spelt two ways ({row.name} / {other}): {decision}",
                )  # fmt: skip

    # -- the result code and its description ---------------------------------------------------------

    def check_family(self) -> None:
        """A response without a result-code field is another API family's (a `status` field): not a Kyren method."""
        rows = self.doc.tables["response"]
        if not rows or self.find_code_row() is not None:
            return
        status = any(r.name.lower() == "status" for r in rows)
        raise NotAMethodDocument(
            f"{self.doc.path}:{self.doc.table_lines['response']}: not a method document: its response table has no "
            f"result-code field ({', '.join(CODE_FIELD_NAMES)})"
            + ("; it answers with a status field, as another API family does" if status else "")
        )

    def find_code_row(self) -> Row | None:
        rows = self.doc.tables["response"]
        pairs = self.pairs("response")
        return (
            _find_row(rows, CODE_FIELD_NAMES)
            or next((r for r in rows if pairs.get(r.name) in CODE_FIELD_NAMES), None)
            or next(
                (r for r in rows if re.search(r"\b(code of error|error code|result code)\b", r.description, re.I)),
                None,
            )
        )

    def find_description_row(self) -> Row | None:
        rows = self.doc.tables["response"]
        pairs = self.pairs("response")
        return _find_row(rows, DESCRIPTION_FIELD_NAMES) or next(
            (r for r in rows if pairs.get(r.name) in DESCRIPTION_FIELD_NAMES), None
        )

    def contract_name(self, row: Row) -> str:
        """The name the suite reads a result field by: the usual spelling when the table misspells it."""
        other = self.pairs("response").get(row.name)
        return other if other in CODE_FIELD_NAMES + DESCRIPTION_FIELD_NAMES else row.name

    # -- the columns of a table ----------------------------------------------------------------------

    def table_gaps(self, side: Side) -> None:
        """A table without a Data Type or Remark column: one erratum, then every field read leniently."""
        line = self.doc.table_lines[side]
        decisions = {
            "type": "each field is typed by its example; no field's type is judged",
            "remark": "every field is sent in every valid request and its absence is never judged"
            if side == "request"
            else "every field is optional",
        }
        for column in self.doc.missing_columns.get(side, []):
            self.errata.add(f"{side}.table.no-{column}-column", line, f"the {side} table has no {column} column",
                            decisions[column])  # fmt: skip

    def remark(self, row: Row, name: str, side: Side) -> tuple[bool, bool]:
        """(required, judge_missing) from the Remark column."""
        if "remark" in self.doc.missing_columns.get(side, []):
            return side == "request", False
        word = _remark_word(row.remark)
        if word in _REQUIRED_WORDS:
            return True, True
        if word in _OPTIONAL_WORDS:
            return False, True
        self.errata.add(
            f"{side}.{name}.remark", row.line, f"{name}'s remark {row.remark!r} says neither Required nor optional",
            "sent in every valid request; its absence is not judged" if side == "request" else "optional",
        )  # fmt: skip
        return side == "request", False

    def remark_reader(self, side: Side) -> Remark:
        """The Remark reader nested tables take: (sub-row, label) -> required."""
        return lambda row, label: self.remark(row, label, side)[0]

    def table_type(self, row: Row, name: str, side: Side) -> str | None:
        json_type = doc_type_to_json(row.type)
        if json_type is None and "type" not in self.doc.missing_columns.get(side, []):
            self.errata.add(
                f"{side}.{name}.unknown-type", row.line, f"{name} has the data type {row.type!r}, which is not one "
                f"this tool knows ({', '.join(sorted(set(DOC_TYPES)))})",
                "typed by its example when it has one; its type is not judged",
            )  # fmt: skip
        return json_type

    def _remark_as_description(self, side: Side) -> None:
        """`| Name | | Data Type | Remark |` whose Remark describes the fields: a description column in all but name."""
        columns = self.doc.columns.get(side, set())
        rows = self.doc.tables[side]
        if "description" in columns or "remark" not in columns or not rows:
            return
        every = [r for row in rows for r in (row, *row.children)]
        if any(_remark_word(r.remark) in (_REQUIRED_WORDS | _OPTIONAL_WORDS) - {""} for r in every):
            return

        def moved(row: Row) -> Row:
            return replace(row, description=row.remark, remark="", children=tuple(moved(c) for c in row.children))

        self.doc.tables[side] = [moved(r) for r in rows]
        self.doc.missing_columns.setdefault(side, []).append("remark")
        self.errata.add(
            f"{side}.table.remark-is-description", self.doc.table_lines[side],
            f"the {side} table has no Description column, and its Remark column describes the fields "
            "(no row says Required or Optional)",
            "the Remark column is read as each field's description; no column says which fields are required",
        )  # fmt: skip


def _remark_word(remark: str) -> str:
    first = re.match(r"[^\W\d_]+", remark.strip().lower())
    return first.group(0) if first else ""


def _find_row(rows: list[Row], names: tuple[str, ...]) -> Row | None:
    lowered = [n.lower() for n in names]
    return next((r for r in rows if r.name.lower() in lowered), None)
