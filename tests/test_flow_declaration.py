"""The flow declaration: the shipped one loads and agrees with the contracts and the pages; a bad one is refused
in one line naming the file and the key."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kyren_conformance.contract import load_contract
from kyren_conformance.flows.declaration import FlowError, check_fields, check_methods, load_flow
from kyren_conformance.flows.judgements import flow_rules

ROOT = Path(__file__).resolve().parents[1]
TRANSFER = ROOT / "contracts" / "flows" / "transfer-wallet.json"


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(TRANSFER.read_text(encoding="utf-8"))
    return loaded


def write(tmp_path: Path, document: Any, name: str = "flow.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_the_transfer_declaration_loads_with_decimal_amounts() -> None:
    d = load_flow(TRANSFER)
    assert d.direction == "operator-calls-kyren"
    assert d.amount == Decimal("1.00") and isinstance(d.amount, Decimal)
    assert d.methods == (
        "create-user", "create-wallet", "get-balance", "deposit-balance", "withdrawl-balance", "get-transfer-info",
    )  # fmt: skip
    assert d.first("credit").name == "deposit" and d.first("debit").name == "withdraw"  # type: ignore[union-attr]
    assert d.decimals("JPY") == 0 and d.decimals("XYZ") == d.default_decimals == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.amount = Decimal(5)  # type: ignore[misc]


def test_the_transfer_declaration_agrees_with_the_shipped_contracts() -> None:
    d = load_flow(TRANSFER)
    contracts = {m: load_contract(ROOT / "contracts" / f"{m}.json") for m in d.methods}
    check_fields(d, contracts)  # raises on any disagreement


def test_every_clause_cites_a_page_and_lines_it_has() -> None:
    """Each `docs/spec/<page> line N` (or `lines N-M`) a clause cites exists, with that many lines."""
    d = load_flow(TRANSFER)
    cited = 0
    for rule, clause in d.clauses.items():
        for page, first, last in re.findall(r"docs/spec/([\w-]+\.md) lines? (\d+)(?:-(\d+))?", clause):
            lines = (ROOT / "docs" / "spec" / page).read_text(encoding="utf-8").splitlines()
            assert int(last or first) <= len(lines), f"{rule} cites {page} line {last or first}"
            cited += 1
    assert cited >= len(d.clauses)
    assert {r.id for r in flow_rules(d)} == {"F1", "F2", "F3", "F4", "F5", "F6", "S10"}


def test_the_cited_lines_say_what_the_clauses_quote() -> None:
    pages = ROOT / "docs" / "spec"
    deposit = (pages / "Deposit-Balance.md").read_text(encoding="utf-8").splitlines()
    codes = (pages / "Error-Code-1.md").read_text(encoding="utf-8").splitlines()
    history = (pages / "Get-transfer-status.md").read_text(encoding="utf-8").splitlines()
    assert "only creates one transaction" in deposit[16 - 1]
    assert "Insufficient balance" in codes[25 - 1] and "Transaction already exists" in codes[42 - 1]
    assert "Invalid Amount" in codes[40 - 1]
    assert "negative value" in history[60 - 1] and '"transctionId"' in history[74 - 1]


def _mutations() -> dict[str, tuple[Any, str]]:
    """name -> (a change to the shipped declaration, what the one-line error must name)."""

    def set_(path: str, value: Any) -> Any:
        def change(doc: dict[str, Any]) -> None:
            *parents, last = path.split(".")
            node = doc
            for key in parents:
                node = node[key]
            if value is _DELETE:
                del node[last]
            else:
                node[last] = value

        return change

    return {
        "unknown key": (set_("colour", "red"), "unknown key"),
        "bad direction": (set_("direction", "sideways"), "direction"),
        "amount zero": (set_("amount", "0"), "amount"),
        "amount over-precise": (set_("amount", "1.005"), "amount"),
        "amount not a string": (set_("amount", 1.0), "amount"),
        "credit without amount field": (set_("operations.deposit.amount_field", _DELETE), "amount_field"),
        "no debit": (set_("operations.withdraw.effect", "credit"), "debit"),
        "reverse without reverses": (set_("operations.withdraw.effect", "reverse"), "operations.withdraw"),
        "reverses a reader": (
            set_(
                "operations.undo",
                {
                    "method": "get-balance",
                    "effect": "reverse",
                    "reverses": "nothing",
                    "transaction_field": "transactionId",
                },
            ),
            "operations.undo.reverses",
        ),  # fmt: skip
        "bad amounts through an unknown operation": (set_("bad_amount_operations", ["deposit", "bet"]), "bet"),
        "a history without its clause": (set_("clauses.F6", _DELETE), "clauses.F6"),
        "a retry without its clause": (set_("clauses.retry", _DELETE), "clauses.retry"),
        "a code both retried and not": (set_("retry.retry_codes", [1, 15]), "retry"),
        "an unknown clause": (set_("clauses.F9", "somewhere"), "F9"),
        "a currency that is no ISO code": (set_("currency_decimals.usd", 2), "currency_decimals"),
        "too many decimals": (set_("default_decimals", 12), "default_decimals"),
        "a race of one": (set_("race_requests", 1), "race_requests"),
        "on_no_answer naming no reversal": (set_("operations.deposit.on_no_answer", "withdraw"), "on_no_answer"),
    }


_DELETE = object()
MUTATIONS = _mutations()


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_a_bad_declaration_is_refused_naming_the_file_and_the_key(
    name: str, raw: dict[str, Any], tmp_path: Path
) -> None:
    change, named = MUTATIONS[name]
    document = copy.deepcopy(raw)
    change(document)
    path = write(tmp_path, document, "bad-flow.json")
    with pytest.raises(FlowError) as caught:
        load_flow(path)
    message = str(caught.value)
    assert "bad-flow.json" in message and named in message
    assert "\n" not in message and "Traceback" not in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"{not json", "not JSON"), (b"[1, 2]", "(top level)"), (b"\xff\xfe", "not UTF-8"), (None, "cannot read")],
)
def test_an_unreadable_file_is_refused_in_one_line(content: bytes | None, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "odd.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(FlowError, match=re.escape(expected)) as caught:
        load_flow(path)
    assert "odd.json" in str(caught.value)


def test_a_method_that_is_no_contract_of_the_run_is_named_with_the_choices() -> None:
    d = load_flow(TRANSFER)
    names = [m for m in d.methods if m != "get-transfer-info"] + ["close-session"]
    with pytest.raises(FlowError) as caught:
        check_methods(d, names)
    message = str(caught.value)
    assert "history.method" in message and "'get-transfer-info'" in message and "close-session" in message


def test_a_field_the_contract_lacks_is_named(raw: dict[str, Any], tmp_path: Path) -> None:
    document = copy.deepcopy(raw)
    document["operations"]["deposit"]["transaction_field"] = "externalTransactionId"
    d = load_flow(write(tmp_path, document))
    contracts = {m: load_contract(ROOT / "contracts" / f"{m}.json") for m in d.methods}
    with pytest.raises(FlowError, match=r"operations\.deposit\.transaction_field: 'externalTransactionId'"):
        check_fields(d, contracts)
    document = copy.deepcopy(raw)
    document["balance"]["field"] = "cash"
    d = load_flow(write(tmp_path, document))
    with pytest.raises(FlowError, match=r"balance\.field: 'cash' is not a field of the get-balance answer"):
        check_fields(d, contracts)


def test_the_loader_is_pure() -> None:
    """The mock imports it: loading a declaration pulls in neither the client nor the engine nor pytest."""
    code = (
        "import sys; from kyren_conformance.flows.declaration import load_flow; "
        f"load_flow({str(TRANSFER)!r}); "
        "bad = [m for m in sys.modules if m.startswith(('kyren_conformance.client', 'kyren_conformance.flows.engine',"
        " 'kyren_conformance.flows.wire', 'requests', 'pytest', 'hypothesis'))]; print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
