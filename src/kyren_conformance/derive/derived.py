"""What derive makes of one document, and the names of its files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kyren_conformance.derive.errata import Erratum

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID_BASE = "https://kyren-conformance.invalid/schemas/"


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
