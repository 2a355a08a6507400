"""The money flows in the report (issue 15): each flow as a sequence of steps, the broken row marked in words and
by its class, findings linking to their step, target text escaped and made printable; nothing without flows.

The HTML is read back with the stdlib's html.parser into a small tree, so the checks are about elements and
attributes, not substrings. The example dictionaries are validated against schemas/results.schema.json.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import jsonschema
import pytest

from flow_report_examples import (
    BROKEN_STEP,
    ESC,
    HOSTILE_NAME,
    broken_flow,
    call,
    hostile_flow,
    not_run_flow,
    passing_flow,
    results_with,
    stopped_flow,
)
from kyren_conformance import html_report, report_methods, report_sections
from kyren_conformance.report_flows import CALLS_OPEN, flows, with_contents
from kyren_conformance.report_input import ReportInput
from kyren_conformance.report_sections import ReportContext
from kyren_conformance.stash_keys import REPORT

ROOT = Path(__file__).resolve().parents[1]
VOID = {"br", "hr", "img", "meta", "link", "input", "wbr", "col"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Node | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.walk()

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        return [n for n in self.walk() if (tag is None or n.tag == tag) and (cls is None or cls in n.classes)]

    def by_id(self, ident: str) -> Node:
        found = [n for n in self.walk() if n.attrs.get("id") == ident]
        assert len(found) == 1, f"{len(found)} elements with id {ident!r}"
        return found[0]


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        assert tag not in VOID
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>: the markup is not well nested"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    tree = _Tree()
    tree.feed(html)
    tree.close()
    assert tree.stack == [tree.root], f"unclosed elements: {[n.tag for n in tree.stack[1:]]}"
    return tree.root


def cells(row: Node) -> list[Node]:
    return [c for c in row.children if isinstance(c, Node) and c.tag in ("th", "td")]


def sequence_rows(page: Node, name: str) -> list[Node]:
    table = page.by_id(f"flow-{name}").find_all("table", "kc-seq")[0]
    return table.find_all("tbody")[0].find_all("tr")


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((ROOT / "schemas/results.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# --- the schema ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("examples", [(), (passing_flow(),), (passing_flow(), broken_flow(), stopped_flow(),
                                                              not_run_flow())])  # fmt: skip
def test_examples_are_valid_results(validator: jsonschema.Draft202012Validator, examples: tuple[Any, ...]) -> None:
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(results_with(*examples))]
    assert not errors


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("verdict",), "CONFORMANT"),  # a method's label is no flow verdict
        (("steps", 1, "outcome"), "failed"),
        (("steps", 1, "calls", 0, "code"), "0"),  # codes are integers: the hostile example's string is refused
        (("steps", 1, "calls", 0, "status"), 99),
        (("rules", 0, "findings", 0, "step"), -1),
        (("rules", 0, "id"), "M1"),
    ],
)
def test_schema_refuses_a_bad_flow(
    validator: jsonschema.Draft202012Validator, where: tuple[Any, ...], value: Any
) -> None:
    bad = broken_flow()
    bad["rules"][0]["findings"] = [{"received": "x", "documented": "y", "step": 1}]
    target: Any = bad
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    assert not validator.is_valid(results_with(bad))


def test_schema_refuses_an_unknown_key(validator: jsonschema.Draft202012Validator) -> None:
    bad = passing_flow()
    bad["steps"][1]["calls"][0]["token"] = "***"
    assert not validator.is_valid(results_with(bad))
    assert not validator.is_valid(results_with(hostile_flow()))


# --- nothing without flows -----------------------------------------------------------------------------------
@pytest.mark.parametrize("results", [results_with(), {**results_with(), "flows": []}])
def test_no_flow_adds_nothing(results: dict[str, Any]) -> None:
    nav = report_sections.contents(results)
    assert flows(results) == ""
    assert with_contents(nav, results) == nav


# --- a passing flow ------------------------------------------------------------------------------------------
def test_passing_flow_shows_every_step_and_rule() -> None:
    example = passing_flow()
    page = parse(flows(results_with(example)))
    section = page.by_id("flow-transfer-wallet")
    assert "PASSED" in section.find_all("h2")[0].text
    assert "moves 1.00 USD on the test user 'tester'" in section.find_all("p", "kc-staging")[0].text
    assert not section.find_all("p", "kc-problem")

    rules = section.find_all("table", "kc-flow-rules")[0].find_all("tbody")[0].find_all("tr")
    shown = [[c.text for c in cells(r)][:5] for r in rules]
    assert [row[0] for row in shown] == ["F1", "F2", "F4", "S10"]
    assert shown[0][1:4] == ["MUST", example["rules"][0]["title"], example["rules"][0]["source"]]
    assert [row[4] for row in shown] == ["passed", "passed", "skipped", "passed"]

    rows = sequence_rows(page, "transfer-wallet")
    assert [r.attrs["id"] for r in rows] == [f"flow-transfer-wallet-step-{i}" for i in range(4)]
    deposit = [c.text for c in cells(rows[1])]
    assert deposit[:3] == ["1", "F1", "deposit 1.00 (transactionId kc-t1)"]
    assert "deposit-balance · HTTP 200 · code 0 · transaction kc-t1 · amount 1.00 · exchange #10" in deposit[3]
    assert deposit[4:7] == ["1000.00", "1001.00", "1001.00"]
    assert "✓" in deposit[7]
    assert "not judged" in cells(rows[0])[7].text  # setup
    assert not page.find_all(cls="kc-broke") and not page.find_all(cls="kc-r-failed")
    assert not any("retransmission" in r.text for r in rows)  # a first send says nothing of resends


# --- a broken flow -------------------------------------------------------------------------------------------
def test_broken_row_is_marked_in_words_and_class() -> None:
    page = parse(flows(results_with(broken_flow())))
    row = page.by_id(f"flow-transfer-wallet-step-{BROKEN_STEP}")
    assert {"kc-step-broke", "kc-r-failed"} <= row.classes
    judged = cells(row)[7]
    assert judged.find_all(cls="kc-broke")[0].text == "✗ expected 1002.00, saw 1003.00"
    assert "F2: deposit 1.00 (transactionId kc-t1), retransmitted: balance 1001.00 before" in judged.text
    assert cells(row)[6].find_all(cls="kc-seen-wrong"), "the balance seen is not marked"
    calls = [li.text for li in cells(row)[3].find_all("li")]
    assert "no answer" in calls[0] and "HTTP" not in calls[0]
    assert "retransmission 1" in calls[1]

    marked = [r.attrs["id"] for r in sequence_rows(page, "transfer-wallet") if "kc-step-broke" in r.classes]
    assert marked == [f"flow-transfer-wallet-step-{BROKEN_STEP}", "flow-transfer-wallet-step-5"]
    restore = page.by_id("flow-transfer-wallet-step-3")
    assert "kc-r-unjudged" in restore.classes and "restore" in cells(restore)[1].text


def test_a_step_only_a_should_rule_broke_is_a_warning() -> None:
    page = parse(flows(results_with(broken_flow())))
    row = page.by_id("flow-transfer-wallet-step-5")
    assert "kc-r-warned" in row.classes and "kc-r-failed" not in row.classes
    mark = cells(row)[7].find_all(cls="kc-broke")[0].text
    assert mark == "⚠ broke"  # the balance did not move: no "expected X, saw Y" for it
    assert "S10: refused with code 99; the page names 15" in cells(row)[7].text


def test_findings_link_to_their_step() -> None:
    page = parse(flows(results_with(broken_flow())))
    f2 = page.by_id("flow-transfer-wallet-rule-F2")
    assert "FAILED" in cells(f2)[4].text
    links = [a.attrs["href"] or "" for a in cells(f2)[5].find_all("a")]
    assert links == [f"#flow-transfer-wallet-step-{BROKEN_STEP}"]
    page.by_id(links[0][1:])  # the anchor exists, once
    overview = page.by_id("kc-flows")
    assert [a.attrs["href"] for a in overview.find_all("td")[-1].find_all("a")] == [
        f"#flow-transfer-wallet-step-{BROKEN_STEP}",
        "#flow-transfer-wallet-step-5",
    ]
    step_rule = cells(page.by_id(f"flow-transfer-wallet-step-{BROKEN_STEP}"))[1].find_all("a")[0]
    assert step_rule.attrs["href"] == "#flow-transfer-wallet-rule-F2"


def test_a_burst_shows_its_first_calls_and_keeps_the_rest_one_click_away() -> None:
    page = parse(flows(results_with(broken_flow())))
    calls_cell = cells(page.by_id("flow-transfer-wallet-step-4"))[3]
    details = calls_cell.find_all("details")
    assert len(details) == 1 and details[0].find_all("summary")[0].text == f"{8 - CALLS_OPEN} more calls"
    assert len(calls_cell.find_all("li")) == 8
    assert len(details[0].find_all("li")) == 8 - CALLS_OPEN


# --- stopped and not run -------------------------------------------------------------------------------------
def test_stopped_flow_says_why() -> None:
    page = parse(flows(results_with(stopped_flow(), not_run_flow())))
    stopped = page.by_id("flow-transfer-wallet")
    assert "STOPPED" in stopped.find_all("h2")[0].text
    problem = stopped.find_all("p", "kc-problem")[0].text
    assert problem == "Stopped early: the balance could not be read after 'deposit 1.00': code 0, balance 'NaN'"
    row = cells(page.by_id("flow-transfer-wallet-step-1"))
    assert "HTTP 502 · no code" in row[3].text and row[6].text == "—"
    assert "before the first step: the balance 'NaN' is not a number" in stopped.text

    not_run = page.by_id("flow-seamless-wallet")
    assert "NOT RUN" in not_run.find_all("h2")[0].text
    assert "No step was sent." in not_run.text and not not_run.find_all("table", "kc-seq")
    assert not_run.find_all("p", "kc-problem")[0].text.startswith("Not run: not asked for: --flows")
    assert "the suite plays Kyren and calls the operator's wallet" in not_run.text


# --- hostile text --------------------------------------------------------------------------------------------
def test_hostile_text_is_escaped_and_printable() -> None:
    html = flows(results_with(hostile_flow()))
    assert ESC not in html and "\x07" not in html, "a control character reached the page"
    page = parse(html)
    assert not page.find_all("script"), "the target's <script> became an element"
    handlers = [(n.tag, k) for n in page.walk() for k in n.attrs if k.startswith("on")]
    assert not handlers, f"an attribute broke out of its quotes: {handlers}"

    section = page.by_id(f"flow-{HOSTILE_NAME}")  # the quotes stayed inside the id
    row = page.by_id(f"flow-{HOSTILE_NAME}-step-1")
    label = cells(row)[2].text
    assert label == "deposit <script>window.kcRan=1</script>\\x1b[31mred\\x1b]0;title\\x07"
    call_text = cells(row)[3].text
    for shown in ("code 0<script>", "transaction kc-<script>", "amount 1.00<script>", "deposit<script>"):
        assert shown in call_text
    assert cells(row)[6].text == "1002\\x1b[2J"
    assert "✗ expected 1001.00, saw 1002\\x1b[2J" in cells(row)[7].text
    for text in ("note <script>", "problem <script>", "user<script>", "US\\x1bD", "title <script>", "clause <script>"):
        assert text in section.text, text


def test_a_code_of_any_json_type_is_shown() -> None:
    odd = passing_flow()
    odd["steps"][1]["calls"] = [call(code={"a": [1, None]}), call(code=True, retransmission=2, exchange=None)]
    row = cells(parse(flows(results_with(odd))).by_id("flow-transfer-wallet-step-1"))[3].text
    assert "code {'a': [1, None]}" in row and "code True · transaction kc-t1 · amount 1.00 · retransmission 2" in row


# --- the contents and the page -------------------------------------------------------------------------------
def _contents_links(nav: str) -> list[str]:
    return [a.attrs["href"] or "" for a in parse(nav).find_all("a")]


def test_contents_list_gets_an_entry_before_the_per_test_results() -> None:
    results = results_with(broken_flow(), passing_flow())
    for nav in (report_sections.contents(results), report_methods.contents(results)):
        links = _contents_links(with_contents(nav, results))
        assert links[-2:] == ["#kc-flows", "#results-table"]
        assert links[:-2] == _contents_links(nav)[:-1]
    assert "Money flows (2)" in parse(with_contents(report_sections.contents(results), results)).text


@pytest.mark.parametrize("several", [False, True])
def test_html_report_puts_the_flows_after_the_method_sections(several: bool) -> None:
    results = results_with(broken_flow())
    names = ["deposit-balance", "get-balance"] if several else ["deposit-balance"]
    config = SimpleNamespace(stash=pytest.Stash())
    config.stash[REPORT] = ReportInput(
        results=results,
        contexts={name: ReportContext(contract_title="Deposit Balance") for name in names},
        secret_envs=dict.fromkeys(names, "KYREN_TOKEN"),
    )
    prefix: list[str] = []
    html_report.pytest_html_results_summary(prefix, [], [], cast(pytest.Session, SimpleNamespace(config=config)))

    page = parse("".join(prefix))
    ids = [n.attrs["id"] for n in page.walk() if n.tag == "section" and n.attrs.get("id")]
    last_method_section = "deposit-balance--kc-info" if several else "kc-info"
    assert ids.index("kc-flows") > ids.index(last_method_section)
    assert ids.index("flow-transfer-wallet") == ids.index("kc-flows") + 1
    assert page.find_all(cls="kc-pertest"), "the per-test heading is gone"
    assert "Per-test results" in page.find_all(cls="kc-pertest")[0].text
    per_test = [n for n in page.walk() if n.tag == "section"].index(page.find_all(cls="kc-pertest")[0])
    assert per_test > [n for n in page.walk() if n.tag == "section"].index(page.by_id("flow-transfer-wallet"))
    assert "#kc-flows" in _contents_links(str(next(p for p in prefix if 'class="kc kc-nav"' in p)))
    page.by_id(f"flow-transfer-wallet-step-{BROKEN_STEP}")
