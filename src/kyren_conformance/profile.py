"""A target profile: what a particular Kyren deployment declares beyond the document (E3, E8)."""

from __future__ import annotations

import json
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
    try:
        table = {int(code): str(text) for code, text in raw.get("code_table", {}).items()}
        valid = frozenset(int(c) for c in raw.get("valid_request_codes", []))
        p95 = float(raw.get("p95_ms", 2000.0))
        secrets = tuple(str(s) for s in raw.get("extra_secrets", []))
    except (TypeError, ValueError, AttributeError) as exc:
        raise ContractError(f"profile {path}: {exc}") from None
    return Profile(code_table=table, valid_request_codes=valid, p95_ms=p95, extra_secrets=secrets)
