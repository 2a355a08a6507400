"""The sign-off report of a whole-integration run: the method table and one block of sections per method.

A one-method report is `report_sections` as it is. With several methods the page opens with the
overall verdict and a table of methods (each one's verdict, its contract, and how many of its
errata no person has reviewed), then gives every method its own traceability, findings, INFO and
errata, their anchors prefixed with the method's name so that `#close-session--rule-M5` and
`#get-balance--rule-M5` are two rows. Pure functions: results in, HTML out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kyren_conformance import report_sections as s

# Our own markup only: every value from the target or the configuration is escaped with quote=True,
# so `id="` and `href="#` cannot come from outside.
_ANCHORS = (('id="', 'id="{scope}--'), ('href="#', 'href="#{scope}--'))


def scoped(html: str, scope: str) -> str:
    """The sections' anchors and the links to them, made unique to one method."""
    for plain, prefixed in _ANCHORS:
        html = html.replace(plain, prefixed.format(scope=scope))
    return html


def method_view(results: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
    """The results as one method's sections read them: its rules, its findings, its INFO, its request count."""
    name = row["name"]
    identity = {**results["identity"], "requests": row["requests"], "method": row["method"]}
    return {
        **results,
        "identity": identity,
        "rules": [r for r in results["rules"] if r["method"] == name],
        "findings": [f for f in results["findings"] if f["method"] == name],
        "info": row["info"],
    }


def _label(results: Mapping[str, Any], row: Mapping[str, Any]) -> str:
    """A method's label: its own, unless the run did not finish (then never a conformant one)."""
    own = row["verdict"]["label"]
    if results["verdict"]["complete"] or own in ("ERROR", "INCOMPLETE"):
        return str(own)
    return s.verdict_label(results)


def _review_cell(row: Mapping[str, Any]) -> str:
    pending = row["errata_to_review"]
    if not pending:
        return "reviewed"
    errata = "1 erratum" if pending == 1 else f"{pending} errata"
    return f'<strong class="kc-review">⚠ {errata} not reviewed</strong>'


def methods_table(results: Mapping[str, Any]) -> str:
    rows = []
    for row in results["methods"]:
        verdict = row["verdict"]
        label = _label(results, row)
        failed = verdict["must_failures"] or label in ("NOT CONFORMANT", "ERROR")
        outcome = "failed" if failed else "warned" if verdict["should_warnings"] or label == "INCOMPLETE" else "passed"
        tag = "strong" if outcome != "passed" else "span"
        rows.append(
            f'<tr id="method-{s._e(row["name"])}-row" class="kc-r-{outcome}">'
            f'<th scope="row"><a href="#method-{s._e(row["name"])}">{s._e(row["title"] or row["method"])}</a></th>'
            f"<td><code>{s._e(row['path'])}</code></td>"
            f'<td><{tag} class="kc-o kc-o-{outcome}">{s._e(label)}</{tag}></td>'
            f"<td>{verdict['must_failures']}</td><td>{verdict['should_warnings']}</td><td>{row['requests']}</td>"
            f"<td>{_review_cell(row)}</td></tr>"
        )
    head = "".join(
        f'<th scope="col">{h}</th>'
        for h in ("Method", "Endpoint", "Verdict", "MUST failures", "SHOULD warnings", "Requests", "Contract")
    )
    pending = sum(1 for row in results["methods"] if row["errata_to_review"])
    note = (
        f'<p class="kc-note">{s._plural(pending, "method")} of {len(results["methods"])} rest on a contract derived '
        "from the provider's document whose decisions no person has reviewed (see each method's errata).</p>"
        if pending
        else ""
    )
    return (
        f'<section id="kc-methods" class="kc"><h2>Methods: one verdict each</h2>'
        '<p class="kc-note">The run is conformant only when every method is: one MUST failure in any method '
        f"fails the integration.</p>{note}"
        f'<table border="1" class="kc-table kc-trace"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def contents(results: Mapping[str, Any]) -> str:
    items = [("kc-methods", "Methods"), ("kc-identity", "Run identity")]
    items += [(f"method-{row['name']}", row["title"] or row["method"]) for row in results["methods"]]
    items.append(("results-table", "Per-test results (needs JavaScript)"))
    links = " · ".join(f'<a href="#{s._e(a)}">{s._e(t)}</a>' for a, t in items)
    return f'<nav class="kc kc-nav">Contents: {links}</nav>'


def method_block(results: Mapping[str, Any], row: Mapping[str, Any], ctx: s.ReportContext, secret_env: str) -> str:
    """One method's heading, then its traceability, findings, INFO and errata, anchors scoped to it."""
    view = method_view(results, row)
    name = row["name"]
    verdict = _label(results, row)
    head = (
        f'<section id="method-{s._e(name)}" class="kc kc-method">'
        f"<h2>{s._e(row['title'] or row['method'])}: {s._e(verdict)}</h2>"
        f'<p class="kc-note"><code>{s._e(row["path"])}</code> · contract <code>{s._e(row["contract"]["file"])}</code> '
        f"(sha256 <code>{s._e(row['contract']['sha256'][:12])}</code>) · document "
        f"<code>{s._e(row['document'])}</code> · {_review_cell(row)} · "
        f'<a href="#kc-methods">↑ methods</a></p></section>'
    )
    body = "".join([s.traceability(view, ctx), s.findings(view, secret_env), s.info(view, ctx), s.errata(ctx)])
    return head + scoped(body, name)
