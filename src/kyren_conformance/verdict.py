"""The run's verdict and its INFO facts, computed from the run's records and exchanges."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kyren_conformance.judgements import code_forms, code_of, percentile

if TYPE_CHECKING:
    from kyren_conformance.conformance_run import ConformanceRun

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


def verdict_of(run: ConformanceRun, interrupted: bool = False) -> Verdict:
    must = sum(r.failed for r in run.records.values())
    should = sum(r.warned for r in run.records.values())
    label = NOT_CONFORMANT if must else WITH_WARNINGS if should else CONFORMANT
    exchanges = run.all_exchanges()
    answered = [e for e in exchanges if e.response is not None]
    elapsed = [e.elapsed for e in answered]
    latency = {}
    if elapsed:
        latency = {f"p{p}": percentile(elapsed, p) * 1000 for p in (50, 95, 99)}
        latency["max"] = max(elapsed) * 1000
    return Verdict(
        label=label,
        must_failures=must,
        should_warnings=should,
        interrupted=interrupted,
        requests=run.request_count,
        latency_ms=latency,
        statuses=dict(Counter(str(e.status) for e in answered)),
        codes=dict(Counter(str(code_of(e, run.ctx)) for e in answered if code_of(e, run.ctx) is not None)),
        media_types=dict(Counter(e.response.media_type or "none" for e in answered if e.response)),
        code_forms=code_forms(exchanges, run.ctx),
        unreachable=run.unreachable,
    )
