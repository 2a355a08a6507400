"""A reviewed overlay: the decisions no document can give, laid over what `derive` makes of it.

An overlay (see `schemas/overlay.schema.json`) does three things and nothing else:
- `reviewed` gives a derived erratum, found by its stable key, the id it keeps and clears its review mark;
  a key derive no longer finds is an error, so a changed document is reviewed again, never silently;
- `errata` adds the suite's policies for the method (E3–E9 style: status codes, replay, secrets);
- `fields` adds a note to a field's source, or sets its description or mock value.
Derived errata nobody has reviewed keep their mark and are numbered after the overlay's ids.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from kyren_conformance.derive.derived import Derived
from kyren_conformance.resources import data_dir


class OverlayError(ValueError):
    """An overlay that cannot be applied; the message names the file and the key."""


def read_overlay(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise OverlayError(f"overlay {path}: cannot read it ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OverlayError(f"overlay {path}: not JSON ({exc})") from None
    schema = json.loads((data_dir("schemas") / "overlay.schema.json").read_text(encoding="utf-8"))
    error = best_match(jsonschema.Draft202012Validator(schema).iter_errors(raw))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise OverlayError(f"overlay {path}: {where}: {error.message}")
    return dict(raw)


def _number(erratum_id: str) -> int:
    return int(erratum_id[1:])


def apply_overlay(derived: Derived, overlay: dict[str, Any], where: str) -> None:
    """Lay `overlay` over `derived`, in place; raise OverlayError naming what no longer matches."""
    contract = derived.contract
    by_key = {e.key: e for e in derived.errata}
    reviewed: dict[str, str] = overlay.get("reviewed", {})
    for key in reviewed:
        if key not in by_key:
            found = ", ".join(sorted(by_key)) or "none"
            raise OverlayError(
                f"overlay {where}: reviewed.{key}: derive no longer finds this in the document "
                f"(it finds: {found}); review the document again"
            )
    policies = overlay.get("errata", [])
    taken = [e["id"] for e in policies] + list(reviewed.values())
    duplicates = sorted({i for i in taken if taken.count(i) > 1})
    if duplicates:
        raise OverlayError(f"overlay {where}: erratum id(s) {', '.join(duplicates)} given twice")

    next_id = max((_number(i) for i in taken), default=0) + 1
    for erratum in derived.errata:  # already in document order
        if erratum.key in reviewed:
            erratum.id, erratum.review = reviewed[erratum.key], False
        else:
            erratum.id, erratum.review = f"E{next_id}", True
            next_id += 1
    entries = [e.as_json() for e in derived.errata] + [dict(p) for p in policies]
    contract["errata"] = sorted(entries, key=lambda e: _number(e["id"]))

    fields = {f["name"]: f for f in contract["fields"]}
    for name, change in overlay.get("fields", {}).items():
        if name not in fields:
            raise OverlayError(f"overlay {where}: fields.{name}: the document has no such field ({', '.join(fields)})")
        target = fields[name]
        if "source_note" in change:
            target["source"] = f"{target['source']}; {change['source_note']}"
        for key in ("description", "mock_value"):
            if key in change:
                target[key] = change[key]
    if "received" in overlay:
        contract["source"]["received"] = overlay["received"]
    _check_references(contract, where)


def _check_references(contract: dict[str, Any], where: str) -> None:
    """An `E<n>` a field source or rule names must exist, or the overlay points at a renumbered erratum."""
    ids = {e["id"] for e in contract["errata"]}
    for what in ("fields", "rules"):
        for item in contract[what]:
            for named in re.findall(r"(?<!DESIGN\.md )\bE[0-9]+\b", item.get("source", "")):
                if named not in ids:
                    raise OverlayError(
                        f"overlay {where}: {what} {item.get('name') or item.get('id')}: names {named}, "
                        "which is not an erratum of this contract"
                    )
