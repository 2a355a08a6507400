"""The sign-off report (issue 4): verdict first, identity, traceability, evidence, INFO facts; the JSON
results against their schema; JUnit names; an interrupted run; and no secret in any artefact.

Each run is the real CLI in a subprocess against a real loopback mock, as a user would start it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kyren_conformance.cases import near_misses
from kyren_conformance.contract import Contract
from kyren_conformance.mock import MockServer
from kyren_conformance.report_sections import ReportContext, banner, findings, identity, info, traceability
from kyren_conformance.report_svg import latency_svg
from kyren_conformance.resources import default_contract_path
from support import CliRun, run_cli, target_args

ROOT = Path(__file__).resolve().parents[1]
MUST_RULES = [f"M{i}" for i in range(1, 10)]
# The zero-configuration run covers every shipped method (14): its report measured 1281 KB, 1007 KB of it
# pytest-html's JSON blob (one entry per test, ~1480 tests); the static page is ~273 KB.
DEFAULT_REPORT_KB = 1500
# One method's report (close-session) measured 126 KB, two thirds of it pytest-html's own table and script.
ONE_METHOD_REPORT_KB = 150


def _run_against(contract: Contract, tmp_path: Path, fault: str, *extra: str) -> tuple[CliRun, dict[str, str]]:
    with MockServer(contract, fault=fault, fault_delay=2.0) as server:
        args, env = target_args(server.url, server.credentials, contract)
        return run_cli([*args, "--timeout", "1", *extra], tmp_path, env=env), server.credentials


@pytest.fixture(scope="module")
def failing(contract: Contract, tmp_path_factory: pytest.TempPathFactory) -> tuple[CliRun, dict[str, str]]:
    """A target that never checks the token: M5 fails with evidence."""
    run, credentials = _run_against(contract, tmp_path_factory.mktemp("failing"), "token-not-checked")
    assert run.code == 1, run.output[-3000:]
    return run, credentials


@pytest.fixture(scope="module")
def echoing(contract: Contract, tmp_path_factory: pytest.TempPathFactory) -> tuple[CliRun, dict[str, str]]:
    """A target that echoes every request body, token included; --strict makes the warning a failure."""
    run, credentials = _run_against(contract, tmp_path_factory.mktemp("echoing"), "echo-token", "--strict")
    assert run.code == 1, run.output[-3000:]
    return run, credentials


@pytest.fixture(scope="module")
def unreachable(contract: Contract, tmp_path_factory: pytest.TempPathFactory) -> tuple[CliRun, dict[str, str]]:
    """A target that refuses connections: the circuit breaker stops the run, and its unsent requests are reported."""
    with MockServer(contract) as server:
        url, credentials = server.url, server.credentials
    args, env = target_args(url, credentials, contract)  # the server is gone: connections are refused
    run = run_cli([*args, "--timeout", "1"], tmp_path_factory.mktemp("unreachable"), env=env)
    assert run.code == 1, run.output[-3000:]
    return run, credentials


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    run = run_cli([], tmp_path_factory.mktemp("default"))
    assert run.code == 0, run.output[-3000:]
    return run


@pytest.fixture(scope="module")
def one_method_run(tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    """The zero-configuration run of the Close Session contract alone: the one-method layout."""
    run = run_cli(["--contract", str(default_contract_path())], tmp_path_factory.mktemp("one-method"))
    assert run.code == 0, run.output[-3000:]
    return run


def _html(run: CliRun) -> str:
    return (run.report_dir / "report.html").read_text(encoding="utf-8")


def _static(html: str) -> str:
    """The page without pytest-html's JSON blob: what a reader sees with scripts blocked."""
    return re.sub(r'data-jsonblob="[^"]*"', "", html)


def _results_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads((ROOT / "schemas/results.schema.json").read_text()))


# --- the HTML report ---------------------------------------------------------------------------
def test_report_leads_with_the_verdict(failing: tuple[CliRun, dict[str, str]]) -> None:
    run, _ = failing
    page, verdict = _static(_html(run)), run.results["verdict"]
    assert re.search(r"<title[^>]*>NOT CONFORMANT: ", page), "the verdict is not the page title"
    banner_at = page.index('id="kc-verdict"')
    assert banner_at < page.index('id="kc-identity"') < page.index('id="kc-trace"') < page.index('id="results-table"')
    shown = page[banner_at : page.index("</section>", banner_at)]
    assert "NOT CONFORMANT" in shown
    assert f"{verdict['must_failures']} MUST failures" in shown
    assert f"{verdict['should_warnings']} SHOULD warnings" in shown
    assert 'href="#findings-M5"' in shown, "the banner does not point at the failed rule"


def test_identity_names_the_run_and_the_accounts(failing: tuple[CliRun, dict[str, str]], contract: Contract) -> None:
    run, credentials = failing
    section = _section(_html(run), "kc-identity")
    ident = run.results["identity"]
    expected = [
        ident["target_url"],
        ident["replay_policy"],
        f"--seed {ident['seed']}",
        run.results["suite"]["version"],
        ident["contract"]["file"],
        ident["contract"]["sha256"],
        ident["started"],
        str(ident["requests"]),
    ]
    expected += [credentials[f.name] for f in contract.fields if f.name in credentials and not f.secret]
    missing = [value for value in expected if escape(value) not in section]
    assert not missing, f"identity lacks {missing}"
    assert "strict" in section and "E7" in section


def _section(page: str, anchor: str) -> str:
    start = page.index(f'<section id="{anchor}"')
    return page[start : page.index('<section id="kc-', start + 10)]


def test_traceability_has_a_row_per_rule_linked_to_its_findings(failing: tuple[CliRun, dict[str, str]]) -> None:
    run, _ = failing
    page = _html(run)
    for rule in run.results["rules"]:
        row = re.search(rf'<tr id="rule-{rule["id"]}".*?</tr>', page, flags=re.S)
        assert row, f"no traceability row for {rule['id']}"
        assert escape(rule["source"]).split(";")[0] in row.group(0), f"{rule['id']} does not name its clause"
        for test in rule["tests"]:
            assert escape(test.split("::")[-1].split("[")[0]) in row.group(0)
        if rule["findings"]:
            assert f'href="#findings-{rule["id"]}"' in row.group(0)
            assert f'<section id="findings-{rule["id"]}"' in page
            assert f'href="#rule-{rule["id"]}"' in page, "no way back from the findings to the row"
        if rule["outcome"] == "not applicable":  # S7 without a code table: the row says why instead
            assert rule["note"] and escape(rule["note"]) in row.group(0)
            continue
        requests = f">{rule['requests']}<" if rule["requests"] else f">{run.results['identity']['requests']} <"
        assert requests in row.group(0), f"{rule['id']}'s row does not say how many requests it judged"
    m5 = re.search(r'<tr id="rule-M5".*?</tr>', page, flags=re.S)
    assert m5 and "FAILED" in m5.group(0)


def test_every_finding_has_its_evidence_and_a_curl_command(failing: tuple[CliRun, dict[str, str]]) -> None:
    run, _ = failing
    section = _section(_html(run), "kc-findings")
    found = run.results["findings"]
    blocks = re.findall(r'<details id="finding-.*?</details>', section, flags=re.S)
    assert len(blocks) == len(found) > 0
    for block, finding in zip(blocks, found, strict=True):
        assert escape(finding["documented"]) in block
        assert "POST " in block and f"HTTP {finding['evidence']['response']['status']} in " in block
        assert "curl -sS -i -X POST" in block
        if "***" in finding["evidence"]["request"]["body"]:  # the redacted token, read back from the environment
            assert "KYREN_TOKEN" in block
    assert "$KYREN_TOKEN" in section


def test_info_facts_with_a_latency_chart(failing: tuple[CliRun, dict[str, str]]) -> None:
    run, _ = failing
    section = _section(_html(run), "kc-info")
    facts = run.results["info"]
    assert "error code form (DESIGN.md E1)" in section and "integer ×" in section
    for name in ("p50", "p95", "p99", "max"):
        assert f"{name} {facts['latency_ms'][name]:.1f} ms" in section
    assert "application/json ×" in section and "200 ×" in section
    svg = re.search(r"<svg.*?</svg>", section, flags=re.S)
    assert svg, "no latency chart"
    ET.fromstring(svg.group(0))  # well-formed: it renders as inline SVG


def test_default_run_report_is_small_and_conformant(default_run: CliRun) -> None:
    page = _html(default_run)
    size_kb = len(page.encode()) / 1024
    assert size_kb < DEFAULT_REPORT_KB, f"the default report grew to {size_kb:.0f} KB"
    shipped = sorted(p.stem for p in (ROOT / "contracts").glob("*.json"))
    assert len(shipped) == 14 and [m["name"] for m in default_run.results["methods"]] == shipped
    assert re.search(r'class="kc kc-banner kc-pass".*?>CONFORMANT<', page, flags=re.S)
    assert default_run.results["findings"] == []
    for name in shipped:  # the multi-method layout: each method's own findings section, with anchors of its own
        assert f'<section id="{name}--kc-findings" class="kc"><h2>Findings</h2><p>None: every check passed.' in page
    assert not re.search(r'<(?:script|link|img)[^>]+(?:src|href)="https?://', page), "the report loads a resource"


def test_one_method_run_report_is_small_and_conformant(one_method_run: CliRun) -> None:
    page = _html(one_method_run)
    size_kb = len(page.encode()) / 1024
    assert size_kb < ONE_METHOD_REPORT_KB, f"the one-method report grew to {size_kb:.0f} KB"
    assert [m["name"] for m in one_method_run.results["methods"]] == ["close-session"]
    assert re.search(r'class="kc kc-banner kc-pass".*?>CONFORMANT<', page, flags=re.S)
    assert "Findings (0)" in page
    assert not re.search(r'<(?:script|link|img)[^>]+(?:src|href)="https?://', page), "the report loads a resource"


# --- machine-readable results ------------------------------------------------------------------
def test_results_json_matches_its_schema(failing: tuple[CliRun, dict[str, str]], default_run: CliRun) -> None:
    validator = _results_validator()
    validator.check_schema(validator.schema)
    for run in (failing[0], default_run):
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(run.results)]
        assert not errors, errors[:5]
    assert failing[0].results["findings"], "the schema was not tried on findings"


def test_junit_testcase_names_carry_the_rule_id(failing: tuple[CliRun, dict[str, str]]) -> None:
    run, _ = failing
    cases = ET.parse(run.report_dir / "junit.xml").getroot().iter("testcase")
    by_rule: dict[str, list[bool]] = {}
    for case in cases:
        match = re.match(r"^test_([MS][0-9]+)_\w+(\[.+\])?$", case.get("name", ""))
        assert match, f"a JUnit testcase without its rule id: {case.get('name')}"
        by_rule.setdefault(match.group(1), []).append(case.find("failure") is not None)
    assert set(MUST_RULES) <= set(by_rule)
    failed = {rule for rule, fails in by_rule.items() if any(fails)}
    assert failed == {r["id"] for r in run.results["rules"] if r["outcome"] == "failed"} == {"M5"}


# --- secrets -----------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["failing", "echoing", "unreachable"])
def test_no_artefact_holds_a_secret(which: str, request: pytest.FixtureRequest, contract: Contract) -> None:
    run, credentials = request.getfixturevalue(which)
    secrets = [credentials[f.name] for f in contract.secret_fields]
    secrets += [v for s in secrets for v in near_misses(s).values()]
    artefacts = run.artefacts()
    assert {"report.html", "junit.xml", "results.json", "terminal"} <= set(artefacts)
    leaks = [(name, s[:4] + "…") for name, text in artefacts.items() for s in secrets if s in text]
    assert not leaks, f"a secret in {leaks}"
    if which == "echoing":  # the target did echo it: the redaction, not luck, kept it out
        assert run.outcomes()["S4"] == "failed" and "***" in artefacts["report.html"]


# --- an interrupted run ------------------------------------------------------------------------
def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _lines_until(proc: subprocess.Popen[str], marker: str) -> Iterator[str]:
    assert proc.stdout is not None
    for line in proc.stdout:
        yield line
        if marker in line:
            return


def test_interrupted_run_writes_an_incomplete_report(contract: Contract, tmp_path: Path) -> None:
    report = tmp_path / "reports" / "report.html"
    with MockServer(contract, fault="slow-valid-path") as server:
        args, extra_env = target_args(server.url, server.credentials, contract)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KYREN_")} | extra_env
        proc = subprocess.Popen(
            [sys.executable, "-m", "kyren_conformance.cli", "--report", str(report), *args, "--timeout", "5"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=tmp_path,
            # A shell starts background jobs with SIGINT ignored, and Python keeps an ignored SIGINT ignored:
            # the child must take Ctrl-C however this test run was started.
            preexec_fn=_default_sigint,
        )
        watchdog = threading.Timer(60, proc.kill)
        watchdog.start()
        try:
            seen = "".join(_lines_until(proc, "sending"))
            assert "sending" in seen, seen
            time.sleep(0.5)  # the slow valid requests are in flight
            proc.send_signal(signal.SIGINT)
            rest, _ = proc.communicate(timeout=30)
        finally:
            watchdog.cancel()
    assert proc.returncode == 2, seen + rest
    results: dict[str, Any] = json.loads((report.parent / "results.json").read_text())
    assert results["verdict"]["complete"] is False
    # Never CONFORMANT: not in results.json, not in the method table, not on the terminal's last line.
    assert results["verdict"]["label"] == "INCOMPLETE"
    assert {m["verdict"]["label"] for m in results["methods"]} == {"INCOMPLETE"}
    last = rest.strip().splitlines()[-1]
    assert last.startswith("INCOMPLETE (interrupted") and "CONFORMANT" not in last, last
    assert not [e.message for e in _results_validator().iter_errors(results)]
    assert {r["outcome"] for r in results["rules"]} == {"not run"}, "a rule that never ran reads as judged"
    page = report.read_text(encoding="utf-8")
    assert re.search(r'class="kc kc-banner kc-incomplete".*?>INCOMPLETE<', page, flags=re.S)
    assert "<title>INCOMPLETE" in page.replace('<title id="head-title">', "<title>")


# --- the sections on their own: hostile values are escaped -------------------------------------
def test_sections_escape_what_the_target_and_the_configuration_say(failing: tuple[CliRun, dict[str, str]]) -> None:
    results = json.loads(json.dumps(failing[0].results))
    hostile = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    results["identity"]["target_url"] += hostile
    results["identity"]["fields"]["userId"] = hostile
    results["rules"][0]["title"] += hostile
    finding = results["findings"][0]
    finding["received"] = finding["case"] = hostile
    finding["evidence"]["response"]["body"] = "</pre>" + hostile
    finding["evidence"]["response"]["headers"].append([hostile, hostile])
    finding["evidence"]["curl"] += hostile
    results["info"]["media_types"][hostile] = 1
    ctx = ReportContext(field_notes={"userId": hostile}, latencies_ms=[1.0, 2.0])
    html = "".join(
        [banner(results), identity(results, ctx), traceability(results, ctx), findings(results), info(results, ctx)]
    )
    assert "<script" not in html and "<img" not in html
    assert html.count("<pre") == html.count("</pre>")
    assert escape(hostile) in html


def test_latency_chart_is_static_svg_over_any_range() -> None:
    assert latency_svg([], {}) == ""
    marks = {"p50": 0.4, "p95": 30.0, "p99": 4000.0, "max": 10000.0}
    svg = latency_svg([0.0, 0.4, 3.0, 30.0, 30.5, 4000.0, 10000.0], marks)
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "script" not in svg and "style" not in svg, "the chart must render under a strict CSP"
    texts = "".join(root.itertext())
    assert all(f"{name} {ms:.1f} ms" in texts for name, ms in marks.items())
    assert "10 s" in texts and "1 ms" in texts
