"""Where a setting comes from: an option wins over its KYREN_* variable, --field over both (issue 14).

Unit tests of settings.resolve, and two runs of the real CLI whose verdict depends on which value was used.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from kyren_conformance.contract import Contract
from kyren_conformance.mock import MockServer
from kyren_conformance.settings import TARGET_URL_ENV, ConfigError, RunSettings, resolve
from support import run_cli

DEAD = "http://127.0.0.1:9"  # the discard port: nothing answers there


def _resolve(options: Mapping[str, Any], environ: Mapping[str, str]) -> RunSettings:
    return resolve(lambda dest: options.get(dest), environ=environ)


@pytest.fixture
def token_file(tmp_path: Path) -> str:
    path = tmp_path / "token"
    path.write_text("from-the-file\n")
    return str(path)


BASE_ENV = {"KYREN_TOKEN": "from-the-env", "KYREN_SECURE_LOGIN": "login-env", "KYREN_USER_ID": "user-env"}


def test_the_target_url_option_wins_over_its_variable() -> None:
    env = {**BASE_ENV, TARGET_URL_ENV: "http://env.invalid:1"}
    assert _resolve({"target_url": "http://option.invalid:2"}, env).target_url == "http://option.invalid:2"
    assert _resolve({}, env).target_url == "http://env.invalid:1"
    assert _resolve({}, {**env, TARGET_URL_ENV: ""}).target_url is None  # an empty variable is no target: the mock


def test_a_malformed_target_url_variable_is_a_configuration_error_unless_the_option_overrides_it() -> None:
    env = {**BASE_ENV, TARGET_URL_ENV: "127.0.0.1:8080"}
    with pytest.raises(ConfigError, match="must start with http:// or https://"):
        _resolve({}, env)
    assert _resolve({"target_url": "http://ok.invalid:1"}, env).target_url == "http://ok.invalid:1"


def test_a_field_option_wins_over_its_variable_and_field_over_both(token_file: str) -> None:
    target = {"target_url": "http://t.invalid:1"}
    values = _resolve(target, BASE_ENV).values
    assert (values["secureLogin"], values["userId"], values["token"]) == ("login-env", "user-env", "from-the-env")
    values = _resolve(
        {**target, "secure_login": "login-opt", "user_id": "user-opt", "token_file": token_file}, BASE_ENV
    )
    assert (values.values["secureLogin"], values.values["userId"]) == ("login-opt", "user-opt")
    assert values.values["token"] == "from-the-file"  # the file option wins over KYREN_TOKEN (stripped)
    both = {**target, "secure_login": "login-opt", "kyren_field": ["secureLogin=login-field", "userId=user-field"]}
    values = _resolve(both, BASE_ENV).values
    assert (values["secureLogin"], values["userId"]) == ("login-field", "user-field")


def test_an_empty_option_or_variable_falls_through_to_the_next_source() -> None:
    target = {"target_url": "http://t.invalid:1"}
    values = _resolve({**target, "secure_login": ""}, BASE_ENV).values
    assert values["secureLogin"] == "login-env"
    with pytest.raises(ConfigError, match="no value for secureLogin of CloseSession: set --secure-login or"):
        _resolve(target, {**BASE_ENV, "KYREN_SECURE_LOGIN": ""})


# --- the real CLI: the verdict shows which value was used -------------------------------------------


def _cli(contract: Contract, tmp_path: Path, options: list[str], env: dict[str, str]) -> int:
    tmp_path.mkdir()
    with MockServer(contract) as server:
        credentials = server.credentials
        env = {name: value.format(url=server.url, **credentials) for name, value in env.items()}
        args = [arg.format(url=server.url, **credentials) for arg in options]
        run = run_cli(["--contract", str(contract.path), "--timeout", "2", *args], tmp_path, env=env)
    assert "Traceback" not in run.output, run.output[-3000:]
    return run.code


def test_the_cli_sends_to_the_option_url_not_the_variable_one(contract: Contract, tmp_path: Path) -> None:
    env = {"KYREN_TOKEN": "{token}", "KYREN_SECURE_LOGIN": "{secureLogin}", "KYREN_USER_ID": "{userId}"}
    assert _cli(contract, tmp_path / "a", ["--target-url", "{url}"], {**env, TARGET_URL_ENV: DEAD}) == 0
    assert _cli(contract, tmp_path / "b", ["--target-url", DEAD], {**env, TARGET_URL_ENV: "{url}"}) == 1


def test_the_cli_authenticates_with_the_option_value_not_the_variable_one(contract: Contract, tmp_path: Path) -> None:
    env = {"KYREN_TOKEN": "{token}", "KYREN_USER_ID": "{userId}", "KYREN_SECURE_LOGIN": "someone-else"}
    assert _cli(contract, tmp_path / "a", ["--target-url", "{url}", "--secure-login", "{secureLogin}"], env) == 0
    # the variable alone is read (and wrong: the valid requests are refused)
    assert _cli(contract, tmp_path / "b", ["--target-url", "{url}"], env) == 1


TRANSFER = ["deposit-balance", "withdrawl-balance", "get-balance", "get-transfer-info", "create-user", "create-wallet"]


def _transfer_suite(fields: list[str]) -> dict[str, Mapping[str, Any]]:
    from kyren_conformance.resources import default_contract_path
    from kyren_conformance.settings import resolve_suite

    folder = default_contract_path().parent
    options = {
        "target_url": "http://staging.invalid:1",
        "kyren_contract": [str(folder / f"{name}.json") for name in TRANSFER],
        "kyren_field": fields,
    }
    suite = resolve_suite(lambda dest: options.get(dest), environ=BASE_ENV)
    return {m.contract.path.stem: m.values for m in suite.methods}


def test_money_methods_move_the_flow_s_small_amount_on_staging_not_the_document_s_example() -> None:
    """Deposit Balance's example is 1000: every valid request and replay of a plain run would move that much."""
    values = _transfer_suite([])
    assert values["deposit-balance"]["amount"] == "1.00"
    assert values["withdrawl-balance"]["amount"] == "1.00"
    assert "amount" not in values["get-balance"]
    assert _transfer_suite(["amount=0.05"])["deposit-balance"]["amount"] == "0.05"  # --field still wins
