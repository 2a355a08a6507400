"""Read the provider's Error Code page into a code table, and say which codes it names for a kind of defect.

Kyren publishes its result codes on a page of their own (`Error-Code-1.md`): a markdown table
`| Name | Data Type | Description | Remark |` whose Name is the code. This module reads that table
(code -> description, as plain text), classifies the codes by what their descriptions say (`KIND_PHRASES`),
and turns both into a contract's `codes` section (`codes_section`, laid over a contract by `with_codes`).

Like `document.py` it only reads documents and writes contract data: the engine never imports it.
Every step is linear in the size of the page (plain string scans, no backtracking regular expressions).
"""

from __future__ import annotations

import copy
import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kyren_conformance.contract import CODE_KINDS
from kyren_conformance.derive.document import DocumentError, read_text, split_row
from kyren_conformance.derive.rules import code_table_sources

__all__ = [
    "KIND_PHRASES",
    "CodePageError",
    "CodeTable",
    "classify",
    "codes_section",
    "read_code_page",
    "read_code_page_file",
    "with_codes",
]

# What a description must say for its code to name a kind of defect. Each phrase is matched as whole
# words, case-insensitively, with punctuation read as a space ("Parameter(s) is missing" holds "missing").
# Kept small on purpose: a code named for a kind is one a server may answer for that defect (S9), so a
# phrase that also matches unrelated codes would wave through wrong answers. A code may name several kinds.
KIND_PHRASES: dict[str, tuple[str, ...]] = {
    # 21 "Parameter(s) is missing or incorrect", 64 "Validation failed. Empty mandatory field '{field name}'"
    "missing_field": ("missing", "empty mandatory field", "mandatory field is empty"),
    # 54 "Incorrect secure LOGIN and secure password combination", 401 "Unauthorized"
    "bad_credentials": ("secure login and secure password", "unauthorized", "unauthorised"),
    # 12 "Your account could not be found", 22 "Player has not been detected", 62 "No specific player has been
    # found". Not "player not found": 998 says it too, but 998 is the internal-error code that asks for a retry.
    "unknown_user": ("account could not be found", "player has not been detected", "no specific player"),
    # 8 "This user ID has already been registered", 10 "The wallet has already been created", 61 "Transaction
    # already exists No action required": what a creation or a transaction may answer when it is sent again.
    "already_exists": ("already been registered", "already been created", "already exists"),
}
assert set(KIND_PHRASES) == set(CODE_KINDS), "every kind the contract knows has its phrases"

# Header cells (lower-cased, spaces squeezed) that name the code column and the description column.
_CODE_HEADERS = ("name", "code", "error code", "errorcode", "error", "result code", "value")
_DESCRIPTION_HEADERS = ("description", "desc", "message", "meaning")


class CodePageError(DocumentError):
    """An Error Code page that cannot be read as a code table; the message names the file and the line."""


@dataclass(frozen=True)
class CodeTable:
    """The codes of one page: code -> description (plain text), and the line each row is on."""

    path: str
    line: int  # the line of the table's header row
    codes: dict[int, str]
    lines: dict[int, int]


def read_code_page_file(path: str | Path) -> CodeTable:
    """Read the page at `path` (UTF-8, any line endings); CodePageError names the file and line."""
    path = Path(path)
    return read_code_page(str(path), read_text(path, CodePageError))


def read_code_page(path: str, text: str) -> CodeTable:
    """The first table with a code column (Name, Code, ...) and a Description column; every row must be a code."""
    lines = text.splitlines()
    first_table: int | None = None
    for index in range(len(lines) - 1):
        if not _is_table_line(lines[index]) or not _is_alignment_row(lines[index + 1]):
            continue
        first_table = index + 1 if first_table is None else first_table
        header = [" ".join(_plain(cell).lower().split()) for cell in split_row(lines[index])]
        code_at = next((header.index(h) for h in _CODE_HEADERS if h in header), None)
        description_at = next((header.index(h) for h in _DESCRIPTION_HEADERS if h in header), None)
        if code_at is not None and description_at is not None:
            return _read_rows(path, lines, index, code_at, description_at)
    if first_table is not None:
        raise CodePageError(
            f"{path}:{first_table}: no code table: this table has no code column ({_CODE_HEADERS[0]!r} or "
            f"{_CODE_HEADERS[1]!r}) and {_DESCRIPTION_HEADERS[0]!r} column, and no later one has"
        )
    raise CodePageError(
        f"{path}:1: no code table: expected a markdown table with a 'Name' (the code) and a 'Description' column"
    )


def _read_rows(path: str, lines: list[str], header: int, code_at: int, description_at: int) -> CodeTable:
    codes: dict[int, str] = {}
    where: dict[int, int] = {}
    index = header + 2
    while index < len(lines) and _is_table_line(lines[index]):
        number = index + 1
        cells = split_row(lines[index])
        index += 1
        if not any(cell.strip() for cell in cells):
            continue
        name = _plain(cells[code_at]) if code_at < len(cells) else ""
        description = _plain(cells[description_at]) if description_at < len(cells) else ""
        code = _code(name)
        if code is None:
            raise CodePageError(f"{path}:{number}: the code {name!r} is not an integer")
        if code in codes and codes[code] != description:
            raise CodePageError(
                f"{path}:{number}: code {code} again, with another description (first at line {where[code]})"
            )
        codes.setdefault(code, description)
        where.setdefault(code, number)
    if not codes:
        raise CodePageError(f"{path}:{header + 1}: a code table with no rows")
    return CodeTable(path, header + 1, codes, where)


def _code(text: str) -> int | None:
    digits = text[1:] if text[:1] in "-+" else text
    return int(text) if digits.isascii() and digits.isdigit() else None


# --- classifying --------------------------------------------------------------------------------


def _words(text: str) -> str:
    """Lower-case words separated by single spaces, any punctuation read as a space, padded for whole-word search."""
    return " " + " ".join("".join(c if c.isalnum() else " " for c in text.lower()).split()) + " "


def classify(codes: Mapping[int, str], phrases: Mapping[str, Iterable[str]] = KIND_PHRASES) -> dict[str, list[int]]:
    """For each kind whose phrases some description holds, the codes (ascending) that hold one."""
    kinds: dict[str, list[int]] = {}
    for kind, kind_phrases in phrases.items():
        wanted = [_words(p) for p in kind_phrases]
        named = sorted(code for code, text in codes.items() if any(w in _words(text) for w in wanted))
        if named:
            kinds[kind] = named
    return kinds


def codes_section(table: CodeTable, document_ref: str) -> dict[str, Any]:
    """The contract's `codes` section: the page it comes from, code -> description, and the codes of each kind."""
    section: dict[str, Any] = {
        "source": document_ref,
        "table": {str(code): table.codes[code] for code in sorted(table.codes)},
    }
    kinds = classify(table.codes)
    if kinds:
        section["kinds"] = kinds
    return section


def with_codes(contract: Mapping[str, Any], section: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `contract` carrying `section` as its `codes` (after `result`), its code rules citing the page."""
    out: dict[str, Any] = {}
    for key, value in contract.items():
        if key != "codes":
            out[key] = copy.deepcopy(value)
        if key == "result":
            out["codes"] = copy.deepcopy(dict(section))
    if "codes" not in out:
        out["codes"] = copy.deepcopy(dict(section))
    sources = code_table_sources(str(section["source"]))
    for rule in out.get("rules", []):
        if rule.get("id") in sources:
            rule["source"] = sources[rule["id"]]
    return out


# --- reading markdown, linearly ---------------------------------------------------------------------


def _is_table_line(line: str) -> bool:
    return "|" in line and bool(line.strip())


def _is_alignment_row(line: str) -> bool:
    cells = split_row(line)
    for cell in cells:
        bare = cell.replace(" ", "")
        bare = bare[1:] if bare.startswith(":") else bare
        bare = bare[:-1] if bare.endswith(":") else bare
        if not bare or bare.strip("-"):
            return False
    return bool(cells) and "-" in line


def _plain(cell: str) -> str:
    """A cell as plain text: `<br/>` line breaks joined (list dashes dropped), other tags, emphasis and code
    marks removed, HTML entities decoded, spaces squeezed."""
    parts: list[str] = []  # the cell's lines, as `<br/>` splits them
    current: list[str] = []
    i, close = 0, -1  # `close`: the next `>` at or after i (found once per `>`, so the scan stays linear)
    while i < len(cell):
        start = cell.find("<", i)
        if start < 0:
            current.append(cell[i:])
            break
        if close < start:
            close = cell.find(">", start)
        if close < 0:
            current.append(cell[i:])
            break
        following = cell.find("<", start + 1, close)  # stops at the next `<`, which the loop reaches next anyway
        inner = cell[start + 1 : close].strip().lstrip("/").strip() if following < 0 else ""
        name = inner.split("/", 1)[0].split(None, 1)[0].lower() if inner else ""
        if not name[:1].isalpha():
            current.append(cell[i : start + 1])  # a lone `<` (`amount < 5`), not a tag
            i = start + 1
            continue
        current.append(cell[i:start])
        if name == "br":
            parts.append("".join(current))
            current = []
        i = close + 1
    parts.append("".join(current))
    lines = []
    for part in parts:
        text = html.unescape(part).replace("\\|", "|").replace("**", "").replace("`", "")
        text = " ".join(text.split())
        for bullet in ("- ", "* "):
            text = text[len(bullet) :] if text.startswith(bullet) else text
        if text:
            lines.append(text)
    return " ".join(lines)
