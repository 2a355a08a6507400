"""What a field is for, from its name and its description: Kyren's generic fields, the request id,
the result code and its description.

The engine reads roles from the contract and knows no field name; this is the one place that does.
"""

from __future__ import annotations

import re
from typing import Any

from kyren_conformance.options import GENERIC_OPTIONS

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

# two searches, not one `unique id.*each request`: a line of many 'unique id' stays linear
_UNIQUE_ID = re.compile(r"\bunique\s+id\b", re.IGNORECASE)
_EACH_REQUEST = re.compile(r"\b(each|every)\s+request\b", re.IGNORECASE)


def is_secret(name: str) -> bool:
    return bool(GENERIC_FIELDS.get(name, {}).get("secret"))


def is_credential(name: str) -> bool:
    return GENERIC_FIELDS.get(name, {}).get("role") == "credential"


def field_entry(name: str, types: list[str], required: bool, source: str, description: str) -> dict[str, Any]:
    """A contract field; a generic field also names the option (and environment variable) that gives its value."""
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


def assign_request_id(fields: list[dict[str, Any]]) -> None:
    """`uuid` ("a unique ID for each request") is fresh in every request and replay-checked (M7)."""
    for entry in sorted(fields, key=lambda e: e["name"] not in REQUEST_ID_NAMES):  # by name first, else description
        unique = _UNIQUE_ID.search(entry["description"])
        each = unique and _EACH_REQUEST.search(entry["description"], unique.end())
        said = entry["name"] in REQUEST_ID_NAMES or each
        if said and entry["type"] == "string" and entry["required"] and entry["role"] == "value":
            entry["role"] = "request_id"
            entry.pop("example", None)
            return
