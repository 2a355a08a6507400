"""A rule's outcome, decided in the engine: skip, pass, fail or warn, with the level and --strict applied.

The pytest plugin only turns an `Outcome` into pytest's (a skip, an assertion, a warning); the counts the
verdict and the report read are kept here, at the one place the outcome is decided. Any subject that judges
rules (one method's run, a money flow) offers the small `Judged` interface below.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from kyren_conformance.findings import Finding

if TYPE_CHECKING:
    from kyren_conformance.contract import Rule

Kind = Literal["skip", "pass", "fail", "warn"]


class RuleRecord(Protocol):
    failed: int
    warned: int
    not_applicable: str | None


class Judged(Protocol):
    """What a rule is judged on: its rules, the reason a rule does not apply, the judgement, the counts."""

    @property
    def records(self) -> MutableMapping[str, Any]: ...  # rule id -> its RuleRecord

    @property
    def secret_env(self) -> str: ...

    def not_applicable(self, rule_id: str) -> str | None: ...

    def judge(self, rule_id: str, case: Any = None) -> list[Finding]: ...


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    rule_id: str
    text: str = ""  # the skip reason, or the failure's evidence (first line: the summary)
    findings: tuple[Finding, ...] = ()


def rule_outcome(
    subject: Judged, rule: Rule, strict: bool, case: Any = None, not_applicable: str | None = None
) -> Outcome:
    """Judge `rule` (on `case`, or on the whole subject) and count the result where the verdict reads it.

    `not_applicable` is a reason known to the caller (a test parametrised with no case); the subject's own
    reason is asked first.
    """
    from kyren_conformance.evidence import failure_text

    rule_id = rule.id
    reason = subject.not_applicable(rule_id)
    if reason is None and not_applicable:
        reason = subject.records[rule_id].not_applicable = not_applicable  # for the report's traceability
    if reason:
        return Outcome("skip", rule_id, f"{rule_id} not applicable: {reason}")
    findings = subject.judge(rule_id, case)
    if not findings:
        return Outcome("pass", rule_id)
    text = failure_text(rule_id, rule.title, findings, subject.secret_env)
    record: RuleRecord = subject.records[rule_id]
    if rule.level == "MUST" or strict:
        record.failed += 1
        return Outcome("fail", rule_id, text, tuple(findings))
    record.warned += 1
    return Outcome("warn", rule_id, text, tuple(findings))
