"""The provider's Error Code page read into a code table, classified by kind, and laid over a contract."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kyren_conformance.contract import CODE_KINDS, ContractError, load_contract
from kyren_conformance.derive import DocumentError
from kyren_conformance.derive.error_codes import (
    KIND_PHRASES,
    CodePageError,
    classify,
    codes_section,
    read_code_page,
    read_code_page_file,
    with_codes,
)
from kyren_conformance.resources import data_dir, default_contract_path

PAGE = Path(__file__).parent / "documents" / "kyren" / "Error-Code-1.md"


@pytest.fixture(scope="module")
def real():
    return read_code_page_file(PAGE)


def test_the_real_page_is_kept_as_received() -> None:
    raw = PAGE.read_bytes()
    assert b"\r\n" in raw and b"<br/>" in raw and b"differnt" in raw  # CRLF, line breaks in cells, typos


def test_the_real_page_gives_every_code_with_its_description(real) -> None:
    rows = [
        line for line in PAGE.read_text(encoding="utf-8").splitlines() if line.startswith("| ") and "|string|" in line
    ]
    assert len(real.codes) == len(rows) == 43
    assert real.line == 9  # the header row
    assert real.codes[0] == "Success"
    assert real.codes[21] == "Parameter(s) is missing or incorrect"
    assert real.codes[64] == "Validation failed. Empty mandatory field '{field name}'."
    assert real.codes[401] == "Unauthorized"
    # a `<br/>` cell: its list lines joined, the dashes and the tag gone
    assert real.codes[54] == (
        "Incorrect secure LOGIN and secure password combination. "
        "Invalid parameters in the request, please check post parameters."
    )
    assert real.codes[998].startswith("Internal server error. Casino Operator will return")
    assert "<br" not in "".join(real.codes.values()) and "**" not in real.codes[998]
    assert "DOES requires a retry" in real.codes[998]
    assert real.lines[0] == 11 and real.lines[999] == 53


def test_the_real_page_names_codes_for_each_kind(real) -> None:
    assert classify(real.codes) == {
        "missing_field": [21, 64],
        "bad_credentials": [54, 401],
        "unknown_user": [12, 22, 62],
        "already_exists": [8, 10, 61],
    }
    assert set(KIND_PHRASES) == set(CODE_KINDS)


def test_a_code_may_name_several_kinds() -> None:
    codes = {7: "Unauthorized: parameter missing", 8: "Player has not been detected"}
    assert classify(codes) == {"missing_field": [7], "bad_credentials": [7], "unknown_user": [8]}


def test_phrases_match_whole_words_only() -> None:
    assert classify({1: "Missingness report", 2: "misSING!"}) == {"missing_field": [2]}


def test_a_page_without_a_code_table_is_refused_with_its_line(tmp_path: Path) -> None:
    page = tmp_path / "Other.md"
    page.write_bytes(b"# Other\r\n\r\ntext\r\n| Field | Type |\r\n|---|---|\r\n| a | string |\r\n")
    with pytest.raises(CodePageError, match=rf"^{page}:4: no code table") as info:
        read_code_page_file(page)
    assert isinstance(info.value, ValueError) and isinstance(info.value, DocumentError)  # derive's exit-4 path
    with pytest.raises(CodePageError, match=r"^p\.md:1: no code table"):
        read_code_page("p.md", "# Error Code\n\nno table here\n")


def test_a_row_whose_code_is_no_integer_is_refused_with_its_line() -> None:
    text = "# Codes\n| Name | Description |\n|---|---|\n| 0 | Success |\n| E1 | Oops |\n"
    with pytest.raises(CodePageError, match=r"^p\.md:5: the code 'E1' is not an integer"):
        read_code_page("p.md", text)


def test_a_code_twice_with_two_descriptions_is_refused() -> None:
    text = "| Code | Description |\n|---|---|\n| 1 | a |\n| 1 | b |\n"
    with pytest.raises(CodePageError, match=r"^p\.md:4: code 1 again.*line 3"):
        read_code_page("p.md", text)


def test_lenient_tables_read() -> None:
    text = "intro\n\nCode | Message\n:--|--:\n 5 | Bad &amp; worse <b>now</b> \\| ok\n-1|neg<br>two\n"
    table = read_code_page("p.md", text)
    assert table.codes == {5: "Bad & worse now | ok", -1: "neg two"}


def test_parsing_stays_linear_on_hostile_cells() -> None:
    hostile = "<" * 200_000 + "a" + "<br" * 50_000 + " " * 50_000
    text = f"| Name | Description |\n|---|---|\n| 1 | {hostile} |\n| 2 | {'<a' * 100_000}> |\n"
    started = time.perf_counter()
    table = read_code_page("p.md", text)
    assert time.perf_counter() - started < 5
    assert set(table.codes) == {1, 2}


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_bytes(b"# x\n| Name | Description |\n|---|---|\n| 1 | caf\xe9 |\n")
    with pytest.raises(CodePageError, match=r"p\.md:4: not UTF-8"):
        read_code_page_file(page)


def test_the_section_is_json_and_lays_over_a_contract_that_then_loads(real, tmp_path: Path) -> None:
    section = codes_section(real, "docs/spec/Error-Code-1.md")
    assert json.loads(json.dumps(section)) == section
    assert section["source"] == "docs/spec/Error-Code-1.md"
    assert section["table"]["21"] == "Parameter(s) is missing or incorrect" and len(section["table"]) == 43
    assert section["kinds"]["bad_credentials"] == [54, 401]

    shipped = json.loads(default_contract_path().read_text())
    # The shipped contract already carries the page: lay it over the contract as derived without the page.
    raw = {key: value for key, value in shipped.items() if key != "codes"}
    raw["rules"] = [dict(r, source="DESIGN.md E3") if r["id"] in ("S7", "S9") else r for r in shipped["rules"]]
    laid = with_codes(raw, section)
    assert "codes" not in raw  # the input is left alone
    assert all("Error-Code" not in r["source"] for r in raw["rules"])
    assert laid == shipped  # the shipped contract is exactly that: the page-less one with the page laid over it
    keys = list(laid)
    assert keys.index("codes") == keys.index("result") + 1
    rules = {r["id"]: r["source"] for r in laid["rules"]}
    assert "docs/spec/Error-Code-1.md" in rules["S7"] and "docs/spec/Error-Code-1.md" in rules["S9"]
    assert with_codes(laid, section) == laid  # laying it again changes nothing

    (tmp_path / "contracts").mkdir()
    path = tmp_path / "contracts" / "c.json"
    path.write_text(json.dumps(laid))
    contract = load_contract(path, schemas_dir=data_dir("schemas"))
    assert contract.codes is not None
    assert contract.codes.table[64].startswith("Validation failed")
    assert contract.codes.kinds == {
        "missing_field": (21, 64),
        "bad_credentials": (54, 401),
        "unknown_user": (12, 22, 62),
        "already_exists": (8, 10, 61),
    }


def test_a_page_naming_no_kind_gives_a_section_without_kinds() -> None:
    table = read_code_page("p.md", "| Name | Description |\n|---|---|\n| 0 | Success |\n| 3 | Bad currency |\n")
    assert codes_section(table, "p.md") == {"source": "p.md", "table": {"0": "Success", "3": "Bad currency"}}


def test_the_metaschema_names_the_kinds_the_contract_knows() -> None:
    meta = json.loads((data_dir("schemas") / "contract.schema.json").read_text())
    assert tuple(meta["properties"]["codes"]["properties"]["kinds"]["propertyNames"]["enum"]) == CODE_KINDS


def test_with_codes_result_must_still_validate(real, tmp_path: Path) -> None:
    raw = json.loads(default_contract_path().read_text())
    section = codes_section(real, "x.md")
    section["kinds"]["missing_field"].append(77)
    (tmp_path / "contracts").mkdir()
    path = tmp_path / "contracts" / "c.json"
    path.write_text(json.dumps(with_codes(raw, section)))
    with pytest.raises(ContractError, match=r"codes\.kinds\.missing_field: 77 is not a code of codes\.table"):
        load_contract(path, schemas_dir=data_dir("schemas"))


def test_the_reference_mock_answers_each_kind_with_the_pages_code(real, tmp_path: Path) -> None:
    """End to end on the embedded mock: a conformant server raises no S9, and the same answers judged against
    a page that names the other codes for each kind raise it for both kinds."""
    import dataclasses

    from kyren_conformance.conformance_run import ConformanceRun
    from kyren_conformance.judgements import REGISTRY, JudgeContext, code_of
    from kyren_conformance.settings import resolve

    (tmp_path / "contracts").mkdir()
    path = tmp_path / "contracts" / "close-session.json"
    raw = json.loads(default_contract_path().read_text())
    path.write_text(json.dumps(with_codes(raw, codes_section(real, "Error-Code-1.md"))))
    settings = resolve(lambda dest: {"kyren_contract": str(path)}.get(dest), environ={})
    run = ConformanceRun(settings)
    try:
        run.send_all()
        assert run.not_applicable("S9") is None and run.not_applicable("S7") is None
        assert run.judge("S9") == [] and run.judge("S7") == []
        answered = {e.defect.split(":")[0]: code_of(e, run.ctx) for e in run.all_exchanges() if e.defect}
        assert answered["missing"] in (21, 64) and answered["auth"] in (54, 401)

        codes = run.contract.codes
        assert codes is not None
        swapped = {"missing_field": (54, 401), "bad_credentials": (21, 64)}
        other_page = dataclasses.replace(run.contract, codes=dataclasses.replace(codes, kinds=swapped))
        findings = REGISTRY["S9"].judge(run.all_exchanges(), JudgeContext.for_contract(other_page, run.ctx.profile))
        assert {f.documented.split(":")[0] for f in findings} == {"missing_field", "bad_credentials"}
    finally:
        run.close()


def test_the_reference_code_table_holds_the_pages_table(real) -> None:
    import dataclasses

    from kyren_conformance.contract import Codes
    from kyren_conformance.mock import reference_code_table

    plain = load_contract(default_contract_path())
    own = reference_code_table(plain)
    assert plain.success_code in own and len(own) > 5
    kinds = {k: tuple(v) for k, v in classify(real.codes).items()}
    documented = dataclasses.replace(plain, codes=Codes("Error-Code-1.md", real.codes, kinds))
    table = reference_code_table(documented)
    assert {code: table[code] for code in real.codes} == real.codes  # the provider's words for its codes
    assert set(own) - set(real.codes) <= set(table)  # and the mock's other codes besides
