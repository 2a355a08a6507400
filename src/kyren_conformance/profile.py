"""A target profile: what a particular Kyren deployment declares beyond the document (E3, E8)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from kyren_conformance.contract import ContractError


@dataclass(frozen=True)
class Profile:
    code_table: dict[int, str] = field(default_factory=dict)  # empty: no table declared (S7 has nothing to check)
    valid_request_codes: frozenset[int] = frozenset()  # E8: codes besides success a valid request may get
    p95_ms: float = 2000.0  # S5 objective
    extra_secrets: tuple[str, ...] = ()  # further strings to redact everywhere


_KEYS = {"code_table", "valid_request_codes", "p95_ms", "extra_secrets"}


def load_profile(path: str | Path | None) -> Profile:
    """Read a profile JSON file; ContractError names the file and the bad key."""
    if path is None:
        return Profile()
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ContractError(f"profile {path}: cannot read it ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise ContractError(f"profile {path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(raw, dict):
        raise ContractError(f"profile {path}: expected a JSON object")
    unknown = set(raw) - _KEYS
    if unknown:
        raise ContractError(
            f"profile {path}: unknown key {sorted(unknown)[0]!r}; expected one of: {', '.join(sorted(_KEYS))}"
        )

    def bad(key: str, why: str) -> ContractError:
        return ContractError(f"profile {path}: {key}: {why}")

    table: dict[int, str] = {}
    raw_table = raw.get("code_table", {})
    if not isinstance(raw_table, dict):
        raise bad("code_table", f"expected an object of code -> description, not {raw_table!r}")
    for key, text in raw_table.items():
        code = _code(key)
        if code is None:
            raise bad("code_table", f"the code {key!r} is not an integer")
        if not isinstance(text, str):
            raise bad(f"code_table.{key}", f"expected a description (a string), not {text!r}")
        table[code] = text
    valid_raw = raw.get("valid_request_codes", [])
    # a list of integers: a digit string is no list ("104" is not 1, 0 and 4)
    if not isinstance(valid_raw, list) or any(isinstance(c, bool) or not isinstance(c, int) for c in valid_raw):
        raise bad("valid_request_codes", f"expected a list of integers, not {valid_raw!r}")
    valid = frozenset(valid_raw)
    p95 = raw.get("p95_ms", 2000.0)
    if isinstance(p95, bool) or not isinstance(p95, int | float) or not math.isfinite(p95) or p95 <= 0:
        raise bad("p95_ms", f"expected a positive number of milliseconds, not {p95!r}")
    secrets = raw.get("extra_secrets", [])
    if not isinstance(secrets, list) or not all(isinstance(x, str) for x in secrets):
        raise bad("extra_secrets", f"expected a list of strings, not {secrets!r}")
    return Profile(code_table=table, valid_request_codes=valid, p95_ms=float(p95), extra_secrets=tuple(secrets))


def _code(key: str) -> int | None:
    """A code_table key as an integer: decimal digits with an optional minus sign."""
    digits = key[1:] if key.startswith("-") else key
    return int(key) if digits.isascii() and digits.isdigit() else None
