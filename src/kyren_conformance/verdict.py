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


@dataclass(frozen=True)
class Verdict:
    label: str
    must_failures: int  # failed tests of MUST rules (and SHOULD ones under --strict)
    should_warnings: int
    interrupted: bool
    requests: int
    latency_ms: dict[str, float] = field(default_factory=dict)  # p50, p95, p99, max
    statuses: dict[str, int] = field(default_factory=dict)
    codes: dict[str, int] = field(default_factory=dict)
    media_types: dict[str, int] = field(default_factory=dict)
    code_forms: dict[str, int] = field(default_factory=dict)
    unreachable: str | None = None

    @property
    def headline(self) -> str:
        label = f"{self.label} (INCOMPLETE: interrupted)" if self.interrupted else self.label
        counts = (
            f"{self.must_failures} MUST failure{'s' if self.must_failures != 1 else ''}, "
            f"{self.should_warnings} SHOULD warning{'s' if self.should_warnings != 1 else ''}"
        )
        reason = f" (target unreachable: {self.unreachable})" if self.unreachable else ""
        return f"{label}: {counts}, {self.requests} requests{reason}"

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


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{k} ×{v}" for k, v in sorted(counter.items()))


def verdict_of(run: ConformanceRun | SuiteRun, interrupted: bool = False) -> Verdict:
    """One method's verdict, or the whole run's over every method (any method's MUST failure fails the run)."""
    from kyren_conformance.conformance_run import ConformanceRun

    runs = [run] if isinstance(run, ConformanceRun) else list(run)
    must = sum(r.failed for one in runs for r in one.records.values())
    should = sum(r.warned for one in runs for r in one.records.values())
    label = NOT_CONFORMANT if must else WITH_WARNINGS if should else CONFORMANT
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
        must_failures=must,
        should_warnings=should,
        interrupted=interrupted,
        requests=sum(one.request_count for one in runs),
        latency_ms=latency,
        statuses=dict(Counter(str(e.status) for e in answered)),
        codes=dict(codes),
        media_types=dict(Counter(e.response.media_type or "none" for e in answered if e.response)),
        code_forms=dict(forms),
        unreachable=_first(one.unreachable for one in runs),
    )


def _first(reasons: Iterable[str | None]) -> str | None:
    return next((r for r in reasons if r), None)
