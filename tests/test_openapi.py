"""The OpenAPI export: generated from the contracts, valid OpenAPI 3.1, and usable by Schemathesis against the mock."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from openapi_spec_validator import OpenAPIV31SpecValidator

from kyren_conformance import openapi
from kyren_conformance.contract import Contract, ContractError, load_contract
from kyren_conformance.mock import MockServer
from kyren_conformance.openapi import build_openapi, render, run_openapi

# A made-up method whose schemas use $defs, a reference to the other schema by file name, and a
# non-zero success code: the export must carry all of it without knowing the method.
PAYOUT = {
    "contract_version": 1,
    "method": "Payout",
    "title": "Payout (made up for this test)",
    "source": {"document": "nowhere"},
    "http": {"method": "PUT", "path": "/v9/Payout", "content_type": "application/json"},
    "schemas": {"request": "payout.request.schema.json", "response": "payout.response.schema.json"},
    "result": {"code_field": "status", "success_code": 1, "description_field": "message"},
    "fields": [
        {
            "name": "operator",
            "type": "string",
            "required": True,
            "secret": False,
            "role": "credential",
            "source": "made up",
            "mock_value": "op-7",
        },
        {
            "name": "apiKey",
            "type": "string",
            "required": True,
            "secret": True,
            "role": "credential",
            "source": "made up",
            "env": "PAYOUT_API_KEY",
        },
        {
            "name": "requestRef",
            "type": "string",
            "required": True,
            "secret": False,
            "role": "request_id",
            "source": "made up",
        },
    ],
    "rules": [{"id": "M1", "level": "MUST", "title": "t", "source": "s"}],
    "errata": [{"id": "E42", "document": "says nothing", "decision": "decided something"}],
}
PAYOUT_REQUEST = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://example.invalid/schemas/payout.request.schema.json",
    "type": "object",
    "required": ["operator", "apiKey", "requestRef"],
    "properties": {name: {"$ref": "#/$defs/text"} for name in ("operator", "apiKey", "requestRef")},
    "$defs": {"text": {"type": "string", "minLength": 2}},
}
PAYOUT_RESPONSE = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://example.invalid/schemas/payout.response.schema.json",
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"oneOf": [{"type": "integer"}, {"type": "string", "pattern": "^-?[0-9]+$"}]},
        "message": {"$ref": "payout.request.schema.json#/$defs/text"},
    },
}


@pytest.fixture
def payout(tmp_path: Path) -> Contract:
    (tmp_path / "contracts").mkdir()
    (tmp_path / "schemas").mkdir()
    path = tmp_path / "contracts" / "payout.json"
    path.write_text(json.dumps(PAYOUT))
    (tmp_path / "schemas" / "payout.request.schema.json").write_text(json.dumps(PAYOUT_REQUEST))
    (tmp_path / "schemas" / "payout.response.schema.json").write_text(json.dumps(PAYOUT_RESPONSE))
    return load_contract(path)


@pytest.fixture(scope="module")
def document(contract: Contract) -> dict[str, Any]:
    return build_openapi([contract])


def _operation(document: dict[str, Any], contract: Contract) -> dict[str, Any]:
    return document["paths"][contract.http_path][contract.http_method.lower()]


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """Validates against `schema` as it sits in the document, so its `#/components/...` references resolve."""
    return jsonschema.Draft202012Validator({**schema, "components": document["components"]})


def _component(document: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    return _validator(document, {"$ref": f"#/components/schemas/{name}"})


def _response_schema(document: dict[str, Any], contract: Contract, status: str) -> dict[str, Any]:
    return dict(_operation(document, contract)["responses"][status]["content"]["application/json"]["schema"])


# -- the document ----------------------------------------------------------------------------------


def test_export_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    OpenAPIV31SpecValidator(document).validate()
    assert document["openapi"].startswith("3.1.")


def test_operation_and_request_schema_come_from_the_contract(document: dict[str, Any], contract: Contract) -> None:
    assert list(document["paths"]) == [contract.http_path]
    operation = _operation(document, contract)
    assert operation["operationId"] == contract.method
    body = operation["requestBody"]
    assert body["required"] is True
    ref = body["content"][contract.content_type]["schema"]["$ref"]
    embedded = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(embedded["properties"]) == {f.name for f in contract.fields}
    assert set(embedded["required"]) == {f.name for f in contract.required_fields}
    assert "$id" not in embedded and "$schema" not in embedded
    assert document["jsonSchemaDialect"] == "https://json-schema.org/draft/2020-12/schema"


def test_embedded_schemas_judge_bodies_as_the_originals_do(document: dict[str, Any], contract: Contract) -> None:
    example = next(
        iter(_operation(document, contract)["requestBody"]["content"][contract.content_type]["examples"].values())
    )["value"]
    first = contract.required_fields[0].name
    requests = [
        example,
        {k: v for k, v in example.items() if k != first},
        {**example, first: 7},
        {**example, first: ""},
        {**example, "unknownExtra": "x"},
        [],
    ]
    code = contract.code_field
    responses = [{code: 0}, {code: "0"}, {code: 4, "anything": 1}, {code: 1.5}, {code: "x"}, {}, "text"]
    for kind, original, instances in (
        ("Request", contract.request_schema, requests),
        ("Response", contract.response_schema, responses),
    ):
        embedded = _component(document, f"{contract.method}{kind}")
        for instance in instances:
            expected = jsonschema.Draft202012Validator(original).is_valid(instance)
            assert embedded.is_valid(instance) is expected, (kind, instance)
    assert jsonschema.Draft202012Validator(contract.request_schema).is_valid(example)


def test_statuses_documented_are_2xx_and_4xx_per_e4(document: dict[str, Any], contract: Contract) -> None:
    responses = _operation(document, contract)["responses"]
    assert set(responses) == {"2XX", "4XX"}  # no 5xx: a 5xx to a request the client got wrong is a defect
    for status in responses:
        assert responses[status]["description"]
        assert "#/components/schemas/" in json.dumps(_response_schema(document, contract, status))


def test_a_4xx_never_carries_the_success_code_m8(document: dict[str, Any], contract: Contract) -> None:
    code = contract.code_field
    ok = _validator(document, _response_schema(document, contract, "2XX"))
    error_4xx = _validator(document, _response_schema(document, contract, "4XX"))
    successes: list[dict[str, Any]] = [{code: 0}, {code: "0"}, {code: "00"}, {code: "-0"}]
    errors: list[dict[str, Any]] = [{code: 4}, {code: "4"}, {code: "10"}, {code: -3, "extra": "field"}]
    for body in successes:
        assert ok.is_valid(body) and not error_4xx.is_valid(body), body
    for body in errors:
        assert ok.is_valid(body) and error_4xx.is_valid(body), body
    assert not error_4xx.is_valid({code: True})  # still the response schema underneath


def test_credentials_are_body_fields_not_security_schemes(document: dict[str, Any], contract: Contract) -> None:
    operation = _operation(document, contract)
    assert "securitySchemes" not in document["components"]
    assert document["security"] == [] and operation["security"] == []
    credentials = operation["x-kyren-credentials"]
    assert [c["field"] for c in credentials] == [f.name for f in contract.credential_fields]
    assert {c["in"] for c in credentials} == {"body"}
    request = document["components"]["schemas"][f"{contract.method}Request"]["properties"]
    for field in contract.fields:
        assert request[field.name]["x-kyren-role"] == field.role
        assert request[field.name].get("writeOnly", False) is field.secret
    assert "securitySchemes" in document["info"]["description"]  # says why there are none
    assert "body" in operation["description"]


def test_errata_and_rules_are_exported(document: dict[str, Any], contract: Contract) -> None:
    operation = _operation(document, contract)
    assert [e["id"] for e in operation["x-kyren-errata"]] == [e.id for e in contract.errata]
    assert operation["x-kyren-errata"][0]["decision"] == contract.errata[0].decision
    assert [r["id"] for r in operation["x-kyren-rules"]] == [r.id for r in contract.rules]
    for erratum in contract.errata:
        assert f"**{erratum.id}**" in operation["description"]
    assert operation["x-kyren-contract"]["sha256"] == contract.sha256


def test_a_made_up_contract_with_references_exports_beside_close_session(contract: Contract, payout: Contract) -> None:
    document = build_openapi([contract, payout])
    OpenAPIV31SpecValidator(document).validate()
    assert set(document["paths"]) == {contract.http_path, payout.http_path}
    assert "put" in document["paths"][payout.http_path]
    request, response = _component(document, "PayoutRequest"), _component(document, "PayoutResponse")
    valid = {"operator": "op-7", "apiKey": "secret", "requestRef": "r-1"}
    assert request.is_valid(valid)
    assert not request.is_valid({**valid, "operator": "x"})  # minLength 2 reached through the rewritten $defs ref
    assert response.is_valid({"status": 3, "message": "ok"}) and not response.is_valid({"status": 3, "message": "o"})
    error_4xx = _validator(document, _response_schema(document, payout, "4XX"))
    assert not error_4xx.is_valid({"status": 1}) and not error_4xx.is_valid({"status": "01"})
    assert error_4xx.is_valid({"status": 0})
    assert _operation(document, payout)["x-kyren-errata"][0]["id"] == "E42"


def test_two_contracts_for_one_route_are_refused(contract: Contract) -> None:
    with pytest.raises(ContractError, match=re.escape(contract.http_path)):
        build_openapi([contract, contract])


def test_openapi_module_names_no_field_of_any_method(contract: Contract) -> None:
    source = Path(openapi.__file__).read_text(encoding="utf-8")
    for field in contract.fields:
        assert f'"{field.name}"' not in source and f"'{field.name}'" not in source, field.name


def test_export_does_not_change_the_contract(contract: Contract) -> None:
    before = copy.deepcopy((contract.request_schema, contract.response_schema))
    build_openapi([contract])
    assert (contract.request_schema, contract.response_schema) == before


# -- the command line ------------------------------------------------------------------------------


def test_cli_writes_json_to_stdout_by_default(capsys: pytest.CaptureFixture[str], contract: Contract) -> None:
    assert run_openapi([]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == build_openapi([contract]) and err == ""
    assert run_openapi([]) == 0
    assert capsys.readouterr().out == out  # the same bytes every run


def test_cli_writes_json_or_real_yaml_by_suffix(tmp_path: Path, contract: Contract) -> None:
    expected = build_openapi([contract])
    assert run_openapi(["--output", str(tmp_path / "api.json"), "--contract", str(contract.path)]) == 0
    assert json.loads((tmp_path / "api.json").read_text(encoding="utf-8")) == expected
    assert run_openapi(["--output", str(tmp_path / "api.yaml")]) == 0
    text = (tmp_path / "api.yaml").read_text(encoding="utf-8")
    assert text.startswith("openapi:") and "&id" not in text  # block YAML without aliases, not JSON in disguise
    assert yaml.safe_load(text) == expected


def test_cli_exports_several_contracts(tmp_path: Path, contract: Contract, payout: Contract) -> None:
    out = tmp_path / "api.json"
    assert run_openapi(["--contract", str(contract.path), "--contract", str(payout.path), "-o", str(out)]) == 0
    assert set(json.loads(out.read_text())["paths"]) == {contract.http_path, payout.http_path}


@pytest.mark.parametrize("problem", ["not-json", "missing-file", "bad-key", "same-route-twice"])
def test_cli_bad_contract_is_one_line_and_exit_4(
    problem: str, tmp_path: Path, contract: Contract, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    if problem == "not-json":
        bad.write_text("{ nope")
    elif problem == "bad-key":
        bad.write_text(json.dumps({**json.loads(contract.path.read_text()), "surprise": 1}))
    args = ["--contract", str(contract.path)] * 2 if problem == "same-route-twice" else ["--contract", str(bad)]
    assert run_openapi([*args, "--output", str(tmp_path / "api.json")]) == 4
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith("kyren-conformance openapi: ")
    assert not (tmp_path / "api.json").exists()


def test_cli_usage_errors_exit_4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_openapi(["--frobnicate"]) == 4
    assert run_openapi(["--output", str(tmp_path / "no-such-dir" / "api.json")]) == 4
    err = capsys.readouterr().err
    assert "--frobnicate" in err and "cannot write" in err


def test_render_json_without_yaml() -> None:
    assert json.loads(render({"a": "é"})) == {"a": "é"} and "é" in render({"a": "é"})


# -- Schemathesis against the reference mock and its faults ---------------------------------------

CHECKS = "not_a_server_error,response_schema_conformance"  # the checks that fit an API whose errors are body codes


def schemathesis_command(export: Path, url: str, config: Path, junit: Path) -> list[str]:
    """Small, seeded, single-worker and database-free: the same requests every run, in a few seconds."""
    return [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color",
        "run", str(export), "--url", url, "--checks", CHECKS,
        "--phases", "examples,coverage,fuzzing", "--max-examples", "20", "--seed", "1",
        "--generation-database", "none", "--workers", "1", "--request-timeout", "5",
        "--continue-on-failure", "--no-shrink",
        "--report", "junit", "--report-junit-path", str(junit),
    ]  # fmt: skip


def _failures(junit: Path) -> set[tuple[str, int]]:
    """(failure code, HTTP status) for each failure Schemathesis reported, read from its JUnit report."""
    found: set[tuple[str, int]] = set()
    for failure in ET.parse(junit).iter("failure"):
        for case in re.split(r"^\d+\. Test Case ID:", failure.text or "", flags=re.M)[1:]:
            status = re.search(r"^\[(\d{3})\]", case, flags=re.M)
            for code in re.findall(r"^- (ST\d+)", case, flags=re.M):
                found.add((code, int(status.group(1)) if status else 0))
    return found


# fault -> (failure code, HTTP status) Schemathesis must report: it sees 5xx answers and bodies the schema refuses
SIGHTINGS: dict[str, set[tuple[str, int]]] = {
    "html-500-on-malformed": {("ST101", 500)},  # ST101: server error
    "extra-field-crash": {("ST101", 500)},
    "non-ascii-crash": {("ST101", 502)},
    "non-2xx-error-zero": {("ST108", 400)},  # ST108: response violates schema (the 4XX one refuses the success code)
    "error-no-body": {("ST109", 401)},  # ST109: JSON deserialization error
}


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory, contract: Contract) -> Path:
    path = tmp_path_factory.mktemp("openapi") / "kyren.openapi.json"
    path.write_text(render(build_openapi([contract])), encoding="utf-8")
    return path


def _schemathesis(
    export: Path, contract: Contract, tmp_path: Path, fault: str | None
) -> tuple[int, set[tuple[str, int]], str]:
    """Run Schemathesis against a mock on loopback: (exit code, (code, status) failures, output)."""
    config = tmp_path / "schemathesis.toml"
    config.write_text("")  # so no schemathesis.toml of the environment changes the run
    junit = tmp_path / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCHEMATHESIS_", "HYPOTHESIS_"))}
    with MockServer(contract, fault=fault) as server:
        proc = subprocess.run(
            schemathesis_command(export, server.url, config, junit),
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=90,
        )
    output = (proc.stdout + proc.stderr)[-4000:]
    return proc.returncode, _failures(junit) if junit.exists() else set(), output


def test_schemathesis_finds_nothing_wrong_with_the_reference_mock(
    export: Path, contract: Contract, tmp_path: Path
) -> None:
    code, found, output = _schemathesis(export, contract, tmp_path, None)
    assert (code, found) == (0, set()), output


@pytest.mark.parametrize("fault", SIGHTINGS)
def test_schemathesis_finds_the_faults_it_can_see(fault: str, export: Path, contract: Contract, tmp_path: Path) -> None:
    code, found, output = _schemathesis(export, contract, tmp_path, fault)
    assert code == 1 and SIGHTINGS[fault] <= found, output
