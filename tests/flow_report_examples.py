"""Results dictionaries with money flows, written by hand in the shape results.json gives them ($defs/flow):
a passing flow, a broken one, a stopped one, one not run, and one full of hostile text. Shared by the report's
unit tests and its real-browser test."""

from __future__ import annotations

import copy
from typing import Any

ESC = "\x1b"
SCRIPT = "<script>window.kcRan=1</script>"

CLAUSES = {
    "F1": "Deposit-Balance.md line 16: 'balance after the transaction'",
    "F2": "Deposit-Balance.md line 16: 'The call is idempotent, i.e. sending it again only creates one transaction.'",
    "F4": "Error-Code.md line 30: '15 Insufficient balance'",
    "S10": "Error-Code.md line 30: '15 Insufficient balance'",
}
TITLES = {
    "F1": ("MUST", "the balance after a credit or debit is the balance before plus or minus the amount, exactly"),
    "F2": ("MUST", "the same transaction sent again applies once"),
    "F4": ("MUST", "a debit past the balance is refused and changes nothing"),
    "S10": ("SHOULD", "a refusal carries the code the page names for it"),
}


def call(
    method: str = "deposit-balance",
    *,
    status: int | None = 200,
    code: Any = 0,
    transaction: str | None = "kc-t1",
    amount: str | None = "1.00",
    retransmission: int = 0,
    exchange: int | None = 10,
) -> dict[str, Any]:
    return {"method": method, "status": status, "code": code, "transaction": transaction, "amount": amount,
            "retransmission": retransmission, "exchange": exchange}  # fmt: skip


def step(
    index: int, rule: str, label: str, outcome: str, before: str | None, expected: str | None, after: str | None,
    calls: list[dict[str, Any]],
) -> dict[str, Any]:  # fmt: skip
    return {"index": index, "rule": rule, "label": label, "outcome": outcome, "before": before,
            "expected": expected, "after": after, "calls": calls}  # fmt: skip


def rule(rule_id: str, outcome: str, findings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    level, title = TITLES[rule_id]
    return {"id": rule_id, "level": level, "title": title, "source": CLAUSES[rule_id], "outcome": outcome,
            "findings": findings or []}  # fmt: skip


def flow(
    name: str, verdict: str, rules: list[dict[str, Any]], steps: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    out = {
        "flow": name, "title": "Transfer Wallet: deposits and withdrawals on the test user",
        "direction": "operator-calls-kyren", "verdict": verdict,
        "note": "moves 1.00 USD on the test user 'tester' (staging note)", "problem": None,
        "user": "tester", "currency": "USD", "amount": "1.00", "rules": rules, "steps": steps,
    }  # fmt: skip
    return out | extra


def _setup() -> dict[str, Any]:
    return step(0, "setup", "setup: create-user", "unjudged", None, None, None,
                [call("create-user", transaction=None, amount=None, exchange=1)])  # fmt: skip


def passing_flow() -> dict[str, Any]:
    steps = [
        _setup(),
        step(1, "F1", "deposit 1.00 (transactionId kc-t1)", "ok", "1000.00", "1001.00", "1001.00", [call()]),
        step(2, "F2", "the same deposit again (transactionId kc-t1)", "ok", "1001.00", "1001.00", "1001.00",
             [call(code=61, exchange=12)]),
        step(3, "F1", "withdraw 1.00 (transactionId kc-t2)", "ok", "1001.00", "1000.00", "1000.00",
             [call("withdrawl-balance", transaction="kc-t2", exchange=14)]),
    ]  # fmt: skip
    rules = [rule("F1", "passed"), rule("F2", "passed"), rule("F4", "skipped"), rule("S10", "passed")]
    return flow("transfer-wallet", "PASSED", rules, steps)


BROKEN_STEP = 2  # the retried deposit that paid twice


def broken_flow() -> dict[str, Any]:
    """A deposit that lost its answer, resent once, and credited twice; a refusal with an unnamed code (S10)."""
    retried = [call(status=None, code=None, exchange=11), call(retransmission=1, exchange=12)]
    burst = [call(transaction=f"kc-b{i}", exchange=20 + i) for i in range(8)]
    steps = [
        _setup(),
        step(1, "F1", "deposit 1.00 (transactionId kc-t0)", "ok", "1000.00", "1001.00", "1001.00", [call(exchange=9)]),
        step(BROKEN_STEP, "F2", "deposit 1.00 (transactionId kc-t1), retransmitted", "broke", "1001.00", "1002.00",
             "1003.00", retried),
        step(3, "restore", "restore: withdraw 1.00 (transactionId kc-r1)", "unjudged", "1003.00", "1002.00",
             "1002.00", [call("withdrawl-balance", transaction="kc-r1", exchange=13)]),
        step(4, "F1", "8 deposits of 1.00 at one instant, each its own transactionId", "ok", "1002.00", "1010.00",
             "1010.00", burst),
        step(5, "F4", "withdraw 1011.00, the balance plus 1.00", "broke", "1010.00", "1010.00", "1010.00",
             [call("withdrawl-balance", code=99, transaction="kc-t5", amount="1011.00", exchange=30)]),
    ]  # fmt: skip
    f2 = {"received": "deposit 1.00 (transactionId kc-t1), retransmitted: balance 1001.00 before, 1003.00 after; "
          "expected 1002.00 (1001.00 + 1.00)", "documented": CLAUSES["F2"], "step": BROKEN_STEP}  # fmt: skip
    s10 = {"received": "refused with code 99; the page names 15", "documented": CLAUSES["S10"], "step": 5}
    rules = [rule("F1", "passed"), rule("F2", "failed", [f2]), rule("F4", "passed"), rule("S10", "warned", [s10])]
    return flow("transfer-wallet", "FAILED", rules, steps)


def stopped_flow() -> dict[str, Any]:
    steps = [
        _setup(),
        step(1, "F1", "deposit 1.00 (transactionId kc-t1)", "unjudged", "1000.00", "1001.00", None,
             [call(status=502, code=None)]),
    ]  # fmt: skip
    finding = {"received": "the balance 'NaN' is not a number", "documented": CLAUSES["F1"], "step": None}
    return flow(
        "transfer-wallet", "STOPPED", [rule("F1", "failed", [finding]), rule("F2", "skipped")], steps,
        problem="the balance could not be read after 'deposit 1.00': code 0, balance 'NaN'",
    )  # fmt: skip


def not_run_flow() -> dict[str, Any]:
    return flow("seamless-wallet", "NOT RUN", [rule("F1", "skipped")], [], direction="kyren-calls-operator",
                problem="not asked for: --flows runs money flows against a target that is not the mock")  # fmt: skip


HOSTILE_NAME = 'evil" onmouseover="window.kcRan=2'


def hostile_flow() -> dict[str, Any]:
    """Target text everywhere a flow quotes it: a script element, an attribute breaker and ESC sequences.
    Its code is a string, which the schema refuses: the report escapes what the schema would not let in."""
    evil = f"{SCRIPT}{ESC}[31mred{ESC}]0;title\x07"
    broken = step(1, "F1", f"deposit {evil}", "broke", "1000.00", "1001.00", f"1002{ESC}[2J", [
        call(code=f"0{evil}", transaction=f"kc-{evil}", amount=f"1.00{evil}", method=f"deposit{evil}"),
    ])  # fmt: skip
    finding = {"received": f"answered {evil}", "documented": f"doc {evil}", "step": 1}
    f1 = rule("F1", "failed", [finding]) | {"title": f"title {evil}", "source": f"clause {evil}"}
    return flow(HOSTILE_NAME, "FAILED", [f1], [broken], title=f"flow {evil}", note=f"note {evil}",
                problem=f"problem {evil}", user=f"user{evil}", currency=f"US{ESC}D")  # fmt: skip


_BASE: dict[str, Any] = {
    "suite": {"name": "kyren-conformance", "version": "0.0.0"},
    "verdict": {"label": "NOT CONFORMANT", "must_failures": 1, "should_warnings": 0, "complete": True,
                "so_far": "NOT CONFORMANT", "strict": False, "errors": []},
    "identity": {
        "target_url": "http://127.0.0.1:9/", "embedded_mock": False, "method": "2 methods",
        "fields": {"userId": "tester"}, "notes": [], "replay_policy": "either", "strict": False, "seed": 1,
        "timeout_s": 10, "concurrency": 4, "rate_limit": None,
        "contract": {"file": "contracts", "sha256": "0" * 64},
        "started": "2025-01-01T00:00:00Z", "duration_s": 1.5, "requests": 40,
    },
    "rules": [{"id": "M1", "level": "MUST", "title": "a valid request succeeds", "source": "page line 1", "tests": [],
               "requests": 2, "outcome": "passed", "note": "", "findings": 0, "method": "deposit-balance"}],
    "findings": [],
    "info": {"code_forms": {}, "statuses": {"200": 2}, "codes": {"0": 2}, "media_types": {}, "latency_ms": {},
             "unreachable": None, "resent_one_at_a_time": 0, "throttled": 0, "retried": 0},
    "methods": [{
        "name": "deposit-balance", "method": "Deposit Balance", "title": "Deposit Balance", "path": "/deposit",
        "contract": {"file": "contracts/deposit-balance.json", "sha256": "1" * 64}, "document": "Deposit-Balance.md",
        "errata_to_review": 0, "verdict": {"label": "CONFORMANT", "must_failures": 0, "should_warnings": 0,
                                           "so_far": "CONFORMANT"},
        "requests": 2,
        "info": {"code_forms": {}, "statuses": {}, "codes": {}, "media_types": {}, "latency_ms": {},
                 "unreachable": None, "resent_one_at_a_time": 0, "throttled": 0, "retried": 0},
    }],
}  # fmt: skip


def results_with(*flows: dict[str, Any]) -> dict[str, Any]:
    """A whole results dictionary (valid against results.schema.json) holding these flows."""
    out = copy.deepcopy(_BASE)
    if flows:
        out["flows"] = list(flows)
    return out
