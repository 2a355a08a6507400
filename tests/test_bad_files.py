"""Issue 14: a contract or a profile file that is odd or hostile is refused in one line (ContractError), never a crash.

Invalid UTF-8, deep nesting, integers beyond Python's conversion limit, NaN, references that would make
jsonschema fetch a URL, paths holding line breaks; and a quick fuzz of both loaders with random bytes and JSON.
"""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kyren_conformance.contract import ContractError, load_contract, quoted, shown
from kyren_conformance.profile import load_profile
from kyren_conformance.resources import data_dir, default_contract_path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the shipped Close Session contract beside a copy of the shipped schemas."""
    (tmp_path / "contracts").mkdir()
    shutil.copytree(data_dir("schemas"), tmp_path / "schemas")
    shutil.copy(default_contract_path(), tmp_path / "contracts" / "close-session.json")
    return tmp_path


def _contract(folder: Path) -> Path:
    return folder / "contracts" / "close-session.json"


def _edit_json(path: Path, edit: Callable[[Any], None]) -> None:
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))


def _request_schema(folder: Path) -> Path:
    return folder / "schemas" / "close-session.request.schema.json"


def _one_line_error(path: Path, pattern: str, loader: Callable[[Path], Any] = load_contract) -> str:
    with pytest.raises(ContractError, match=pattern) as info:
        loader(path)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message and len(message) < 600, message
    return message


# --- the bytes of a file ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (b'{"method": "\xff"}', r"not UTF-8 \(byte 0xff at offset 12\)"),
        (b"\xef\xbb\xbf{}", r"not JSON \(line 1, column 1"),  # a BOM is no JSON
        (b"[" * 100_000, r"nested too deeply \(at most 64 levels\)"),  # the parser's RecursionError
        (b"[" * 65 + b"]" * 65, r"nested too deeply"),  # parses, but jsonschema and repr would recurse through it
        (b'{"method": ' + b"9" * 5000 + b"}", r"an integer of 5000 digits \(at most 64\)"),  # Python's int limit
        (b'{"method": -' + b"9" * 65 + b"}", r"an integer of 65 digits"),
        (b'{"method": NaN}', r"not JSON we accept: NaN is not JSON"),
        (b'{"method": -Infinity}', r"not JSON we accept: -Infinity is not JSON"),
        (b'{"method": 1e999}', r"the number 1e999 is too large"),
        (b"", r"not JSON \(line 1, column 1"),
    ],
)
@pytest.mark.parametrize("kind", ["contract", "profile"])
def test_a_file_of_odd_bytes_is_one_line(tmp_path: Path, kind: str, data: bytes, pattern: str) -> None:
    path = tmp_path / f"{kind}.json"
    path.write_bytes(data)
    message = _one_line_error(path, pattern, load_contract if kind == "contract" else load_profile)
    assert message.startswith(f"{kind} {path}: ")


def test_a_file_too_large_is_refused_without_reading_it_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kyren_conformance.contract.MAX_FILE_BYTES", 100_000)  # the metaschema is read too
    path = tmp_path / "contract.json"
    path.write_text(json.dumps({"method": "x" * 100_000}))
    _one_line_error(path, r"larger than 100000 bytes")
    path.write_text(json.dumps({"method": "x" * 90_000}))
    _one_line_error(path, r"\(top level\): '.*' is a required property")  # under the bound: read and validated


def test_deep_nesting_within_the_bound_loads(folder: Path) -> None:
    # A schema nested to the bound: jsonschema checks it (recursing through every level) without a RecursionError.
    nested: dict[str, Any] = {"type": "string"}
    for _ in range(60):
        nested = {"not": nested}
    _edit_json(_request_schema(folder), lambda s: s.__setitem__("$defs", {"deep": nested}))
    assert load_contract(_contract(folder)).request_schema["$defs"]["deep"]["not"]
    _edit_json(_request_schema(folder), lambda s: s["$defs"].__setitem__("deep", {"not": {"not": nested}}))
    _one_line_error(_contract(folder), r"schemas\.request: .*: nested too deeply")


# --- paths and names in messages -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bad\ncontract.json", "bad\rcontract.json", "bad\x1bcontract.json"])
def test_a_path_with_a_line_break_is_escaped_in_the_one_line(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    message = _one_line_error(path, r"cannot read it \(No such file or directory\)")
    assert message.startswith(f"contract {str(path)!r}: ")
    path.write_text("{")
    assert _one_line_error(path, r"not JSON").startswith(f"contract {str(path)!r}: ")
    assert _one_line_error(path, r"not JSON", load_profile).startswith(f"profile {str(path)!r}: ")


def test_shown_and_quoted_keep_a_message_on_one_short_line() -> None:
    assert shown("/tmp/contract.json") == "/tmp/contract.json"
    assert shown("a\nb") == "'a\\nb'"
    assert shown("bad\udcffname") == "'bad\\udcffname'"  # a non-UTF-8 file name: printing it would crash
    assert quoted("x" * 100).endswith("…") and len(quoted("x" * 100)) == 60
    assert quoted(10**5000) == "<int>"  # Python refuses to write it


def test_a_field_name_with_a_line_break_is_escaped(folder: Path) -> None:
    def edit(c: Any) -> None:
        c["fields"][0]["name"] = "secure\nLogin"
        c["fields"][0]["type"] = "integer"

    _edit_json(_contract(folder), edit)
    message = _one_line_error(_contract(folder), r"fields\('secure\\nLogin'\)\.type: a credential field must")
    assert "secure\\nLogin" in message


def test_a_huge_bad_value_is_quoted_short(folder: Path) -> None:
    _edit_json(_contract(folder), lambda c: c.__setitem__("method", ["x" * 1000] * 100))
    message = _one_line_error(_contract(folder), r"method: \['xxx.*… is not of type 'string'")
    assert len(message) < 300


@pytest.mark.parametrize("name", ["../close-session.request.schema.json", "/etc/passwd", "", "..", "a\\b.json"])
def test_a_schema_is_named_by_its_file_name_in_the_schemas_folder(folder: Path, name: str) -> None:
    _edit_json(_contract(folder), lambda c: c["schemas"].__setitem__("request", name))
    _one_line_error(_contract(folder), r"schemas\.request: .* is not a file name in the schemas folder")


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (b"\xff", r"schemas\.request: .*close-session\.request\.schema\.json: not UTF-8"),
        (b"[" * 100_000, r"schemas\.request: .*: nested too deeply"),
        (b'{"type": "object", "maxLength": ' + b"9" * 5000 + b"}", r"schemas\.request: .*: an integer of 5000 digits"),
        (b'["not", "a", "schema"]', r"schemas\.request: not a valid 2020-12 schema: \['not', 'a', 'schema'\] is not"),
    ],
)
def test_a_bad_schema_file_is_one_line(folder: Path, data: bytes, pattern: str) -> None:
    _request_schema(folder).write_bytes(data)
    assert _one_line_error(_contract(folder), pattern).startswith(f"contract {_contract(folder)}: ")


# --- references: jsonschema must never fetch a URL -------------------------------------------------


@pytest.fixture
def web() -> Iterator[tuple[str, list[str]]]:
    """A loopback server that serves a schema to any GET, and the paths it was asked for."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/schema+json")
            self.end_headers()
            self.wfile.write(b'{"type": "string"}')

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", asked
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("reference", "pattern"),
    [
        (
            {"$ref": "{url}/userId.json"},
            r"the \$ref 'http://127\.0\.0\.1:\d+/userId\.json' is neither within the schema nor a schema file",
        ),
        ({"$dynamicRef": "{url}/d.json"}, r"the \$dynamicRef .* is neither within the schema nor a schema file"),
        (
            {"$ref": "userId.json"},
            r"the \$ref 'userId\.json' is neither within the schema nor a schema file",
        ),  # relative to the remote $id
        (
            {"$ref": "file:///etc/passwd"},
            r"the \$ref 'file:///etc/passwd' is neither within the schema nor a schema file",
        ),
        ({"$ref": "{url}/x.json#/a"}, r"is neither within the schema nor a schema file"),
        ({"$ref": "absent.schema.json"}, r"the \$ref 'absent\.schema\.json' is neither within the schema nor"),
        ({"$ref": "../../etc/passwd"}, r"the \$ref '\.\./\.\./etc/passwd' is neither within the schema nor"),
        ({"$ref": "close-session.request.schema.json#/nowhere"}, r"points to nothing in the schema"),
        ({"$ref": "#/$defs/nowhere"}, r"the \$ref '#/\$defs/nowhere' points to nothing in the schema"),
        ({"$ref": "#no-such-anchor"}, r"names no \$anchor of the schema"),
    ],
)
def test_a_reference_outside_the_schema_is_refused_and_nothing_is_fetched(
    folder: Path, web: tuple[str, list[str]], reference: dict[str, str], pattern: str
) -> None:
    url, asked = web
    ref = {key: value.replace("{url}", url) for key, value in reference.items()}
    # in the response schema, where the documented example is validated at load time
    response = folder / "schemas" / "close-session.response.schema.json"
    _edit_json(response, lambda s: s["properties"].__setitem__(next(iter(s["properties"])), ref))
    _one_line_error(_contract(folder), r"schemas\.response: .*" + pattern)
    assert asked == []


def test_references_within_the_schema_still_load(folder: Path) -> None:
    def edit(schema: Any) -> None:
        name = next(iter(schema["properties"]))
        schema["$defs"] = {"text": {"$anchor": "text", "type": "string"}, "a/b~c": {"type": "string"}}
        schema["properties"][name] = {"$ref": "#/$defs/text"}
        schema["properties"]["x1"] = {"$ref": "#text"}
        schema["properties"]["x2"] = {"$ref": "#/$defs/a~1b~0c"}
        schema["properties"]["x3"] = {"$ref": "#/properties/x2"}

    _edit_json(_request_schema(folder), edit)
    contract = load_contract(_contract(folder))
    assert contract.request_schema["properties"]["x1"] == {"$ref": "#text"}


@pytest.mark.parametrize("by", ["file name", "$id"])
def test_a_reference_to_another_schema_file_of_the_folder_is_served_locally(
    folder: Path, web: tuple[str, list[str]], by: str
) -> None:
    """The other file's $id is a URL that answers: validating with the contract's registry never asks it."""
    url, asked = web
    shared = {"$id": f"{url}/schemas/shared.schema.json", "$defs": {"text": {"type": "string", "minLength": 3}}}
    (folder / "schemas" / "shared.schema.json").write_text(json.dumps(shared))
    target = "shared.schema.json" if by == "file name" else shared["$id"]

    def edit(schema: Any) -> None:
        schema["$id"] = f"{url}/schemas/close-session.response.schema.json"  # a relative name resolves to the web
        schema["properties"]["extra"] = {"$ref": f"{target}#/$defs/text"}

    _edit_json(folder / "schemas" / "close-session.response.schema.json", edit)
    contract = load_contract(_contract(folder))
    validator = jsonschema.Draft202012Validator(contract.response_schema, registry=contract.registry)
    assert validator.is_valid({"error": 0, "description": "ok", "extra": "abc"})
    assert not validator.is_valid({"error": 0, "description": "ok", "extra": "ab"})  # minLength 3 reached locally
    assert asked == []


def test_a_referenced_schema_file_is_checked_too(folder: Path) -> None:
    (folder / "schemas" / "shared.schema.json").write_text(json.dumps({"$ref": "https://example.invalid/x.json"}))
    _edit_json(_request_schema(folder), lambda s: s.__setitem__("$ref", "shared.schema.json"))
    _one_line_error(_contract(folder), r"schemas\.request -> shared\.schema\.json: the \$ref 'https://example")
    (folder / "schemas" / "shared.schema.json").write_bytes(b"\xff")
    _one_line_error(_contract(folder), r"schemas\.request: the \$ref 'shared\.schema\.json': .*: not UTF-8")


# --- fuzz: random bytes and random JSON, only the documented error -----------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


def _profile_like() -> st.SearchStrategy[Any]:
    keys = st.sampled_from(["code_table", "valid_request_codes", "p95_ms", "extra_secrets"])
    return st.dictionaries(keys, _json, max_size=4) | _json


def _contract_like() -> st.SearchStrategy[Any]:
    raw = json.loads(default_contract_path().read_text())
    paths = [("method",), ("fields", 0, "type"), ("fields", 1, "example"), ("result", "success_code"), ("codes",)]

    def mutate(where: tuple[Any, ...], value: Any) -> Any:
        document = json.loads(json.dumps(raw))
        node = document
        for part in where[:-1]:
            node = node[part]
        node[where[-1]] = value
        return document

    return st.builds(mutate, st.sampled_from(paths), _json) | _json


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.one_of(st.binary(max_size=64), _json.map(lambda v: json.dumps(v).encode())))
def test_fuzz_random_files_give_only_the_documented_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "file.json"
    path.write_bytes(data)
    for loader in (load_contract, load_profile):
        try:
            loader(path)
        except ContractError as exc:
            assert "\n" not in str(exc)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(contract=_contract_like(), profile=_profile_like())
def test_fuzz_near_valid_files_give_only_the_documented_error(
    tmp_path_factory: pytest.TempPathFactory, contract: Any, profile: Any
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "contract.json").write_text(json.dumps(contract))
    (folder / "profile.json").write_text(json.dumps(profile))
    for loader, name in ((load_contract, "contract.json"), (load_profile, "profile.json")):
        try:
            loader(folder / name)
        except ContractError as exc:
            assert "\n" not in str(exc)


def test_a_missing_or_unreadable_profile_is_one_line(tmp_path: Path) -> None:
    assert load_profile(None) == load_profile(_write_profile(tmp_path, "{}"))  # no file: the defaults
    _one_line_error(tmp_path / "absent.json", r"profile .*absent\.json: cannot read it \(No such file", load_profile)
    _one_line_error(tmp_path, r"profile .*: cannot read it \(Is a directory\)", load_profile)


def _write_profile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.json"
    path.write_text(text)
    return path


def test_a_contract_folder_with_a_line_break_in_its_name_is_one_line(tmp_path: Path) -> None:
    from kyren_conformance.resources import contract_paths

    folder = tmp_path / "no\ncontracts"
    folder.mkdir()
    with pytest.raises(ValueError, match=r"--contract '.*no\\ncontracts': a folder with no contract") as info:
        contract_paths([str(folder)])
    assert "\n" not in str(info.value)
