"""derive on the provider's real pages (tests/documents/kyren/, byte-for-byte copies with CRLF, typos and
broken examples): every method page derives into a contract the suite loads, with what the page says;
every other page is refused with its reason."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import jsonschema
import pytest

from kyren_conformance.cli import main
from kyren_conformance.contract import load_contract
from kyren_conformance.derive import Derived, DocumentError, NotAMethodDocument, derive

PAGES = Path(__file__).parent / "documents/kyren"
# The provider's pages as taken (jphong125/stellaapic, Writerside/topics/, commit 48193fb): their SHA-256 sums,
# so a copy edited by hand ("tidied") fails here wherever the tests run.
SUMS = Path(__file__).parent / "documents" / "kyren" / "SHA256SUMS"

# page: (URL path, request fields in table order then the example's own, errata keys the page must produce)
METHOD_PAGES: dict[str, tuple[str, list[str], set[str]]] = {
    "Auto-Closing.md": ("/v1/Result", ["uuid", "userId", "gameId", "gameName", "roundId", "amount", "reference",
                        "currency", "providerId", "timestamp", "roundDetails"], {"request.roundDetails.type"}),
    "Balance.md": ("/v1/Balance", ["providerId", "userId", "currency", "sessionId", "uuid"],
                   {"document.unclosed-fence", "response.cash.type"}),
    "Bet.md": ("/v1/Bet", ["uuid", "userId", "gameId", "gameName", "roundId", "amount", "bonusCode", "reference",
                           "sessionId", "providerId", "currency", "timeStamp", "roundDetails", "timestamp"],
               {"request.timeStamp.spelling", "request.amount.type", "response.cash.type"}),
    "Cancel-Round-1.md": ("/v1/CancelRound", ["secureLogin", "gameId", "userId", "roundId", "token", "uuid"], set()),
    "Cancel-Round.md": ("/v1/Cancel", ["userId", "sessionId", "providerId", "gameName", "currency", "reference",
                                       "roundId", "gameId", "uuid"], {"response.cash.type"}),
    "Check.md": ("/v1/Check", ["providerId", "userId", "currency", "sessionId", "uuid"],
                 {"document.unclosed-fence", "response.error.unknown-type"}),  # `interger`
    "Close-Session.md": ("/v1/CloseSession", ["secureLogin", "gameId", "userId", "token", "uuid"], set()),
    "Create-User.md": ("/transfer/CreateUser", ["secureLogin", "userId", "userNickname", "uuid", "token"],
                       {"document.unclosed-fence"}),
    "Create-Wallet.md": ("/transfer/CreateWallet", ["secureLogin", "userId", "currency", "uuid", "token"],
                         {"document.unclosed-fence"}),
    "Deposit-Balance.md": ("/transfer/DepositBalance", ["secureLogin", "userId", "currency", "transactionId",
                                                        "amount", "uuid", "token"], {"document.unclosed-fence"}),
    "End-Round.md": ("/v1/EndRound", ["uuid", "userId", "gameId", "roundId", "providerId", "sessionId", "currency",
                                      "win"], {"request.win.type"}),
    "Get-Balance.md": ("/transfer/GetBalance", ["secureLogin", "userId", "currency", "uuid", "token"],
                       {"document.unclosed-fence"}),
    "Get-transfer-status.md": ("/transfer/GetTransferInfo", ["secureLogin", "userId", "uuid", "token"],
                               {"document.unclosed-fence", "response.transactionId.spelling"}),
    "GetCasinoCurrency.md": ("/v1/GetCasinoCurrency", ["secureLogin", "token", "uuid"],
                             {"response.Currency list.items", "response.Currency list.spelling",
                              "response.table.remark-is-description"}),
    "GetCasinoGames.md": ("/v1/GetCasinoGame", ["secureLogin", "token", "uuid"],
                          {"response.example.json-repaired", "response.gameList[].tableLimits.type",
                           "response.table.remark-is-description"}),
    "GetCasinoLanguage.md": ("/v1/GetCasinoLanguage", ["secureLogin", "token", "uuid"],
                             {"response.languageList.items", "response.languageList.spelling"}),
    "Health-Check.md": ("/v1/HealthCheck", ["secureLogin", "token", "uuid"], set()),
    "Refund.md": ("/v1/Refund", ["userId", "providerId", "gameName", "currency", "roundId", "reference", "bonusCode",
                                 "gameId", "uuid"], set()),
    "Result.md": ("/v1/Result", ["uuid", "userId", "gameId", "gameName", "roundId", "amount", "reference", "currency",
                                 "providerId", "timestamp", "roundDetails", "sessionId"], {"response.cash.type"}),
    "Session-Expired.md": ("/v1/SessionExpired", ["providerId", "sessionId", "userId", "uuid"], set()),
    "Startgame.md": ("/v1/StartGame", ["secureLogin", "token", "uuid", "userId", "userNickname", "gameId",
                                       "sessionId", "language", "betLimit", "currency", "cashierURL", "lobbyURL",
                                       "ipAddress"], {"request.betLimit.type"}),
    "User-Info.md": ("/transfer/UserInfo", ["secureLogin", "userId", "uuid", "token"],
                     {"response.example.json-repaired", "response.dateTimeLogin.spelling",
                      "response.descrition.spelling", "response.wallet.type"}),
    "Withdrawl-balance.md": ("/tranfer/WithdrawlBalance", ["secureLogin", "userId", "currency", "transactionId",
                                                           "amount", "uuid", "token"], {"document.unclosed-fence"}),
}  # fmt: skip
OVERVIEW = r"not a method document: an overview page, with no request or response parameter table"
FAMILY = r"not a method document: its response table has no result-code field .* a status field, as another API family"
NOT_METHOD_PAGES = {
    "Kyren_V1.md": OVERVIEW, "Integration-API.md": OVERVIEW, "Transfer-Wallet-API.md": OVERVIEW,
    "Seamless-Wallet-API.md": OVERVIEW, "Error-Code-1.md": OVERVIEW, "README.md": OVERVIEW,
    "UserInfo.md": FAMILY, "Cancel.md": FAMILY,
}  # fmt: skip


def derived(page: str) -> Derived:
    return derive(page, (PAGES / page).read_text(encoding="utf-8"), page)


def keys(d: Derived) -> set[str]:
    return {e.key for e in d.errata}


def write(d: Derived, out: Path) -> Path:
    for folder, name, body in (("schemas", d.contract["schemas"]["request"], d.request_schema),
                               ("schemas", d.contract["schemas"]["response"], d.response_schema),
                               ("contracts", f"{d.name}.json", d.contract)):  # fmt: skip
        (out / folder).mkdir(parents=True, exist_ok=True)
        (out / folder / name).write_text(json.dumps(body), encoding="utf-8")
    return out / "contracts" / f"{d.name}.json"


def test_every_page_is_a_byte_for_byte_copy_with_its_crlf() -> None:
    assert sorted(p.name for p in PAGES.glob("*.md")) == sorted([*METHOD_PAGES, *NOT_METHOD_PAGES])
    assert all(b"\r\n" in (PAGES / page).read_bytes() for page in METHOD_PAGES)
    sums = dict(reversed(line.split()) for line in SUMS.read_text().splitlines())
    assert sorted(sums) == sorted(p.name for p in PAGES.glob("*.md"))
    for page in PAGES.glob("*.md"):
        assert hashlib.sha256(page.read_bytes()).hexdigest() == sums[page.name], f"{page.name} is not as published"
    shipped = [p for p in (Path(__file__).parents[1] / "docs" / "spec").glob("*.md") if p.name in sums]
    assert len(shipped) >= 14  # the shipped contracts' documents, as published too
    for page in shipped:
        assert hashlib.sha256(page.read_bytes()).hexdigest() == sums[page.name], f"docs/spec/{page.name} was edited"


@pytest.mark.parametrize("page", METHOD_PAGES)
def test_each_method_page_derives_what_it_says(page: str, tmp_path: Path) -> None:
    path, fields, errata = METHOD_PAGES[page]
    d = derived(page)
    assert d.contract["http"]["path"] == path
    assert [f["name"] for f in d.contract["fields"]] == fields
    assert errata <= keys(d), sorted(keys(d))
    assert all(e.review for e in d.errata)
    contract = load_contract(write(d, tmp_path))  # the suite loads it
    if contract.response_example is not None:
        body = {**contract.response_example, contract.code_field: contract.success_code}
        jsonschema.Draft202012Validator(d.response_schema).validate(body)
    for f in d.contract["fields"]:  # a secret is never written down
        assert not f["secret"] or ("example" not in f and "mock_value" not in f)


@pytest.mark.parametrize("page", NOT_METHOD_PAGES)
def test_each_page_that_documents_no_method_is_refused_with_its_reason(
    page: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(NotAMethodDocument, match=NOT_METHOD_PAGES[page]):
        derived(page)
    code = main(["derive", str(PAGES / page), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 4 and err.count("\n") == 1 and re.search(NOT_METHOD_PAGES[page], err), err
    assert not (tmp_path / "contracts").exists()


def test_a_broken_method_page_is_a_document_error_not_a_non_method_page() -> None:
    text = (PAGES / "Balance.md").read_text(encoding="utf-8").replace("https://<API URL>/v1/Balance", "ask us")
    with pytest.raises(DocumentError, match="no URL found") as raised:
        derive("Balance.md", text, "Balance.md")
    assert not isinstance(raised.value, NotAMethodDocument)


def test_nested_tables_become_arrays_of_objects() -> None:
    d = derived("GetCasinoGames.md")
    games = d.response_schema["properties"]["gameList"]
    assert games["type"] == "array" and games["items"]["type"] == "object"
    items = games["items"]["properties"]
    assert list(items)[:3] == ["gameId", "gameName", "typeDescription"] and len(items) == 14
    assert (items["demoGameAvailable"]["type"], items["gameIdNumeric"]["type"]) == ("boolean", "integer")
    assert items["tableLimits"]["type"] == ["string", "object"]  # typed string, the example shows an object
    assert "required" not in games["items"]  # the table has no Required column: its Remark describes
    assert items["rtp"]["description"] == "RTP of the game."  # read from the column headed Remark
    repaired = {e.key: e for e in d.errata}["response.example.json-repaired"]
    for repair in ("the unquoted key minBet quoted", "a doubled comma removed", "the missing ] } added at the end"):
        assert repair in repaired.decision
    assert len(d.contract["response_example"]["gameList"]) == 3


@pytest.mark.parametrize(
    ("page", "table", "example"),
    [
        ("GetCasinoCurrency.md", "Currency list", "CurrencyList"),
        ("GetCasinoLanguage.md", "languageList", "LanguageList"),
    ],
)
def test_one_sub_row_over_a_list_of_scalars_is_a_list_of_those_scalars(page: str, table: str, example: str) -> None:
    d = derived(page)
    for name in (table, example):  # either spelling is accepted
        assert d.response_schema["properties"][name]["items"]["type"] == "string"
    assert "the example shows a list of scalars" in {e.key: e for e in d.errata}[f"response.{table}.items"].document
    validator = jsonschema.Draft202012Validator(d.response_schema)
    assert validator.is_valid({"error": 0, example: ["EUR"]})
    assert not validator.is_valid({"error": 0, example: [{"x": "EUR"}]})


def test_a_misspelt_response_field_is_paired_and_required_as_one_of_the_two() -> None:
    d = derived("Get-transfer-status.md")
    erratum = {e.key: e for e in d.errata}["response.transactionId.spelling"]
    assert "transctionId" in erratum.document and "either spelling" in erratum.decision
    validator = jsonschema.Draft202012Validator(d.response_schema)
    body = {"error": 0, "description": "ok", "currency": "USD", "amount": "1", "balance": "1"}
    assert validator.is_valid({**body, "transactionId": "t"}) and validator.is_valid({**body, "transctionId": "t"})
    assert not validator.is_valid(body)  # Required: one of the two


def test_misspelt_result_fields_are_still_found() -> None:
    d = derived("User-Info.md")
    assert d.contract["result"] == {"code_field": "error", "success_code": 0, "description_field": "description"}
    assert {"descrition", "description", "dateTimeLogin", "DateTimeLogin"} <= set(d.response_schema["properties"])
    assert "a stray ']' removed" in {e.key: e for e in d.errata}["response.example.json-repaired"].decision


def test_a_request_field_spelt_two_ways_is_sent_both_ways_and_neither_absence_judged() -> None:
    d = derived("Bet.md")
    fields = {f["name"]: f for f in d.contract["fields"]}
    for name in ("timeStamp", "timestamp"):
        assert fields[name]["required"] and fields[name]["judge_missing"] is False
        assert fields[name]["example"] == "1482429190374"
    assert "timeStamp" not in d.request_schema["required"]
    assert {"anyOf": [{"required": ["timeStamp"]}, {"required": ["timestamp"]}]} in d.request_schema["allOf"]


def test_a_decimal_shown_as_a_string_accepts_both_and_stays_required() -> None:
    d = derived("Balance.md")
    validator = jsonschema.Draft202012Validator(d.response_schema)
    assert "cash" in d.response_schema["then"]["required"]
    for cash in (99999.99, "99999.99"):
        assert validator.is_valid({"error": 0, "currency": "USD", "cash": cash})
    assert not validator.is_valid({"error": 0, "currency": "USD", "cash": "lots"})
    assert not validator.is_valid({"error": 0, "currency": "USD"})


def test_a_literal_secret_in_the_example_is_never_kept() -> None:
    text = (PAGES / "GetCasinoCurrency.md").read_text(encoding="utf-8").replace('"<token>"', '"s3cr3t-tok"')
    d = derive("doc.md", text, "doc.md")
    token = next(f for f in d.contract["fields"] if f["name"] == "token")
    assert "example" not in token and "mock_value" not in token
    assert "request.token.secret-example" in keys(d)
    assert "s3cr3t-tok" not in json.dumps([d.contract, d.request_schema, d.response_schema])


def test_every_page_of_the_folder_derives_in_one_call_and_nothing_is_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["derive", str(PAGES), "--out", str(tmp_path)]) == 0  # non-method pages are skipped, not failures
    out = capsys.readouterr().out
    assert sorted(re.findall(r"^skipped .*?/([^/:]+\.md)", out, re.M)) == sorted(NOT_METHOD_PAGES)
    contracts = sorted((tmp_path / "contracts").glob("*.json"))
    assert len(contracts) == len(METHOD_PAGES)  # one each: none overwrote another
    sources = {json.loads(p.read_text())["source"]["document"].rsplit("/", 1)[-1]: p.stem for p in contracts}
    assert sorted(sources) == sorted(METHOD_PAGES)
    assert (sources["Result.md"], sources["Auto-Closing.md"]) == ("result", "auto-closing")
    for path in contracts:
        load_contract(path)


def test_the_second_document_of_a_url_is_named_after_its_title_and_a_third_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["derive", str(PAGES / "Result.md"), "--out", str(tmp_path)]) == 0
    assert main(["derive", str(PAGES / "Auto-Closing.md"), "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("auto-closing.json")
    third = tmp_path / "Auto-Closing.md"
    third.write_bytes((PAGES / "Auto-Closing.md").read_bytes())  # the same title and URL, another document
    assert main(["derive", str(third), "--out", str(tmp_path)]) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "both are taken" in err
    assert json.loads((tmp_path / "contracts/result.json").read_text())["source"]["document"].endswith("Result.md")


def test_an_overlay_is_for_one_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    overlay = Path(__file__).parents[1] / "contracts/overlays/close-session.json"
    assert main(["derive", str(PAGES), "--overlay", str(overlay), "--out", str(tmp_path)]) == 4
    assert "--overlay applies to one document" in capsys.readouterr().err


def test_hostile_lines_read_in_linear_time() -> None:
    """A heading of 50 000 spaces, a line of 25 000 `<a`, a type cell of many `(`, a description repeating
    'unique id': polynomial regexes would hang here for minutes; linear ones derive at once."""
    text = (PAGES / "Health-Check.md").read_text(encoding="utf-8")
    text = text.replace("## Overview", "## Overview" + " " * 50_000 + "x")
    text = text.replace("HealthCheck method", "<a" * 25_000 + " HealthCheck method")
    text = text.replace("| A unique ID for each request", "| " + "unique id " * 5_000 + "for each request")
    text = text.replace("| token      |string|", "| token      |string" + "(" * 20_000 + "|")
    d = derive("doc.md", text, "doc.md")
    assert [f["name"] for f in d.contract["fields"]] == ["secureLogin", "token", "uuid"]
    assert next(f for f in d.contract["fields"] if f["name"] == "uuid")["role"] == "request_id"
    body = '{"error": 0' + ', "k": 1' * 10_000 + "\n"  # an example missing its closing brace
    broken = text.replace('{\n  "error": 0,\n  "description": "Success"\n}', body)
    assert "response.example.json-repaired" in keys(derive("doc.md", broken, "doc.md"))
