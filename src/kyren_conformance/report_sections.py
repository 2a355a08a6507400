"""The sign-off report's own sections, as static HTML built from the results dictionary.

Pure functions: results (results.py) plus a little context from the run in, HTML strings out.
Everything is plain markup, readable with scripts blocked and even with styles blocked; every
value that came from the target or the configuration is escaped here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from kyren_conformance.contract import Erratum
from kyren_conformance.report_svg import latency_svg

OPEN_FINDINGS = 3  # findings per rule shown expanded; the rest are one click away (<details>)
BODY_SHOWN = 2048  # characters of a body quoted in the report (results.json keeps more)
# "E4" names this contract's erratum; "DESIGN.md E4" names the design's, which a derived contract may number otherwise.
_ERRATUM = re.compile(r"(?<!DESIGN\.md )\bE[0-9]+\b")
_OUTCOME_TEXT = {
    "failed": "FAILED",
    "warned": "WARNING",
    "passed": "passed",
    "not run": "not run",
    "not applicable": "not applicable",
}


@dataclass(frozen=True)
class ReportContext:
    """What the report needs from the run besides the results dictionary."""

    contract_title: str = ""
    field_notes: Mapping[str, str] = field(default_factory=dict)  # field name -> what it is
    secret_fields: Mapping[str, str] = field(default_factory=dict)  # field name -> environment variable
    errata: Sequence[Erratum] = ()
    run_wide_rules: frozenset[str] = frozenset()  # rules judged on every exchange, not on cases of their own
    latencies_ms: Sequence[float] = ()  # one per answered request
    unanswered: int = 0


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _counts(counter: Mapping[str, int]) -> str:
    return ", ".join(f"{_e(k)} ×{v}" for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))) or "none"


def _link_errata(text: str) -> str:
    return _ERRATUM.sub(lambda m: f'<a href="#erratum-{m.group(0)}">{m.group(0)}</a>', _e(text))


def _yes(flag: object) -> str:
    return "yes" if flag else "no"


# --- verdict -----------------------------------------------------------------------------------
def verdict_label(results: Mapping[str, Any]) -> str:
    """The label of the run: INCOMPLETE or ERROR when it did not finish, never what its rules read so far."""
    verdict = results["verdict"]
    if verdict["label"] == "ERROR" or verdict.get("errors"):
        return "ERROR"
    return verdict["label"] if verdict["complete"] else "INCOMPLETE"


def title(results: Mapping[str, Any], contract_title: str) -> str:
    """Plain text (the template escapes it): the page title and its first heading."""
    ident = results["identity"]
    target = "the embedded reference mock" if ident["embedded_mock"] else ident["target_url"]
    return f"{verdict_label(results)}: {contract_title or ident['method']} at {target} (kyren-conformance)"


_BANNER_CLASS = {
    "ERROR": "kc-error",
    "INCOMPLETE": "kc-incomplete",
    "NOT CONFORMANT": "kc-fail",
    "CONFORMANT WITH WARNINGS": "kc-warn",
    "CONFORMANT": "kc-pass",
}


def _banner_class(results: Mapping[str, Any]) -> str:
    return _BANNER_CLASS[verdict_label(results)]


def _so_far(results: Mapping[str, Any]) -> str:
    judged = sum(1 for r in results["rules"] if r["outcome"] != "not run")
    if not judged:
        return "No rule was judged before it stopped."
    return (
        f"{judged} of {len(results['rules'])} rules were judged before it stopped, and read "
        f"{_e(results['verdict'].get('so_far', results['verdict']['label']))}; the others are marked “not run” below."
    )


def banner(results: Mapping[str, Any]) -> str:
    verdict, ident = results["verdict"], results["identity"]
    counts = (
        f"{_plural(verdict['must_failures'], 'MUST failure')} · "
        f"{_plural(verdict['should_warnings'], 'SHOULD warning')} · {_plural(ident['requests'], 'request')}"
        f"{' · strict: SHOULD warnings fail' if ident['strict'] else ''}"
    )
    lines = [f'<h2 class="kc-verdict">{_e(verdict_label(results))}</h2>', f'<p class="kc-counts">{counts}</p>']
    errors = verdict.get("errors") or []
    if errors:
        listed = "".join(f"<li><code>{_e(error)}</code></li>" for error in errors[:10])
        more = f"<li>… and {len(errors) - 10} more</li>" if len(errors) > 10 else ""
        lines.append(
            "<p><strong>No verdict on the target: the suite itself failed (an internal error, exit 3).</strong> "
            f'{_so_far(results)}</p><ul class="kc-errors">{listed}{more}</ul>'
        )
    elif not verdict["complete"]:
        lines.append(f"<p><strong>Not a sign-off verdict: the run was interrupted.</strong> {_so_far(results)}</p>")
    target = "the embedded reference mock" if ident["embedded_mock"] else ident["target_url"]
    lines.append(
        f'<p class="kc-note">{_e(ident["method"])} at <code>{_e(target)}</code>, '
        f"started {_e(ident['started'])} (UTC), suite {_e(results['suite']['version'])}</p>"
    )
    not_met = [r for r in results["rules"] if r["outcome"] in ("failed", "warned")]
    several = len(results.get("methods", ())) > 1  # then each method's anchors carry its name (report_methods)
    if not_met:
        items = "".join(
            f'<li><a href="#{_e(r["method"]) + "--" if several else ""}findings-{_e(r["id"])}">'
            f"{_e(r['method']) + ' ' if several else ''}{_e(r['id'])}</a> "
            f'<strong class="kc-o kc-o-{_e(r["outcome"])}">{_OUTCOME_TEXT[r["outcome"]]}</strong> '
            f"{_e(r['title'])} ({_plural(r['findings'], 'finding')})</li>"
            for r in not_met
        )
        lines.append(f'<p>Rules not met:</p><ul class="kc-notmet">{items}</ul>')
    return (
        f'<section id="kc-verdict" class="kc kc-banner {_banner_class(results)}" role="status">'
        f"{''.join(lines)}</section>"
    )


def contents(results: Mapping[str, Any]) -> str:
    items = [
        ("kc-identity", "Run identity"),
        ("kc-trace", "Traceability"),
        ("kc-findings", f"Findings ({len(results['findings'])})"),
        ("kc-info", "INFO facts"),
        ("kc-errata", "Errata"),
        ("results-table", "Per-test results (needs JavaScript)"),
    ]
    links = " · ".join(f'<a href="#{a}">{_e(t)}</a>' for a, t in items)
    return f'<nav class="kc kc-nav">Contents: {links}</nav>'


# --- identity ----------------------------------------------------------------------------------
def _row(name: str, value_html: str) -> str:
    return f'<tr><th scope="row">{_e(name)}</th><td>{value_html}</td></tr>'


def identity(results: Mapping[str, Any], ctx: ReportContext) -> str:
    ident, suite = results["identity"], results["suite"]
    target = _e(ident["target_url"]) + (" (the embedded reference mock)" if ident["embedded_mock"] else "")
    rows = [_row("target URL", f"<code>{target}</code>"), _row("method", _e(ctx.contract_title or ident["method"]))]
    for name, value in ident["fields"].items():
        note = ctx.field_notes.get(name, "")
        note_html = f' <span class="kc-note">{_e(note)}</span>' if note else ""
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)  # 10.5, not "10.5"
        rows.append(_row(name, f"<code>{_e(shown)}</code>{note_html}"))
    for name, env in ctx.secret_fields.items():
        source = f"${_e(env)} or a secret file" if env else "a secret file"
        rows.append(_row(name, f'<span class="kc-note">supplied through {source}; never shown</span>'))
    seed = _e(ident["seed"])
    rows += [
        _row("replay policy", f"<code>{_e(ident['replay_policy'])}</code>"),
        _row("strict", _yes(ident["strict"]) + ("" if ident["strict"] else " (SHOULD rules warn, do not fail)")),
        _row("hypothesis seed", f"<code>{seed}</code> (repeat with <code>--seed {seed}</code>)"),
        _row(
            "timeout, concurrency",
            f"{_e(ident['timeout_s'])} s per whole response, {_e(ident['concurrency'])} in flight"
            + (f", at most {_e(ident['rate_limit'])} requests a second" if ident.get("rate_limit") else ""),
        ),
        _row("suite version", f"{_e(suite['name'])} {_e(suite['version'])}"),
        _row("contract", f"<code>{_e(ident['contract']['file'])}</code>"),
        _row("contract sha256", f"<code>{_e(ident['contract']['sha256'])}</code>"),
        _row("started (UTC)", _e(ident["started"])),
        _row("duration", f"{float(ident['duration_s']):.2f} s"),
        _row("requests sent", _e(ident["requests"])),
    ]
    if ident.get("notes"):
        rows.append(_row("notes", "<br>".join(f"<strong>note:</strong> {_e(n)}" for n in ident["notes"])))
    return (
        f'<section id="kc-identity" class="kc"><h2>Run identity</h2>'
        f'<p class="kc-note">E7: run only with test accounts. These are the ids this run used.</p>'
        f'<table border="1" class="kc-table kc-ident">{"".join(rows)}</table></section>'
    )


# --- traceability ------------------------------------------------------------------------------
def _tests_cell(tests: Sequence[str]) -> str:
    if not tests:
        return '<span class="kc-note">none collected</span>'
    cases: dict[str, list[str]] = {}
    for nodeid in tests:
        name, _, param = nodeid.split("::")[-1].partition("[")
        cases.setdefault(name, []).append(param.rstrip("]"))
    out = []
    for name, params in cases.items():
        params = [p for p in params if p]
        if not params:
            out.append(f"<code>{_e(name)}</code>")
            continue
        listed = ", ".join(_e(p) for p in params)
        out.append(f"<details><summary><code>{_e(name)}</code> ×{len(params)}</summary>{listed}</details>")
    return "".join(out)


def _requests_cell(rule: Mapping[str, Any], ctx: ReportContext, total: int) -> str:
    if rule["outcome"] in ("not run", "not applicable"):
        return "—"
    if rule["id"] in ctx.run_wide_rules:
        return f'{total} <span class="kc-note">(whole run)</span>'
    return _e(rule["requests"])


def _outcome_cell(rule: Mapping[str, Any]) -> str:
    text = _OUTCOME_TEXT.get(rule["outcome"], rule["outcome"])
    tag = "strong" if rule["outcome"] in ("failed", "warned") else "span"  # stands out with styles blocked too
    cell = f'<{tag} class="kc-o kc-o-{_e(rule["outcome"].replace(" ", "-"))}">{_e(text)}</{tag}>'
    if rule["findings"]:
        cell += f'<br><a href="#findings-{_e(rule["id"])}">{_plural(rule["findings"], "finding")} →</a>'
    if rule.get("note"):
        cell += f'<br><span class="kc-note">{_e(rule["note"])}</span>'
    return cell


def traceability(results: Mapping[str, Any], ctx: ReportContext) -> str:
    total = results["identity"]["requests"]
    rows = []
    for r in results["rules"]:
        rows.append(
            f'<tr id="rule-{_e(r["id"])}" class="kc-r-{_e(r["outcome"].replace(" ", "-"))}">'
            f'<th scope="row">{_e(r["id"])}</th><td>{_e(r["level"])}</td><td>{_e(r["title"])}</td>'
            f"<td>{_link_errata(r['source'])}</td><td>{_tests_cell(r['tests'])}</td>"
            f"<td>{_requests_cell(r, ctx, total)}</td><td>{_outcome_cell(r)}</td></tr>"
        )
    head = "".join(
        f'<th scope="col">{h}</th>'
        for h in ("Rule", "Level", "What it checks", "Where it comes from", "Tests", "Requests", "Outcome")
    )
    return (
        f'<section id="kc-trace" class="kc"><h2>Traceability: every rule, its source and its evidence</h2>'
        f'<table border="1" class="kc-table kc-trace"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _erratum_said(e: Erratum) -> str:
    said = _e(e.document)
    if e.clause:
        said += f'<br><q class="kc-clause">{_e(e.clause)}</q>'
    where = ", ".join(part for part in (f"line {e.line}" if e.line else "", f"about {e.key}" if e.key else "") if part)
    return said + (f' <span class="kc-note">({_e(where)})</span>' if where else "")


def _erratum_decision(e: Erratum) -> str:
    # <strong> and the words themselves: the marker reads the same with styles blocked.
    marker = '<strong class="kc-review">⚠ needs review</strong> ' if e.review else ""
    return marker + _e(e.decision)


def errata(ctx: ReportContext) -> str:
    if not ctx.errata:
        return ""
    review = ' class="kc-r-review"'
    rows = "".join(
        f'<tr id="erratum-{_e(e.id)}"{review if e.review else ""}><th scope="row">{_e(e.id)}</th>'
        f"<td>{_erratum_said(e)}</td><td>{_erratum_decision(e)}</td></tr>"
        for e in ctx.errata
    )
    return (
        f'<section id="kc-errata" class="kc"><h2>Errata: the document\'s gaps and the decisions taken</h2>'
        f'<table border="1" class="kc-table"><thead><tr><th scope="col">Id</th>'
        f'<th scope="col">What the document says</th><th scope="col">Decision</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></section>"
    )


# --- findings ----------------------------------------------------------------------------------
def _body(text: str) -> str:
    shown = text if len(text) <= BODY_SHOWN else text[:BODY_SHOWN] + f"… (first {BODY_SHOWN} characters shown)"
    return _e(shown) if shown else "(empty body)"


def _headers(headers: Iterable[Sequence[str]]) -> str:
    return "".join(f"{_e(name)}: {_e(value)}\n" for name, value in headers)


def evidence(ev: Mapping[str, Any]) -> str:
    req = ev["request"]
    parts = [
        "<h4>Request</h4>",
        f"<pre>{_e(req['method'])} {_e(req['url'])}\n{_headers(req['headers'])}\n{_body(req['body'])}</pre>",
    ]
    resp = ev["response"]
    if resp is None:
        parts.append(f"<h4>Response</h4><pre>no answer after {ev['elapsed_ms']:.0f} ms: {_e(ev['failure'])}</pre>")
    else:
        cut = " (cut at the size cap)" if resp["truncated"] else ""
        parts.append(
            f"<h4>Response</h4><pre>HTTP {_e(resp['status'])} in {ev['elapsed_ms']:.1f} ms{cut}\n"
            f"{_headers(resp['headers'])}\n{_body(resp['body'])}</pre>"
        )
    if ev["curl"]:
        parts.append(f'<h4>Reproduce</h4><pre class="kc-curl">{_e(ev["curl"])}</pre>')
    return "".join(parts)


def _finding(f: Mapping[str, Any], anchor: str, is_open: bool, outcome: str) -> str:
    where = _e(f["case"]) if f["case"] else "whole run"
    summary = f'<summary><code class="kc-case">{where}</code>: received {_e(f["received"])}</summary>'
    sent = f"<dt>Sent</dt><dd>{_e(f['evidence']['label'])}</dd>" if f["evidence"] else ""
    said = f"<dl>{sent}<dt>What the document says</dt><dd>{_e(f['documented'])}</dd></dl>"
    body = evidence(f["evidence"]) if f["evidence"] else '<p class="kc-note">a judgement on the whole run</p>'
    return (
        f'<details id="{_e(anchor)}" class="kc-finding kc-f-{_e(outcome)}"{" open" if is_open else ""}>'
        f"{summary}{said}{body}</details>"
    )


def _rule_findings(rule: Mapping[str, Any], found: Sequence[Mapping[str, Any]]) -> str:
    rid = _e(rule["id"])
    head = (
        f'<h3>{rid} <span class="kc-level">{_e(rule["level"])}</span> {_e(rule["title"])}: '
        f"{_plural(len(found), 'finding')}</h3>"
        f'<p>From: {_link_errata(rule["source"])} · <a href="#rule-{rid}">↑ traceability</a></p>'
    )
    items = "".join(
        _finding(f, f"finding-{rule['id']}-{i + 1}", i < OPEN_FINDINGS, rule["outcome"]) for i, f in enumerate(found)
    )
    return f'<section id="findings-{rid}" class="kc-rule-findings">{head}{items}</section>'


def findings(results: Mapping[str, Any], secret_env: str = "KYREN_TOKEN") -> str:
    by_rule: dict[str, list[Mapping[str, Any]]] = {}
    for f in results["findings"]:
        by_rule.setdefault(f["rule"], []).append(f)
    if not by_rule:
        return '<section id="kc-findings" class="kc"><h2>Findings</h2><p>None: every check passed.</p></section>'
    note = (
        f'<p class="kc-note">Secrets are shown as <code>***</code>. Each curl command reads the token from '
        f"<code>${_e(secret_env)}</code>: set it before you paste.</p>"
    )
    sections = "".join(_rule_findings(r, by_rule[r["id"]]) for r in results["rules"] if r["id"] in by_rule)
    return f'<section id="kc-findings" class="kc"><h2>Findings and evidence</h2>{note}{sections}</section>'


# --- INFO --------------------------------------------------------------------------------------
def info(results: Mapping[str, Any], ctx: ReportContext) -> str:
    facts = results["info"]
    latency = ", ".join(f"{_e(k)} {v:.1f} ms" for k, v in facts["latency_ms"].items()) or "no answer"
    rows = [
        _row("error code form (DESIGN.md E1)", _counts(facts["code_forms"])),
        _row("HTTP statuses", _counts(facts["statuses"])),
        _row("error codes", _counts(facts["codes"])),
        _row("media types", _counts(facts["media_types"])),
        _row("latency", latency),
        _row("requests without an answer", str(ctx.unanswered)),
    ]
    if facts.get("unreachable"):
        rows.append(_row("target unreachable", _e(facts["unreachable"])))
    chart = latency_svg(ctx.latencies_ms, facts["latency_ms"])
    figure = f'<figure class="kc-chart">{chart}</figure>' if chart else ""
    return (
        f'<section id="kc-info" class="kc"><h2>INFO facts</h2><p class="kc-note">Recorded, not judged.</p>'
        f'<table border="1" class="kc-table kc-ident">{"".join(rows)}</table>{figure}</section>'
    )


def per_test_heading() -> str:
    return (
        '<section class="kc kc-pertest"><h2>Per-test results</h2><p class="kc-note">The table below is drawn by '
        "JavaScript; the verdict, traceability and evidence above do not need it.</p></section>"
    )


# Scoped to our sections, plus a reorder of pytest-html's page so the verdict comes before its
# environment table. Blocked by a strict Content-Security-Policy, the page still reads top to bottom.
STYLE = """<style>
body{display:flex;flex-direction:column}
#results-table{order:1}
#environment-header,#environment{order:2}
footer{order:3}
#results-table .log{overflow-wrap:anywhere}
.kc{color:#1a202c;font-size:13px;line-height:1.45;margin:0 0 20px;max-width:1280px}
.kc h2{font-size:18px;margin:22px 0 8px;color:#1a202c}
.kc h3{font-size:15px;margin:18px 0 4px}
.kc h4{font-size:12px;margin:8px 0 2px;text-transform:uppercase;letter-spacing:.04em;color:#4a5568}
.kc a{color:#2b6cb0}
.kc-banner{border:2px solid;border-radius:6px;padding:12px 20px;margin-top:4px}
.kc-banner h2.kc-verdict{font-size:30px;margin:0 0 2px;letter-spacing:.03em}
.kc-banner p{margin:4px 0;font-size:14px}
.kc-counts{font-weight:600}
.kc-notmet{margin:2px 0 4px;padding-left:20px;font-size:14px}
.kc-pass{background:#f0fff4;border-color:#2f855a}.kc-pass h2.kc-verdict{color:#22543d}
.kc-warn{background:#fffaf0;border-color:#c05621}.kc-warn h2.kc-verdict{color:#9c4221}
.kc-fail{background:#fff5f5;border-color:#c53030}.kc-fail h2.kc-verdict{color:#9b2c2c}
.kc-incomplete{background:#fefcbf;border-color:#744210;border-style:dashed}.kc-incomplete h2.kc-verdict{color:#744210}
.kc-error{background:#fed7d7;border-color:#742a2a;border-style:dashed}.kc-error h2.kc-verdict{color:#742a2a}
.kc-nav{font-size:13px}
.kc-table{border-collapse:collapse;width:100%;border:1px solid #e2e8f0}
.kc-table th,.kc-table td{border:1px solid #e2e8f0;padding:5px 8px;text-align:left;vertical-align:top}
.kc-table thead th{background:#edf2f7}
.kc-ident th{width:210px;font-weight:600;background:#f7fafc}
.kc-trace tbody th,.kc-trace td:last-child{white-space:nowrap}
.kc-trace details summary{cursor:pointer}
.kc-trace ul{margin:4px 0;padding-left:18px}
.kc-r-failed{background:#fff5f5}.kc-r-warned{background:#fffaf0}
.kc-o{font-weight:700;white-space:nowrap}.kc-o-failed{color:#c53030}.kc-o-warned{color:#c05621}
.kc-o-passed{color:#2f855a;font-weight:400}.kc-o-not-run{color:#718096;font-weight:400}
.kc-note{color:#4a5568;font-weight:400}
.kc tr:target,.kc section:target,.kc details:target{outline:3px solid #ecc94b}
.kc-level{font-size:11px;border:1px solid #a0aec0;border-radius:3px;padding:0 4px;vertical-align:middle}
.kc-finding{border-left:4px solid #c53030;margin:8px 0;padding:2px 12px;background:#fff}
.kc-f-warned{border-left-color:#c05621}
.kc-finding summary{cursor:pointer;font-weight:600;padding:4px 0}
.kc-finding dl{display:grid;grid-template-columns:170px 1fr;gap:2px 8px;margin:4px 0}
.kc-finding dt{font-weight:600}.kc-finding dd{margin:0}
.kc pre{background:#f7fafc;border:1px solid #e2e8f0;padding:6px 8px;margin:2px 0 6px;white-space:pre-wrap;
  word-break:break-all;font-size:12px;max-height:320px;overflow:auto}
.kc pre.kc-curl{background:#1a202c;color:#f7fafc}
.kc-chart{margin:10px 0}
.kc-review{color:#9c4221;white-space:nowrap}.kc-r-review{background:#fffaf0}
</style>"""
