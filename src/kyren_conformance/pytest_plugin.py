"""The pytest plugin: options, the per-session run, case parametrisation, and the verdict.

It wires `ConformanceRun` (and each money flow's `FlowRun`) into pytest and holds no judgement logic.
Registered through the `pytest11` entry point, so it is loaded in every pytest session of the environment:
it stays inert until a test asks for `kyren_check` or `kyren_flow_check`.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import pytest

from kyren_conformance.findings import RuleFailure, ShouldWarning
from kyren_conformance.run_options import DESTS, add_pytest_options
from kyren_conformance.stash_keys import INTERNAL_ERRORS, REPORT, RESULTS, RUN, SETTINGS, SNAPSHOT

# The engine (hypothesis, requests, jsonschema) is imported on first use: this module is loaded in
# every pytest session of the environment and must not slow the ones that never run a check.
if TYPE_CHECKING:
    from kyren_conformance.cases import AnyCase
    from kyren_conformance.conformance_run import ConformanceRun
    from kyren_conformance.outcome import Outcome
    from kyren_conformance.settings import SuiteSettings
    from kyren_conformance.suite_run import SuiteRun
    from kyren_conformance.verdict import Verdict

__all__ = ["Check", "FlowCheck"]

Check = Callable[..., None]
FlowCheck = Callable[[str], None]  # judge one rule on the flow the test is parametrised with

_RULE_IN_NAME = re.compile(r"^test_([MS][0-9]+)_")
_FLOW_RULE_IN_NAME = re.compile(r"^test_([FS][0-9]+)_")
_CHECKS = ("kyren_check", "kyren_flow_check")  # a test asking for either is one of ours


def pytest_addoption(parser: pytest.Parser) -> None:
    add_pytest_options(parser.getgroup("kyren-conformance", "Kyren contract conformance").addoption)


def _resolve(config: pytest.Config) -> SuiteSettings:
    from kyren_conformance.settings import ConfigError, SuiteSettings, resolve_suite

    for plugin in config.pluginmanager.get_plugins():  # the CLI's, resolved from these very options
        given = getattr(plugin, "kyren_suite_settings", None)
        if isinstance(given, SuiteSettings):
            return given

    try:
        return resolve_suite(lambda dest: config.getoption(dest, default=None))
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_configure(config: pytest.Config) -> None:
    config.stash[INTERNAL_ERRORS] = []
    if config.getoption("htmlpath", default=None):  # pytest-html writes a report (loaded as "html" or by -p)
        from kyren_conformance import html_report

        config.pluginmanager.register(html_report, "kyren_conformance.html_report")
    # A configuration error must stop the run before anything is sent (exit 4); with no option of
    # ours and no target in the environment there is nothing to get wrong, so that waits for first use.
    if any(config.getoption(d, default=None) for d in DESTS) or os.environ.get("KYREN_TARGET_URL"):
        config.stash[SETTINGS] = _resolve(config)


def _run(config: pytest.Config) -> SuiteRun:
    """The session's run, made on first use (so a plain pytest session never pays for it)."""
    if RUN not in config.stash:
        from kyren_conformance.suite_run import SuiteRun

        if SETTINGS not in config.stash:
            config.stash[SETTINGS] = _resolve(config)
        config.stash[RUN] = SuiteRun(config.stash[SETTINGS])
    return config.stash[RUN]


def _active_run(config: pytest.Config) -> SuiteRun | None:
    return config.stash.get(RUN, None)


def _rule_of(name: str) -> str | None:
    match = _RULE_IN_NAME.match(name)
    return match.group(1) if match else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each check runs once per method (`[close-session]`), or once per method and case
    (`[close-session:valid-plain]`): every test id names its method. A flow's check runs once per money flow
    of the run (`[transfer-wallet]`)."""
    if "kyren_flow" in metafunc.fixturenames:
        flows = list(_run(metafunc.config).flows)
        metafunc.parametrize("kyren_flow", flows, ids=flows)  # none: the items are deselected below
        return
    if "kyren_method" not in metafunc.fixturenames:
        return
    rule_id = _rule_of(metafunc.function.__name__)
    suite = _run(metafunc.config)
    if "kyren_case" not in metafunc.fixturenames:
        metafunc.parametrize("kyren_method", list(suite.runs), ids=list(suite.runs))
        return
    name = metafunc.function.__name__
    params: list[tuple[str, AnyCase | None]] = []
    ids: list[str] = []
    for method, run in suite.runs.items():
        cases = [c for c in run.cases if rule_id in c.rules]
        if not cases:  # the method gives the rule nothing to send (no credential field: no M5 case): say why
            params.append((method, None))
            ids.append(f"{method}:not-applicable")
        for c in cases:
            params.append((method, c))
            ids.append(f"{method}:{c.param if name.endswith(c.group) else f'{c.group}-{c.param}'}")
    metafunc.parametrize(("kyren_method", "kyren_case"), params, ids=ids)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run = _active_run(config)
    if run is None:
        if not any(check in getattr(i, "fixturenames", ()) for i in items for check in _CHECKS):
            return
        run = _run(config)
    from kyren_conformance.judgements import REGISTRY

    # the rules each method's contract names and the suite judges; each test is then looked at once, whatever
    # the number of methods (a look per method and test grows with both)
    known = {name: {r.id for r in one.contract.rules} & set(REGISTRY) for name, one in run.runs.items()}
    keep, drop, flow_items = [], [], []
    ours: dict[str, list[pytest.Item]] = {name: [] for name in run.runs}
    for item in items:
        if "kyren_flow" in getattr(item, "fixturenames", ()):
            if _params(item).get("kyren_flow") not in run.flows:  # the run has no money flow: no flow test
                drop.append(item)
            else:
                keep.append(item)
                flow_items.append(item)
            continue
        method = _method_of(item)
        rule_id = _rule_of(getattr(item, "originalname", item.name)) if method else None
        if rule_id is not None and rule_id not in known.get(str(method), ()):
            drop.append(item)
            continue
        keep.append(item)
        if method in ours:
            ours[method].append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    _select_flows(run, flow_items)
    for name, one in run.runs.items():
        mine = ours[name]
        cases = [_params(item).get("kyren_case") for item in mine]
        selected = {case.id for case in cases if case is not None}
        run_wide = any("kyren_case" not in _params(item) for item in mine)
        one.selected = None if run_wide or not selected else selected
        for item in mine:
            rule_id = _rule_of(getattr(item, "originalname", item.name))
            if rule_id in one.records:
                one.records[rule_id].tests.append(item.nodeid)
                reason = _not_applicable(
                    one, rule_id, "kyren_case" in _params(item) and not _params(item)["kyren_case"]
                )
                if reason:  # skipped where the test is, not inside the plugin: the skip line names the test
                    where = f" to {name}" if run.several else ""
                    item.add_marker(pytest.mark.skip(reason=f"{rule_id} not applicable{where}: {reason}"))


def _select_flows(run: SuiteRun, items: list[pytest.Item]) -> None:
    """A flow is sent when one of its tests is collected and it may run; a test it cannot judge is skipped
    where it is, with the reason (the flow not run against this target, or no clause for the rule)."""
    for item in items:
        flow = run.flows[str(_params(item)["kyren_flow"])]
        match = _FLOW_RULE_IN_NAME.match(getattr(item, "originalname", item.name))
        rule_id = match.group(1) if match else None
        if rule_id in flow.records:
            flow.records[str(rule_id)].tests.append(item.nodeid)
        reason = flow.not_applicable(rule_id) if rule_id in flow.records and not flow.not_run else None
        if flow.not_run:
            item.add_marker(pytest.mark.skip(reason=f"flow {flow.name} not run: {flow.not_run}"))
        elif reason:
            item.add_marker(pytest.mark.skip(reason=f"{rule_id} not applicable to {flow.name}: {reason}"))
        else:
            flow.selected = True


_NO_CASE = "this method gives the rule no request to send"


def _not_applicable(run: ConformanceRun, rule_id: str, no_case: bool) -> str | None:
    """Why the rule has nothing to check for this method, recorded for the report; None when it has."""
    reason = run.not_applicable(rule_id)
    if reason is None and no_case:
        reason = run.records[rule_id].not_applicable = _NO_CASE
    return reason


def _params(item: pytest.Item) -> dict[str, Any]:
    callspec = getattr(item, "callspec", None)
    return dict(callspec.params) if callspec is not None else {}


def _method_of(item: pytest.Item) -> str | None:
    """The method a conformance test checks (its `kyren_method` parameter), None for any other test."""
    method = _params(item).get("kyren_method")
    return str(method) if method is not None else None


def _write(config: pytest.Config, line: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)


def _send(config: pytest.Config, run: SuiteRun) -> None:
    from kyren_conformance import __version__

    planned = run.planned
    s = run.settings.first
    target = run.public_target if s.target_url else "the embedded reference mock (loopback)"
    if run.several:
        _write(config, f"kyren-conformance {__version__}: {len(run.runs)} methods")
        for one in run:
            c = one.contract
            pending = sum(1 for e in c.errata if e.review)
            reviewed = f"; {pending} errat{'um' if pending == 1 else 'a'} not reviewed" if pending else ""
            _write(config, f"  {one.name}: {c.title}, {c.http_method} {c.http_path} (sha256 {c.sha256[:12]}{reviewed})")
    else:
        c = s.contract
        _write(config, f"kyren-conformance {__version__}: {c.title} ({c.path.name}, sha256 {c.sha256[:12]})")
    _write(
        config,
        f"target: {target}; hypothesis seed {s.seed} (repeat with --seed {s.seed}); replay policy {s.replay_policy}; "
        f"timeout {s.timeout:g} s; concurrency {s.concurrency}{'; strict' if s.strict else ''}",
    )
    for line in run.flow_lines():
        _write(config, line)
    _write(config, f"sending {planned} requests …")
    last = [time.monotonic()]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 2.0 and done < total:  # a line every 2 s on a slow target; silence on a fast one
            last[0] = now
            _write(config, f"  {done}/{total} requests answered or failed")

    run.send_all(progress)
    answered = sum(1 for e in run.all_exchanges() if e.response is not None)
    _write(config, f"sent {run.request_count} requests in {run.send_seconds:.2f} s; {answered} answered")
    if run.unreachable:
        _write(config, f"target unreachable: {run.unreachable}; the remaining requests were not sent")
    if run.resent_one_at_a_time:
        _write(
            config,
            f"{run.resent_one_at_a_time} cases timed out with {run.settings.first.concurrency} requests in flight and "
            "were answered when resent one at a time: the target seems to serve one connection at a time "
            "(--concurrency 1 suits it)",
        )
    if run.throttled:
        _write(
            config,
            f"{run.throttled} requests were throttled (429 Too Many Requests) and sent again after their "
            "Retry-After; --rate-limit N/s paces a run under the target's limit",
        )
    if run.retried:
        _write(config, f"{run.retried} requests were lost on a keep-alive connection the target had closed "
                       "and sent again once, with a fresh request id")  # fmt: skip
    run.run_flows(lambda flow: _write(config, flow.progress_line()))  # after every case, before any judgement


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    # Send everything before the first test, outside output capture, so progress is visible.
    run = _active_run(session.config)
    if run is not None and session.testsfailed:  # pytest stops here "interrupted": for us a crash of the suite
        run.errors.append(f"{session.testsfailed} error(s) while collecting the conformance tests")
    elif run is not None and session.items and not session.config.option.collectonly:
        try:
            _send(session.config, run)
        except Exception as exc:  # pytest reports it as an internal error (exit 3); the reports say ERROR
            run.errors.append(f"sending the requests: {type(exc).__name__}: {exc}")
            raise
    return (yield)


@pytest.fixture(scope="session")
def kyren_suite(pytestconfig: pytest.Config) -> SuiteRun:
    """The session's run of every method; override to point the checks at a run of your own."""
    return _run(pytestconfig)


@pytest.fixture
def kyren_method(request: pytest.FixtureRequest) -> str:
    """The method this test checks: parametrised by the plugin, one value per contract of the run."""
    return str(request.param)


@pytest.fixture
def kyren_run(kyren_suite: SuiteRun, kyren_method: str) -> ConformanceRun:
    """The run of the method this test checks."""
    return kyren_suite.runs[kyren_method]


@pytest.fixture
def kyren_check(kyren_suite: SuiteRun, kyren_run: ConformanceRun) -> Check:
    """Judge one rule, on one case or on the whole run; fail (MUST) or warn (SHOULD)."""

    from kyren_conformance.judgements import REGISTRY
    from kyren_conformance.outcome import rule_outcome

    def check(rule_id: str, case: AnyCase | None = None) -> None:
        kyren_suite.send_all()
        no_case = case is None and REGISTRY[rule_id].scope == "case"
        why = _NO_CASE if no_case else None
        rule = kyren_run.contract.rule(rule_id)
        _as_pytest(rule_outcome(kyren_run, rule, kyren_run.settings.strict, case, not_applicable=why))

    return check


def _as_pytest(outcome: Outcome) -> None:
    """An outcome decided in the engine, as pytest's: a skip, a failure with its findings, or a warning."""
    if outcome.kind == "skip":
        pytest.skip(outcome.text)
    elif outcome.kind == "fail":
        raise RuleFailure(outcome.rule_id, outcome.text, outcome.findings)
    elif outcome.kind == "warn":
        warnings.warn(ShouldWarning(outcome.text.splitlines()[0]), stacklevel=3)  # the evidence is in the report


@pytest.fixture
def kyren_flow(request: pytest.FixtureRequest) -> str:
    """The money flow this test checks: parametrised by the plugin, one value per flow of the run."""
    return str(request.param)


@pytest.fixture
def kyren_flow_check(kyren_suite: SuiteRun, kyren_flow: str) -> FlowCheck:
    """Judge one money-flow rule on the flow (sent after every case, once); fail (MUST) or warn (SHOULD)."""
    from kyren_conformance.outcome import rule_outcome

    flow = kyren_suite.flows[kyren_flow]

    def check(rule_id: str) -> None:
        if flow.not_run is None:
            flow.selected = True  # asked for by a test, whatever the collection saw
        kyren_suite.run_flows()
        _as_pytest(rule_outcome(flow, flow.rule(rule_id), kyren_suite.settings.first.strict))

    return check


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if call.excinfo is not None and any(check in getattr(item, "fixturenames", ()) for check in _CHECKS):
        if not call.excinfo.errisinstance((RuleFailure, KeyboardInterrupt)) and not call.excinfo.errisinstance(
            pytest.skip.Exception
        ):
            # A crash of the suite itself is not a verdict on the target.
            error = f"{item.nodeid}: {call.excinfo.typename}: {call.excinfo.value}"
            item.config.stash[INTERNAL_ERRORS].append(error)
            suite, method = _active_run(item.config), _method_of(item)
            if suite is not None and method in suite.runs:  # the reports say ERROR, for this method and the run
                suite.runs[method].errors.append(error)
            elif suite is not None:
                suite.errors.append(error)
        elif call.excinfo.errisinstance(RuleFailure):
            report.longrepr = str(call.excinfo.value)  # the findings, not a traceback into the plugin
    return report


@pytest.hookimpl(tryfirst=True)  # before pytest-html writes its report, which reads our results
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    run = _active_run(session.config)
    if run is None:
        return
    run.interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    if exitstatus == pytest.ExitCode.INTERNAL_ERROR and not _errors(run):  # pytest's own, printed above
        run.errors.append("pytest stopped with an internal error (the terminal shows it)")
    if _errors(run) or session.config.stash.get(INTERNAL_ERRORS, []):
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
    from kyren_conformance.report_input import report_input
    from kyren_conformance.results import suite_results, write_json
    from kyren_conformance.run_snapshot import snapshot_of

    # The run, frozen once: the verdict, the results, the report and the terminal summary all read this.
    snapshot = session.config.stash[SNAPSHOT] = snapshot_of(run)
    results = session.config.stash[RESULTS] = suite_results(snapshot)
    session.config.stash[REPORT] = report_input(results, snapshot)
    json_report = run.settings.first.json_report
    if json_report is not None:
        write_json(json_report, results)
    run.log.close()  # exchanges.jsonl was written as the cases ended


def _errors(run: SuiteRun) -> list[str]:
    return [*run.errors, *(e for one in run for e in one.errors)]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    snapshot = config.stash.get(SNAPSHOT, None)
    if snapshot is None or not (any(one.exchanged for one in snapshot) or snapshot.all_errors or snapshot.interrupted):
        return
    from kyren_conformance.verdict import verdict_of

    verdict = verdict_of(snapshot)
    terminalreporter.section("kyren-conformance")
    _failure_lines(terminalreporter, verdict.unreachable)
    for line in verdict.info_lines():
        terminalreporter.write_line(line)
    if snapshot.several:
        width = max(len(one.name) for one in snapshot)
        for one in snapshot:
            terminalreporter.write_line(f"  {one.name:<{width}}  {verdict_of(one).headline}")
    if snapshot.flows and RESULTS in config.stash:
        from kyren_conformance.flow_results import summary_line

        for data in config.stash[RESULTS].get("flows", ()):
            terminalreporter.write_line(f"  {summary_line(data)}")
    for error in snapshot.all_errors:
        terminalreporter.write_line(f"INTERNAL ERROR (exit 3, not a verdict on the target): {error}", red=True)
    good = verdict.label in ("CONFORMANT", "CONFORMANT WITH WARNINGS")
    terminalreporter.write_line(verdict.headline, bold=True, red=not good, green=good)


def _failure_lines(terminalreporter: Any, unreachable: str | None) -> None:
    """The failed checks, one line each, instead of pytest's short summary where that would hide something.

    A dead target fails every check for one reason: one line says so (junit.xml and results.json keep each
    test). Off a terminal (a CI log) pytest cuts each reason at 80 columns: the lines are written whole here.
    """
    failed = [*terminalreporter.stats.get("failed", ()), *terminalreporter.stats.get("error", ())]
    if not failed or (terminalreporter.isatty() and not unreachable):
        return
    terminalreporter.reportchars = "".join(c for c in terminalreporter.reportchars if c not in "fE")
    if unreachable:
        terminalreporter.write_line(
            f"{len(failed)} checks failed because the target is unreachable: {unreachable} "
            "(each check is in junit.xml and results.json)",
            red=True,
        )
        return
    for report in failed:
        word = "FAILED" if report.when == "call" and report.failed else "ERROR"
        terminalreporter.write_line(f"{word} {report.nodeid} - {_reason(report)}")


def _reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    text = longrepr if isinstance(longrepr, str) else getattr(getattr(longrepr, "reprcrash", None), "message", "")
    return str(text or report.longreprtext).strip().split("\n", 1)[0]


def current_verdict(config: pytest.Config) -> Verdict | None:
    """The session's verdict, from the snapshot taken at session finish; None when no conformance run was made
    (reading it never starts one)."""
    from kyren_conformance.verdict import verdict_of

    snapshot = config.stash.get(SNAPSHOT, None)
    if snapshot is None and _active_run(config) is not None:  # a session that ended before its finish hook
        from kyren_conformance.run_snapshot import snapshot_of

        snapshot = snapshot_of(config.stash[RUN])
    return None if snapshot is None else verdict_of(snapshot)


def pytest_unconfigure(config: pytest.Config) -> None:
    run = _active_run(config)
    if run is not None:
        run.close()
