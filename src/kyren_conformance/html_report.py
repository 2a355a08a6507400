"""pytest-html hooks: the sign-off report (issue 4). Registered by the plugin when pytest-html is active.

Our sections go into pytest-html's summary "prefix", which the template renders as static HTML
before the JavaScript-built results table: the verdict, the run's identity, the traceability table
and the evidence read the same with scripts blocked. The sections themselves are built, from the
results dictionary, in `report_sections` (one method), `report_methods` (the whole integration) and
`report_flows` (the money flows, after the methods' sections, in both layouts). Their one input is the
`ReportInput` the plugin makes at session finish (report_input.py): the report never sees a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from kyren_conformance.stash_keys import REPORT

if TYPE_CHECKING:
    from kyren_conformance.report_input import ReportInput


_REPORT_DATA = pytest.StashKey[Any]()  # pytest-html's ReportData: its title is set once the verdict is known


def pytest_html_report_title(report: Any) -> None:
    report.config.stash[_REPORT_DATA] = report


def pytest_html_results_summary(
    prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
) -> None:
    config = session.config
    report = config.stash.get(REPORT, None)
    if report is None:
        return  # not a conformance session: pytest-html's report as it is
    from kyren_conformance import report_flows as f
    from kyren_conformance import report_sections as s

    results = report.results
    if report.several:
        prefix.extend(_whole_integration(report))
        if _REPORT_DATA in config.stash:
            config.stash[_REPORT_DATA].title = s.title(
                results, f"the whole integration ({len(report.contexts)} methods)"
            )
        return
    [(name, ctx)] = report.contexts.items()
    if _REPORT_DATA in config.stash:
        config.stash[_REPORT_DATA].title = s.title(results, ctx.contract_title)
    prefix.extend(
        [
            s.STYLE,
            s.banner(results),
            f.with_contents(s.contents(results), results),
            s.identity(results, ctx),
            s.traceability(results, ctx),
            s.findings(results, report.secret_envs[name]),
            s.info(results, ctx),
            s.errata(ctx),
            f.flows(results),
            s.per_test_heading(),
        ]
    )


def _whole_integration(report: ReportInput) -> list[str]:
    from dataclasses import replace

    from kyren_conformance import report_flows as f
    from kyren_conformance import report_methods as m
    from kyren_conformance import report_sections as s

    results, contexts = report.results, report.contexts
    overall = replace(
        next(iter(contexts.values())),
        contract_title=f"{len(contexts)} methods",
        field_notes={k: v for ctx in contexts.values() for k, v in ctx.field_notes.items()},
        secret_fields={k: v for ctx in contexts.values() for k, v in ctx.secret_fields.items()},
    )
    blocks = [m.method_block(results, row, contexts[row["name"]], report.secret_envs[row["name"]])
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
