"""Pair a table's field names with the example's keys when the document spells one field two ways.

`Currency list` and `CurrencyList`, `timeStamp` and `timestamp`, `transctionId` and `transactionId`:
the same field, by a normalised comparison (case, spaces, `_` and `-` ignored) or, for long names, a
small edit distance. A pair is made only when it is unique both ways, so two unrelated fields are
never joined: `userId` and `userName` are not one field misspelt. A schema requires such a field
under either spelling (`required_schema`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Required = str | tuple[str, str]  # a name, or the two spellings of one field (either satisfies it)
_MAX_NAME = 64  # longer "names" are a damaged table, not a misspelling worth guessing


def normalised(name: str) -> str:
    return "".join(c for c in name.lower() if c not in " _-\t")


def _allowed_distance(a: str, b: str) -> int:
    shorter = min(len(a), len(b))
    return 2 if shorter >= 12 else 1 if shorter >= 7 else 0


def within_distance(a: str, b: str, limit: int) -> bool:
    """Levenshtein distance of a and b is at most `limit`: a banded computation, O(len * limit)."""
    if abs(len(a) - len(b)) > limit:
        return False
    if limit == 0:
        return a == b
    big = limit + 1
    previous = {j: j for j in range(0, min(len(b), limit) + 1)}
    for i in range(1, len(a) + 1):
        current: dict[int, int] = {}
        for j in range(max(0, i - limit), min(len(b), i + limit) + 1):
            if j == 0:
                current[j] = i
                continue
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous.get(j - 1, big) + cost, previous.get(j, big) + 1, current.get(j - 1, big) + 1)
        if min(current.values(), default=big) > limit:
            return False
        previous = current
    return previous.get(len(b), big) <= limit


def same_field(table_name: str, example_key: str) -> bool:
    a, b = normalised(table_name), normalised(example_key)
    if not a or not b or len(a) > _MAX_NAME or len(b) > _MAX_NAME:
        return False
    return a == b or within_distance(a, b, _allowed_distance(a, b))


def pair_names(table_names: Iterable[str], example_keys: Iterable[str]) -> dict[str, str]:
    """{table name: example key} for the names only one spelling of which each side has, paired uniquely."""
    tables = [n for n in dict.fromkeys(table_names)]
    keys = [k for k in dict.fromkeys(example_keys)]
    lonely_tables = [n for n in tables if n not in keys]
    lonely_keys = [k for k in keys if k not in tables]
    if len(lonely_tables) * len(lonely_keys) > 10_000:  # a damaged document: no guessing
        return {}
    candidates = {n: [k for k in lonely_keys if same_field(n, k)] for n in lonely_tables}
    pairs: dict[str, str] = {}
    for name, found in candidates.items():
        if len(found) == 1 and sum(found[0] in other for other in candidates.values()) == 1:
            pairs[name] = found[0]
    return pairs


def required_schema(names: list[Required]) -> dict[str, Any]:
    """`required` for plain names; for a field spelt two ways, one of the two (`anyOf`)."""
    schema: dict[str, Any] = {"required": [n for n in names if isinstance(n, str)]}
    pairs = [{"anyOf": [{"required": [a]}, {"required": [b]}]} for n in names if not isinstance(n, str) for a, b in [n]]
    if pairs:
        schema["allOf"] = pairs
    return schema
