"""Secret redaction: the one choke point every piece of evidence passes before it is stored.

A secret is replaced by `***` wherever it appears, in the forms it takes on the wire: as is, escaped
inside a JSON string (including the `\\/` and `\\u00E9` styles some encoders use) and URL-encoded.
Headers that carry credentials by their nature (Authorization, Cookie, ...) are masked whole, and so are
URL userinfo and query values, whatever they contain.
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

MASK = "***"

Headers = tuple[tuple[str, str], ...]

# A header whose name contains one of these carries a credential by its nature, so its value is masked
# even when it holds no configured secret (a session cookie the target set, a proxy password, ...).
_SENSITIVE_HEADER_MARKERS = (
    "auth",
    "cookie",
    "token",
    "secret",
    "password",
    "passwd",
    "api-key",
    "apikey",
    "credential",
    "session",
)


def _json_forms(secret: str) -> set[str]:
    """The secret as it appears between the quotes of a JSON string, in the styles encoders use."""
    forms = {json.dumps(secret, ensure_ascii=ascii_only)[1:-1] for ascii_only in (True, False)}
    # PHP escapes "/" by default; some encoders write \u escapes with upper-case hex.
    forms |= {form.replace("/", "\\/") for form in forms}
    forms |= {re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), form) for form in forms}
    return forms


def _url_forms(secret: str) -> set[str]:
    """The secret percent-encoded, as in a query string or a form body, with either case of hex digit."""
    forms = {quote(secret, safe=""), quote(secret), quote_plus(secret, safe="")}
    forms |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), form) for form in forms}
    return forms


def _all_forms(secrets: Mapping[str, str]) -> dict[str, str]:
    """Every wire form of every secret, with its mask; longest first (dicts keep their order)."""
    masks: dict[str, str] = {}
    for secret, mask in secrets.items():
        if secret:
            for form in {secret} | _json_forms(secret) | _url_forms(secret):
                masks.setdefault(form, mask)
    # Longest first, so that a secret containing another secret is masked whole rather than in parts.
    return {form: masks[form] for form in sorted(masks, key=lambda form: (-len(form.encode("utf-8")), form))}


def _is_sensitive_header(name: str) -> bool:
    lowered = name.lower()
    return any(marker in lowered for marker in _SENSITIVE_HEADER_MARKERS)


class Redactor:
    """Replaces configured secrets by `***`. Immutable once built; safe to share between threads.

    `secrets` may map each secret to its own mask (e.g. a value derived from the token gets a mask
    that says how it was derived, so a reproduction can rebuild it from `$KYREN_TOKEN`).
    """

    __slots__ = ("_text_pattern", "_bytes_pattern", "_text_masks", "_bytes_masks", "longest")
    _text_pattern: re.Pattern[str] | None
    _bytes_pattern: re.Pattern[builtins.bytes] | None
    _text_masks: dict[str, str]
    _bytes_masks: dict[builtins.bytes, builtins.bytes]
    longest: int

    def __init__(self, secrets: Iterable[str] | Mapping[str, str]) -> None:
        masks = _all_forms(secrets if isinstance(secrets, Mapping) else dict.fromkeys(secrets, MASK))
        forms = list(masks)
        text_pattern = re.compile("|".join(map(re.escape, forms))) if forms else None
        bytes_pattern = re.compile(b"|".join(re.escape(f.encode("utf-8")) for f in forms)) if forms else None
        object.__setattr__(self, "_text_pattern", text_pattern)
        object.__setattr__(self, "_bytes_pattern", bytes_pattern)
        object.__setattr__(self, "_text_masks", masks)
        object.__setattr__(self, "_bytes_masks", {f.encode("utf-8"): m.encode() for f, m in masks.items()})
        # Length in bytes of the longest form: how far past a cut a secret may reach (see the client's cap).
        object.__setattr__(self, "longest", max((len(f.encode("utf-8")) for f in forms), default=0))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Redactor is immutable")

    def __repr__(self) -> str:
        # Never show the patterns: they are the secrets.
        return "Redactor(...)"

    def text(self, text: str) -> str:
        return self._text_pattern.sub(lambda m: self._text_masks[m.group(0)], text) if self._text_pattern else text

    def bytes(self, data: builtins.bytes) -> builtins.bytes:
        if not self._bytes_pattern:
            return data
        return self._bytes_pattern.sub(lambda m: self._bytes_masks[m.group(0)], data)

    def bytes_head(self, data: builtins.bytes, size: int) -> builtins.bytes:
        """The first `size` bytes of `data`, redacted, where a secret that crosses the cut is masked whole.

        Complete only when `data` runs at least `longest` bytes past `size` (or is the whole of it).
        """
        if not self._bytes_pattern:
            return data[:size]
        kept: list[builtins.bytes] = []
        position = 0
        for match in self._bytes_pattern.finditer(data):
            if match.start() >= size:
                break
            kept += [data[position : match.start()], self._bytes_masks[match.group(0)]]
            position = match.end()
        if position < size:
            kept.append(data[position:size])
        return b"".join(kept)[:size]

    def found_in(self, data: builtins.bytes) -> bool:
        return bool(self._bytes_pattern and self._bytes_pattern.search(data))

    def value(self, obj: Any) -> Any:
        """A copy of a JSON-like value with secrets masked in every string, dictionary keys included."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, builtins.bytes):
            return self.bytes(obj)
        if isinstance(obj, Mapping):
            return {self.value(key): self.value(item) for key, item in obj.items()}
        if isinstance(obj, list | tuple):
            return type(obj)(self.value(item) for item in obj)
        return obj

    def headers(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> Headers:
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        return tuple(
            (self.text(name), MASK if _is_sensitive_header(name) else self.text(value)) for name, value in pairs
        )

    def url(self, url: str) -> str:
        """The URL with userinfo and every query value masked, and secrets masked anywhere else."""
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
        query = "&".join(_mask_query_value(item) for item in parts.query.split("&")) if parts.query else ""
        return self.text(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


def _mask_query_value(item: str) -> str:
    # A base URL's query usually holds a gateway key or a signature, so no query value is kept.
    name, sep, _ = item.partition("=")
    return f"{name}={MASK}" if sep else item
