"""`kyren-conformance derive`: a contract and schemas from a method's document, contradictions listed, never hidden."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kyren_conformance.cli import main
from kyren_conformance.contract import load_contract
from kyren_conformance.derive import DocumentError, derive
from kyren_conformance.derive.values import doc_type_to_json, is_placeholder

ROOT = Path(__file__).parents[1]
CLOSE_SESSION = ROOT / "docs/spec/close-session.md"
OVERLAY = ROOT / "contracts/overlays/close-session.json"
CODE_PAGE = ROOT / "docs/spec/Error-Code-1.md"  # the provider's Error Code page, beside the method's document
# the provider's own Get Balance page, byte for byte: CRLF line ends, URL /transfer/GetBalance, a response code
# typed string with the example 0, and its last code block never closed
GET_BALANCE = Path(__file__).parent / "documents/kyren/Get-Balance.md"
COMMITTED = ("contracts/close-session.json", "schemas/close-session.request.schema.json",
             "schemas/close-session.response.schema.json")  # fmt: skip


def run_derive(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main(["derive", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def copy_project(tmp_path: Path) -> Path:
    """The document, overlay and committed files in the same layout as the project."""
    documents = ("docs/spec/close-session.md", "docs/spec/Error-Code-1.md", "contracts/overlays/close-session.json")
    for relative in (*documents, *COMMITTED):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, tmp_path / relative)
    (tmp_path / "schemas/contract.schema.json").write_bytes((ROOT / "schemas/contract.schema.json").read_bytes())
    return tmp_path


def derived_contract(text: str, name: str = "doc.md") -> dict[str, Any]:
    return derive(name, text, name).contract


def errata_by_key(contract: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["key"]: e for e in contract["errata"]}


def field(contract: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in contract["fields"] if f["name"] == name)


# -- the curated Close Session contract is derive's output plus the reviewed overlay ---------------------


def test_the_committed_close_session_files_are_what_derive_makes_of_the_document(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_derive(capsys, CLOSE_SESSION, "--overlay", OVERLAY, "--out", ROOT, "--check")
    assert code == 0, out + err
    assert out.splitlines()[-1] == str(ROOT / "contracts/close-session.json")


def test_derive_writes_the_committed_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "docs/spec/close-session.md"
    doc.parent.mkdir(parents=True)
    shutil.copy(CLOSE_SESSION, doc)
    shutil.copy(CODE_PAGE, doc.parent)  # derive finds the Error Code page in the document's folder
    code, out, _ = run_derive(capsys, doc, "--overlay", OVERLAY, "--out", tmp_path)
    assert code == 0
    for relative in COMMITTED:
        assert (tmp_path / relative).read_text() == (ROOT / relative).read_text(), relative
    assert out.splitlines()[-1] == str(tmp_path / "contracts/close-session.json")


def test_without_the_error_code_page_beside_it_derive_writes_no_code_table_unless_given_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    committed = json.loads((ROOT / "contracts/close-session.json").read_text())
    doc = tmp_path / "docs/spec/close-session.md"
    doc.parent.mkdir(parents=True)
    shutil.copy(CLOSE_SESSION, doc)
    code, _, _ = run_derive(capsys, doc, "--overlay", OVERLAY, "--out", tmp_path)
    assert code == 0
    alone = json.loads((tmp_path / "contracts/close-session.json").read_text())
    assert "codes" not in alone and load_contract(tmp_path / "contracts/close-session.json").codes is None
    assert all("Error-Code" not in rule["source"] for rule in alone["rules"])
    assert {k: v for k, v in alone.items() if k != "rules"} == {
        k: v for k, v in committed.items() if k not in ("codes", "rules")
    }

    page = tmp_path / "pages/Error-Code-1.md"  # elsewhere: only --codes finds it
    page.parent.mkdir()
    shutil.copy(CODE_PAGE, page)
    code, _, _ = run_derive(capsys, doc, "--overlay", OVERLAY, "--out", tmp_path, "--codes", page)
    assert code == 0
    given = json.loads((tmp_path / "contracts/close-session.json").read_text())
    assert given["codes"] == {**committed["codes"], "source": "pages/Error-Code-1.md"}
    assert {k: v for k, v in given.items() if k not in ("codes", "rules")} == {
        k: v for k, v in committed.items() if k not in ("codes", "rules")
    }


def test_a_changed_document_is_caught_as_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = copy_project(tmp_path)
    doc = project / "docs/spec/close-session.md"
    doc.write_text(doc.read_text().replace("| optional |", "| Required |", 1))  # gameId becomes required
    code, out, err = run_derive(capsys, doc, "--overlay", project / "contracts/overlays/close-session.json",
                                "--out", project, "--check")  # fmt: skip
    assert code == 1
    assert f"differs: {project / 'contracts/close-session.json'}" in out
    assert f"differs: {project / 'schemas/close-session.request.schema.json'}" in out
    assert err.count("\n") == 1 and "differ" in err


def test_an_overlay_reviewing_a_contradiction_the_document_no_longer_has_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "close-session.md"
    doc.write_text(CLOSE_SESSION.read_text().replace("| error  |  string   |", "| error  |  integer   |"))
    code, out, err = run_derive(capsys, doc, "--overlay", OVERLAY, "--out", tmp_path)
    assert code == 4
    assert err.count("\n") == 1
    assert "reviewed.response.error.type: derive no longer finds this in the document" in err
    assert not (tmp_path / "contracts").exists()


def test_the_overlay_keeps_reviewed_ids_and_numbers_new_findings_after_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "close-session.md"
    doc.write_text(CLOSE_SESSION.read_text().replace('"userId": "tester"', '"userId": 12345'))
    code, out, _ = run_derive(capsys, doc, "--overlay", OVERLAY, "--out", tmp_path)
    assert code == 0
    contract = json.loads((tmp_path / "contracts/close-session.json").read_text())
    ids = {e.get("key", e["id"]): (e["id"], e.get("review")) for e in contract["errata"]}
    assert ids["response.error.type"] == ("E1", False)
    assert ids["request.userId.encoding"] == ("E10", False)
    assert ids["request.userId.type"] == ("E11", True)  # new: after the overlay's ids, marked for review
    assert "E11 (line 19, needs review): userId is typed 'string', yet the example sends 12345" in out


# -- contradictions: each kind becomes an erratum quoting its clause, with DESIGN.md's decision ---------


def _close_session(old: str, new: str) -> str:
    text = CLOSE_SESSION.read_text()
    assert old in text
    return text.replace(old, new, 1)


def _get_balance(*replacements: tuple[str, str]) -> str:
    """The real Get Balance page as `derive` reads it from disk: decoded bytes, so its \\r\\n line ends stay
    (`read_text()` would turn them into \\n); then each (old, new) replaced once, and each old must be there."""
    text = GET_BALANCE.read_bytes().decode("utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


CONTRADICTIONS = {
    "string typed, example a number (E1)": (
        _close_session('"userId": "tester"', '"userId": 12345'),
        "request.userId.type", "as DESIGN.md E1: accept a JSON integer or a string of its digits",
    ),
    "decimal typed, example a string (E2)": (
        _close_session("| gameId       |string|", "| gameId       |decimal|"),
        "request.gameId.type", "as DESIGN.md E2: a string, as the example shows",
    ),
    "in the example, not in the table": (
        _close_session('"uuid": "<uuid>"', '"uuid": "<uuid>",\n    "channel": "web"'),
        "request.channel.not-in-table", "the suite sends it as the example shows",
    ),
    "required, missing from the example": (
        _close_session('    "userId": "tester",\n', ""),
        "request.userId.not-in-example", "never demands a refusal when it is missing",
    ),
    "damaged encoding": (CLOSE_SESSION.read_text(), "request.userId.encoding", "read as 'Operator’s'"),
    "damaged encoding in the prose": (_close_session("of the player.", "of the playerâ€™s account."),
                                      "text.playerâ€™s.encoding", "read as 'player’s'"),
    "a remark that is neither Required nor optional": (
        _close_session("| Required |\n| gameId", "| see notes |\n| gameId"),
        "request.secureLogin.remark", "its absence is not judged",
    ),
    "an unknown data type": (
        _close_session("| uuid                |  string   |", "| uuid                |  guidish   |"),
        "request.uuid.unknown-type", "its type is not judged",
    ),
    "response: required, missing from the example": (
        _get_balance(('"success",\r\n    "balance": "1000"\r\n', '"success"\r\n')),
        "response.balance.not-in-example", "optional: checked only when present",
    ),
    "response: string typed, example a number": (
        _get_balance(('"balance": "1000"', '"balance": 1000')),  # balance is typed string on the page
        "response.balance.type", "as DESIGN.md E1: accept a JSON integer or a string of its digits",
    ),
}  # fmt: skip


@pytest.mark.parametrize("kind", CONTRADICTIONS)
def test_each_contradiction_is_a_numbered_erratum_marked_for_review(kind: str, tmp_path: Path) -> None:
    text, key, decision = CONTRADICTIONS[kind]
    contract = derived_contract(text)
    erratum = errata_by_key(contract)[key]
    assert decision in erratum["decision"]
    assert re.fullmatch(r"E[0-9]+", erratum["id"]) and erratum["review"] is True
    line = text.splitlines()[erratum["line"] - 1]
    assert erratum["clause"] == " ".join(line.split())  # the clause is quoted as the document has it
    # and the result is a contract the suite loads
    _write_and_load(tmp_path, text)


def _write_and_load(tmp_path: Path, text: str) -> None:
    derived = derive("doc.md", text, "doc.md")
    (tmp_path / "contracts").mkdir(exist_ok=True)
    (tmp_path / "schemas").mkdir(exist_ok=True)
    (tmp_path / "schemas" / f"{derived.name}.request.schema.json").write_text(json.dumps(derived.request_schema))
    (tmp_path / "schemas" / f"{derived.name}.response.schema.json").write_text(json.dumps(derived.response_schema))
    path = tmp_path / "contracts" / f"{derived.name}.json"
    path.write_text(json.dumps(derived.contract))
    load_contract(path)


def test_a_string_field_with_a_numeric_example_accepts_both_forms_and_is_sent_as_the_example() -> None:
    contract = derived_contract(CONTRADICTIONS["string typed, example a number (E1)"][0])
    user = field(contract, "userId")
    assert user["type"] == ["integer", "string"] and user["example"] == 12345


def test_a_field_only_in_the_example_is_sent_but_never_judged() -> None:
    contract = derived_contract(CONTRADICTIONS["in the example, not in the table"][0])
    channel = field(contract, "channel")
    assert channel["example"] == "web" and channel["required"] is True
    assert channel["judge_missing"] is False and channel["judge_type"] is False


def test_a_required_field_missing_from_the_example_is_sent_but_its_absence_is_not_judged() -> None:
    derived = derive("doc.md", CONTRADICTIONS["required, missing from the example"][0], "doc.md")
    user = field(derived.contract, "userId")
    assert user["required"] is True and user["judge_missing"] is False
    assert "userId" in derived.request_schema["required"]


def test_a_decimal_response_field_typed_in_error_follows_design_e2() -> None:
    # the description row typed decimal, as the provider's Close Session page types it (DESIGN.md E2)
    text = _get_balance(("| description |string| Response status", "| description |decimal| Response status"))
    derived = derive(GET_BALANCE.name, text, GET_BALANCE.name)
    errata = errata_by_key(derived.contract)
    # the page's own two contradictions, and the one the replacement made
    assert list(errata) == ["response.error.type", "response.description.type", "document.unclosed-fence"]
    erratum = errata["response.description.type"]
    assert "optional; when present it must be a string" in erratum["decision"] and erratum["review"] is True
    assert erratum["clause"] == " ".join(text.splitlines()[erratum["line"] - 1].split())
    assert erratum["clause"] == "| description |decimal| Response status short description. | Optional |"
    schema = derived.response_schema
    description = {"type": "string", "description": "Response status short description."}
    assert schema["properties"]["description"] == description
    assert schema["properties"]["balance"]["type"] == "string"  # as the page types it, and its example "1000"
    # balance is required on success only: an error answer carries the code and description alone
    assert schema["required"] == ["error"] and schema["then"] == {"required": ["balance"]}
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"error": 4, "description": "authentication failed"})
    assert validator.is_valid({"error": "0", "balance": "1000"})  # no description: it is optional
    assert not validator.is_valid({"error": 0, "description": "success"})  # success without a balance
    assert not validator.is_valid({"error": 0, "description": 1.5, "balance": "1000"})  # when present, a string
    assert not validator.is_valid({"error": "0", "balance": 1000})  # the balance is a string


# -- the document's pieces ---------------------------------------------------------------------------


def test_method_path_fields_and_examples_come_from_the_document() -> None:
    derived = derive(GET_BALANCE.name, _get_balance(), GET_BALANCE.name)
    contract = derived.contract
    assert derived.name == "get-balance" and contract["method"] == "GetBalance"
    assert contract["http"] == {"method": "POST", "path": "/transfer/GetBalance", "content_type": "application/json"}
    assert [(f["name"], f["role"], f["required"]) for f in contract["fields"]] == [  # the table's order
        ("secureLogin", "credential", True),
        ("userId", "value", True),
        ("currency", "value", True),
        ("uuid", "request_id", True),
        ("token", "credential", True),
    ]
    assert field(contract, "token")["secret"] is True and "example" not in field(contract, "token")  # a placeholder
    assert field(contract, "currency")["example"] == "USD" and "option" not in field(contract, "currency")
    assert field(contract, "userId")["option"] == "user_id" and field(contract, "userId")["example"] == "tester"
    assert field(contract, "currency")["source"] == "Request Parameters (line 15): currency | string | Required"
    assert contract["response_example"] == {"error": 0, "description": "success", "balance": "1000"}


@pytest.mark.parametrize("doc", [CLOSE_SESSION, GET_BALANCE], ids=lambda p: p.stem)
def test_the_documents_own_examples_satisfy_the_derived_schemas(doc: Path) -> None:
    text = doc.read_bytes().decode("utf-8")  # line ends as on disk (Get Balance's are CRLF)
    derived = derive(doc.name, text, doc.name)
    # a block left open at the end of the file (Get Balance's response example) ends there
    blocks = re.findall(r"``` json\r?\n(.*?)(?:```|\Z)", text, re.S)
    request, response = (json.loads(b) for b in blocks)
    request = {k: "x" if is_placeholder(v) else v for k, v in request.items()}
    jsonschema.Draft202012Validator(derived.request_schema).validate(request)
    jsonschema.Draft202012Validator(derived.response_schema).validate(response)


@pytest.mark.parametrize(
    ("written", "json_type"),
    [("string", "string"), ("decimal", "number"), ("Decimal(10,2)", "number"), ("integer", "integer"),
     ("long", "integer"), ("boolean", "boolean"), ("bool", "boolean"), ("varchar(32)", "string"),
     ("string[]", "array"), ("object", "object"), ("datetime", "string"), ("bogus", None)],
)  # fmt: skip
def test_document_types_map_to_json_schema_types(written: str, json_type: str | None) -> None:
    assert doc_type_to_json(written) == json_type


MESSY = """Some words before the title.

# Get Balance

Text between things.

## Request
### Request Parameters
Name | Data Type | Description | Remark
---|:---:|---|---
  secureLogin   |  string |partner Id<br/>for authentication|**Required**
userId|string|the user `id`|Required
token|string|token<br>of the partner|Required
currency  | string | currency code \\| ISO 4217 | Optional
uuid|string|a unique id|required

A paragraph after the table.

METHOD and URL together:

~~~
POST https://<API URL>/v1/GetBalance
~~~

~~~json
{
  "secureLogin": <partnerId>,
  "userId": "tester",
  "token": <token>,
  "currency": "EUR",  // the player's currency when absent
  "uuid": <uuid>,
}
~~~

## Response

| Name | Data Type | Description | Remark |
| :--- | :-------: | ----------- | -----: |
| error | integer | Code of error | Required |
| description | string | short description | Optional |
| balance | decimal | balance | Required |
"""


def test_a_request_id_is_found_by_its_description_when_it_is_not_called_uuid() -> None:
    contract = derived_contract(_get_balance(("| uuid ", "| requestRef "), ('"uuid"', '"requestRef"')))
    assert field(contract, "requestRef")["role"] == "request_id"
    assert field(contract, "secureLogin")["mock_value"] == "kyren-mock-partner"


def test_documents_as_they_really_look_are_read() -> None:
    contract = derived_contract(MESSY)
    assert contract["http"]["path"] == "/v1/GetBalance" and contract["http"]["method"] == "POST"
    assert [f["name"] for f in contract["fields"]] == ["secureLogin", "userId", "token", "currency", "uuid"]
    assert [f["required"] for f in contract["fields"]] == [True, True, True, False, True]
    assert field(contract, "secureLogin")["description"] == "partner Id for authentication"
    assert field(contract, "currency")["description"] == "currency code | ISO 4217"
    assert field(contract, "currency")["example"] == "EUR"
    assert "response_example" not in contract  # the optional section is missing: fine, but 0 is an assumption
    assert [e["key"] for e in contract["errata"]] == ["response.error.success-code"]


def test_a_table_without_type_or_remark_column_is_read_leniently_and_says_so() -> None:
    text = _close_session("|Data Type|", "|Kind|").replace("|Remark |", "|Notes |")
    contract = derived_contract(text)
    errata = errata_by_key(contract)
    assert errata["request.table.no-type-column"]["line"] == 15
    assert "no field's type is judged" in errata["request.table.no-type-column"]["decision"]
    assert "every field is optional" in errata["response.table.no-remark-column"]["decision"]
    user = field(contract, "userId")
    assert (user["type"], user["judge_type"], user["required"]) == ("string", False, True)  # remark still read
    assert not any(k.endswith("unknown-type") for k in errata)  # one erratum for the table, not one per field


def test_error_examples_schemeless_urls_other_headers_and_qualified_remarks_are_read() -> None:
    text = _get_balance(
        ("https://<API URL>/transfer/GetBalance", "{API_URL}/transfer/GetBalance"),
        ("Content-Type: application/json", "Accept: application/json\r\nContent-Type: application/json"),
        ("| Currency of the user.                                        |      Required |",
         "| Currency of the user. | Optional (player currency when absent) |"),
        ("### Example of Json BODY",
         '### Example of an error\r\n\r\n```json\r\n{"error": 7, "description": "x"}\r\n```\r\n\r\n### OK'),
    )  # fmt: skip
    contract = derived_contract(text)
    assert contract["http"]["path"] == "/transfer/GetBalance"
    assert contract["http"]["content_type"] == "application/json"
    assert field(contract, "currency")["required"] is False  # the page says Required: the qualified remark was read
    # the successful example, not the error one
    assert contract["response_example"] == {"error": 0, "description": "success", "balance": "1000"}
    # the page's own two errata, and nothing about the URL, the headers, the remark or the second example
    assert [e["key"] for e in contract["errata"]] == ["response.error.type", "document.unclosed-fence"]


# -- documents derive cannot read: one line naming the line, exit 4, nothing written ------------------

BROKEN = {
    "a stray of another API family": (
        _close_session("| error  |  string   |           Code of error", "| status  |  string   |  OK or Failed")
        .replace('"error": 0', '"status": "OK"'),
        r"doc\.md:59: not a method document: .* no result-code field .* a status field, as another API family",
    ),
    "an overview page": ("# Integration API\n\nAn HTTP listener.\n", r"doc\.md: not a method document: an overview"),
    "no URL": (_close_session("https://<API URL>/v1/CloseSession", "see your account manager"), r"no URL found"),
    "a GET method": (_close_session("``` http\nPOST", "``` http\nGET"), r"doc\.md:28: method GET"),
    "no title": ("just text\n", r"doc\.md: no title"),
    "a URL without a method name": (_close_session("/v1/CloseSession", "/v1/Close-Session"), r"not a method name"),
}  # fmt: skip


def test_a_code_block_left_open_at_the_end_closes_there_with_an_erratum() -> None:
    text = _close_session('  "description": "Success"\n}\n```', '  "description": "Success"\n}')
    contract = derived_contract(text)
    assert errata_by_key(contract)["document.unclosed-fence"]["line"] == 66
    assert contract["response_example"]["description"] == "Success"  # the block's text is still read


def test_an_example_with_no_single_repair_is_not_used_and_the_tables_still_derive() -> None:
    contract = derived_contract(_close_session('"gameId": "6_speed_baccarat1",', '"gameId": 6_speed,'))
    erratum = errata_by_key(contract)["request.example.unreadable"]
    assert erratum["line"] == 44 and "6_speed" in erratum["document"] and "not used" in erratum["decision"]
    assert "example" not in field(contract, "gameId") and field(contract, "userId")["required"] is True


@pytest.mark.parametrize("kind", BROKEN)
def test_an_unreadable_document_gets_one_line_naming_the_line(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, message = BROKEN[kind]
    doc = tmp_path / "doc.md"
    doc.write_text(text)
    code, out, err = run_derive(capsys, doc, "--out", tmp_path)
    assert code == 4, out + err
    assert err.count("\n") == 1 and err.startswith("kyren-conformance derive: "), err
    assert re.search(message, err), err
    assert not (tmp_path / "contracts").exists()


def test_a_document_that_is_not_utf8_names_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "doc.md"
    doc.write_bytes(CLOSE_SESSION.read_text().replace("Operatorâ€™s", "Operator’s").encode("cp1252"))
    code, _, err = run_derive(capsys, doc, "--out", tmp_path)
    assert (code, err) == (4, f"kyren-conformance derive: {doc}:19: not UTF-8 (byte 0x92)\n")


def test_a_missing_document_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_derive(capsys, tmp_path / "nope.md", "--out", tmp_path)
    assert code == 4 and err.count("\n") == 1 and "nope.md: cannot read it (No such file or directory)" in err


@pytest.mark.parametrize("args", [[], ["doc.md", "--bogus"]], ids=["no document", "unknown flag"])
def test_bad_arguments_get_one_line_and_exit_4(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["derive", *args])
    assert exited.value.code == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("kyren-conformance derive: ")


def test_an_invalid_overlay_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    overlay = tmp_path / "overlay.json"
    overlay.write_text(json.dumps({"reviewed": {"response.error.type": "first"}}))
    code, _, err = run_derive(capsys, CLOSE_SESSION, "--overlay", overlay, "--out", tmp_path)
    assert code == 4 and err.count("\n") == 1
    assert "reviewed/response.error.type" in err and "does not match" in err


# -- never a crash: whatever the document, derive gives a contract or one DocumentError -----------------

_NOISE = st.sampled_from(["|", "```", "~~~", "#", "{", "}", '"', ":", "<br/>", "<", ">", "\\", "-", " ", "\x00", "é"])


@st.composite
def damaged_documents(draw: st.DrawFn, document: Path) -> str:
    lines = document.read_text().splitlines()
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "insert", "replace"]))
        if action == "delete":
            del lines[at]
        elif action == "duplicate":
            lines.insert(at, lines[at])
        else:
            text = lines[at]
            cut = draw(st.integers(0, len(text)))
            noise = "".join(draw(st.lists(_NOISE, min_size=1, max_size=4)))
            lines[at] = text[:cut] + noise + (text[cut:] if action == "insert" else text[cut + 1 :])
        if not lines:
            break
    return "\n".join(lines)


@pytest.mark.parametrize("document", [CLOSE_SESSION, GET_BALANCE], ids=lambda p: p.stem)
@settings(max_examples=300, deadline=None, database=None)
@given(data=st.data())
def test_a_damaged_document_gives_a_contract_or_one_clear_error(document: Path, data: st.DataObject) -> None:
    text = data.draw(damaged_documents(document))
    try:
        derive("doc.md", text, "doc.md")
    except DocumentError as exc:
        assert str(exc).startswith("doc.md") and "\n" not in str(exc)
        return
    with tempfile.TemporaryDirectory() as folder:  # and what it derives, the suite loads
        _write_and_load(Path(folder), text)
