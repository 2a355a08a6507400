"""The pytest plugin as a user of pytest meets it: a test file of their own, run by pytest with `pytester`.

The plugin is registered through the `pytest11` entry point, so an inner pytest session loads it as the
user's would; the target is a reference mock on loopback, faulty or not.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kyren_conformance.contract import Contract
from kyren_conformance.mock import MockServer
from support import plugin_args

pytest_plugins = ["pytester"]

CHECKS = """
from kyren_conformance.cases import Case
from kyren_conformance.pytest_plugin import Check


def test_M1_valid_request(kyren_check: Check, kyren_case: Case) -> None:
    kyren_check("M1", kyren_case)


def test_M5_wrong_credential(kyren_check: Check, kyren_case: Case) -> None:
    kyren_check("M5", kyren_case)


def test_S3_errors_described(kyren_check: Check) -> None:
    kyren_check("S3")
"""


@pytest.fixture
def checks(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_checks=CHECKS)
    return pytester


@pytest.fixture
def reference(contract: Contract) -> Iterator[MockServer]:
    with MockServer(contract) as server:
        yield server


def test_each_case_is_a_test_that_passes_against_the_reference(
    checks: pytest.Pytester, reference: MockServer, contract: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = checks.runpytest(*plugin_args(reference, contract, monkeypatch), "-v")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.stdout.str()[-3000:]
    assert outcomes["passed"] >= 4  # the valid cases, the wrong credentials, S3 once for the method
    result.stdout.fnmatch_lines(["*test_M5_wrong_credential?close-session:*PASSED*", "*CONFORMANT*"])


def test_a_fault_fails_its_rule_and_only_its_rule(
    checks: pytest.Pytester, contract: Contract, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MockServer(contract, fault="token-not-checked") as server:
        result = checks.runpytest(*plugin_args(server, contract, monkeypatch), "-rf")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    failed = [line for line in result.stdout.lines if line.startswith("FAILED")]
    assert failed and all("test_M5_wrong_credential" in line for line in failed), failed
    token = server.credentials[next(f.name for f in contract.fields if f.secret)]
    assert str(token) not in result.stdout.str() + result.stderr.str()


def test_a_session_without_checks_is_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(passed=1)
    assert "= kyren-conformance =" not in result.stdout.str()  # no section of ours (the plugin list names us)
    assert "sending" not in result.stdout.str()


def test_a_bad_option_is_a_usage_error_before_anything_is_sent(checks: pytest.Pytester) -> None:
    result = checks.runpytest("-p", "no:xdist", "--kyren-timeout", "-1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--timeout" in result.stderr.str()
    assert "sending" not in result.stdout.str()


def test_a_user_fixture_may_replace_the_run(checks: pytest.Pytester) -> None:
    """`kyren_suite` is documented as overridable: a conftest of the user's wins over the plugin's."""
    checks.makeconftest(
        "import pytest\n\n@pytest.fixture(scope='session')\ndef kyren_suite():\n    raise RuntimeError('mine')\n"
    )
    result = checks.runpytest("-p", "no:xdist", "-k", "S3")
    result.stdout.fnmatch_lines(["*RuntimeError: mine*"])
