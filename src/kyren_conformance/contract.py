"""Load a method contract (contracts/*.json), validate it, and expose it as plain data.

Everything the engine knows about a method's fields comes from here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import jsonschema
from jsonschema.exceptions import best_match

from kyren_conformance.resources import data_dir

Level = Literal["MUST", "SHOULD"]
Role = Literal["credential", "request_id", "value"]


class ContractError(ValueError):
    """A contract file that cannot be used; the message names the file and the bad key."""


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool
    secret: bool
    role: Role
    source: str
    option: str | None = None
    env: str | None = None
    mock_value: str | None = None
    description: str = ""


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


def _read_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractError(f"{what} {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContractError(f"{what} {path}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None


def _key_path(error: jsonschema.ValidationError, document: Any) -> str:
    """A readable location such as `fields[3].role` for a validation error."""
    parts: list[str] = []
    node = document
    for part in error.absolute_path:
        if isinstance(part, int):
            name = node[part].get("name") or node[part].get("id") if isinstance(node[part], dict) else None
            parts.append(f"[{part}]" + (f"({name})" if name else ""))
        else:
            parts.append(("." if parts else "") + str(part))
        node = node[part]
    return "".join(parts) or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return f"unknown key: {error.message}"
    if error.validator == "enum":
        return f"{error.instance!r} is not one of: {', '.join(map(repr, error.validator_value))}"
    return error.message


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
            raise ContractError(f"fields({f['name']}).required: a request_id field must be required")
    if sum(f["role"] == "request_id" for f in raw["fields"]) > 1:
        raise ContractError("fields: at most one field may have the role 'request_id'")


def load_contract(path: str | Path, schemas_dir: Path | None = None) -> Contract:
    """Read and validate a contract; raise ContractError naming the file and the bad key."""
    path = Path(path)
    raw = _read_json(path, "contract")
    meta = _read_json(data_dir("schemas") / "contract.schema.json", "contract metaschema")
    error = best_match(jsonschema.Draft202012Validator(meta).iter_errors(raw))
    if error is not None:
        raise ContractError(f"contract {path}: {_key_path(error, raw)}: {_describe(error)}")
    try:
        _check_consistency(raw)
    except ContractError as exc:
        raise ContractError(f"contract {path}: {exc}") from None

    schemas_dir = schemas_dir or _schemas_dir_for(path)
    schemas = {}
    for kind in ("request", "response"):
        schema = _read_json(schemas_dir / raw["schemas"][kind], f"{kind} schema of contract {path}:")
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ContractError(f"contract {path}: schemas.{kind}: not a valid 2020-12 schema: {exc.message}") from None
        schemas[kind] = schema

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
        fields=tuple(Field(**f) for f in raw["fields"]),
        rules=tuple(Rule(**r) for r in raw["rules"]),
        errata=tuple(Erratum(**e) for e in raw["errata"]),
        request_schema=schemas["request"],
        response_schema=schemas["response"],
        source_document=raw["source"]["document"],
    )


def _schemas_dir_for(contract_path: Path) -> Path:
    """Schemas sit in a `schemas/` folder beside the contract's folder, else the shipped one."""
    sibling = contract_path.resolve().parent.parent / "schemas"
    return sibling if sibling.is_dir() else data_dir("schemas")
