"""Hypothesis strategies for the invalid values the suite sends, each known by a name (`named`).

They know JSON types and text, not any method's fields: `cases.py` applies them to a contract.
We use hypothesis' own strategies rather than hypothesis-jsonschema: the valid request is fixed by
the configured credentials, and each invalid case changes one field in a way a schema cannot express
("the same value, re-encoded"; "the token, one character shorter").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from kyren_conformance.draws import LONG_VALUE_BYTES, is_json

_scalars = st.one_of(st.integers(-(2**31), 2**31), st.text(max_size=8), st.booleans(), st.none())


def other_json_types() -> dict[str, st.SearchStrategy[Any]]:
    """One strategy per JSON type that is not a string (`text_value` is the string one)."""
    return {
        "number": st.one_of(
            st.integers(min_value=-(2**53), max_value=2**53), st.floats(allow_nan=False, allow_infinity=False)
        ),
        "boolean": st.booleans(),
        "null": st.none(),
        "array": st.lists(_scalars, min_size=1, max_size=3),
        "object": st.dictionaries(st.text(min_size=1, max_size=8), _scalars, min_size=1, max_size=3),
    }


def text_value() -> st.SearchStrategy[str]:
    """A non-empty string, sent where the field takes no string (the empty one has a case of its own).

    Printable ASCII: a type check is the point, not the encoding (the odd-text cases exercise that).
    """
    return st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=12)


def fraction() -> st.SearchStrategy[float]:
    """A number that is not an integer, sent where the field takes integers only."""
    return st.floats(min_value=-1e9, max_value=1e9, allow_nan=False).filter(lambda x: not x.is_integer())


def wrong_text(real: str) -> st.SearchStrategy[str]:
    """Any non-empty text that is not the real value."""
    return st.text(min_size=1, max_size=40).filter(lambda s: s != real and s.strip() != "")


def non_ascii_text() -> st.SearchStrategy[str]:
    # Lone surrogates (Cs) cannot be encoded as UTF-8, so a real client could not send them.
    return st.text(st.characters(min_codepoint=0x80, exclude_categories=["Cs"]), min_size=3, max_size=24)


def control_text() -> st.SearchStrategy[str]:
    return st.text(st.characters(max_codepoint=0x1F) | st.just("\x7f"), min_size=2, max_size=12).map(
        lambda s: "\x00" + s
    )


def long_text(size: int = LONG_VALUE_BYTES) -> st.SearchStrategy[str]:
    """Several KB of text; a short drawn seed is repeated, since hypothesis caps how much it draws."""
    return st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=8, max_size=32).map(
        lambda seed: (seed * (size // len(seed) + 1))[:size]
    )


def not_json_bytes() -> st.SearchStrategy[bytes]:
    """Bodies no JSON parser accepts: random bytes, or text that looks almost like JSON."""
    return st.one_of(
        st.binary(min_size=2, max_size=64),
        st.text(st.sampled_from('{}[]":,abc01 '), min_size=2, max_size=32).map(str.encode),
    ).filter(lambda b: not is_json(b))


def extra_fields(known: frozenset[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Unknown fields to add to an otherwise valid request."""
    names = st.text(st.characters(min_codepoint=0x61, max_codepoint=0x7A), min_size=3, max_size=12)
    return st.dictionaries(names.filter(lambda n: n not in known), _scalars, min_size=1, max_size=3)


_NAMED: dict[str, Callable[..., st.SearchStrategy[Any]]] = {
    "other_json_type": lambda kind: other_json_types()[kind],
    "text_value": text_value,
    "fraction": fraction,
    "wrong_text": wrong_text,
    "non_ascii_text": non_ascii_text,
    "control_text": control_text,
    "long_text": long_text,
    "not_json_bytes": not_json_bytes,
    "extra_fields": extra_fields,
}


def named(name: str, *args: Any) -> st.SearchStrategy[Any]:
    """The strategy a plan asks for by name (`cases.py` draws by name, so kept draws can be given back without
    importing hypothesis)."""
    return _NAMED[name](*args)
