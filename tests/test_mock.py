"""The reference mock over real HTTP on loopback: the conformant behaviour the suite is calibrated against."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests

from kyren_conformance.contract import Contract, Field, load_contract
from kyren_conformance.mock import MockServer
from kyren_conformance.mock.cli import run_mock
from kyren_conformance.resources import data_dir, default_contract_path

DROP = object()  # an override that removes the field from the body


@pytest.fixture(scope="module")
def contract() -> Contract:
    # Without the provider's code table the mock answers its own built-in codes (1-9), which these tests pin.
    return replace(load_contract(default_contract_path()), codes=None)


@pytest.fixture(scope="module")
def shipped() -> Contract:
    """The shipped contract, with the provider's code table (its Error Code page)."""
    shipped = load_contract(default_contract_path())
    assert shipped.codes is not None, "the shipped Close Session contract carries the Error Code page's table"
    return shipped


def contract_without_codes(tmp_path: Path) -> Path:
    """A copy of the shipped contract's JSON without its code table, with the schemas folder beside it."""
    raw = json.loads(default_contract_path().read_text())
    assert raw.pop("codes", None) is not None
    (tmp_path / "contracts").mkdir()
    shutil.copytree(data_dir("schemas"), tmp_path / "schemas")
    path = tmp_path / "contracts" / default_contract_path().name
    path.write_text(json.dumps(raw))
    return path


@pytest.fixture
def server(contract: Contract) -> Iterator[MockServer]:
    with MockServer(contract) as server:
        yield server


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def valid_body(contract: Contract, server: MockServer, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = dict(server.credentials)
    rid = contract.request_id_field
    if rid is not None:
        body[rid.name] = str(uuid.uuid4())
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not DROP}


def post(session: requests.Session, contract: Contract, server: MockServer, body: Any = None, **kw: Any) -> Any:
    """POST and return the decoded JSON answer, after checking the envelope every answer must have."""
    response = session.request(contract.http_method, server.url + contract.http_path, json=body, timeout=5, **kw)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert int(response.headers["Content-Length"]) == len(response.content)
    document = response.json()
    assert isinstance(document, dict) and isinstance(document[contract.code_field], int)
    return document


def code(contract: Contract, document: dict[str, Any]) -> int:
    return int(document[contract.code_field])


def _fields(contract: Contract, *, secret: bool | None = None, role: str | None = None) -> list[Field]:
    return [f for f in contract.fields if (secret is None or f.secret == secret) and (role is None or f.role == role)]


def test_valid_request_succeeds_with_and_without_optional_fields(contract, server, session):
    full = post(session, contract, server, valid_body(contract, server))
    assert full == {contract.code_field: 0, contract.description_field: "Success"}
    optional = {f.name: DROP for f in contract.fields if not f.required}
    assert optional, "the contract has an optional field to leave out"
    assert code(contract, post(session, contract, server, valid_body(contract, server, **optional))) == 0


def test_any_value_of_a_value_field_is_accepted(contract, server, session):
    values = {f.name: f"someone-else-{i}" for i, f in enumerate(_fields(contract, role="value"))}
    assert code(contract, post(session, contract, server, valid_body(contract, server, **values))) == 0


@pytest.mark.parametrize("name", [f.name for f in load_contract(default_contract_path()).required_fields])
def test_each_missing_required_field_gets_2(contract, server, session, name):
    document = post(session, contract, server, valid_body(contract, server, **{name: DROP}))
    assert code(contract, document) == 2
    assert name in document[contract.description_field]


@pytest.mark.parametrize("bad", [123, 1.5, True, False, None, [], ["x"], {}, {"a": "b"}], ids=repr)
@pytest.mark.parametrize("name", [f.name for f in load_contract(default_contract_path()).fields])
def test_each_wrong_type_gets_3(contract, server, session, name, bad):
    assert code(contract, post(session, contract, server, valid_body(contract, server, **{name: bad}))) == 3


@pytest.mark.parametrize("name", [f.name for f in load_contract(default_contract_path()).fields])
def test_empty_string_gets_3(contract, server, session, name):
    assert code(contract, post(session, contract, server, valid_body(contract, server, **{name: ""}))) == 3


def test_valid_value_wrapped_in_an_array_gets_3(contract, server, session):
    for f in _fields(contract, role="credential"):
        wrapped = {f.name: [server.credentials[f.name]]}
        assert code(contract, post(session, contract, server, valid_body(contract, server, **wrapped))) == 3


def _near_misses(value: str) -> list[str]:
    return ["wrong-" + uuid.uuid4().hex, value[:-1], value + "x", value.swapcase(), value.upper(), " " + value]


@pytest.mark.parametrize("name", [f.name for f in load_contract(default_contract_path()).credential_fields])
def test_wrong_credential_gets_4(contract, server, session, name):
    for wrong in _near_misses(server.credentials[name]):
        if wrong == server.credentials[name]:
            continue
        document = post(session, contract, server, valid_body(contract, server, **{name: wrong}))
        assert code(contract, document) == 4, wrong
        assert document[contract.description_field] == "authentication failed"
        assert server.credentials[name] not in json.dumps(document)


def test_types_are_checked_before_credentials(contract, server, session):
    secret = _fields(contract, secret=True)[0].name
    assert code(contract, post(session, contract, server, valid_body(contract, server, **{secret: 42}))) == 3


def test_configured_credentials_are_honoured(contract):
    given = {f.name: f"given-{f.name}" for f in contract.fields if f.role != "request_id"}
    with MockServer(contract, credentials=given) as server, requests.Session() as session:
        assert server.credentials == given
        assert code(contract, post(session, contract, server, valid_body(contract, server))) == 0


def test_default_credentials_use_mock_values_and_a_random_secret(contract):
    first, second = MockServer(contract).credentials, MockServer(contract).credentials
    for f in contract.fields:
        if f.role == "request_id":
            assert f.name not in first
        elif f.mock_value or f.example:  # the document's example when the contract gives no mock value
            assert first[f.name] == (f.mock_value or f.example)
        else:
            assert len(first[f.name]) >= 24 and first[f.name] != second[f.name]


def test_bad_credentials_argument_is_refused(contract):
    with pytest.raises(ValueError, match="unknown field"):
        MockServer(contract, credentials={"no-such-field": "x"})
    with pytest.raises(ValueError, match="loopback"):
        MockServer(contract, host="0.0.0.0")


@pytest.mark.parametrize(
    "raw",
    [b"not json", b'{"truncated": ', b"", b"[]", b'["a"]', b'"text"', b"42", b"null", b"\xff\xfe", b"[" * 100_000],
    ids=["text", "truncated", "empty", "array", "array2", "string", "number", "null", "not-utf8", "deep"],
)
@pytest.mark.parametrize("content_type", ["application/json", None, "text/plain"])
def test_malformed_bodies_get_1_as_json(contract, server, session, raw, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    url = server.url + contract.http_path
    response = session.post(url, data=raw, headers=headers, timeout=5)
    assert response.status_code == 200
    assert response.json() == {contract.code_field: 1, contract.description_field: response.json()["description"]}
    assert response.json()[contract.description_field].startswith("malformed body")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_any_content_type_is_read_as_json(contract, server, session, content_type):
    data = json.dumps(valid_body(contract, server)).encode()
    headers = {"Content-Type": content_type} if content_type else {}
    response = session.post(server.url + contract.http_path, data=data, headers=headers, timeout=5)
    assert response.json()[contract.code_field] == 0


def test_too_large_body_is_refused_with_json(contract, server, session):
    response = session.post(server.url + contract.http_path, data=b"x" * (2 << 20), timeout=5)
    assert response.status_code == 413 and response.json()[contract.code_field] == 1


def test_unknown_fields_long_values_and_odd_characters_are_handled(contract, server, session):
    value_field = _fields(contract, role="value")[0].name
    secret = _fields(contract, secret=True)[0].name
    cases = [
        (valid_body(contract, server, extra="x", another={"nested": [1, 2]}), 0),
        (valid_body(contract, server, **{value_field: "u" * 8192}), 0),
        (valid_body(contract, server, **{value_field: "tëster ☃ \U0001f600 \x00\x07\n"}), 0),
        (valid_body(contract, server, **{secret: "t" * 8192}), 4),
        (valid_body(contract, server, **{secret: "\x00\ud800 ☃"}), 4),
    ]
    for body, expected in cases:
        assert code(contract, post(session, contract, server, body)) == expected


def test_repeated_request_id_gets_the_same_answer(contract, server, session):
    valid = valid_body(contract, server)
    assert post(session, contract, server, valid) == post(session, contract, server, valid)
    secret = _fields(contract, secret=True)[0].name
    wrong = valid_body(contract, server, **{secret: "wrong"})
    first = post(session, contract, server, wrong)
    assert code(contract, first) == 4
    # The answer is remembered by request id: even a corrected repeat gets the first answer again.
    corrected = dict(wrong, **{secret: server.credentials[secret]})
    assert post(session, contract, server, corrected) == first


def test_request_count_counts_every_request(contract, server, session):
    assert server.request_count == 0
    post(session, contract, server, valid_body(contract, server))
    session.get(server.url + "/elsewhere", timeout=5)
    session.post(server.url + contract.http_path, data=b"nope", timeout=5)
    assert server.request_count == 3


def test_other_paths_and_methods_get_json_404_and_405(contract, server, session):
    missing = session.post(server.url + "/v1/NoSuchMethod", json={}, timeout=5)
    assert missing.status_code == 404 and missing.json()[contract.code_field] != 0
    wrong_method = session.get(server.url + contract.http_path, timeout=5)
    assert wrong_method.status_code == 405 and wrong_method.json()[contract.code_field] != 0
    assert wrong_method.headers["Allow"] == contract.http_method
    odd = session.request("BREW", server.url + contract.http_path, timeout=5)
    assert odd.status_code == 405 and odd.json()[contract.code_field] != 0


def test_query_string_does_not_change_the_route(contract, server, session):
    url = server.url + contract.http_path + "?trace=1"
    assert session.post(url, json=valid_body(contract, server), timeout=5).json()[contract.code_field] == 0


def test_keep_alive_serves_two_requests_on_one_connection(contract, server):
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        sockets = []
        for _ in range(2):
            body = json.dumps(valid_body(contract, server))
            connection.request(contract.http_method, contract.http_path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            assert json.loads(response.read())[contract.code_field] == 0
            assert response.getheader("Connection") is None
            sockets.append(connection.sock)
        assert sockets[0] is not None and sockets[0] is sockets[1]
    finally:
        connection.close()


def test_concurrent_requests_are_served_quickly(contract, server):
    def one(_: int) -> int:
        with requests.Session() as s:
            return sum(code(contract, post(s, contract, server, valid_body(contract, server))) for _ in range(10))

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(one, range(8))) == 0
    assert time.monotonic() - started < 3
    assert server.request_count == 80


def test_stop_is_prompt_with_idle_keep_alive_connections(contract):
    server = MockServer(contract).start()
    session = requests.Session()
    post(session, contract, server, valid_body(contract, server))
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.url
    session.close()


def test_a_made_up_contract_drives_the_mock(tmp_path: Path):
    shipped = json.loads(default_contract_path().read_text())
    shipped["method"] = "EndRound"
    shipped["http"] = {"method": "PUT", "path": "/api/v2/EndRound", "content_type": "application/json"}
    shipped["result"] = {"code_field": "status", "success_code": 100, "description_field": "message"}
    shipped.pop("response_example", None)  # it names the shipped code field
    shipped.pop("codes")  # the mock's own built-in codes (1-9) are what this test pins
    renames = {"secureLogin": "partner", "gameId": "table", "userId": "player", "token": "apiKey", "uuid": "ref"}
    for f in shipped["fields"]:
        f["name"] = renames[f["name"]]
    shipped["schemas"] = {"request": "end-round.request.json", "response": "end-round.response.json"}
    (tmp_path / "contracts").mkdir()
    (tmp_path / "schemas").mkdir()
    (tmp_path / "contracts" / "end-round.json").write_text(json.dumps(shipped))
    shutil.copy(data_dir("schemas") / "close-session.request.schema.json", tmp_path / "schemas/end-round.request.json")
    shutil.copy(
        data_dir("schemas") / "close-session.response.schema.json", tmp_path / "schemas/end-round.response.json"
    )
    made_up = load_contract(tmp_path / "contracts" / "end-round.json")

    with MockServer(made_up) as server, requests.Session() as session:
        url = server.url + "/api/v2/EndRound"
        body = dict(server.credentials, ref=str(uuid.uuid4()))
        assert set(body) == set(renames.values())
        assert session.put(url, json=body, timeout=5).json() == {"status": 100, "message": "Success"}
        assert session.put(url, json=dict(body, ref="r2", apiKey="wrong"), timeout=5).json()["status"] == 4
        missing = {k: v for k, v in body.items() if k != "player"}
        assert session.put(url, json=dict(missing, ref="r3"), timeout=5).json()["status"] == 2
        assert session.put(url, json=dict(body, ref="r4", player=7), timeout=5).json()["status"] == 3
        assert session.post(url, json=body, timeout=5).status_code == 405
        assert session.put(server.url + "/v1/CloseSession", json=body, timeout=5).status_code == 404


def test_run_mock_refuses_a_bad_fault_dialect_or_contract(tmp_path, capsys):
    assert run_mock(["--fault", "no-such-fault"]) == 4
    err = capsys.readouterr().err
    assert "no-such-fault" in err and "token-not-checked" in err and err.count("\n") == 1
    assert run_mock(["--dialect", "klingon"]) == 4
    assert "klingon" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{")
    assert run_mock(["--contract", str(tmp_path / "broken.json")]) == 4
    assert capsys.readouterr().err.count("\n") == 1
    assert run_mock(["--host", "192.0.2.1"]) == 4
    assert run_mock(["--port", "not-a-number"]) == 4


def test_run_mock_lists_faults_and_dialects(capsys):
    assert run_mock(["--list"]) == 0
    out = capsys.readouterr().out
    assert "token-not-checked" in out and "[M5]" in out and "string-codes" in out


def test_run_mock_serves_and_prints_url_and_credentials(capsys, tmp_path):
    stop = threading.Event()
    result: list[int] = []
    args = ["--dialect", "string-codes", "--contract", str(contract_without_codes(tmp_path))]  # built-in code 1
    thread = threading.Thread(target=lambda: result.append(run_mock(args, stop=stop)))
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while "Ctrl-C" not in (out := capsys.readouterr().out) and time.monotonic() < deadline:
            time.sleep(0.02)
        url = out.split(" on ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:") and "token = " in out and "dialect: string-codes" in out
        assert requests.post(url + "/v1/CloseSession", data=b"x", timeout=5).json()["error"] == "1"
    finally:
        stop.set()
        thread.join(5)
    assert result == [0]


def test_the_mock_never_imports_the_suite_engine():
    probe = "import sys, kyren_conformance.mock.cli; print(sorted(m for m in sys.modules if m.startswith('kyren_')))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    allowed = {"kyren_conformance", "kyren_conformance.contract", "kyren_conformance.resources"}
    assert {m for m in eval(out) if not m.startswith("kyren_conformance.mock")} <= allowed


def test_a_secret_example_in_the_document_never_becomes_the_mocks_secret(contract: Contract) -> None:
    """Some provider pages show `"token": "token"`: a mock taking it would accept a guessable secret."""
    from dataclasses import replace

    fields = tuple(replace(f, example="token") if f.secret else f for f in contract.fields)
    shown = replace(contract, fields=fields)
    with MockServer(shown) as server:
        secrets = [server.credentials[f.name] for f in shown.secret_fields]
    assert secrets and all(s != "token" and len(s) >= 20 for s in secrets)


# -- with the provider's code table (the shipped contract) ----------------------------------------------------


@pytest.fixture
def documented(shipped: Contract) -> Iterator[MockServer]:
    with MockServer(shipped) as server:
        yield server


def test_with_the_code_table_a_missing_or_empty_field_gets_a_missing_field_code(shipped, documented, session):
    assert shipped.codes is not None
    named = shipped.codes.kinds["missing_field"]
    for f in shipped.required_fields:
        document = post(session, shipped, documented, valid_body(shipped, documented, **{f.name: DROP}))
        assert code(shipped, document) in named, f.name
        assert f.name in document[shipped.description_field]
    for f in shipped.fields:
        document = post(session, shipped, documented, valid_body(shipped, documented, **{f.name: ""}))
        assert code(shipped, document) in named, f.name


@pytest.mark.parametrize("name", [f.name for f in load_contract(default_contract_path()).credential_fields])
def test_with_the_code_table_a_wrong_credential_gets_a_bad_credentials_code(shipped, documented, session, name):
    assert shipped.codes is not None
    named = shipped.codes.kinds["bad_credentials"]
    for wrong in _near_misses(documented.credentials[name]):
        if wrong == documented.credentials[name]:
            continue
        document = post(session, shipped, documented, valid_body(shipped, documented, **{name: wrong}))
        assert code(shipped, document) in named, wrong
        assert documented.credentials[name] not in json.dumps(document)


def test_with_the_code_table_every_code_the_mock_answers_is_in_the_table(shipped, documented, session):
    assert shipped.codes is not None
    url = documented.url + shipped.http_path
    answers: list[requests.Response] = []
    for raw in (b"not json", b'{"truncated": ', b"", b"[]", b'"text"', b"null", b"\xff\xfe", b"[" * 100_000):
        answers.append(session.post(url, data=raw, headers={"Content-Type": "application/json"}, timeout=5))
    for f in shipped.fields:
        for bad in (123, 1.5, True, None, ["x"], {"a": "b"}):
            answers.append(session.post(url, json=valid_body(shipped, documented, **{f.name: bad}), timeout=5))
    answers.append(session.post(url, data=b"x" * (2 << 20), timeout=5))
    answers.append(session.get(url, timeout=5))
    answers.append(session.post(documented.url + "/v1/NoSuchMethod", json={}, timeout=5))
    answers.append(session.post(url, json=valid_body(shipped, documented), timeout=5))
    codes = [response.json()[shipped.code_field] for response in answers]
    assert all(isinstance(c, int) for c in codes), codes
    assert codes[-1] == shipped.success_code and set(codes) != {shipped.success_code}
    undocumented = sorted({c for c in codes if c not in shipped.codes.table})
    assert undocumented == [], f"codes the provider's Error Code page does not list: {undocumented}"
