"""Errata: each contradiction or gap of a document, the clause it quotes and the decision taken.

Nothing the document gets wrong is hidden: every place derive reads past a mistake records one here,
with a key that stays stable from one run to the next (a reviewed overlay finds it by that key).
Damaged encoding (`Operatorâ€™s`) is repaired with ftfy, and each repair is an erratum too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ftfy


@dataclass
class Erratum:
    """A contradiction or gap of the document and the decision taken; `key` stays stable across runs."""

    key: str
    line: int
    clause: str
    document: str
    decision: str
    id: str = ""
    review: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "key": self.key, "line": self.line, "clause": self.clause,
            "document": self.document, "decision": self.decision, "review": self.review,
        }  # fmt: skip


class Errata:
    """The errata of one document, in the order found; each quotes its line of the document as its clause."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines
        self.found: list[Erratum] = []

    def add(self, key: str, line: int, document: str, decision: str) -> None:
        clause = " ".join(self._lines[line - 1].split()) if 0 < line <= len(self._lines) else ""
        self.found.append(Erratum(key, line, clause, document, decision))

    def any_key_starts(self, prefix: str) -> bool:
        return any(e.key.startswith(prefix) for e in self.found)

    def repaired(self, text: str, key: str, line: int, what: str) -> str:
        """The text with damaged encoding repaired (ftfy); each repair is an erratum."""
        repaired = ftfy.fix_encoding(text)
        if repaired != text:
            words, repaired_words = set(text.split()), set(repaired.split())  # sets: a long line stays linear
            damaged = [w for w in text.split() if w not in repaired_words]
            self.add(
                key, line,
                f"{what} has damaged encoding: {' '.join(damaged)!r}",
                f"read as {' '.join(w for w in repaired.split() if w not in words)!r} "
                "(UTF-8 shown as Windows-1252)",
            )  # fmt: skip
        return repaired

    def prose_encoding(self, prose: list[tuple[int, str]]) -> None:
        """Damaged encoding in the prose changes no check, but it is the document's mistake all the same."""
        for line, text in prose:
            if ftfy.fix_encoding(text) != text:
                damaged = next(w for w in text.split() if ftfy.fix_encoding(w) != w).strip(".,;:()!?\"'")
                self.repaired(text, f"text.{damaged}.encoding", line, "the text")

    def numbered(self) -> list[Erratum]:
        """The errata in document order, numbered E1, E2, ... (an overlay may renumber them)."""
        ordered = sorted(self.found, key=lambda e: (e.line, e.key))
        for number, erratum in enumerate(ordered, start=1):
            erratum.id = f"E{number}"
        return ordered
