"""The run's verdict and its INFO facts, computed from the run's records and exchanges."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kyren_conformance.judgements import code_forms, code_of, percentile

if TYPE_CHECKING:
    from kyren_conformance.conformance_run import ConformanceRun
    from kyren_conformance.suite_run import SuiteRun

CONFORMANT = "CONFORMANT"
WITH_WARNINGS = "CONFORMANT WITH WARNINGS"
NOT_CONFORMANT = "NOT CONFORMANT"
INCOMPLETE = "INCOMPLETE"  # interrupted (exit 2): what ran is no sign-off verdict
ERROR = "ERROR"  # an internal error of the suite (exit 3): no verdict on the target at all
LABELS = (CONFORMANT, WITH_WARNINGS, NOT_CONFORMANT, INCOMPLETE, ERROR)


@dataclass(frozen=True)
class Verdict:
    label: str
    must_failures: int  # failed tests of MUST rules
    should_warnings: int  # SHOULD rules not met (failed tests under --strict, warnings otherwise)
    interrupted: bool
    requests: int
    latency_ms: dict[str, float] = field(default_factory=dict)  # p50, p95, p99, max
    statuses: dict[str, int] = field(default_factory=dict)
    codes: dict[str, int] = field(default_factory=dict)
    media_types: dict[str, int] = field(default_factory=dict)
    code_forms: dict[str, int] = field(default_factory=dict)
    unreachable: str | None = None
    strict: bool = False  # SHOULD warnings fail the run
    errors: tuple[str, ...] = ()  # internal errors of the suite: then the label is ERROR
    so_far: str = CONFORMANT  # what the judged rules read, whatever stopped the run

    @property
    def headline(self) -> str:
        label = self.label  # never the so-far label of an unfinished run: a reader may grep for CONFORMANT
        if self.label == ERROR:
            label += " (internal error of the suite, exit 3: no verdict on the target; counts so far)"
        elif self.label == INCOMPLETE:
            label += " (interrupted, exit 2: not a sign-off verdict; counts so far)"
        warnings = _plural(self.should_warnings, "SHOULD warning")
        if self.strict and self.should_warnings:
            warnings += " (strict: warnings fail the run)"
        reason = f" (target unreachable: {self.unreachable})" if self.unreachable else ""
        return f"{label}: {_plural(self.must_failures, 'MUST failure')}, {warnings}, {self.requests} requests{reason}"

    def info_lines(self) -> list[str]:
        lat = ", ".join(f"{k} {v:.1f} ms" for k, v in self.latency_ms.items())
        lines = [
            f"INFO error code form (DESIGN.md E1): {_counts(self.code_forms) or 'no code seen'}",
            f"INFO statuses: {_counts(self.statuses)}; codes: {_counts(self.codes)}",
            f"INFO media types: {_counts(self.media_types)}",
            f"INFO latency: {lat or 'no answer'}",
        ]
        if self.unreachable:
            lines.append(f"target unreachable: {self.unreachable}")
        return lines


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def label_of(must_failures: int, should_warnings: int, *, strict: bool) -> str:
    if must_failures or (strict and should_warnings):
        return NOT_CONFORMANT
    return WITH_WARNINGS if should_warnings else CONFORMANT


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{k} ×{v}" for k, v in sorted(counter.items()))


def verdict_of(run: ConformanceRun | SuiteRun, interrupted: bool = False) -> Verdict:
    """One method's verdict, or the whole run's over every method and money flow (any MUST failure fails the run).

    An internal error of the suite (in any method, or in the run as a whole) makes it ERROR, an interrupted
    run INCOMPLETE: neither ever reads CONFORMANT, whatever the rules judged so far say.
    """
    from kyren_conformance.conformance_run import ConformanceRun

    runs = [run] if isinstance(run, ConformanceRun) else list(run)
    must = should = 0
    for one in runs:
        for rule_id, r in one.records.items():
            if one.contract.rule(rule_id).level == "MUST":
                must += r.failed
            else:  # under --strict a SHOULD rule fails its test; it stays a SHOULD warning in the counts
                should += r.failed + r.warned
    strict = any(one.settings.strict for one in runs)
    errors = tuple(e for one in runs for e in one.errors)
    requests = sum(one.request_count for one in runs)
    if not isinstance(run, ConformanceRun):
        errors = (*run.errors, *errors)
        for flow in run.flows.values():  # a money flow's MUST failure fails the run like a method's
            for rule in flow.rules:
                counted = flow.records[rule.id]
                if rule.level == "MUST":
                    must += counted.failed
                else:
                    should += counted.failed + counted.warned
        requests = run.request_count  # the flows' requests too
    so_far = label_of(must, should, strict=strict)
    label = ERROR if errors else INCOMPLETE if interrupted else so_far
    answered = [e for one in runs for e in one.all_exchanges() if e.response is not None]
    elapsed = [e.elapsed for e in answered]
    latency = {}
    if elapsed:
        latency = {f"p{p}": percentile(elapsed, p) * 1000 for p in (50, 95, 99)}
        latency["max"] = max(elapsed) * 1000
    codes: Counter[str] = Counter()
    forms: Counter[str] = Counter()
    for one in runs:
        found = (code_of(e, one.ctx) for e in one.all_exchanges() if e.response is not None)
        codes.update(str(code) for code in found if code is not None)
        forms.update(code_forms(one.all_exchanges(), one.ctx))
    return Verdict(
        label=label,
        so_far=so_far,
        strict=strict,
        errors=errors,
        must_failures=must,
        should_warnings=should,
        interrupted=interrupted,
        requests=requests,
        latency_ms=latency,
        statuses=dict(Counter(str(e.status) for e in answered)),
        codes=dict(codes),
        media_types=dict(Counter(e.response.media_type or "none" for e in answered if e.response)),
        code_forms=dict(forms),
        unreachable=_first(one.unreachable for one in runs),
    )


def _first(reasons: Iterable[str | None]) -> str | None:
    return next((r for r in reasons if r), None)
