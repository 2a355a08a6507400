"""The report of a failing run, rendered by real headless Chromium: with scripts, without them, and
under the Content-Security-Policy a CI server (Jenkins' default) serves archived files with.

`--dump-dom` reads the page with a script of its own, so with scripts disabled it prints nothing; that
mode reads the DOM over the DevTools protocol instead (`--remote-debugging-pipe`, DOM.getOuterHTML,
which runs no script). Chromium is required (CI installs it): without it these tests fail, not skip.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flow_report_examples import BROKEN_STEP, broken_flow, hostile_flow, results_with
from kyren_conformance import report_flows, report_sections
from kyren_conformance.contract import Contract
from kyren_conformance.mock import MockServer
from support import CliRun, run_cli, target_args

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
JENKINS_CSP = "sandbox; default-src 'none'; img-src 'self'; style-src 'self';"
MUST_RULES = [f"M{i}" for i in range(1, 10)]


def _chromium() -> str:
    found = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if found is None:
        pytest.fail(
            "headless Chromium is needed to check the report as a browser renders it: "
            "install it (Debian: apt-get install -y chromium) and put it on PATH",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="module")
def failing(contract: Contract, tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    with MockServer(contract, fault="token-not-checked") as server:
        args, env = target_args(server.url, server.credentials, contract)
        run = run_cli([*args, "--timeout", "2"], tmp_path_factory.mktemp("failing"), env=env)
    assert run.code == 1, run.output[-3000:]
    return run


def _with_csp(report: Path, out: Path) -> Path:
    # A meta element cannot carry `sandbox`; the rest of the policy is what the archived file gets.
    policy = JENKINS_CSP.replace("sandbox; ", "")
    page = report.read_text(encoding="utf-8")
    out.write_text(
        page.replace("<head>", f'<head><meta http-equiv="Content-Security-Policy" content="{policy}">', 1),
        encoding="utf-8",
    )
    return out


def _dump_dom(page: Path, profile: Path, *extra: str) -> str:
    done = subprocess.run(
        [_chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0 and "</html>" in done.stdout, f"chromium failed: {done.stderr[-2000:]}"
    return done.stdout


class _DevTools:
    """The DevTools protocol over the pipe Chromium reads on fd 3 and writes on fd 4: NUL-ended JSON."""

    def __init__(self, profile: Path, *extra: str) -> None:
        to_chrome, self._w = os.pipe()
        self._r, from_chrome = os.pipe()
        # Moved above fd 10 first, so that placing them at 3 and 4 in the child cannot clobber either.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome, from_chrome)]
        os.close(to_chrome)
        os.close(from_chrome)

        def in_child() -> None:
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.proc = subprocess.Popen(
            [_chromium(), *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", *extra, "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=in_child,
        )
        for fd in high:
            os.close(fd)
        self._buffer, self._last_id = b"", 0

    def _messages(self, timeout: float) -> Iterator[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                yield json.loads(raw)
            if not select.select([self._r], [], [], max(deadline - time.monotonic(), 0))[0]:
                raise TimeoutError("chromium did not answer over the DevTools pipe")
            chunk = os.read(self._r, 1 << 16)
            assert chunk, "chromium closed the DevTools pipe"
            self._buffer += chunk

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._last_id += 1
        message = {"id": self._last_id, "method": method, "params": params or {}}
        os.write(self._w, json.dumps(message | ({"sessionId": session} if session else {})).encode() + b"\0")
        reply = next(m for m in self._messages(60) if m.get("id") == self._last_id)
        assert "error" not in reply, f"{method}: {reply['error']}"
        return reply["result"]

    def wait_for(self, event: str) -> None:
        next(m for m in self._messages(60) if m.get("method") == event)

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.call("Browser.close")
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            os.close(self._r)
            os.close(self._w)


def _dom_over_devtools(page: Path, profile: Path, *extra: str) -> str:
    browser = _DevTools(profile, *extra)
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        browser.call("Page.enable", session=session)
        browser.call("Page.navigate", {"url": page.as_uri()}, session=session)
        browser.wait_for("Page.loadEventFired")
        root = browser.call("DOM.getDocument", {"depth": 0}, session=session)["root"]
        return str(browser.call("DOM.getOuterHTML", {"nodeId": root["nodeId"]}, session=session)["outerHTML"])
    finally:
        browser.close()


def _visible(dom: str) -> str:
    """The rendered DOM without pytest-html's JSON blob, which holds the same words for its script."""
    return re.sub(r'data-jsonblob="[^"]*"', "", dom)


@pytest.mark.parametrize("mode", ["scripts", "no-scripts", "csp"])
def test_rendered_report_shows_verdict_rules_and_curl(mode: str, failing: CliRun, tmp_path: Path) -> None:
    report = failing.report_dir / "report.html"
    if mode == "no-scripts":
        dom = _dom_over_devtools(report, tmp_path / "profile", "--blink-settings=scriptEnabled=false")
    else:
        page = _with_csp(report, tmp_path / "report-csp.html") if mode == "csp" else report
        dom = _dump_dom(page, tmp_path / "profile")
    dom = _visible(dom)

    assert re.search(r'<h2 class="kc-verdict">NOT CONFORMANT</h2>', dom), "no verdict in the rendered page"
    missing = [rule for rule in MUST_RULES if f'<tr id="rule-{rule}"' not in dom]
    assert not missing, f"the rendered traceability table lacks {missing}"
    assert "curl -sS -i -X POST" in dom and "$KYREN_TOKEN" in dom, "no curl command in the rendered page"
    rendered_rows = '<td class="col-testId">test_conformance.py::test_M5_wrong_credential' in dom
    if mode == "scripts":
        assert rendered_rows, "pytest-html's script did not build its results table"
    else:
        assert not rendered_rows, "scripts ran: this check did not test a page without them"


# What the page tells about itself, read by the test over DevTools (after the load, with scripts allowed).
_FLOW_PROBE = """JSON.stringify((() => {
  const row = document.getElementById(%s);
  const box = row.getBoundingClientRect();
  return {ours: document.documentElement.dataset.ours || null, ran: window.kcRan || null,
          scripts: document.scripts.length, handlers: document.querySelectorAll("[onmouseover]").length,
          visible: row.checkVisibility({checkOpacity: true, checkVisibilityCSS: true}),
          height: box.height, text: row.innerText};
})())"""


def test_rendered_broken_flow_row_is_visible_and_no_target_script_runs(tmp_path: Path) -> None:
    """The flows' sections (a broken flow and one full of hostile text) in a page of their own, with scripts
    allowed: the broken row is rendered with its words, and only the page's own script ran."""
    results = results_with(broken_flow(), hostile_flow())
    own_script = "<script>document.documentElement.dataset.ours = 'ran'</script>"
    page = tmp_path / "flows.html"
    page.write_text(
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>flows</title>{own_script}</head><body>'
        f"{report_sections.STYLE}{report_flows.flows(results)}</body></html>",
        encoding="utf-8",
    )
    anchor = report_flows.step_anchor("transfer-wallet", BROKEN_STEP)
    browser = _DevTools(tmp_path / "profile")
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        browser.call("Page.enable", session=session)
        browser.call("Page.navigate", {"url": page.as_uri() + "#" + anchor}, session=session)
        browser.wait_for("Page.loadEventFired")
        probe = _FLOW_PROBE % json.dumps(anchor)
        reply = browser.call("Runtime.evaluate", {"expression": probe, "returnByValue": True}, session=session)
    finally:
        browser.close()
    seen = json.loads(reply["result"]["value"])

    assert seen["ours"] == "ran", "the page's own script did not run: this check did not test scripts allowed"
    assert seen["ran"] is None and seen["scripts"] == 1, f"a script from the target ran or became an element: {seen}"
    assert seen["handlers"] == 0, "an attribute from the target became an event handler"
    assert seen["visible"] and seen["height"] > 0, f"the broken row is not rendered: {seen}"
    assert "✗ expected 1002.00, saw 1003.00" in seen["text"], seen["text"]
    assert "retransmission 1" in seen["text"]
