"""Findings: what a judgement concluded, with the evidence behind it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # keeps this module light: the pytest plugin imports it at start-up
    from kyren_conformance.contract import Level
    from kyren_conformance.exchange import Exchange


@dataclass(frozen=True)
class Finding:
    rule_id: str
    level: Level
    received: str  # what came back, quoting the bad value
    documented: str  # what the document (or the erratum) says
    exchange: Exchange | None = None
    case_id: str = ""

    @property
    def message(self) -> str:
        return f"received {self.received} / the document says {self.documented}"


class RuleFailure(AssertionError):
    """A MUST rule failed (or a SHOULD under --strict); carries its findings for the report."""

    def __init__(self, rule_id: str, text: str, findings: tuple[Finding, ...]) -> None:
        super().__init__(text)
        self.rule_id = rule_id
        self.findings = findings


class ShouldWarning(UserWarning):
    """A SHOULD rule was not met: shown in the summary, fails the run only under --strict."""
