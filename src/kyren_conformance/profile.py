"""A target profile: what a particular Kyren deployment declares beyond the document (E3, E8)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kyren_conformance.contract import MAX_INT_DIGITS, ContractError, quoted, read_json_file, shown

MAX_P95_MS = 86_400_000  # a day, as the longest --timeout: beyond it the objective means nothing


@dataclass(frozen=True)
class Profile:
    code_table: dict[int, str] = field(default_factory=dict)  # empty: no table declared (S7 has nothing to check)
    valid_request_codes: frozenset[int] = frozenset()  # E8: codes besides success a valid request may get
    p95_ms: float = 2000.0  # S5 objective
    extra_secrets: tuple[str, ...] = ()  # further strings to redact everywhere


_KEYS = {"code_table", "valid_request_codes", "p95_ms", "extra_secrets"}


def load_profile(path: str | Path | None) -> Profile:
    """Read a profile JSON file; ContractError (only) names the file and the bad key, in one line."""
    if path is None:
        return Profile()
    path = Path(path)
    raw = read_json_file(path, "profile")
    where = f"profile {shown(path)}"
    if not isinstance(raw, dict):
        raise ContractError(f"{where}: expected a JSON object, not {quoted(raw)}")
    unknown = set(raw) - _KEYS
    if unknown:
        raise ContractError(
            f"{where}: unknown key {quoted(sorted(unknown)[0])}; expected one of: {', '.join(sorted(_KEYS))}"
        )
    try:
        return Profile(
            code_table=_code_table(raw.get("code_table", {})),
            valid_request_codes=_valid_codes(raw.get("valid_request_codes", [])),
            p95_ms=_p95(raw.get("p95_ms", 2000.0)),
            extra_secrets=_secrets(raw.get("extra_secrets", [])),
        )
    except ContractError as exc:
        raise ContractError(f"{where}: {exc}") from None


def _code_table(raw: Any) -> dict[int, str]:
    if not isinstance(raw, dict):
        raise ContractError(f"code_table: expected an object of code -> description, not {quoted(raw)}")
    table: dict[int, str] = {}
    for key, text in raw.items():
        code = _code(key)
        if code is None:
            raise ContractError(f"code_table: the code {quoted(key)} is not an integer (ASCII digits, at most 64)")
        if not isinstance(text, str):
            raise ContractError(f"code_table.{code}: expected a description (a string), not {quoted(text)}")
        if code in table:  # "7" and "07"
            raise ContractError(f"code_table: the code {code} appears more than once (written two ways)")
        table[code] = text
    return table


def _valid_codes(raw: Any) -> frozenset[int]:
    # a list of integers: a digit string is no list ("104" is not 1, 0 and 4), a boolean no integer
    if not isinstance(raw, list) or any(isinstance(c, bool) or not isinstance(c, int) for c in raw):
        raise ContractError(f"valid_request_codes: expected a list of integers, not {quoted(raw)}")
    return frozenset(raw)


def _p95(raw: Any) -> float:
    # compared, not converted: float() of a 400-digit integer overflows; NaN fails every comparison
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw <= MAX_P95_MS:
        raise ContractError(
            f"p95_ms: expected a positive number of milliseconds, at most {MAX_P95_MS}, not {quoted(raw)}"
        )
    return float(raw)


def _secrets(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ContractError(f"extra_secrets: expected a list of strings, not {quoted(raw)}")
    return tuple(raw)


def _code(key: str) -> int | None:
    """A code_table key as an integer: ASCII decimal digits with an optional minus sign."""
    digits = key[1:] if key.startswith("-") else key
    ok = digits.isascii() and digits.isdigit() and len(digits) <= MAX_INT_DIGITS
    return int(key) if ok else None
