"""The Seamless Wallet contracts: operator-hosted callbacks that Kyren sends, shipped outside the default run.

They live where `kyren-conformance derive ... --out contracts/seamless-wallet` writes them (its own `contracts/`
and `schemas/`), derived from the provider's pages copied byte for byte into docs/spec/. Auto-Closing.md is left
out: it documents no endpoint of its own ("It is sent to the result API", line 7), and a run holds one contract
per endpoint.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from kyren_conformance.contract import load_contract
from kyren_conformance.resources import contract_paths, shipped_contract_paths
from support import run_cli

ROOT = Path(__file__).resolve().parents[1]
OUT = Path("contracts/seamless-wallet")  # relative to ROOT: derive names the pages as the command gives them
SUMS = ROOT / "tests" / "documents" / "kyren" / "SHA256SUMS"
PAGES = {  # page -> (contract stem, method, path): the seven callbacks the Seamless Wallet API lists
    "Balance.md": ("balance", "Balance", "/v1/Balance"),
    "Check.md": ("check", "Check", "/v1/Check"),
    "Bet.md": ("bet", "Bet", "/v1/Bet"),
    "Result.md": ("result", "Result", "/v1/Result"),
    "Refund.md": ("refund", "Refund", "/v1/Refund"),
    "Cancel-Round.md": ("cancel", "Cancel", "/v1/Cancel"),
    "End-Round.md": ("end-round", "EndRound", "/v1/EndRound"),
}


def _contract_files() -> list[Path]:
    return sorted((ROOT / OUT / "contracts").glob("*.json"))


def test_the_seven_callbacks_are_shipped_each_from_its_page() -> None:
    found = {}
    for path in _contract_files():
        contract = load_contract(path)
        assert contract.path.parent.parent / "schemas" == ROOT / OUT / "schemas"  # its own schemas, not schemas/
        found[contract.source_document] = (path.stem, contract.method, contract.http_path)
    assert found == {f"docs/spec/{page}": expected for page, expected in PAGES.items()}


def test_each_page_is_the_providers_byte_for_byte() -> None:
    sums = {name: digest for digest, name in (line.split(None, 1) for line in SUMS.read_text().splitlines() if line)}
    for page in [*PAGES, "Error-Code-1.md"]:
        text = (ROOT / "docs" / "spec" / page).read_bytes()
        assert hashlib.sha256(text).hexdigest() == sums[page], f"docs/spec/{page} is not the provider's page"


@pytest.mark.parametrize("contract_path", _contract_files(), ids=lambda p: p.stem)
def test_each_contract_is_what_its_page_derives(
    contract_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No hand edit: the committed contract and schemas are derive's output, byte for byte."""
    from kyren_conformance.derive import run_derive

    document = json.loads(contract_path.read_text())["source"]["document"]
    monkeypatch.chdir(ROOT)  # the command as it was run, from the project's root
    assert run_derive([document, "--out", str(OUT), "--check"]) == 0, capsys.readouterr().out[-3000:]


def test_drift_is_caught(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The check above can fail: an edited contract differs from what its page derives."""
    from kyren_conformance.derive import run_derive

    copy = tmp_path / "seamless"
    assert run_derive([str(ROOT / "docs" / "spec" / "Bet.md"), "--out", str(copy)]) == 0
    bet = copy / "contracts" / "bet.json"
    bet.write_text(bet.read_text().replace('"/v1/Bet"', '"/v1/Bets"'))
    assert run_derive([str(ROOT / "docs" / "spec" / "Bet.md"), "--out", str(copy), "--check"]) == 1
    assert "differs" in capsys.readouterr().out


def test_the_default_run_stays_the_kyren_hosted_methods() -> None:
    shipped = shipped_contract_paths()
    assert len(shipped) == 14 and not any(OUT.name in p.parts for p in shipped)
    assert {p.stem for p in shipped}.isdisjoint(stem for stem, _, _ in PAGES.values())
    # both together are one valid run: no file stem or endpoint twice
    paths = {load_contract(p).http_path for p in shipped}
    assert paths.isdisjoint(path for _, _, path in PAGES.values())
    assert [p.stem for p in contract_paths(str(ROOT / OUT))] == [p.stem for p in _contract_files()]


def test_auto_closing_is_left_out_because_it_names_results_endpoint() -> None:
    page = (ROOT / "tests" / "documents" / "kyren" / "Auto-Closing.md").read_text(encoding="utf-8")
    assert re.search(r"^https://<API URL>/v1/Result\s*$", page, re.M)
    assert "It is sent to the result API" in page
    assert not (ROOT / "docs" / "spec" / "Auto-Closing.md").exists()


def test_the_seamless_contracts_run_conformant_against_the_embedded_mock(tmp_path: Path) -> None:
    result = run_cli(["--contract", str(ROOT / OUT)], tmp_path)
    assert result.code == 0, result.output[-3000:]
    methods = {m["name"]: m for m in result.results["methods"]}
    assert sorted(methods) == sorted(stem for stem, _, _ in PAGES.values())
    assert all(m["verdict"]["label"] == "CONFORMANT" and m["requests"] > 20 for m in methods.values())
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("CONFORMANT: 0 MUST failures, 0 SHOULD warnings"), last


# --- the reviewed flow declaration over them ----------------------------------------------------------------

FLOW = ROOT / "contracts" / "flows" / "seamless-wallet.json"
# "docs/spec/Bet.md line 5: '...'", "lines 10-11 (cash): '...'": a page (or the last one named), lines, a quote
CITATION = re.compile(
    r"(?:((?:docs/spec/|tests/documents/kyren/)?[\w-]+\.md) )?lines? (\d+)(?:-(\d+))?(?: \([^)]*\))?: '([^']+)'"
)


def _citations(text: str) -> list[tuple[Path, int, int, str]]:
    found, page = [], None
    for match in CITATION.finditer(text):
        page = match.group(1) or page
        assert page is not None, f"a quote names no page: {match.group(0)!r}"
        path = ROOT / page if "/" in page else ROOT / "docs" / "spec" / page
        path = path if path.exists() else ROOT / "tests" / "documents" / "kyren" / page
        found.append((path, int(match.group(2)), int(match.group(3) or match.group(2)), match.group(4)))
    return found


def _misquoted(text: str) -> list[str]:
    """Each quote that is not on the lines it names (whitespace collapsed, as the pages wrap and pad)."""
    wrong = []
    for path, first, last, quote in _citations(text):
        lines = path.read_text(encoding="utf-8").splitlines()[first - 1 : last]
        if " ".join(quote.split()) not in " ".join(" ".join(lines).split()):
            wrong.append(f"{path.name} lines {first}-{last}: {quote!r}")
    return wrong


def test_the_flow_declaration_loads_and_names_the_seamless_contracts_fields() -> None:
    from kyren_conformance.flows.declaration import check_fields, load_flow

    flow = load_flow(FLOW)
    check_fields(flow, {p.stem: load_contract(p) for p in _contract_files()})
    assert (flow.direction, flow.balance.method, flow.balance.field) == ("kyren-calls-operator", "balance", "cash")
    ops = flow.operations
    assert {name: (op.method, op.effect) for name, op in ops.items()} == {
        "bet": ("bet", "debit"), "result": ("result", "credit"), "refund": ("refund", "reverse"),
        "cancel": ("cancel", "reverse"), "end_round": ("end-round", "none"),
    }  # fmt: skip
    assert {op.transaction_field for op in ops.values() if op.effect != "none"} == {"reference"}
    assert {op.round_field for op in ops.values()} == {"roundId"}
    assert ops["refund"].balance_field is None  # Refund.md's answer has no cash
    assert ops["refund"].reverses == ops["cancel"].reverses == "bet" and ops["bet"].on_no_answer == "cancel"
    assert flow.retry is not None and (flow.retransmissions(ops["bet"]), flow.retransmissions(ops["result"])) == (3, 10)
    assert {15, 999} <= set(flow.retry.no_retry_codes) and 998 in flow.retry.retry_codes
    assert flow.codes.insufficient == (15,) and flow.codes.already_exists == (61,) and flow.history is None


def test_every_clause_quotes_the_page_and_line_it_rests_on() -> None:
    raw = json.loads(FLOW.read_text(encoding="utf-8"))
    texts = {"source": raw["source"], **raw["clauses"], **{f"notes[{i}]": n for i, n in enumerate(raw["notes"])}}
    for key in ("source", *raw["clauses"]):
        assert _citations(texts[key]), f"{key} quotes no page"
    assert {key: _misquoted(text) for key, text in texts.items() if _misquoted(text)} == {}
    quoted = {(path.name, first) for text in texts.values() for path, first, _, _ in _citations(text)}
    for cited in [("Bet.md", 5), ("Bet.md", 7), ("Result.md", 8), ("Result.md", 10), ("Refund.md", 8),
                  ("Refund.md", 10), ("Cancel-Round.md", 5), ("End-Round.md", 10), ("Error-Code-1.md", 6),
                  ("Error-Code-1.md", 52)]:  # fmt: skip
        assert cited in quoted, cited


def test_a_misquoted_clause_is_caught() -> None:
    assert _misquoted("docs/spec/Bet.md line 7: 'The call is idempotent'") == []
    assert _misquoted("docs/spec/Bet.md line 7: 'The call is not idempotent'")
    assert _misquoted("docs/spec/Bet.md line 8: 'The call is idempotent'")  # the right words, the wrong line
