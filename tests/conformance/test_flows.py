"""The money-flow checks: one test per flow rule, judged on what the target did to the test user's balance.

Each flow of the run (`kyren_flow` is parametrised by the kyren-conformance plugin: `[transfer-wallet]`) is sent
once, after every method's cases; each test asks the plugin to judge its rule on it. Against a target that is not
the embedded mock, flows run only with `--flows`; without it these tests are skipped and nothing is sent.
"""

from kyren_conformance.pytest_plugin import FlowCheck


def test_F1_balance_arithmetic(kyren_flow_check: FlowCheck) -> None:
    kyren_flow_check("F1")


def test_F2_same_transaction_again(kyren_flow_check: FlowCheck) -> None:
    kyren_flow_check("F2")


def test_F3_identical_requests_at_once(kyren_flow_check: FlowCheck) -> None:
    kyren_flow_check("F3")


def test_F4_debit_past_the_balance(kyren_flow_check: FlowCheck) -> None:
    kyren_flow_check("F4")


def test_F5_bad_amounts(kyren_flow_check: FlowCheck) -> None:
    kyren_flow_check("F5")


def test_F6_transfer_history(kyren_flow_check: FlowCheck) -> None:
    kyren_flow_check("F6")


def test_F7_refund_and_cancel(kyren_flow_check: FlowCheck) -> None:
    kyren_flow_check("F7")


def test_S10_refusal_codes(kyren_flow_check: FlowCheck) -> None:
    kyren_flow_check("S10")
