"""pytest-html hooks: the sign-off report (issue 4). Registered by the plugin when pytest-html is active.

Our sections go into pytest-html's summary "prefix", which the template renders as static HTML
before the JavaScript-built results table: the verdict, the run's identity, the traceability table
and the evidence read the same with scripts blocked. The sections themselves are built, from the
results dictionary, in `report_sections` (one method), `report_methods` (the whole integration) and
`report_flows` (the money flows, after the methods' sections, in both layouts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from kyren_conformance.stash_keys import RESULTS, RUN

if TYPE_CHECKING:
    from kyren_conformance.conformance_run import ConformanceRun
    from kyren_conformance.report_sections import ReportContext
    from kyren_conformance.suite_run import SuiteRun


_REPORT_DATA = pytest.StashKey[Any]()  # pytest-html's ReportData: its title is set once the verdict is known


def pytest_html_report_title(report: Any) -> None:
    report.config.stash[_REPORT_DATA] = report


def pytest_html_results_summary(
    prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
) -> None:
    config = session.config
    results = config.stash.get(RESULTS, None)
    suite = config.stash.get(RUN, None)
    if results is None or suite is None:
        return  # not a conformance session: pytest-html's report as it is
    from kyren_conformance import report_flows as f
    from kyren_conformance import report_sections as s

    if suite.several:
        prefix.extend(_whole_integration(results, suite))
        if _REPORT_DATA in config.stash:
            config.stash[_REPORT_DATA].title = s.title(results, f"the whole integration ({len(suite.runs)} methods)")
        return
    run = next(iter(suite))
    ctx = report_context(run)
    if _REPORT_DATA in config.stash:
        config.stash[_REPORT_DATA].title = s.title(results, ctx.contract_title)
    prefix.extend(
        [
            s.STYLE,
            s.banner(results),
            f.with_contents(s.contents(results), results),
            s.identity(results, ctx),
            s.traceability(results, ctx),
            s.findings(results, run.secret_env),
            s.info(results, ctx),
            s.errata(ctx),
            f.flows(results),
            s.per_test_heading(),
        ]
    )


def _whole_integration(results: dict[str, Any], suite: SuiteRun) -> list[str]:
    from dataclasses import replace

    from kyren_conformance import report_flows as f
    from kyren_conformance import report_methods as m
    from kyren_conformance import report_sections as s

    contexts = {run.name: report_context(run) for run in suite}
    overall = replace(
        next(iter(contexts.values())),
        contract_title=f"{len(suite.runs)} methods",
        field_notes={k: v for ctx in contexts.values() for k, v in ctx.field_notes.items()},
        secret_fields={k: v for ctx in contexts.values() for k, v in ctx.secret_fields.items()},
    )
    blocks = [m.method_block(results, row, contexts[row["name"]], suite.runs[row["name"]].secret_env)
              for row in results["methods"]]  # fmt: skip
    return [
        s.STYLE,
        s.banner(results),
        f.with_contents(m.contents(results), results),
        m.methods_table(results),
        s.identity(results, overall),
        *blocks,
        f.flows(results),
        s.per_test_heading(),
    ]


def report_context(run: ConformanceRun) -> ReportContext:
    from kyren_conformance.report_sections import ReportContext

    contract = run.contract
    answered = [e for e in run.all_exchanges() if e.response is not None]
    judged_on_cases = {rule for case in run.cases for rule in case.rules}
    return ReportContext(
        contract_title=contract.title,
        field_notes={f.name: f.description for f in contract.fields if not f.secret},
        secret_fields={f.name: f.env or "" for f in contract.secret_fields},
        errata=contract.errata,
        run_wide_rules=frozenset(r.id for r in contract.rules if r.id not in judged_on_cases),
        latencies_ms=[e.elapsed * 1000 for e in answered],
        unanswered=sum(1 for e in run.all_exchanges() if e.response is None and not e.not_sent),
    )
