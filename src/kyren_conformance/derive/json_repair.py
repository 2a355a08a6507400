"""Read a document's JSON example the way its author meant it, naming every repair.

Real examples are broken in a handful of ways: a missing comma between members, curly quotes, unquoted
keys (`minBet: 0.2`), doubled or trailing commas (`},,,,`), a closing brace missing at the end, a stray
closer. One pass over the tokens repairs what has a single reading and gives up (RepairError) on what
has several (a closer that matches an outer container: which one was missing?). Unquoted `<placeholders>`,
`//` comments and one trailing comma are the documents' habits, forgiven without a note.

Every loop is a single pass over the text: no regular expression here can backtrack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

_CLOSERS = {"}": "{", "]": "["}
_OPEN_QUOTES = {'"': '"', "\u201c": "\u201d", "\u201d": "\u201d"}  # a straight or a curly opening quote
_LITERALS = {"true", "false", "null"}
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$-.+")


class RepairError(ValueError):
    """An example with more than one reading; the message names the line."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class _Token:
    kind: str  # "{", "}", "[", "]", ":", ",", "string", "word" (number, literal or bare key), "placeholder"
    text: str  # as JSON will read it (strings already re-quoted)
    line: int
    raw: str


@dataclass
class Repaired:
    value: Any
    repairs: list[str] = field(default_factory=list)  # each named with its line within the block


def _tokens(text: str, repairs: list[str], first_line: int) -> list[_Token]:
    tokens: list[_Token] = []
    i, line, n = 0, first_line, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif c in "{}[]:,":
            tokens.append(_Token(c, c, line, c))
            i += 1
        elif c == "/" and text.startswith("//", i):  # a comment to the end of the line
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif c in _OPEN_QUOTES:
            i, line = _string(text, i, line, tokens, repairs)
        elif c == "<":
            end = text.find(">", i)
            if end < 0 or "\n" in text[i:end]:
                raise RepairError(line, f"an unclosed '<' at line {line}")
            tokens.append(_Token("placeholder", json.dumps(text[i : end + 1]), line, text[i : end + 1]))
            i = end + 1
        elif c in _WORD_CHARS:
            start = i
            while i < n and text[i] in _WORD_CHARS:
                i += 1
            tokens.append(_Token("word", text[start:i], line, text[start:i]))
        else:
            raise RepairError(line, f"an unexpected {c!r} at line {line}")
    return tokens


def _string(text: str, i: int, line: int, tokens: list[_Token], repairs: list[str]) -> tuple[int, int]:
    """Read the string opening at i; return the index after it and the line."""
    closing = _OPEN_QUOTES[text[i]]
    curly = text[i] != '"'
    start, j, n = i, i + 1, len(text)
    chars: list[str] = []
    while j < n:
        c = text[j]
        if c == "\\" and not curly and j + 1 < n:
            chars.append(text[j : j + 2])
            j += 2
            continue
        if c == closing or (curly and c == '"'):
            break
        if c == "\n":
            raise RepairError(line, f"a string left open at line {line}")
        chars.append(c if curly is False or c != '"' else '\\"')
        j += 1
    else:
        raise RepairError(line, f"a string left open at line {line}")
    body = "".join(chars)
    if curly:
        repairs.append(f"curly quotes read as straight quotes (line {line})")  # the value unquoted: it may be a secret
        body = body.replace('\\"', '"')
        encoded = json.dumps(body)
    else:
        encoded = '"' + body + '"'
        try:
            json.loads(encoded)
        except json.JSONDecodeError:
            raise RepairError(line, f"an invalid escape in a string at line {line}") from None
    tokens.append(_Token("string", encoded, line, text[start : j + 1]))
    return j + 1, line


def _is_value_word(word: str) -> bool:
    if word in _LITERALS:
        return True
    try:
        json.loads(word)
    except ValueError:
        return False
    return True


class _Rebuild:
    """The token stream rewritten as valid JSON, one state machine step per token."""

    def __init__(self, repairs: list[str]) -> None:
        self.out: list[str] = []
        self.stack: list[str] = []
        self.state = "value"  # value | key | colon | after | end
        self.after_comma = False
        self.repairs = repairs

    def step(self, token: _Token) -> None:
        handler = {"value": self.value, "key": self.key, "colon": self.colon, "after": self.after, "end": self.end}
        handler[self.state](token)

    def _drop_trailing_comma(self, token: _Token) -> None:
        if self.after_comma:
            self.out.pop()  # one trailing comma is a habit of these documents, not worth a note
            self.after_comma = False

    def _close(self, token: _Token) -> None:
        self.stack.pop()
        self.out.append(token.kind)
        self.state = "after" if self.stack else "end"

    def value(self, token: _Token) -> None:
        if token.kind in ("{", "["):
            self.out.append(token.kind)
            self.stack.append(token.kind)
            self.state = "key" if token.kind == "{" else "value"
            self.after_comma = False
        elif token.kind in ("string", "placeholder") or (token.kind == "word" and _is_value_word(token.text)):
            self.out.append(token.text)
            self.state, self.after_comma = ("after" if self.stack else "end"), False
        elif token.kind == "]" and self.stack and self.stack[-1] == "[":
            self._drop_trailing_comma(token)
            self._close(token)
        elif token.kind == "," and self.after_comma and self.stack and self.stack[-1] == "[":
            self.repairs.append(f"a doubled comma removed (line {token.line})")
        else:
            raise RepairError(token.line, f"{token.raw!r} where a value belongs (line {token.line})")

    def key(self, token: _Token) -> None:
        if token.kind in ("string", "placeholder"):
            self.out.append(token.text)
            self.state = "colon"
        elif token.kind == "word" and not _is_value_word(token.text):
            self.repairs.append(f"the unquoted key {token.text} quoted (line {token.line})")
            self.out.append(json.dumps(token.text))
            self.state = "colon"
        elif token.kind == "}":
            self._drop_trailing_comma(token)
            self._close(token)
        elif token.kind == "," and self.after_comma:
            self.repairs.append(f"a doubled comma removed (line {token.line})")
        else:
            raise RepairError(token.line, f"{token.raw!r} where a key belongs (line {token.line})")

    def colon(self, token: _Token) -> None:
        if token.kind != ":":
            raise RepairError(token.line, f"{token.raw!r} where ':' belongs (line {token.line})")
        self.out.append(":")
        self.state, self.after_comma = "value", False

    def after(self, token: _Token) -> None:
        top = self.stack[-1]
        if token.kind == ",":
            self.out.append(",")
            self.state, self.after_comma = ("key" if top == "{" else "value"), True
        elif token.kind in _CLOSERS:
            if _CLOSERS[token.kind] == top:
                self._close(token)
            elif _CLOSERS[token.kind] not in self.stack:
                self.repairs.append(f"a stray {token.kind!r} removed (line {token.line})")
            else:  # it closes an outer container: a closer is missing, or this one is stray
                raise RepairError(token.line, f"{token.kind!r} at line {token.line} closes an outer container")
        else:  # a member or an element follows without a comma
            self.repairs.append(f"a missing comma inserted before {token.raw!r} (line {token.line})")
            self.out.append(",")
            self.state, self.after_comma = ("key" if top == "{" else "value"), False
            self.step(token)

    def end(self, token: _Token) -> None:
        if token.kind in _CLOSERS:
            self.repairs.append(f"a stray {token.kind!r} removed (line {token.line})")
        elif token.kind == ",":
            self.repairs.append(f"a comma after the end removed (line {token.line})")
        else:
            raise RepairError(token.line, f"text after the end of the example (line {token.line})")

    def finish(self, last_line: int) -> str:
        if self.state in ("colon",) or (self.state == "value" and self.stack and self.stack[-1] == "{"):
            raise RepairError(last_line, "the example ends in the middle of a member")
        if self.state == "value" and not self.stack:
            raise RepairError(last_line, "the example is empty")
        if self.stack:
            if self.after_comma:
                self.out.pop()
            closers = "".join("}" if c == "{" else "]" for c in reversed(self.stack))
            self.repairs.append(f"the missing {' '.join(closers)} added at the end (line {last_line})")
            self.out.append(closers)
        return "".join(self.out)


def repair_json(text: str, first_line: int = 1) -> Repaired:
    """The example's value and the repairs it took, lines counted from `first_line`; raise RepairError when it
    has more than one reading."""
    try:
        return Repaired(json.loads(text))
    except (json.JSONDecodeError, RecursionError):
        pass
    repairs: list[str] = []
    tokens = _tokens(text, repairs, first_line)
    rebuild = _Rebuild(repairs)
    for token in tokens:
        rebuild.step(token)
    fixed = rebuild.finish(first_line + text.count("\n"))
    try:
        return Repaired(json.loads(fixed), repairs)
    except (json.JSONDecodeError, RecursionError) as exc:  # deeply nested: not a document's example
        raise RepairError(first_line, f"the repaired text is still not JSON ({exc})") from None
