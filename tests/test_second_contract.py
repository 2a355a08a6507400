"""The engine knows no Close Session field name: a made-up method's contract runs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kyren_conformance.contract import load_contract
from kyren_conformance.mock import MockServer
from support import run_cli, target_args

CANCEL_BET = {
    "contract_version": 1,
    "method": "CancelBet",
    "title": "Cancel Bet (made up for this test)",
    "source": {"document": "nowhere"},
    "http": {"method": "PUT", "path": "/v9/CancelBet", "content_type": "application/json"},
    "schemas": {"request": "cancel-bet.request.schema.json", "response": "cancel-bet.response.schema.json"},
    "result": {"code_field": "status", "success_code": 0, "description_field": "message"},
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
            "env": "CANCEL_API_KEY",
        },
        {
            "name": "betRef",
            "type": "string",
            "required": True,
            "secret": False,
            "role": "value",
            "source": "made up",
            "mock_value": "B-1",
        },
        {
            "name": "note",
            "type": "string",
            "required": False,
            "secret": False,
            "role": "value",
            "source": "made up",
            "mock_value": "n",
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
    "rules": json.loads((Path(__file__).parents[1] / "contracts/close-session.json").read_text())["rules"],
    "errata": [],
}
REQUEST_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["operator", "apiKey", "betRef", "requestRef"],
    "properties": {
        name: {"type": "string", "minLength": 1} for name in ("operator", "apiKey", "betRef", "note", "requestRef")
    },
}
RESPONSE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"oneOf": [{"type": "integer"}, {"type": "string", "pattern": "^-?[0-9]+$"}]},
        "message": {"type": "string"},
    },
}


@pytest.fixture
def cancel_bet(tmp_path: Path) -> Path:
    (tmp_path / "contracts").mkdir()
    (tmp_path / "schemas").mkdir()
    path = tmp_path / "contracts" / "cancel-bet.json"
    path.write_text(json.dumps(CANCEL_BET))
    (tmp_path / "schemas" / "cancel-bet.request.schema.json").write_text(json.dumps(REQUEST_SCHEMA))
    (tmp_path / "schemas" / "cancel-bet.response.schema.json").write_text(json.dumps(RESPONSE_SCHEMA))
    return path


def _run(path: Path, tmp_path: Path, fault: str | None = None):
    contract = load_contract(path)
    with MockServer(contract, fault=fault) as server:
        args, env = target_args(server.url, server.credentials, contract)
        result = run_cli(["--contract", str(path), "--timeout", "2", "-v", *args], tmp_path, env=env)
        return result, server.credentials


def test_made_up_contract_runs_against_a_mock_of_it(cancel_bet: Path, tmp_path: Path) -> None:
    result, credentials = _run(cancel_bet, tmp_path)
    assert result.code == 0, result.output[-3000:]
    assert "test_M3_missing_field[cancel-bet:betRef]" in result.output
    assert "test_M5_wrong_credential[cancel-bet:apiKey-random]" in result.output
    assert "test_M1_valid_request[cancel-bet:with_note]" in result.output
    assert result.results["identity"]["method"] == "CancelBet"
    for name, text in result.artefacts().items():
        assert credentials["apiKey"] not in text, name


def test_made_up_contract_catches_an_unchecked_credential(cancel_bet: Path, tmp_path: Path) -> None:
    result, _ = _run(cancel_bet, tmp_path, fault="token-not-checked")
    assert result.code == 1, result.output[-3000:]
    assert result.outcomes()["M5"] == "failed"
