"""Read a Kyren method document (markdown, as the provider writes it) into plain data, with line numbers.

This module only reads: tables, fenced examples and headings, keeping each item's line so that
everything derived from it can quote its clause; what the content means is for `reading.py`, `request.py`
and `response.py` to say. It is tolerant of how these documents really look: `<br/>`, ragged whitespace,
alignment colons, missing outer pipes, fences with or without an info string, text around the tables,
missing sections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

Side = Literal["request", "response"]


class DocumentError(ValueError):
    """A document that cannot be read; the message names the line."""


class NotAMethodDocument(DocumentError):
    """A page that documents no method (an overview, another API family): skipped, not broken."""


@dataclass(frozen=True)
class Row:
    """One parameter row of a request or response table."""

    line: int
    name: str
    type: str
    description: str
    remark: str
    raw: str  # the row as written, for quoting
    children: tuple[Row, ...] = ()  # the sub-fields of a list or object field, in a nested table


@dataclass(frozen=True)
class Block:
    """A fenced code block: its info string, its text, the line of its opening fence and the label above it."""

    line: int
    info: str
    text: str
    label: str
    side: Side | None


@dataclass
class MethodDoc:
    path: str
    title: str = ""
    title_line: int = 0
    overview: str = ""
    tables: dict[Side, list[Row]] = field(default_factory=lambda: {"request": [], "response": []})
    table_lines: dict[Side, int] = field(default_factory=dict)
    missing_columns: dict[Side, list[str]] = field(default_factory=dict)
    prose: list[tuple[int, str]] = field(default_factory=list)  # (line, text) outside tables and code blocks
    blocks: list[Block] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    columns: dict[Side, set[str]] = field(default_factory=dict)  # the column kinds each side's table has
    stray_tables: list[int] = field(default_factory=list)  # lines of parameter tables outside any side
    unclosed_fence: int = 0  # the line of a code fence the file never closes (it closes at the end)


# Linear on any line: the heading's text is trimmed with string methods, a tag cannot span another '<'.
_HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})(.*)$")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})\s*([^`\s]*)")
_ALIGN_CELL = re.compile(r"^:?-{1,}:?$")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")

# Header cells (lower-cased, spaces squeezed) and the column each one names.
_COLUMNS = {
    "name": "name", "parameter": "name", "parameter name": "name", "field": "name", "param": "name",
    "data type": "type", "datatype": "type", "type": "type",
    "description": "description", "desc": "description",
    "remark": "remark", "remarks": "remark", "required": "remark", "mandatory": "remark", "optional": "remark",
    "required/optional": "remark", "m/o": "remark",
}  # fmt: skip


def read_text(path: Path, error: type[DocumentError] = DocumentError) -> str:
    """A document's text (UTF-8, a BOM dropped); `error` names the file, and the line of a byte that is not UTF-8."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise error(f"{path}:{line}: not UTF-8 (byte {raw[exc.start]:#04x})") from None


def read_method_doc(path: str, text: str) -> MethodDoc:
    """Parse the document; raise DocumentError naming the line for what cannot be read."""
    doc = MethodDoc(path=path, lines=text.splitlines())
    side: Side | None = None
    label = ""
    i = 0
    lines = doc.lines
    while i < len(lines):
        line = lines[i]
        number = i + 1
        fence = _FENCE.match(line)
        if fence:
            i = _read_block(doc, i, fence, label, side)
            label = ""
            continue
        heading = _HEADING.match(line)
        if heading:
            level, text_ = len(heading.group(1)), clean_cell(_heading_text(heading.group(2)))
            if level == 1 and not doc.title:
                doc.title, doc.title_line = text_, number
            side = _side_of(text_) or side
            label = text_
            if number != doc.title_line:
                doc.prose.append((number, text_))
            i += 1
            continue
        if _is_table_line(line) and i + 1 < len(lines) and _is_alignment_row(lines[i + 1]):
            i = _read_table(doc, i, side)
            label = ""
            continue
        stripped = line.strip()
        if stripped:
            doc.prose.append((number, stripped))
            if side is None and doc.title:
                doc.overview += (" " if doc.overview else "") + clean_cell(stripped)
            label = stripped
            side = _side_of_label(stripped) or side
        i += 1
    if not doc.title:
        raise DocumentError(f"{path}: no title: expected a first-level heading such as '# Close Session'")
    return doc


def _heading_text(text: str) -> str:
    """The heading without its optional closing `#` sequence (CommonMark: preceded by a space)."""
    text = text.strip()
    bare = text.rstrip("#")
    return bare.rstrip() if bare != text and (not bare or bare[-1] in " \t") else text


def _side_of(heading: str) -> Side | None:
    lowered = heading.lower()
    if "response" in lowered:
        return "response"
    if "request" in lowered:
        return "request"
    return None


def _side_of_label(text: str) -> Side | None:
    """Prose such as 'Example of successful response from ...' also moves us to the response side."""
    lowered = text.lower()
    if lowered.startswith("example of") and "response" in lowered:
        return "response"
    return None


def clean_cell(text: str) -> str:
    """A cell or heading as plain text: `<br/>` and tags removed, emphasis and code marks dropped, spaces squeezed."""
    text = _BR.sub(" ", text)
    text = _TAG.sub("", text)
    text = text.replace("\\|", "|").replace("**", "").replace("`", "")
    return " ".join(text.split())


def split_row(line: str) -> list[str]:
    """The cells of a table row: split on unescaped pipes, outer pipes optional."""
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", body)]


def _is_table_line(line: str) -> bool:
    return "|" in line and bool(line.strip())


def _is_alignment_row(line: str) -> bool:
    cells = split_row(line)
    return bool(cells) and all(_ALIGN_CELL.match(c.replace(" ", "")) for c in cells)


def _read_table(doc: MethodDoc, start: int, side: Side | None) -> int:
    """Read a table whose header is at `start`; return the index after it."""
    header_line = start + 1
    header = [clean_cell(c).lower() for c in split_row(doc.lines[start])]
    columns: dict[str, int] = {}
    for index, h in enumerate(header):
        columns.setdefault(_COLUMNS.get(" ".join(h.split()), ""), index)
    i = start + 2
    rows_end = i
    while rows_end < len(doc.lines) and _is_table_line(doc.lines[rows_end]):
        rows_end += 1
    if "name" not in columns:
        return rows_end  # some other table (a code list, a glossary): not a parameter table
    if side is None:
        doc.stray_tables.append(header_line)  # an overview's list of methods, or a misplaced table: derive decides
        return rows_end
    # `| Name | | Data Type | Remark |`: an empty-headed column after the name holds the sub-fields' names
    sub_name = columns["name"] + 1 if columns["name"] + 1 < len(header) and not header[columns["name"] + 1] else None
    doc.missing_columns[side] = [c for c in ("type", "remark") if c not in columns]  # derive says what it does
    doc.columns[side] = {c for c in columns if c}
    if doc.tables[side]:
        raise DocumentError(
            f"{doc.path}:{header_line}: a second {side} parameter table "
            f"(the first is at line {doc.table_lines[side]}); expected one per side"
        )
    doc.table_lines[side] = header_line
    rows: list[tuple[Row, list[Row]]] = []
    for index in range(i, rows_end):
        raw = doc.lines[index]
        cells = [clean_cell(c) for c in split_row(raw)]
        if not any(cells):
            continue
        name_at = columns["name"]
        child = name_at < len(cells) and not cells[name_at]
        if child and sub_name is not None:
            name_at = sub_name
        elif child and len(cells) == len(header) + 1:  # `| | sub | string | ... |`: the sub-row is shifted by one
            cells = cells[:name_at] + cells[name_at + 1 :]

        def cell(column: str, cells: list[str] = cells, name_at: int = name_at) -> str:
            at = name_at if column == "name" else columns.get(column)
            return cells[at] if at is not None and at < len(cells) else ""

        if not cell("name"):
            raise DocumentError(f"{doc.path}:{index + 1}: a {side} parameter row with no name: {raw.strip()!r}")
        row = Row(index + 1, cell("name"), cell("type"), cell("description"), cell("remark"), " ".join(raw.split()))
        if not child:
            rows.append((row, []))
        elif rows:
            rows[-1][1].append(row)
        else:
            raise DocumentError(f"{doc.path}:{index + 1}: a {side} sub-field row with no field above: {raw.strip()!r}")
    doc.tables[side] = [replace(row, children=tuple(children)) for row, children in rows]
    return rows_end


def _read_block(doc: MethodDoc, start: int, fence: re.Match[str], label: str, side: Side | None) -> int:
    marker = fence.group(1)
    body: list[str] = []
    i = start + 1
    while i < len(doc.lines):
        if doc.lines[i].strip().startswith(marker[0] * len(marker)) and not doc.lines[i].strip().strip(marker[0]):
            doc.blocks.append(Block(start + 1, fence.group(2).lower(), "\n".join(body), label, side))
            return i + 1
        body.append(doc.lines[i])
        i += 1
    # CommonMark closes a fence the file leaves open at the end of the document; derive notes it
    doc.unclosed_fence = start + 1
    doc.blocks.append(Block(start + 1, fence.group(2).lower(), "\n".join(body), label, side))
    return i
