"""Secret redaction: the one choke point every piece of evidence passes before it is stored.

A secret is replaced by its mask (`***`) wherever it appears, in the forms it takes on the wire: as is,
escaped inside a JSON string (any character as `\\u0074` or `\\u0054`, `\\/`, a surrogate pair), URL-encoded
(either case of hex digit), base64-encoded (either alphabet, alone or inside a longer encoded text), and any
mix of those character by character. The client flags an echo (S4) when any of these forms is in a response.
Headers that carry credentials by their nature (Authorization, Cookie, ...) are masked whole, and so are
URL userinfo and query values, whatever they contain.
"""

from __future__ import annotations

import base64
import builtins
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REDACTED = "***"  # what stands for a secret in every piece of evidence

# Wrong credentials near the real one (cases.near_misses) would reveal it, so they are masked too, each
# with a mask saying how it derives from the secret; curl rebuilds it from the environment variable.
DERIVED_MASKS = {"one_char_shorter": "***[:-1]", "one_char_longer": "***+last", "case_swapped": "***.swapcase"}
# Each mask as bash rebuilds its value from the secret's environment variable (`{env}`), for curl commands.
SHELL_FOR_MASK = {
    "***": '"${env}"',
    "***[:-1]": '"${{{env}%?}}"',
    "***+last": '"${env}${{{env}: -1}}"',
    "***.swapcase": '"$(printf %s "${env}" | tr a-zA-Z A-Za-z)"',
}
# Any mask in redacted bytes, captured (so `split` keeps it); a derived mask whole, not `***` and a tail.
MASK_PATTERN = re.compile(rb"(\*\*\*(?:\[:-1\]|\+last|\.swapcase)?)")

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


# JSON's two-character escapes (RFC 8259, 7); "/" may be written `\/` (PHP does by default).
_JSON_SHORT = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _hex(value: int, width: int) -> str:
    """A regular expression for `value` in hexadecimal, each letter in either case."""
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in f"{value:0{width}x}")


def _char_forms(char: str) -> tuple[str, int]:
    """One character of a secret in every way it is written on the wire: as is, JSON-escaped (`\\u0074`,
    `\\u0054`-style hex in either case, `\\/`), percent-encoded (either case, `+` for a space), as a regular
    expression over text; and the longest of those forms in bytes."""
    utf8 = char.encode("utf-8", "surrogatepass")
    code = ord(char)
    if code > 0xFFFF:  # JSON writes it as a surrogate pair
        high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        unicode = f"\\\\u{_hex(high, 4)}\\\\u{_hex(low, 4)}"
    else:
        unicode = f"\\\\u{_hex(code, 4)}"
    forms = [re.escape(char), unicode, "".join(f"%{_hex(byte, 2)}" for byte in utf8)]
    if char in _JSON_SHORT:
        forms.append(re.escape(_JSON_SHORT[char]))
    if char == " ":
        forms.append(re.escape("+"))
    longest = max(len(utf8), 12 if code > 0xFFFF else 6, 3 * len(utf8))
    return "(?:" + "|".join(forms) + ")", longest


def _base64_forms(secret: str) -> tuple[set[str], set[str]]:
    """The secret base64-encoded (standard and URL-safe alphabets), alone or inside a longer encoded text.

    Inside a longer text the secret's bytes fall at any of three offsets in the 3-byte groups: each offset
    fixes the characters of the groups made of secret bytes only. A short secret has no such stable part
    long enough to tell it from chance, and is not looked for in base64.
    """
    data = secret.encode("utf-8", "surrogatepass")
    if len(data) < 6:
        return set(), set()
    alone = {base64.b64encode(data).decode(), base64.b64encode(data).decode().rstrip("=")}
    inside = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode()
        core = encoded[4 if offset else 0 : 4 * ((offset + len(data)) // 3)]
        if len(core) >= 8:
            inside.add(core)
    return alone | {f.translate(_URLSAFE) for f in alone}, inside | {f.translate(_URLSAFE) for f in inside}


_URLSAFE = str.maketrans("+/", "-_")


def _secret_pattern(secret: str) -> tuple[str, int]:
    """A regular expression for one secret as text (as is, JSON- or URL-escaped), and its longest form in bytes."""
    chars = [_char_forms(char) for char in secret]
    return "".join(form for form, _ in chars), sum(size for _, size in chars)


def _encoded(masks: Mapping[str, str]) -> dict[str, str]:
    """Every base64 form of every secret with its mask, longest first. A secret encoded alone keeps its own
    mask where its text is also the inside of a longer secret's encoding (the token and the token + 1 char)."""
    forms: dict[str, str] = {}
    pairs = [(secret, _base64_forms(secret)) for secret in masks if secret]
    for secret, (alone, _) in pairs:
        for form in alone:
            forms.setdefault(form, masks[secret])
    for secret, (_, inside) in pairs:
        for form in inside:
            forms.setdefault(form, masks[secret])
    return {form: forms[form] for form in sorted(forms, key=lambda form: (-len(form), form))}


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
    _bytes_masks: dict[str, builtins.bytes]
    longest: int

    def __init__(self, secrets: Iterable[str] | Mapping[str, str]) -> None:
        masks = dict(secrets) if isinstance(secrets, Mapping) else dict.fromkeys(secrets, REDACTED)
        # Longest first, so that a secret containing another is masked whole rather than in parts.
        ordered = sorted((secret for secret in masks if secret), key=lambda secret: (-len(secret), secret))
        patterns = [_secret_pattern(secret) for secret in ordered]
        encoded = _encoded(masks)
        # One named group per alternative: the group that matched names the mask, whatever form it matched.
        # Base64 forms first: they are longer than any text form, and no secret's text is a base64 form's start.
        groups = [(f"b{i}", re.escape(form), mask) for i, (form, mask) in enumerate(encoded.items())]
        groups += [
            (f"s{i}", pattern, masks[secret])
            for i, ((pattern, _), secret) in enumerate(zip(patterns, ordered, strict=True))
        ]
        source = "|".join(f"(?P<{name}>{pattern})" for name, pattern, _ in groups)
        group_masks = {name: mask for name, _, mask in groups}
        patterns += [(form, len(form)) for form in encoded]
        # Every form starts with one of a few characters; a lookahead for them first lets the engine skip the
        # rest of the body fast (ten to fifty times faster on a 1 MB body, which the client redacts whole).
        firsts = {secret[0] for secret in ordered} | {form[0] for form in encoded} | {"\\", "%", "+"}
        text_first = "[" + "".join(map(re.escape, sorted(firsts))) + "]"
        first_bytes = sorted({char.encode("utf-8", "surrogatepass")[0] for char in firsts})
        bytes_first = b"[" + b"".join(re.escape(bytes([byte])) for byte in first_bytes) + b"]"
        text_pattern = re.compile(f"(?={text_first})(?:{source})") if patterns else None
        # The same expression over UTF-8 bytes: each character of the source as its bytes.
        bytes_source = b"(?=" + bytes_first + b")(?:" + source.encode("utf-8", "surrogatepass") + b")"
        object.__setattr__(self, "_text_pattern", text_pattern)
        object.__setattr__(self, "_bytes_pattern", re.compile(bytes_source) if patterns else None)
        object.__setattr__(self, "_text_masks", group_masks)
        object.__setattr__(self, "_bytes_masks", {group: mask.encode() for group, mask in group_masks.items()})
        # Length in bytes of the longest form: how far past a cut a secret may reach (see the client's cap).
        object.__setattr__(self, "longest", max((size for _, size in patterns), default=0))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Redactor is immutable")

    def __repr__(self) -> str:
        # Never show the patterns: they are the secrets.
        return "Redactor(...)"

    def text(self, text: str) -> str:
        if not self._text_pattern:
            return text
        return self._text_pattern.sub(lambda m: self._text_masks[m.lastgroup or ""], text)

    def bytes(self, data: builtins.bytes) -> builtins.bytes:
        if not self._bytes_pattern:
            return data
        return self._bytes_pattern.sub(lambda m: self._bytes_masks[m.lastgroup or ""], data)

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
            kept += [data[position : match.start()], self._bytes_masks[match.lastgroup or ""]]
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
            (self.text(name), REDACTED if _is_sensitive_header(name) else self.text(value)) for name, value in pairs
        )

    def url(self, url: str) -> str:
        """The URL with userinfo and every query value masked, and secrets masked anywhere else."""
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
        query = "&".join(_mask_query_value(item) for item in parts.query.split("&")) if parts.query else ""
        return self.text(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


def _mask_query_value(item: str) -> str:
    # A base URL's query usually holds a gateway key or a signature, so no query value is kept.
    name, sep, _ = item.partition("=")
    return f"{name}={REDACTED}" if sep else item
