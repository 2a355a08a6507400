"""One run, the whole API: several methods against one target, one report, a verdict per method.

Each test runs the real CLI in a subprocess against the real mock on loopback, serving every
contract of the run at its own path.
"""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from kyren_conformance.contract import Contract, load_contract
from kyren_conformance.mock import MockServer
from kyren_conformance.mutation import suite_target_args, target_args
from kyren_conformance.resources import data_dir, shipped_contract_paths
from support import CliRun, run_cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of two methods: the shipped Close Session, and a second one (another path, other fields)."""
    root = tmp_path_factory.mktemp("api")
    (root / "contracts").mkdir()
    shutil.copytree(data_dir("schemas"), root / "schemas")
    for path in shipped_contract_paths()[:6]:
        shutil.copy(path, root / "contracts" / path.name)
    if len(list((root / "contracts").iterdir())) < 2:  # only Close Session shipped: make a second method of it
        data = json.loads((root / "contracts" / "close-session.json").read_text())
        data["method"], data["title"] = "CloseSessionCopy", "Close Session (copy)"
        data["http"]["path"] = "/v1/CloseSessionCopy"
        (root / "contracts" / "close-session-copy.json").write_text(json.dumps(data))
    return root


def _contracts(api: Path) -> list[Contract]:
    return [load_contract(p) for p in sorted((api / "contracts").glob("*.json"))]


def _run(api: Path, tmp_path: Path, *, fault: str | None = None, faulty: list[str] | None = None) -> CliRun:
    contracts = _contracts(api)
    with MockServer(contracts, fault=fault, faulty=faulty) as server:
        args, env = suite_target_args(server.url, server, contracts)
        return run_cli([*args, "--timeout", "2"], tmp_path, env=env)


def test_every_method_runs_in_one_run_and_is_conformant(api: Path, tmp_path: Path) -> None:
    result = _run(api, tmp_path)
    assert result.code == 0, result.output[-3000:]
    names = [p.stem for p in sorted((api / "contracts").glob("*.json"))]
    results = result.results
    assert [m["name"] for m in results["methods"]] == names
    assert all(m["verdict"]["label"] == "CONFORMANT" and m["requests"] > 20 for m in results["methods"])
    assert results["identity"]["requests"] == sum(m["requests"] for m in results["methods"])
    schema = json.loads((ROOT / "schemas" / "results.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(results)
    # every rule of every method, each tagged with its method
    assert {r["method"] for r in results["rules"]} == set(names)
    assert len(results["rules"]) == sum(len(c.rules) for c in _contracts(api))
    for line in result.output.splitlines()[-1:]:
        assert line.startswith("CONFORMANT: 0 MUST failures, 0 SHOULD warnings"), line


def test_every_test_id_names_its_method(api: Path, tmp_path: Path) -> None:
    result = _run(api, tmp_path)
    names = {p.stem for p in (api / "contracts").glob("*.json")}
    cases = ET.parse(result.report_dir / "junit.xml").getroot().iter("testcase")
    ids = [c.get("name", "") for c in cases]
    assert len(ids) > 20 * len(names)
    for test_id in ids:
        param = re.search(r"\[([^\]:]+)[:\]]", test_id)
        assert param and param.group(1) in names, test_id
    exchanges = (result.report_dir / "exchanges.jsonl").read_text().splitlines()
    assert {json.loads(line)["method"] for line in exchanges} == names


def test_one_defect_in_one_method_fails_that_method_only(api: Path, tmp_path: Path) -> None:
    contracts = _contracts(api)
    broken = contracts[-1].path.stem
    result = _run(api, tmp_path, fault="token-not-checked", faulty=[broken])
    assert result.code == 1, result.output[-3000:]
    verdicts = {m["name"]: m["verdict"]["label"] for m in result.results["methods"]}
    assert verdicts.pop(broken) == "NOT CONFORMANT"
    assert set(verdicts.values()) == {"CONFORMANT"}, verdicts
    failed = {(r["method"], r["id"]) for r in result.results["rules"] if r["outcome"] == "failed"}
    assert failed == {(broken, "M5")}
    assert all(f["method"] == broken for f in result.results["findings"])

    page = (result.report_dir / "report.html").read_text()
    row = re.search(rf'<tr id="method-{broken}-row".*?</tr>', page, flags=re.S)
    assert row and "NOT CONFORMANT" in row.group(0)
    assert f'<tr id="{broken}--rule-M5" class="kc-r-failed">' in page
    assert f'href="#{broken}--findings-M5"' in page  # the banner points at the failed rule of that method
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "an anchor is used twice: links would land on the wrong method"
    for anchor in re.findall(r'href="#([^"]+)"', page):
        assert anchor in ids or anchor == "results-table", f"a link to nowhere: #{anchor}"
    assert f"{broken}" in result.output and "NOT CONFORMANT" in result.output.splitlines()[-1]


def test_a_dead_target_is_found_once_for_the_whole_run(api: Path, tmp_path: Path) -> None:
    contracts = _contracts(api)
    server = MockServer(contracts).start()
    args, env = suite_target_args(server.url, server, contracts)
    server.stop()  # connections are refused from now on
    result = run_cli([*args, "--timeout", "1"], tmp_path, env=env, timeout=60)
    assert result.code == 1, result.output[-3000:]
    assert result.seconds < 30
    sent = [json.loads(line) for line in (result.report_dir / "exchanges.jsonl").read_text().splitlines()]
    refused = [e for e in sent if not e["failure"].startswith("not sent")]
    assert len(refused) <= 10, "the breaker should stop the whole run, not each method anew"


def test_two_contracts_of_one_path_are_refused(api: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy" / "contracts"
    copy.mkdir(parents=True)
    shutil.copytree(api / "schemas", tmp_path / "copy" / "schemas")
    shutil.copy(api / "contracts" / "close-session.json", copy / "close-session.json")
    shutil.copy(api / "contracts" / "close-session.json", copy / "close-session-again.json")
    result = run_cli(["--contract", str(copy)], tmp_path)
    assert result.code == 4
    assert "one contract per method" in result.output and "Traceback" not in result.output


def test_the_zero_configuration_run_covers_every_shipped_method(tmp_path: Path) -> None:
    result = run_cli([], tmp_path)
    assert result.code == 0, result.output[-3000:]
    methods = result.results["methods"]
    assert [m["name"] for m in methods] == [p.stem for p in shipped_contract_paths()]
    assert len(methods) >= 14 and all(m["verdict"]["label"] == "CONFORMANT" for m in methods)
    # Close Session's contract was reviewed by a person; the derived ones carry their errata marked for review
    reviewed = {m["name"] for m in methods if m["errata_to_review"] == 0}
    assert "close-session" in reviewed and len(reviewed) < len(methods)
    page = (result.report_dir / "report.html").read_text()
    assert page.count("not reviewed</strong>") >= len(methods) - len(reviewed)


@pytest.mark.parametrize("contract_path", shipped_contract_paths(), ids=lambda p: p.stem)
def test_each_shipped_contract_is_what_its_document_derives(
    contract_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No hand edit: the committed contract and schemas are derive's output (plus a reviewed overlay)."""
    from kyren_conformance.derive import run_derive

    data = json.loads(contract_path.read_text())
    document = ROOT / data["source"]["document"]
    assert document.is_file() and document.parent == ROOT / "docs" / "spec"
    overlay = ROOT / "contracts" / "overlays" / contract_path.name
    extra = ["--overlay", str(overlay)] if overlay.is_file() else []
    code = run_derive([str(document), *extra, "--out", str(ROOT), "--check"])
    assert code == 0, capsys.readouterr().out[-3000:]


def test_every_method_page_of_the_provider_runs_conformant_against_the_mock(tmp_path: Path) -> None:
    """No page crashes derive or the suite: every method the provider documents, derived and run in one go
    (Auto-Closing names Result's URL, so it runs on its own: one contract per endpoint in a run)."""
    from kyren_conformance.derive import run_derive

    out = tmp_path / "derived"
    assert run_derive([str(ROOT / "tests" / "documents" / "kyren"), "--out", str(out)]) == 0
    alone = tmp_path / "alone" / "contracts"
    alone.mkdir(parents=True)
    shutil.copytree(out / "schemas", tmp_path / "alone" / "schemas")
    shutil.move(out / "contracts" / "auto-closing.json", alone / "auto-closing.json")
    for folder in (out, tmp_path / "alone"):
        result = run_cli(["--contract", str(folder)], tmp_path / folder.name)
        assert result.code == 0, result.output[-3000:]
        labels = {m["name"]: m["verdict"]["label"] for m in result.results["methods"]}
        assert set(labels.values()) == {"CONFORMANT"}, labels
        assert "Traceback" not in result.output and "INTERNAL ERROR" not in result.output
    assert len(labels) == 1 and len(list((out / "contracts").glob("*.json"))) >= 20


def test_a_password_in_the_target_url_appears_in_no_artefact(tmp_path: Path) -> None:
    """https://user:pw@host: the password is a secret like the token (terminal, report, results, exchanges)."""
    contract = load_contract(data_dir("contracts") / "close-session.json")
    password = "Sup3r-Secret-Pw-" + "x" * 8
    with MockServer(contract) as server:
        url = server.url.replace("http://", f"http://alice:{password}@")
        args, env = target_args(url, server.credentials, contract)
        result = run_cli(args, tmp_path, env=env)
    assert result.code == 0, result.output[-3000:]
    assert result.results["identity"]["target_url"].startswith("http://***@127.0.0.1:")
    for name, text in result.artefacts().items():
        assert password not in text, name
        assert server.credentials["token"] not in text, name
