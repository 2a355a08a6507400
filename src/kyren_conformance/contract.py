"""Load a method contract (contracts/*.json), validate it, and expose it as plain data.

Everything the engine knows about a method's fields comes from here.
"""

from __future__ import annotations

import copy
import json
import math
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as _attribute
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urljoin

import jsonschema
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT202012

from kyren_conformance.resources import data_dir

Level = Literal["MUST", "SHOULD"]
Role = Literal["credential", "request_id", "value"]
JSON_TYPES = ("string", "number", "integer", "boolean", "object", "array")  # a field's `type` names these
# The kinds of defect a provider's Error Code page may name codes for (the contract's `codes.kinds`).
CODE_KINDS = ("missing_field", "bad_credentials", "unknown_user", "already_exists")
_ARTICLE = {"integer": "an", "object": "an", "array": "an"}


class ContractError(ValueError):
    """A contract file that cannot be used; the message names the file and the bad key."""


@dataclass(frozen=True)
class Field:
    name: str
    type: str | tuple[str, ...]  # as the contract gives it: one JSON type, or several
    required: bool
    secret: bool
    role: Role
    source: str
    option: str | None = None
    env: str | None = None
    mock_value: Any = _attribute(default=None, hash=False)  # None: not given (null is no field's type)
    description: str = ""
    example: Any = _attribute(default=None, hash=False)  # the value the provider's document shows
    judge_missing: bool = True  # False: the document is unsure the field is required (no M3 case, no S1)
    judge_type: bool = True  # False: no M4 wrong-type cases

    @property
    def types(self) -> tuple[str, ...]:
        """The JSON types a valid value may have ("number" includes integers, as in JSON Schema)."""
        return (self.type,) if isinstance(self.type, str) else tuple(self.type)

    def accepts(self, value: Any) -> bool:
        return is_of_type(value, self.types)


def is_of_type(value: Any, types: Iterable[str]) -> bool:
    """Whether a JSON value is of one of `types`, read as JSON Schema does (a bool is no number; 2.0 is an integer)."""
    return any(_is_of(value, t) for t in types)


def _is_of(value: Any, json_type: str) -> bool:
    if json_type == "string":
        return isinstance(value, str)
    if json_type == "boolean":
        return isinstance(value, bool)
    if json_type == "object":
        return isinstance(value, dict)
    if json_type == "array":
        return isinstance(value, list)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False  # NaN and infinities are not JSON
    return json_type == "number" or (json_type == "integer" and (isinstance(value, int) or value.is_integer()))


_PLACEHOLDERS: dict[str, Any] = {"number": 1.5, "integer": 1, "boolean": True, "object": {}, "array": []}


def placeholder(json_type: str, text: str) -> Any:
    """A valid value of `json_type` for a field no one gave a value: `text` for a string."""
    return text if json_type == "string" else copy.deepcopy(_PLACEHOLDERS[json_type])


def mock_default(f: Field) -> Any:
    """A mock's own value of a field: its mock value, else the document's example, else one of its first type
    (a random string: a secret with no mock value must not be guessable)."""
    # A secret's example is never used: a document showing `"token": "token"` must not make the mock's guessable.
    for known in (f.mock_value,) if f.secret else (f.mock_value, f.example):
        if known is not None and known != "":
            return known
    return placeholder(f.types[0], secrets.token_urlsafe(24))


def describe_types(types: Iterable[str]) -> str:
    """`a number`, `an integer or a boolean`: for messages."""
    return " or ".join(f"{_ARTICLE.get(t, 'a')} {t}" for t in types)


@dataclass(frozen=True)
class Rule:
    id: str
    level: Level
    title: str
    source: str


@dataclass(frozen=True)
class Erratum:
    id: str
    document: str
    decision: str
    key: str | None = None  # what the contradiction is about (a field, a code, ...)
    line: int | None = None  # where in the source document
    clause: str | None = None  # the document's words
    review: bool = False  # True: the decision was taken without a person; someone should confirm it


@dataclass(frozen=True)
class Codes:
    """The provider's code table (its Error Code page): code -> description, and the codes it names per kind."""

    source: str  # the page the table was read from
    table: Mapping[int, str] = _attribute(hash=False)
    kinds: Mapping[str, tuple[int, ...]] = _attribute(default_factory=dict, hash=False)  # only the kinds it names


@dataclass(frozen=True)
class Contract:
    path: Path
    method: str
    title: str
    http_method: str
    http_path: str
    content_type: str
    code_field: str
    success_code: int
    description_field: str | None
    fields: tuple[Field, ...]
    rules: tuple[Rule, ...]
    errata: tuple[Erratum, ...]
    request_schema: dict[str, Any]
    response_schema: dict[str, Any]
    source_document: str
    response_example: dict[str, Any] | None = None  # the success body as documented
    codes: Codes | None = None  # the provider's code table, when derive was given the Error Code page
    # The schema files the schemas reference, by URI; it never retrieves: validate with `registry=` this,
    # or jsonschema fetches a reference to another file over the network.
    registry: Registry[Any] = _attribute(default_factory=lambda: Registry(), hash=False, compare=False, repr=False)

    @cached_property
    def sha256(self) -> str:
        import hashlib

        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    @property
    def required_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.required)

    @property
    def credential_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.role == "credential")

    @property
    def request_id_field(self) -> Field | None:
        return next((f for f in self.fields if f.role == "request_id"), None)

    @property
    def secret_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.secret)


# Bounds on any JSON file we read (contracts, schemas, profiles): beyond them a file is refused in one line,
# before a parser, a validator or a report can crash or stall on it.
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64  # nesting of objects and arrays: jsonschema and repr recurse through it
MAX_INT_DIGITS = 64  # no code, amount or id needs more; Python refuses to convert beyond 4300 anyway


class _Refused(ValueError):
    """A JSON value we do not accept though the text parses (NaN, a number too large)."""


def shown(path: str | Path) -> str:
    """A path as a message shows it: as is, or repr-escaped when it holds a line break or another unprintable
    character (a message is one line, and a lone surrogate from a non-UTF-8 file name cannot be printed)."""
    text = str(path)
    return text if text.isprintable() else repr(text)


def quoted(value: Any, limit: int = 60) -> str:
    """`repr(value)` for a message, kept short, and never failing (a 5,000-digit integer has no repr)."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _no_constant(constant: str) -> Any:
    raise _Refused(f"{constant} is not JSON")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:20]}{'…' if len(text) > 20 else ''} is too large")
    return value


def _too_deep(document: Any) -> bool:
    stack = [(document, 1)]
    while stack:  # iterative: the point is to not recurse
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                return True
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False


class _TooDeep(_Refused):
    def __init__(self) -> None:
        super().__init__(f"nested too deeply (at most {MAX_DEPTH} levels)")


def parse_json(text: str) -> Any:
    """Strict, bounded JSON: no NaN or Infinity, no integer of more than MAX_INT_DIGITS digits, no float that
    overflows, no nesting beyond MAX_DEPTH. Raise ValueError (json.JSONDecodeError for a syntax error)."""
    try:
        document = json.loads(text, parse_constant=_no_constant, parse_int=_bounded_int, parse_float=_finite_float)
    except RecursionError:
        raise _TooDeep() from None
    if _too_deep(document):
        raise _TooDeep()
    return document


def read_json_file(path: Path, what: str) -> Any:
    """A small, shallow JSON document in UTF-8, strictly JSON; else ContractError naming `what` and the file."""
    where = f"{what} {shown(path)}"
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:  # strerror, not str(exc): that repeats the path unescaped
        raise ContractError(f"{where}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    if len(data) > MAX_FILE_BYTES:
        raise ContractError(f"{where}: larger than {MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError(f"{where}: not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    try:
        document = parse_json(text)
    except json.JSONDecodeError as exc:
        raise ContractError(f"{where}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except _Refused as exc:
        raise ContractError(f"{where}: not JSON we accept: {exc}") from None
    except _TooDeep as exc:
        raise ContractError(f"{where}: {exc}") from None
    return document


def key_path(error: jsonschema.ValidationError, document: Any) -> str:
    """A readable location such as `fields[3].role` for a validation error."""
    parts: list[str] = []
    node = document
    for part in error.absolute_path:
        if isinstance(part, int):
            name = node[part].get("name") or node[part].get("id") if isinstance(node[part], dict) else None
            parts.append(f"[{part}]" + (f"({shown(name)})" if isinstance(name, str) and name else ""))
        else:
            parts.append(("." if parts else "") + shown(part))
        node = node[part]
    return "".join(parts) or "(top level)"


def describe_schema_error(error: jsonschema.ValidationError) -> str:
    """One short line for a JSON Schema error, quoting the bad value short."""
    if error.validator == "additionalProperties":
        return _short(f"unknown key: {error.message}")
    if error.validator == "enum":
        return f"{quoted(error.instance)} is not one of: {', '.join(map(repr, error.validator_value))}"
    return _short(error)


def _short(error: jsonschema.ValidationError | str, limit: int = 300) -> str:
    """jsonschema's message quotes the whole bad value: quote it short, and keep the line readable."""
    message = error if isinstance(error, str) else error.message.replace(repr(error.instance), quoted(error.instance))
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _check_consistency(raw: dict[str, Any]) -> None:
    names = [f["name"] for f in raw["fields"]]
    for name in names:
        if names.count(name) > 1:
            raise ContractError(f"fields: the name {name!r} appears more than once")
    ids = [r["id"] for r in raw["rules"]]
    for rule_id in ids:
        if ids.count(rule_id) > 1:
            raise ContractError(f"rules: the id {rule_id!r} appears more than once")
    for f in raw["fields"]:
        if f["role"] == "request_id" and not f["required"]:
            raise ContractError(f"fields({shown(f['name'])}).required: a request_id field must be required")
        _check_field_types(f)
    if sum(f["role"] == "request_id" for f in raw["fields"]) > 1:
        raise ContractError("fields: at most one field may have the role 'request_id'")
    _check_codes(raw)


def _check_codes(raw: dict[str, Any]) -> None:
    codes = raw.get("codes")
    if codes is None:
        return
    for code in codes["table"]:
        if len(code.strip().lstrip("-")) > MAX_INT_DIGITS:
            raise ContractError(f"codes.table: the code {quoted(code)} has more than {MAX_INT_DIGITS} digits")
    table = {int(code) for code in codes["table"]}
    if len(table) != len(codes["table"]):  # "7" and "07"
        raise ContractError("codes.table: a code appears more than once (written two ways)")
    success = raw["result"]["success_code"]
    for kind, named in codes.get("kinds", {}).items():
        absent = [code for code in named if code not in table]
        if absent:
            raise ContractError(f"codes.kinds.{kind}: {absent[0]} is not a code of codes.table")
        if success in named:
            raise ContractError(f"codes.kinds.{kind}: {success} is the success code (result.success_code)")


def _codes(raw: dict[str, Any] | None) -> Codes | None:
    if raw is None:
        return None
    table = {int(code): text for code, text in raw["table"].items()}
    kinds = {kind: tuple(named) for kind, named in raw.get("kinds", {}).items()}
    return Codes(raw["source"], table, kinds)


def _check_field_types(f: dict[str, Any]) -> None:
    types = [f["type"]] if isinstance(f["type"], str) else f["type"]
    # Credentials are compared as text and secrets masked as text; a request id is a fresh UUID string.
    for what, wanted in (("role", f["role"] in ("credential", "request_id")), ("secret", f["secret"])):
        if wanted and types != ["string"]:
            reason = f"a {f['role']} field" if what == "role" else "a secret field"
            raise ContractError(f"fields({shown(f['name'])}).type: {reason} must have type 'string', not {f['type']!r}")
    for key in ("mock_value", "example"):
        if key in f and not is_of_type(f[key], types):
            raise ContractError(f"fields({shown(f['name'])}).{key}: {quoted(f[key])} is not {describe_types(types)}")


def _field(raw: dict[str, Any]) -> Field:
    kind = raw["type"]
    return Field(**{**raw, "type": kind if isinstance(kind, str) else tuple(kind)})


def _check_response_example(raw: dict[str, Any], schema: dict[str, Any], registry: Registry[Any]) -> None:
    """The mock answers the documented example (with its own code and description): it must match the schema."""
    example = raw.get("response_example")
    if example is None:
        return
    result = raw["result"]
    body = {**example, result["code_field"]: result["success_code"]}
    if "description_field" in result:
        body[result["description_field"]] = "Success"
    error = best_match(jsonschema.Draft202012Validator(schema, registry=registry).iter_errors(body))
    if error is not None:
        where = shown("/".join(map(str, error.absolute_path))) or "(top level)"
        raise ContractError(f"response_example: does not match the response schema at {where}: {_short(error)}")


def load_contract(path: str | Path, schemas_dir: Path | None = None) -> Contract:
    """Read and validate a contract; raise ContractError (only) naming the file and the bad key."""
    path = Path(path)
    where = f"contract {shown(path)}"
    raw = read_json_file(path, "contract")
    meta = read_json_file(data_dir("schemas") / "contract.schema.json", "contract metaschema")
    error = best_match(jsonschema.Draft202012Validator(meta).iter_errors(raw))
    if error is not None:
        raise ContractError(f"{where}: {key_path(error, raw)}: {describe_schema_error(error)}")
    try:
        _check_consistency(raw)
        schemas, registry = _load_schemas(raw, schemas_dir or _schemas_dir_for(path))
        _check_response_example(raw, schemas["response"], registry)
    except ContractError as exc:
        raise ContractError(f"{where}: {exc}") from None

    http, result = raw["http"], raw["result"]
    return Contract(
        path=path.resolve(),
        method=raw["method"],
        title=raw["title"],
        http_method=http["method"],
        http_path=http["path"],
        content_type=http["content_type"],
        code_field=result["code_field"],
        success_code=result["success_code"],
        description_field=result.get("description_field"),
        fields=tuple(_field(f) for f in raw["fields"]),
        rules=tuple(Rule(**r) for r in raw["rules"]),
        errata=tuple(Erratum(**e) for e in raw["errata"]),
        request_schema=schemas["request"],
        response_schema=schemas["response"],
        source_document=raw["source"]["document"],
        response_example=raw.get("response_example"),
        codes=_codes(raw.get("codes")),
        registry=registry,
    )


def _schema_file(schemas_dir: Path, name: str, what: str) -> dict[str, Any]:
    if name in ("", ".", "..") or Path(name).name != name or "\\" in name:
        raise ContractError(f"{what}: {quoted(name)} is not a file name in the schemas folder")
    schema = read_json_file(schemas_dir / name, f"{what}:")
    if not isinstance(schema, dict):
        raise ContractError(f"{what}: not a valid 2020-12 schema: {quoted(schema)} is not an object")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ContractError(f"{what}: not a valid 2020-12 schema: {_short(exc.message)}") from None
    return schema


def _load_schemas(raw: dict[str, Any], schemas_dir: Path) -> tuple[dict[str, dict[str, Any]], Registry[Any]]:
    """The request and response schemas, and a registry of the schema files they reference (by file name or
    by `$id`), which never retrieves anything: jsonschema would fetch any other URL while validating."""
    schemas = {
        kind: _schema_file(schemas_dir, raw["schemas"][kind], f"schemas.{kind}") for kind in ("request", "response")
    }
    local = _Local(schemas_dir)
    for kind, schema in schemas.items():
        local.check(schema, f"schemas.{kind}")
    return schemas, local.registry


def _refuse_retrieval(uri: str) -> Resource[Any]:
    raise NoSuchResource(uri)


class _Local:
    """The schema files of one schemas folder that references reach, each checked once."""

    def __init__(self, schemas_dir: Path) -> None:
        self.dir = schemas_dir
        self.registry: Registry[Any] = Registry(retrieve=_refuse_retrieval)  # type: ignore[call-arg]
        self._ids: dict[str, str] | None = None  # $id -> file name, read on first need
        self._checked: set[str] = set()

    def ids(self) -> dict[str, str]:
        if self._ids is None:
            self._ids = {}
            for path in sorted(self.dir.glob("*.json")):
                try:
                    document = read_json_file(path, "schema")
                except ContractError:
                    continue  # an unreadable neighbour matters only if it is referenced, by file name
                if isinstance(document, dict) and isinstance(document.get("$id"), str):
                    self._ids.setdefault(document["$id"].split("#")[0], path.name)
        return self._ids

    def check(self, schema: dict[str, Any], what: str) -> None:
        """Every reference of `schema` resolves within it or to a schema file of the folder (registered)."""
        root = schema["$id"] if isinstance(schema.get("$id"), str) else ""
        for key, ref, base, resource in _references(schema, root):
            target, _, fragment = ref.partition("#")
            if not target:
                _check_fragment(resource, unquote(fragment), _anchors(schema), what, key, ref)
                continue
            uri = urljoin(base, target)
            name = self.ids().get(uri) or (target if _is_file_name(target) else None)
            if name is None or not (self.dir / name).is_file():
                raise ContractError(
                    f"{what}: the {key} {quoted(ref)} is neither within the schema nor a schema file of its folder"
                )
            other = _schema_file(self.dir, name, f"{what}: the {key} {quoted(ref)}")
            _check_fragment(other, unquote(fragment), _anchors(other), what, key, ref)
            self.registry = self.registry.with_resource(uri, DRAFT202012.create_resource(other))
            if name not in self._checked:
                self._checked.add(name)
                self.check(other, f"{what} -> {name}")


def _is_file_name(text: str) -> bool:
    return bool(text) and "/" not in text and "\\" not in text and ":" not in text and text not in (".", "..")


def _references(schema: dict[str, Any], root: str) -> list[tuple[str, str, str, Any]]:
    """(keyword, reference, base URI, the schema resource it is relative to) for every $ref and $dynamicRef."""
    found: list[tuple[str, str, str, Any]] = []
    stack: list[tuple[Any, str, Any]] = [(schema, root, schema)]
    while stack:
        node, base, resource = stack.pop()
        if isinstance(node, list):
            stack.extend((child, base, resource) for child in node)
            continue
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("$id"), str) and node is not schema:
            base, resource = urljoin(base, node["$id"]), node
        found += [(key, node[key], base, resource) for key in _REFERENCES if isinstance(node.get(key), str)]
        stack.extend((child, base, resource) for child in node.values() if isinstance(child, dict | list))
    return found


def _anchors(schema: Any) -> set[str]:
    names: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            names.update(node[k] for k in ("$anchor", "$dynamicAnchor") if isinstance(node.get(k), str))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return names


def _check_fragment(resource: Any, fragment: str, anchors: set[str], what: str, key: str, ref: str) -> None:
    if fragment.startswith("/") or fragment == "":
        if not _pointer_exists(resource, fragment):
            raise ContractError(f"{what}: the {key} {quoted(ref)} points to nothing in the schema")
    elif fragment not in anchors:
        raise ContractError(f"{what}: the {key} {quoted(ref)} names no $anchor of the schema")


_REFERENCES = ("$ref", "$dynamicRef")


def _pointer_exists(document: Any, pointer: str) -> bool:
    node = document
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isascii() and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False
    return True


def _schemas_dir_for(contract_path: Path) -> Path:
    """Schemas sit in a `schemas/` folder beside the contract's folder, else the shipped one."""
    sibling = contract_path.resolve().parent.parent / "schemas"
    return sibling if sibling.is_dir() else data_dir("schemas")
