"""The conformance checks: one test per rule and case, judged on what the target answered.

Cases come from the contract (`kyren_case` is parametrised by the kyren-conformance plugin); each
test asks the plugin to judge its rule. The target, credentials and policy are options:
`pytest tests/conformance --target-url URL` or `kyren-conformance --target-url URL`.
"""

from kyren_conformance.cases import Case
from kyren_conformance.pytest_plugin import Check


# --- a case each -------------------------------------------------------------------------------
def test_M1_valid_request(kyren_check: Check, kyren_case: Case) -> None:
    kyren_check("M1", kyren_case)


def test_M3_missing_field(kyren_check: Check, kyren_case: Case) -> None:
    kyren_check("M3", kyren_case)


def test_M4_wrong_type(kyren_check: Check, kyren_case: Case) -> None:
    kyren_check("M4", kyren_case)


def test_M5_wrong_credential(kyren_check: Check, kyren_case: Case) -> None:
    kyren_check("M5", kyren_case)


def test_M6_malformed_input(kyren_check: Check, kyren_case: Case) -> None:
    kyren_check("M6", kyren_case)


def test_M7_uuid_replay(kyren_check: Check, kyren_case: Case) -> None:
    kyren_check("M7", kyren_case)


def test_S1_empty_string(kyren_check: Check, kyren_case: Case) -> None:
    kyren_check("S1", kyren_case)


# --- the whole run -----------------------------------------------------------------------------
def test_M2_response_schema(kyren_check: Check) -> None:
    kyren_check("M2")


def test_M8_error_status(kyren_check: Check) -> None:
    kyren_check("M8")


def test_M9_complete_in_time(kyren_check: Check) -> None:
    kyren_check("M9")


def test_S2_consistent_codes(kyren_check: Check) -> None:
    kyren_check("S2")


def test_S3_error_description(kyren_check: Check) -> None:
    kyren_check("S3")


def test_S4_no_secret_echo(kyren_check: Check) -> None:
    kyren_check("S4")


def test_S5_latency(kyren_check: Check) -> None:
    kyren_check("S5")


def test_S6_code_form(kyren_check: Check) -> None:
    kyren_check("S6")


def test_S7_declared_codes(kyren_check: Check) -> None:
    kyren_check("S7")


def test_S8_media_type(kyren_check: Check) -> None:
    kyren_check("S8")


def test_S9_documented_code_per_kind(kyren_check: Check) -> None:
    kyren_check("S9")
