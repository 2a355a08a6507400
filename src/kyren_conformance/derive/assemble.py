"""Derive a method's contract and JSON Schemas (2020-12) from its provider document.

Method and path come from the examples; fields, types, required/optional and the source clause from
the tables; example values from the JSON blocks. Where the document contradicts itself, nothing is
hidden: each contradiction becomes a numbered erratum quoting its clause, marked for review, with the
decision DESIGN.md takes for that kind (E1, E2, ...). On the request side the decisions follow one
principle: the suite sends what every reading of the document accepts, and demands a refusal only
for what no reading accepts, so a server is never failed for having picked one reading.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import ftfy
import jsonschema

from kyren_conformance.contract import JSON_TYPES
from kyren_conformance.derive.document import DocumentError, MethodDoc, NotAMethodDocument, Row, Side, read_method_doc
from kyren_conformance.derive.json_repair import RepairError
from kyren_conformance.derive.names import pair_names
from kyren_conformance.derive.nested import nested_schema
from kyren_conformance.derive.rules import suite_rules
from kyren_conformance.derive.values import (
    DIGITS,
    DOC_TYPES,
    doc_type_to_json,
    fits,
    is_decimal_string,
    is_json_block,
    is_placeholder,
    json_type_of,
    kind_of,
    number_or_its_digits,
    parse_json_example,
    plain_schema,
)
from kyren_conformance.options import GENERIC_OPTIONS

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID_BASE = "https://kyren-conformance.invalid/schemas/"

# Kyren's generic fields: every method that has one reads it from the same option (options.py).
_GENERIC_ROLES: dict[str, dict[str, Any]] = {
    # the mock's partner id stays the same from one start to the next; its token never does
    "secureLogin": {"role": "credential", "option": "secure_login", "mock_value": "kyren-mock-partner"},
    "token": {"role": "credential", "secret": True, "option": "token_file"},
    "userId": {"role": "value", "option": "user_id"},
    "gameId": {"role": "value", "option": "game_id"},
}
_ENV = {o.dest: o.env for o in GENERIC_OPTIONS}
GENERIC_FIELDS = {name: {**spec, "env": _ENV[spec["option"]]} for name, spec in _GENERIC_ROLES.items()}
REQUEST_ID_NAMES = ("uuid",)
CODE_FIELD_NAMES = ("error", "errorCode", "code", "resultCode")
DESCRIPTION_FIELD_NAMES = ("description", "message", "errorDescription")

_REQUIRED_WORDS = {"required", "mandatory", "yes", "y", "m", "true", "必須"}
_OPTIONAL_WORDS = {"optional", "no", "n", "o", "false", "conditional", ""}
# two searches, not one `unique id.*each request`: a line of many 'unique id' stays linear
_UNIQUE_ID = re.compile(r"\bunique\s+id\b", re.IGNORECASE)
_EACH_REQUEST = re.compile(r"\b(each|every)\s+request\b", re.IGNORECASE)
_HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_BODY_METHODS = ("POST", "PUT", "PATCH")
_TABLE_HEADER = "Name | Data Type | Description | Remark"
Required = str | tuple[str, str]  # a name, or the two spellings of one field (either satisfies it)


@dataclass
class Erratum:
    """A contradiction or gap of the document and the decision taken; `key` stays stable across runs."""

    key: str
    line: int
    clause: str
    document: str
    decision: str
    id: str = ""
    review: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "key": self.key, "line": self.line, "clause": self.clause,
            "document": self.document, "decision": self.decision, "review": self.review,
        }  # fmt: skip


@dataclass
class Derived:
    """What derive makes of one document: file stem, contract and schemas, all plain JSON data."""

    name: str
    contract: dict[str, Any]
    request_schema: dict[str, Any]
    response_schema: dict[str, Any]
    errata: list[Erratum] = field(default_factory=list)
    title_name: str = ""  # the files' name after the title, for when another document has the URL's name


def title_kebab(title: str) -> str:
    """`Auto Closing` -> `auto-closing`."""
    return "-".join("".join(c if c.isalnum() else " " for c in title.lower()).split())


def rename(derived: Derived, name: str) -> None:
    """Name the derived files `name` (two documents name the same URL segment)."""
    derived.name = name
    derived.contract["schemas"] = {"request": f"{name}.request.schema.json", "response": f"{name}.response.schema.json"}
    derived.request_schema["$id"] = f"{SCHEMA_ID_BASE}{name}.request.schema.json"
    derived.response_schema["$id"] = f"{SCHEMA_ID_BASE}{name}.response.schema.json"


def kebab(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).lower()


class _Deriving:
    """The state of one derivation: the document, the errata found so far."""

    def __init__(self, doc: MethodDoc) -> None:
        self.doc = doc
        self.errata: list[Erratum] = []
        self._examples: dict[Side, tuple[dict[str, Any] | None, int]] = {}
        self._pairs: dict[Side, dict[str, str]] = {}
        self.code_row: Row | None = None
        self.description_row: Row | None = None
        for side in ("request", "response"):
            self._remark_as_description(side)

    def erratum(self, key: str, line: int, document: str, decision: str) -> None:
        clause = " ".join(self.doc.lines[line - 1].split()) if 0 < line <= len(self.doc.lines) else ""
        self.errata.append(Erratum(key, line, clause, document, decision))

    def fixed(self, text: str, key: str, line: int, what: str) -> str:
        """The text with damaged encoding repaired (ftfy); each repair is an erratum."""
        repaired = ftfy.fix_encoding(text)
        if repaired != text:
            words, repaired_words = set(text.split()), set(repaired.split())  # sets: a long line stays linear
            damaged = [w for w in text.split() if w not in repaired_words]
            self.erratum(
                key, line,
                f"{what} has damaged encoding: {' '.join(damaged)!r}",
                f"read as {' '.join(w for w in repaired.split() if w not in words)!r} "
                "(UTF-8 shown as Windows-1252)",
            )  # fmt: skip
        return repaired

    def prose_encoding(self) -> None:
        """Damaged encoding in the prose changes no check, but it is the document's mistake all the same."""
        for line, text in self.doc.prose:
            if ftfy.fix_encoding(text) != text:
                damaged = next(w for w in text.split() if ftfy.fix_encoding(w) != w).strip(".,;:()!?\"'")
                self.fixed(text, f"text.{damaged}.encoding", line, "the text")

    # -- the pieces of the document --------------------------------------------------------------

    def examples(self, side: Side) -> tuple[dict[str, Any] | None, int]:
        """The side's example body and its line. A response side may also show error examples: the
        example of a successful response is the one whose result code is 0, else the first."""
        if side not in self._examples:
            self._examples[side] = self._find_example(side)
        return self._examples[side]

    def _find_example(self, side: Side) -> tuple[dict[str, Any] | None, int]:
        found: list[tuple[dict[str, Any], int]] = []
        for block in self.doc.blocks:
            if block.side == side and is_json_block(block):
                value = self._read_example(side, block.line, block)
                if value is not None:
                    found.append((value, block.line))
        if not found:
            return None, 0
        if side == "response":
            for value, line in found:
                if any(value.get(name) in (0, "0") for name in CODE_FIELD_NAMES):
                    return value, line
        return found[0]

    def _read_example(self, side: Side, line: int, block: Any) -> dict[str, Any] | None:
        """The example's object, repaired where one reading exists; None (an erratum says why) when it is not used."""
        where = f"the {side} example (line {line})"
        taken = any(e.key.startswith(f"{side}.example.") for e in self.errata)
        key = f"{side}.example@{line}" if taken else f"{side}.example"
        try:
            repaired = parse_json_example(block)
        except RepairError as exc:
            self.erratum(f"{key}.unreadable", line, f"{where} is not JSON and has no single repair: {exc}",
                         "not used: the fields come from the table alone")  # fmt: skip
            return None
        if repaired.repairs:
            counted = {r: repaired.repairs.count(r) for r in repaired.repairs}
            named = "; ".join(r if n == 1 else f"{r} (x{n})" for r, n in counted.items())
            self.erratum(f"{key}.json-repaired", line, f"{where} is not valid JSON",
                         f"read with these repairs: {named}")  # fmt: skip
        if not isinstance(repaired.value, dict):
            self.erratum(f"{key}.not-an-object", line, f"{where} is not a JSON object", "not used")
            return None
        return repaired.value

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
                self.erratum(
                    f"{side}.{row.name}.spelling", row.line,
                    f"the table names {row.name}, the example (line {example_line}) spells it {other}",
                    f"one field spelt two ways ({row.name} / {other}): {decision}",
                )  # fmt: skip

    def _remark_as_description(self, side: Side) -> None:
        """`| Name | | Data Type | Remark |` whose Remark describes the fields: a description column in all but name."""
        columns = self.doc.columns.get(side, set())
        rows = self.doc.tables[side]
        if "description" in columns or "remark" not in columns or not rows:
            return
        every = [r for row in rows for r in (row, *row.children)]
        if any(self._remark_word(r.remark) in (_REQUIRED_WORDS | _OPTIONAL_WORDS) - {""} for r in every):
            return

        def moved(row: Row) -> Row:
            return replace(row, description=row.remark, remark="", children=tuple(moved(c) for c in row.children))

        self.doc.tables[side] = [moved(r) for r in rows]
        self.doc.missing_columns.setdefault(side, []).append("remark")
        self.erratum(
            f"{side}.table.remark-is-description", self.doc.table_lines[side],
            f"the {side} table has no Description column, and its Remark column describes the fields "
            "(no row says Required or Optional)",
            "the Remark column is read as each field's description; no column says which fields are required",
        )  # fmt: skip

    @staticmethod
    def _remark_word(remark: str) -> str:
        first = re.match(r"[^\W\d_]+", remark.strip().lower())
        return first.group(0) if first else ""

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

    def http(self) -> tuple[str, str, str, int]:
        """(method, path, content type, line of the path)."""
        method, path, content_type, path_line, method_line = "", "", "", 0, 0
        for block in self.doc.blocks:
            if is_json_block(block):
                continue
            for offset, line in enumerate(block.text.splitlines(), start=1):
                if re.match(r"^\s*[A-Za-z-]+\s*:\s", line) and not re.match(r"^\s*content-type\s*:", line, re.I):
                    continue  # another header (Accept: application/json) is not a URL
                words = re.sub(r"<[^<>]*>|\{[^{}]*\}", "HOST", line).split()
                if words and words[0].upper() in _HTTP_METHODS and not method:
                    method, method_line = words[0].upper(), block.line + offset
                    words = words[1:]
                header = re.match(r"^\s*content-type\s*:\s*(\S.*?)\s*$", line, re.IGNORECASE)
                if header and not content_type:
                    content_type = header.group(1)
                    continue
                for word in words:
                    url = urlsplit(word)
                    candidate = url.path if url.scheme in ("http", "https") else word if word.startswith("/") else ""
                    if not candidate and re.match(r"^(HOST|[\w.-]+\.[a-z]{2,}(:\d+)?)/", word):  # a URL without scheme
                        candidate = "/" + word.split("/", 1)[1]
                    if candidate and not path and re.fullmatch(r"/[\w.~/-]*", candidate):
                        path, path_line = candidate.rstrip("/") or "/", block.line + offset
        if not path:
            raise DocumentError(
                f"{self.doc.path}: no URL found: expected an example block such as 'https://<API URL>/v1/Method'"
            )
        if not method:
            method = "POST"
            self.erratum("http.method", path_line, "no METHOD example", "POST, as every Kyren method with a JSON body")
        elif method not in _BODY_METHODS:
            raise DocumentError(
                f"{self.doc.path}:{method_line}: method {method}: the suite checks methods that take a JSON body "
                f"({', '.join(_BODY_METHODS)})"
            )
        return method, path, content_type or "application/json", path_line

    # -- request ---------------------------------------------------------------------------------

    def request_fields(self) -> tuple[list[dict[str, Any]], dict[str, Any], list[str]]:
        """The contract's fields, the request schema's properties and the names its table requires."""
        rows = self.doc.tables["request"]
        if not rows:
            raise DocumentError(f"{self.doc.path}: no request parameter table ({_TABLE_HEADER})")
        self.table_gaps("request")
        original, example_line = self.examples("request")
        example = self.aliased_example("request")
        pairs = self.pairs("request")
        self.note_pairs(
            "request",
            "the suite sends both spellings with the example's value, as a server may read "
            "either; the absence of neither is judged, and the request schema requires one of the two",
        )
        fields: list[dict[str, Any]] = []
        properties: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for row in rows:
            name = self.fixed(row.name, f"request.{row.name}.name-encoding", row.line, f"the name {row.name!r}")
            if name in seen:
                self.erratum(
                    f"request.{name}.duplicate", row.line, f"{name} is listed twice (first at line {seen[name]})",
                    "the first row is used",
                )  # fmt: skip
                continue
            seen[name] = row.line
            description = self.fixed(row.description, f"request.{name}.encoding", row.line, f"{name}'s description")
            entry, prop = self.request_field(row, name, description, example, example_line)
            if row.name in pairs and entry["required"]:
                entry["judge_missing"] = False  # a server reading the other spelling never misses this one
            fields.append(entry)
            properties[name] = prop
        spelt = {other: name for name, other in pairs.items()}
        for name, value in (original or {}).items():
            if name in spelt and spelt[name] in properties:
                twin = next(f for f in fields if f["name"] == spelt[name])
                entry = {
                    **twin,
                    "name": name,
                    "judge_missing": False,
                    "source": f"Request example (line {example_line}): {name} (the table's {twin['name']})",
                }
                entry.pop("option", None)
                entry.pop("env", None)
                fields.append(entry)
                properties[name] = dict(properties[spelt[name]])
            elif name not in seen:
                entry, prop = self.example_only_field(name, value, example_line)
                fields.append(entry)
                properties[name] = prop
        self.assign_request_id(fields)
        return fields, properties, [f["name"] for f in fields if f["required"] and f["name"] in seen]

    def request_field(
        self, row: Row, name: str, description: str, example: dict[str, Any] | None, example_line: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        required, judge_missing = self.remark(row, name, "request")
        value = example.get(name) if example else None
        has_value = example is not None and name in example and not is_placeholder(value)
        if has_value and GENERIC_FIELDS.get(name, {}).get("secret"):
            has_value, value = False, None
            self.secret_example(name, row.line, example_line)
        json_type = self.table_type(row, name, "request")
        judge_type = True
        if row.children:
            types = [json_type or ("array" if isinstance(value, list) else "object")]
            remark = self._child_remark("request")
            prop: dict[str, Any] = nested_schema(row, name, value, "request", self._request_child, remark, self.erratum)
        elif json_type is None:
            types = [json_type_of(value)] if has_value and value is not None else list(JSON_TYPES)
            judge_type = False
            prop = {"type": types if len(types) > 1 else types[0]}
        elif has_value and not fits(json_type_of(value), json_type):
            types, prop = self.request_type_conflict(row, name, json_type, value)
        else:
            types, prop = [json_type], plain_schema(json_type)
        if required and example is not None and name not in example:
            judge_missing = False
            self.erratum(
                f"request.{name}.not-in-example", row.line,
                f"{name} is Required, yet the example body (line {example_line}) does not send it",
                "the suite sends it in every valid request, and never demands a refusal when it is missing",
            )  # fmt: skip
        if GENERIC_FIELDS.get(name, {}).get("role") == "credential" and types != ["string"]:
            self.erratum(
                f"request.{name}.credential-type", row.line, f"{name} is a credential typed {row.type!r}",
                "a string: a credential is compared as text",
            )  # fmt: skip
            types, prop, judge_type = ["string"], plain_schema("string"), True
            has_value = has_value and isinstance(value, str)
        entry = self.field_entry(name, types, required, row_source("Request", row), description)
        if has_value:
            entry["example"] = value
        if not judge_missing:
            entry["judge_missing"] = False
        if not judge_type:
            entry["judge_type"] = False
        prop["description"] = description
        return entry, prop

    def secret_example(self, name: str, line: int, example_line: int) -> None:
        self.erratum(
            f"request.{name}.secret-example", line,
            f"the example (line {example_line}) shows a literal value for the secret {name}, not a <placeholder>",
            "kept neither as its example nor as the mock's value: a secret in a contract is guessable; the suite "
            "sends the configured one and the mock makes a random one",
        )  # fmt: skip

    def _request_child(
        self, row: Row, label: str, example: dict[str, Any] | None, required: bool
    ) -> tuple[dict[str, Any], bool]:
        json_type = self.table_type(row, label, "request")
        return (plain_schema(json_type) if json_type else {}), required

    def _child_remark(self, side: Side) -> Any:
        return lambda row, label: self.remark(row, label, side)[0]

    def request_type_conflict(
        self, row: Row, name: str, json_type: str, value: Any
    ) -> tuple[list[str], dict[str, Any]]:
        sent = json_type_of(value)
        said = f"{name} is typed {row.type!r}, yet the example sends {json.dumps(value)}"
        if json_type == "string" and sent in ("integer", "number"):
            self.erratum(
                f"request.{name}.type", row.line, said,
                f"as DESIGN.md E1: accept a JSON {sent} or a string of its digits; the suite sends the example's form",
            )  # fmt: skip
            return [sent, "string"], number_or_its_digits(sent)
        if sent == "string" and json_type in ("number", "integer"):
            decision = f"as DESIGN.md E2: a string, as the example shows; the table's {json_type} is accepted too"
        else:
            decision = f"accept both readings (a JSON {json_type} or {sent}); the suite sends the example's form"
        self.erratum(f"request.{name}.type", row.line, said, decision)
        types = [sent, json_type]
        return types, {"type": types}

    def example_only_field(self, name: str, value: Any, example_line: int) -> tuple[dict[str, Any], dict[str, Any]]:
        placeholder = is_placeholder(value)
        if not placeholder and GENERIC_FIELDS.get(name, {}).get("secret"):
            self.secret_example(name, example_line, example_line)
            placeholder = True  # its value is the configured secret, never the document's
        sent = json_type_of(value)
        types = ["string"] if placeholder or sent == "null" else [sent]
        self.erratum(
            f"request.{name}.not-in-table", example_line,
            f"the example body sends {name}, which the parameter table does not list",
            "sent only when --field gives a value; neither its absence nor its type is judged" if placeholder
            else "the suite sends it as the example shows; neither its absence nor its type is judged",
        )  # fmt: skip
        source = f"Request example (line {example_line}): {name} (not in the table)"
        entry = self.field_entry(name, types, not placeholder, source, "")
        if not placeholder:
            entry["example"] = value
        entry["judge_missing"] = False
        entry["judge_type"] = False
        prop = plain_schema(types[0]) if types[0] != "string" else {"type": "string"}
        return entry, prop

    def field_entry(self, name: str, types: list[str], required: bool, source: str, description: str) -> dict[str, Any]:
        generic = GENERIC_FIELDS.get(name, {})
        entry: dict[str, Any] = {
            "name": name,
            "type": types[0] if len(types) == 1 else types,
            "required": required,
            "secret": generic.get("secret", False),
            "role": generic.get("role", "value"),
            "source": source,
        }
        for key in ("option", "env", "mock_value"):
            if key in generic:
                entry[key] = generic[key]
        entry["description"] = description
        return entry

    def assign_request_id(self, fields: list[dict[str, Any]]) -> None:
        """`uuid` ("a unique ID for each request") is fresh in every request and replay-checked (M7)."""
        for entry in sorted(fields, key=lambda e: e["name"] not in REQUEST_ID_NAMES):  # by name first, else description
            unique = _UNIQUE_ID.search(entry["description"])
            each = unique and _EACH_REQUEST.search(entry["description"], unique.end())
            said = entry["name"] in REQUEST_ID_NAMES or each
            if said and entry["type"] == "string" and entry["required"] and entry["role"] == "value":
                entry["role"] = "request_id"
                entry.pop("example", None)
                return

    # -- response --------------------------------------------------------------------------------

    def response_schema_parts(self) -> tuple[dict[str, Any], list[Required], list[Required], dict[str, Any]]:
        """(properties, always-required names, required-on-success names, result description); a field the
        document spells two ways is required as one of the two, a (table name, example name) pair."""
        rows = self.doc.tables["response"]
        if not rows:
            raise DocumentError(f"{self.doc.path}: no response parameter table ({_TABLE_HEADER})")
        self.table_gaps("response")
        _, example_line = self.examples("response")
        example = self.aliased_example("response")
        pairs = self.pairs("response")
        self.note_pairs("response", "a server may send either spelling: the schema accepts both, and a Required "
                        "field is required as one of the two")  # fmt: skip
        code_row = self.find_code_row()
        if code_row is None:
            raise DocumentError(
                f"{self.doc.path}:{self.doc.table_lines['response']}: no result-code field in the response table "
                f"(expected one of {', '.join(CODE_FIELD_NAMES)}, or a description saying 'code of error')"
            )
        description_row = self.find_description_row()
        self.code_row, self.description_row = code_row, description_row
        properties: dict[str, Any] = {}
        on_success: list[Required] = []
        for row in rows:
            name = self.fixed(row.name, f"response.{row.name}.name-encoding", row.line, f"the name {row.name!r}")
            if name in properties:
                continue
            description = self.fixed(row.description, f"response.{name}.encoding", row.line, f"{name}'s description")
            required, _ = self.remark(row, name, "response")
            if row is code_row:
                properties[name] = self.code_schema(row, example)
            else:
                if row is description_row:
                    properties[name], required = self.description_schema(row, name, example, required)
                elif row.children:
                    value = example.get(name) if example else None
                    properties[name] = nested_schema(row, name, value, "response", self._response_child,
                                                     self._child_remark("response"), self.erratum)  # fmt: skip
                else:
                    properties[name], required = self.response_value_schema(row, name, example, required)
                if required and example is not None and name not in example:
                    required = False
                    self.erratum(
                        f"response.{name}.not-in-example", row.line,
                        f"{name} is Required, yet the example of a successful response (line {example_line}) "
                        "does not carry it",
                        "optional: checked only when present",
                    )  # fmt: skip
                if required:
                    on_success.append((name, pairs[row.name]) if row.name in pairs else name)
            properties[name]["description"] = description
            if row.name in pairs:
                properties.setdefault(pairs[row.name], dict(properties[name]))
        for name in example or {}:
            if name not in properties:
                self.erratum(
                    f"response.{name}.not-in-table", example_line,
                    f"the response example carries {name}, which the response table does not list",
                    "allowed and not checked (a response may carry extra fields)",
                )  # fmt: skip
        result = self.result(code_row, description_row, example, example_line)
        always: Required = (code_row.name, pairs[code_row.name]) if code_row.name in pairs else code_row.name
        return properties, [always], on_success, result

    def _response_child(
        self, row: Row, label: str, example: dict[str, Any] | None, required: bool
    ) -> tuple[dict[str, Any], bool]:
        return self.response_value_schema(row, row.name, example, required, label=label)

    def response_example_fits(self, schema: dict[str, Any], result: dict[str, Any]) -> bool:
        """The mock answers the documented success body (code and description its own): it must fit the schema."""
        example, line = self.examples("response")
        if example is None:
            return True
        body = {**example, result["code_field"]: result["success_code"]}
        if "description_field" in result:
            body[result["description_field"]] = "Success"
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(body))
        if error is None:
            return True
        where = "/".join(map(str, error.absolute_path)) or "(top level)"
        self.erratum("response.example.does-not-fit", line,
                     f"the example of a successful response (line {line}) does not fit the response table: "
                     f"at {where}, {error.message[:200]}",
                     "not kept as the contract's response example (the mock's success body)")  # fmt: skip
        return False

    def code_schema(self, row: Row, example: dict[str, Any] | None) -> dict[str, Any]:
        """The result code accepts an integer or a digit string whatever the table says: DESIGN.md E1."""
        value = example.get(row.name) if example else None
        said_type = self.table_type(row, row.name, "response")
        if value is not None and said_type is not None and not fits(json_type_of(value), said_type):
            self.erratum(
                f"response.{row.name}.type", row.line,
                f"{row.name} is typed {row.type!r}, yet the example sends the {kind_of(value)} {json.dumps(value)}",
                "accept a JSON integer or a string of decimal digits; record the form used; "
                "mixing both forms is a SHOULD warning (S6)",
            )  # fmt: skip
        return {"oneOf": [{"type": "integer"}, {"type": "string", "pattern": DIGITS}]}

    def description_schema(
        self, row: Row, name: str, example: dict[str, Any] | None, required: bool
    ) -> tuple[dict[str, Any], bool]:
        """The description is text whatever the table says (the suite reads it, S3): DESIGN.md E2."""
        said_type = doc_type_to_json(row.type)
        value = example.get(name) if example else None
        if said_type in (None, "string"):
            self.table_type(row, name, "response")  # an unknown type is still an erratum
            return {"type": "string"}, required
        if isinstance(value, str) and not is_placeholder(value):
            return self.response_value_schema(row, name, example, required)
        self.erratum(
            f"response.{name}.type", row.line, f"{name} is typed {row.type!r}, yet it is the response's description",
            "as DESIGN.md E2: optional; when present it must be a string",
        )  # fmt: skip
        return {"type": "string"}, False

    def response_value_schema(
        self, row: Row, name: str, example: dict[str, Any] | None, required: bool, label: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """`label` names a sub-field in errata (`gameList[].rtp`); `name` is its key in `example`."""
        label = label or name
        said_type = self.table_type(row, label, "response")
        value = example.get(name) if example else None
        has_value = example is not None and name in example and not is_placeholder(value) and value is not None
        if said_type is None:
            return ({"type": json_type_of(value)} if has_value else {}), required
        if not has_value or fits(json_type_of(value), said_type):
            return plain_schema(said_type, min_length=False), required
        sent = json_type_of(value)
        shown = json.dumps(value)
        said = f"{label} is typed {row.type!r}, yet the example is {shown if len(shown) < 120 else shown[:117] + '...'}"
        if said_type == "string" and sent in ("integer", "number"):
            self.erratum(
                f"response.{label}.type", row.line, said,
                f"as DESIGN.md E1: accept a JSON {sent} or a string of its digits",
            )  # fmt: skip
            return number_or_its_digits(sent), required
        if sent == "string" and said_type in ("number", "integer"):
            if is_decimal_string(value) and (said_type == "number" or re.match(DIGITS, str(value))):
                self.erratum(
                    f"response.{label}.type", row.line, said,
                    f"both readings: a JSON {said_type} as the table says, or a string of "
                    f"{'digits' if said_type == 'integer' else 'a decimal'} as the example shows; "
                    + ("still Required" if required else "optional as the table says"),
                )  # fmt: skip
                return number_or_its_digits(said_type), required
            self.erratum(f"response.{label}.type", row.line, said, "optional; when present it must be a string")
            return {"type": "string"}, False
        self.erratum(f"response.{label}.type", row.line, said, f"accept both readings (a JSON {said_type} or {sent})")
        return {"type": [said_type, sent]}, required

    def result(
        self, code_row: Row, description_row: Row | None, example: dict[str, Any] | None, example_line: int
    ) -> dict[str, Any]:
        code = example.get(code_row.name) if example else None
        if isinstance(code, str) and re.match(DIGITS, code):
            code = int(code)
        if not isinstance(code, int) or isinstance(code, bool):
            self.erratum(
                f"response.{code_row.name}.success-code", example_line or code_row.line,
                f"no success value of {code_row.name} in an example of a successful response",
                "0 is success",
            )  # fmt: skip
            code = 0
        result: dict[str, Any] = {"code_field": self.contract_name(code_row), "success_code": code}
        if description_row is not None:
            result["description_field"] = self.contract_name(description_row)
        return result

    # -- shared ----------------------------------------------------------------------------------

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
            self.erratum(f"{side}.table.no-{column}-column", line, f"the {side} table has no {column} column",
                         decisions[column])  # fmt: skip

    def remark(self, row: Row, name: str, side: Side) -> tuple[bool, bool]:
        """(required, judge_missing) from the Remark column."""
        if "remark" in self.doc.missing_columns.get(side, []):
            return side == "request", False
        word = self._remark_word(row.remark)
        if word in _REQUIRED_WORDS:
            return True, True
        if word in _OPTIONAL_WORDS:
            return False, True
        self.erratum(
            f"{side}.{name}.remark", row.line, f"{name}'s remark {row.remark!r} says neither Required nor optional",
            "sent in every valid request; its absence is not judged" if side == "request" else "optional",
        )  # fmt: skip
        return side == "request", False

    def table_type(self, row: Row, name: str, side: Side) -> str | None:
        json_type = doc_type_to_json(row.type)
        if json_type is None and "type" not in self.doc.missing_columns.get(side, []):
            self.erratum(
                f"{side}.{name}.unknown-type", row.line, f"{name} has the data type {row.type!r}, which is not one "
                f"this tool knows ({', '.join(sorted(set(DOC_TYPES)))})",
                "typed by its example when it has one; its type is not judged",
            )  # fmt: skip
        return json_type


def row_source(side: str, row: Row) -> str:
    return f"{side} Parameters (line {row.line}): {row.name} | {row.type} | {row.remark or '(no remark)'}"


def _find_row(rows: list[Row], names: tuple[str, ...]) -> Row | None:
    lowered = [n.lower() for n in names]
    return next((r for r in rows if r.name.lower() in lowered), None)


def _required(names: list[Required]) -> dict[str, Any]:
    """`required` for plain names; for a field spelt two ways, one of the two (`anyOf`)."""
    schema: dict[str, Any] = {"required": [n for n in names if isinstance(n, str)]}
    pairs = [{"anyOf": [{"required": [a]}, {"required": [b]}]} for n in names if not isinstance(n, str) for a, b in [n]]
    if pairs:
        schema["allOf"] = pairs
    return schema


def _not_a_method(doc: MethodDoc) -> None:
    """An overview page, or a page whose tables sit outside any Request/Response section."""
    if not doc.tables["request"] and not doc.tables["response"]:
        what = "its tables list methods or codes, not parameters" if doc.stray_tables else "it has no tables"
        raise NotAMethodDocument(
            f"{doc.path}: not a method document: an overview page, with no request or response parameter table ({what})"
        )
    if doc.stray_tables:
        raise DocumentError(
            f"{doc.path}:{doc.stray_tables[0]}: a parameter table outside any 'Request' or 'Response' section; "
            "put it under a heading that says which"
        )


def derive(doc_path: str, text: str, document_ref: str) -> Derived:
    """Derive the contract and schemas of the method `text` documents; raise DocumentError naming the line
    (NotAMethodDocument for a page that documents no method)."""
    doc = read_method_doc(doc_path, text)
    _not_a_method(doc)
    state = _Deriving(doc)
    state.check_family()
    if doc.unclosed_fence:
        state.erratum("document.unclosed-fence", doc.unclosed_fence,
                      f"the code block opened at line {doc.unclosed_fence} is never closed",
                      "closed at the end of the file, as CommonMark does")  # fmt: skip
    http_method, path, content_type, _ = state.http()
    method = path.rstrip("/").rsplit("/", 1)[-1]
    if not re.match(r"^[A-Za-z][A-Za-z0-9]*$", method):
        raise DocumentError(f"{doc_path}: the URL's last segment {method!r} is not a method name such as CloseSession")
    name = kebab(method)
    fields, request_properties, table_required = state.request_fields()
    properties, always, on_success, result = state.response_schema_parts()
    title = state.fixed(doc.title, "title.encoding", doc.title_line, "the title")
    state.prose_encoding()
    request_pairs = state.pairs("request")

    request_schema = {
        "$schema": SCHEMA_DIALECT,
        "$id": f"{SCHEMA_ID_BASE}{name}.request.schema.json",
        "title": f"{title} request",
        "description": f"Body of {http_method} {path}, derived from {document_ref} (request parameters table).",
        "type": "object",
        **_required([(n, request_pairs[n]) if n in request_pairs else n for n in table_required]),
        "properties": request_properties,
        "additionalProperties": False,
    }
    response_schema: dict[str, Any] = {
        "$schema": SCHEMA_DIALECT,
        "$id": f"{SCHEMA_ID_BASE}{name}.response.schema.json",
        "title": f"{title} response",
        "description": f"Body of every {title} answer, derived from {document_ref} (response parameters table). "
        "A response may carry extra fields.",
        "type": "object",
        **_required(always),
        "properties": properties,
        "additionalProperties": True,
    }
    if on_success:  # an error answer carries the code (and description) only
        code_field, success = result["code_field"], result["success_code"]
        response_schema["if"] = {
            "properties": {code_field: {"enum": [success, str(success)]}},
            "required": [code_field],
        }
        response_schema["then"] = _required(on_success)
    keep_example = state.response_example_fits(response_schema, result)

    errata = sorted(state.errata, key=lambda e: (e.line, e.key))
    for number, erratum in enumerate(errata, start=1):
        erratum.id = f"E{number}"
    contract = _contract(doc, state, name, method, title, document_ref, (http_method, path, content_type), result,
                         fields, errata)  # fmt: skip
    if not keep_example:
        contract.pop("response_example", None)
    return Derived(name, contract, request_schema, response_schema, errata, title_kebab(title))


def _contract(
    doc: MethodDoc,
    state: _Deriving,
    name: str,
    method: str,
    title: str,
    document_ref: str,
    http: tuple[str, str, str],
    result: dict[str, Any],
    fields: list[dict[str, Any]],
    errata: list[Erratum],
) -> dict[str, Any]:
    code_row, description_row = state.code_row, state.description_row
    assert code_row is not None  # response_schema_parts found it
    request_id = next((f for f in fields if f["role"] == "request_id"), None)
    response_example, _ = state.examples("response")
    clauses = {
        "code_field": result["code_field"],
        "success_code": result["success_code"],
        "request_line": doc.table_lines["request"],
        "response_line": doc.table_lines["response"],
        "required": ", ".join(f["name"] for f in fields if f["required"] and f.get("judge_missing", True)),
        "credentials": ", ".join(f["name"] for f in fields if f["role"] == "credential") or "no credential field",
        "content_type": http[2],
        "request_id": f"{request_id['name']} '{request_id['description']}'" if request_id else "no request id",
        "code_description": code_row.description,
        "code_type": code_row.type,
        "code_example": json.dumps((response_example or {}).get(code_row.name)),
        "description_clause": f"{description_row.name} '{description_row.description}'"
        if description_row
        else "no description field",
    }
    contract: dict[str, Any] = {
        "$schema": "../schemas/contract.schema.json",
        "contract_version": 1,
        "method": method,
        "title": title,
        "source": {"document": document_ref, "received": "derived by `kyren-conformance derive`"},
        "http": {"method": http[0], "path": http[1], "content_type": http[2]},
        "schemas": {"request": f"{name}.request.schema.json", "response": f"{name}.response.schema.json"},
        "result": result,
        "fields": fields,
        "rules": suite_rules(clauses),
        "errata": [e.as_json() for e in errata],
    }
    if response_example is not None:
        contract["response_example"] = response_example
    return contract
