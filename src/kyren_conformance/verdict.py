"""The run's verdict and its INFO facts, read from the run's snapshot (its rule records and counted answers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kyren_conformance.judgements import percentile
from kyren_conformance.run_snapshot import MethodSnapshot

if TYPE_CHECKING:
    from kyren_conformance.run_snapshot import SuiteSnapshot

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


def verdict_of(snapshot: SuiteSnapshot | MethodSnapshot) -> Verdict:
    """One method's verdict, or the whole run's over every method and money flow (any MUST failure fails the run),
    read from the run's snapshot (run_snapshot.py): reading a verdict never builds or changes a run.

    An internal error of the suite (in any method, or in the run as a whole) makes it ERROR, an interrupted
    run INCOMPLETE: neither ever reads CONFORMANT, whatever the rules judged so far say.
    """
    if isinstance(snapshot, MethodSnapshot):
        methods: tuple[MethodSnapshot, ...] = (snapshot,)
        rules = snapshot.rules
        errors, requests, info = snapshot.errors, snapshot.request_count, snapshot.info
    else:  # a money flow's MUST failure fails the run like a method's; the flows' requests count too
        methods = snapshot.methods
        rules = (*(r for m in methods for r in m.rules), *(r for flow in snapshot.flows for r in flow.rules))
        errors, requests, info = snapshot.all_errors, snapshot.request_count, snapshot.info
    must = sum(r.failed for r in rules if r.rule.level == "MUST")
    # under --strict a SHOULD rule fails its test; it stays a SHOULD warning in the counts
    should = sum(r.failed + r.warned for r in rules if r.rule.level != "MUST")
    strict = any(m.identity.strict for m in methods)
    so_far = label_of(must, should, strict=strict)
    interrupted = snapshot.interrupted
    label = ERROR if errors else INCOMPLETE if interrupted else so_far
    elapsed = info.latencies_s
    latency = {}
    if elapsed:
        latency = {f"p{p}": percentile(elapsed, p) * 1000 for p in (50, 95, 99)}
        latency["max"] = max(elapsed) * 1000
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
        statuses=dict(info.statuses),
        codes=dict(info.codes),
        media_types=dict(info.media_types),
        code_forms=dict(info.code_forms),
        unreachable=info.unreachable,
    )
