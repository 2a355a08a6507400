"""Each judgement on hand-made exchanges: it passes what the document allows and catches what it forbids."""

from __future__ import annotations

import dataclasses
import json

import pytest

from kyren_conformance.cases import build_cases
from kyren_conformance.contract import Codes, Contract, load_contract
from kyren_conformance.exchange import Exchange, Response
from kyren_conformance.judgements import REGISTRY, JudgeContext, percentile
from kyren_conformance.profile import Profile
from kyren_conformance.resources import default_contract_path

SHIPPED = load_contract(default_contract_path())
# Without its code table: each test lays the table it needs over it (`with_codes`), or none.
CONTRACT = dataclasses.replace(SHIPPED, codes=None)


def ctx(**kwargs) -> JudgeContext:
    profile = kwargs.pop("profile", None)
    contract = kwargs.pop("contract", CONTRACT)
    return JudgeContext.for_contract(contract, profile, **kwargs)


def ex(
    status: int = 200,
    body: object = None,
    *,
    raw: bytes | None = None,
    media: str = "application/json",
    elapsed: float = 0.01,
    defect: str = "",
    echoed: bool = False,
    failure: str | None = None,
) -> Exchange:
    data = raw if raw is not None else json.dumps(body).encode()
    response = None if failure else Response(status, "", (("Content-Type", media),) if media else (), data, False)
    return Exchange(
        "POST",
        "http://t/v1/CloseSession",
        (),
        b"{}",
        "case",
        0.0,
        elapsed,
        response,
        failure=failure,
        defect=defect,
        secret_echoed=echoed,
    )


def judge(rule: str, exchanges: list[Exchange], context: JudgeContext | None = None) -> list:
    return REGISTRY[rule].judge(exchanges, context or ctx())


@pytest.mark.parametrize("body", [{"error": 0, "description": "Success"}, {"error": "0"}, {"error": 0, "x": 1}])
def test_M1_accepts_success_readings(body) -> None:
    assert judge("M1", [ex(200, body)]) == []


@pytest.mark.parametrize(
    ("status", "body", "why"),
    [
        (200, {"error": 1}, "error=1"),
        (201, {"error": True}, "error"),
        (400, {"error": 0}, "2xx"),
        (200, {"description": "Success"}, "required"),
        (200, None, "schema"),
    ],
)
def test_M1_catches_failed_success(status, body, why) -> None:
    findings = judge("M1", [ex(status, body)])
    assert len(findings) == 1 and why in findings[0].received + findings[0].documented


def test_M1_profile_may_allow_a_no_session_code() -> None:
    assert judge("M1", [ex(200, {"error": 104})], ctx(profile=Profile(valid_request_codes=frozenset({104})))) == []


def test_M1_no_answer_is_a_finding() -> None:
    assert judge("M1", [ex(failure="connection refused")])[0].rule_id == "M1"


@pytest.mark.parametrize("rule", ["M3", "M4", "M5", "S1"])
@pytest.mark.parametrize(
    ("status", "body", "refused"),
    [
        (200, {"error": 2}, True),
        (200, {"error": "7"}, True),
        (400, {"error": 3}, True),
        (400, None, True),
        (200, {"error": 0}, False),
        (500, {"error": 2}, False),
        (200, {"status": "bad"}, False),
    ],
)
def test_refusal_rules(rule, status, body, refused) -> None:
    body_bytes = b"" if body is None else json.dumps(body).encode()
    assert (judge(rule, [ex(status, raw=body_bytes)]) == []) is refused


@pytest.mark.parametrize(
    ("status", "raw", "media", "ok"),
    [
        (200, b'{"error": 1}', "application/json", True),
        (415, b'{"error": 1}', "application/json", True),
        (500, b'{"error": 1}', "application/json", False),
        (400, b"<html>bad</html>", "text/html", False),
        (400, b"", "", False),
    ],
)
def test_M6_no_5xx_and_json(status, raw, media, ok) -> None:
    assert (judge("M6", [ex(status, raw=raw, media=media)]) == []) is ok


@pytest.mark.parametrize(
    ("policy", "first", "again", "ok"),
    [
        ("either", 0, 0, True),
        ("either", 0, 9, True),
        ("either", 4, 4, True),
        ("either", 4, 0, False),
        ("idempotent", 0, 0, True),
        ("idempotent", 0, 9, False),
        ("reject", 0, 9, True),
        ("reject", 0, 0, False),
    ],
)
def test_M7_replay_policies(policy, first, again, ok) -> None:
    exchanges = [ex(200, {"error": first}), ex(200, {"error": again})]
    assert (judge("M7", exchanges, ctx(replay_policy=policy)) == []) is ok


def test_M7_repeat_crash_fails_under_every_policy() -> None:
    for policy in ("either", "idempotent", "reject"):
        assert judge("M7", [ex(200, {"error": 0}), ex(500, raw=b"oops", media="text/plain")], ctx(replay_policy=policy))


def test_M2_catches_non_json_redirect_and_bad_types_but_not_failures() -> None:
    exchanges = [
        ex(200, {"error": 0}),
        ex(200, raw=b"<html>", media="text/html"),
        ex(302, raw=b""),
        ex(200, {"error": 1.5}),
        ex(failure="timed out"),
    ]
    assert [f.exchange for f in judge("M2", exchanges)] == exchanges[1:4]


def test_M8_non_2xx_with_success_code() -> None:
    assert judge("M8", [ex(400, {"error": 0})]) and not judge("M8", [ex(400, {"error": 2}), ex(200, {"error": 0})])


def test_M9_failures_and_unsent() -> None:
    unsent = Exchange("POST", "u", (), b"", "x", 0, 0, None, failure="not sent, target unreachable", not_sent=True)
    findings = judge("M9", [ex(failure="no complete answer within 1 s"), unsent, ex(200, {"error": 0})])
    assert len(findings) == 2 and "1 requests not sent" in findings[1].received


def test_S2_same_defect_different_codes() -> None:
    same = [ex(200, {"error": 3}, defect="type:userId"), ex(200, {"error": 3}, defect="type:userId")]
    assert judge("S2", same) == []
    assert judge("S2", [*same, ex(200, {"error": 5}, defect="type:userId")])


def test_S3_S4_S6_S8() -> None:
    assert judge("S3", [ex(200, {"error": 2})]) and not judge("S3", [ex(200, {"error": 2, "description": "missing"})])
    assert judge("S4", [ex(200, {"error": 0}, echoed=True)]) and not judge("S4", [ex(200, {"error": 0})])
    assert judge("S6", [ex(200, {"error": 0}), ex(200, {"error": "2"})]) and not judge("S6", [ex(200, {"error": "0"})])
    assert judge("S8", [ex(200, {"error": 0}, media="text/plain")])
    assert not judge("S8", [ex(200, {"error": 0}, media="application/problem+json")])


def test_S5_latency_objective_and_S7_code_table() -> None:
    slow = [ex(200, {"error": 0}, elapsed=e) for e in (0.1, 0.2, 3.0)]
    assert judge("S5", slow, ctx(profile=Profile(p95_ms=1000)))
    assert not judge("S5", slow, ctx(profile=Profile(p95_ms=5000)))
    table = ctx(profile=Profile(code_table={0: "Success", 2: "Missing"}))
    assert judge("S7", [ex(200, {"error": 9})], table) and not judge("S7", [ex(200, {"error": 2})], table)
    assert not judge("S7", [ex(200, {"error": 9})])  # no table declared: nothing to check


def test_percentile_nearest_rank() -> None:
    assert percentile([], 95) == 0.0
    assert percentile([1, 2, 3, 4], 50) == 2
    assert percentile(list(range(1, 101)), 95) == 95


def test_registry_refuses_a_second_judgement_for_a_rule() -> None:
    from kyren_conformance.judgements import judgement

    with pytest.raises(ValueError, match="already has a judgement"):
        judgement("M1", "case")(lambda exchanges, context: [])


# --- the code table: the contract's (the Error Code page), a profile's winning; S9 ---------------------
PAGE_TABLE = {
    0: "Success",
    9: "Account is not created.",
    21: "Parameter(s) is missing or incorrect",
    54: "Incorrect secure LOGIN and secure password combination.",
    64: "Validation failed. Empty mandatory field",
    401: "Unauthorized",
}
KINDS = {"missing_field": (21, 64), "bad_credentials": (54, 401)}


def with_codes(kinds: dict | None = None, table: dict | None = None) -> Contract:
    codes = Codes(
        "docs/spec/Error-Code-1.md", PAGE_TABLE if table is None else table, KINDS if kinds is None else kinds
    )
    return dataclasses.replace(CONTRACT, codes=codes)


def na(rule: str, context: JudgeContext) -> str | None:
    return REGISTRY[rule].not_applicable(context)


def test_S7_judges_against_the_contracts_table_when_no_profile_gives_one() -> None:
    context = ctx(contract=with_codes())
    assert na("S7", context) is None
    findings = judge("S7", [ex(200, {"error": 42}), ex(200, {"error": 401}), ex(200, {"error": "64"})], context)
    assert [f.received for f in findings] == ["code 42 not in the code table of docs/spec/Error-Code-1.md"]


def test_a_profiles_code_table_replaces_the_contracts() -> None:
    context = ctx(contract=with_codes(), profile=Profile(code_table={0: "Success", 42: "Ours"}))
    findings = judge("S7", [ex(200, {"error": 42}), ex(200, {"error": 401})], context)
    assert [f.received for f in findings] == ["code 401 not in the target profile's code table"]


def test_S7_without_any_table_is_not_applicable_and_says_why() -> None:
    reason = na("S7", ctx())
    assert reason is not None and "Error Code page" in reason and "--profile" in reason


def test_with_the_shipped_contract_S7_and_S9_judge_by_its_error_code_page() -> None:
    context = ctx(contract=SHIPPED)
    assert SHIPPED.codes is not None and SHIPPED.codes.source == "docs/spec/Error-Code-1.md"
    assert na("S7", context) is None and na("S9", context) is None
    findings = judge("S7", [ex(200, {"error": 42}), ex(200, {"error": 21}), ex(200, {"error": "54"})], context)
    assert [f.received for f in findings] == ["code 42 not in the code table of docs/spec/Error-Code-1.md"]
    assert judge("S9", [missing(21), missing(54, "auth:token")], context) == []
    assert len(judge("S9", [missing(54)], context)) == 1  # a missing field answered with a credentials code


def missing(code: object, defect: str = "missing:userId") -> Exchange:
    return ex(200, {"error": code, "description": "x"}, defect=defect)


def test_S9_a_missing_field_answered_with_another_documented_code() -> None:
    findings = judge("S9", [missing(401), missing(401, "missing:token"), missing(64)], ctx(contract=with_codes()))
    assert len(findings) == 1  # one per kind and code, the first exchange as evidence
    assert "error=401 ('Unauthorized')" in findings[0].received and "missing" in findings[0].received
    assert findings[0].documented.startswith("missing_field: 21 ('Parameter(s) is missing or incorrect'), 64")
    assert findings[0].level == "SHOULD"


@pytest.mark.parametrize("code", [21, 64, "64"])
def test_S9_passes_the_codes_the_page_names_for_the_kind(code) -> None:
    assert judge("S9", [missing(code), missing(code, "empty:token")], ctx(contract=with_codes())) == []


@pytest.mark.parametrize(
    ("code", "why"), [(42, "undocumented: S7's business"), (0, "accepted: M3's business"), (None, "no code")]
)
def test_S9_leaves_other_rules_their_business(code, why) -> None:
    assert judge("S9", [missing(code)], ctx(contract=with_codes())) == [], why


def test_S9_wrong_credentials_and_empty_fields() -> None:
    context = ctx(contract=with_codes())
    assert judge("S9", [missing(21, "auth:token")], context)
    assert not judge("S9", [missing(54, "auth:token"), missing(401, "auth:secureLogin")], context)
    assert judge("S9", [missing(401, "empty:userId")], context)  # an empty required string is a missing value
    assert not judge("S9", [missing(401, "empty:gameId")], context)  # an empty optional field is no missing one
    assert not judge("S9", [missing(401, "type:userId"), missing(21, "")], context)  # kinds the page names no code for


def test_S9_uses_the_profiles_table_for_what_is_documented() -> None:
    context = ctx(contract=with_codes(), profile=Profile(code_table={0: "Success", 21: "a", 64: "b"}))
    assert judge("S9", [missing(401)], context) == []  # 401 is undeclared for this target: S7 says so
    assert judge("S7", [missing(401)], context)


def test_S9_judges_the_defects_the_cases_really_carry() -> None:
    values = {"secureLogin": "partner-1", "userId": "12345", "gameId": "g1", "token": "Secret-Token"}
    cases = build_cases(CONTRACT, values, 0)
    kinds = {"missing_field": ("missing_field",), "wrong_credential": ("auth",), "empty_string": ("S1",)}
    probed = [c for c in cases if c.group in kinds and (c.group != "empty_string" or "S1" in c.rules)]
    assert {c.group for c in probed} == set(kinds)
    context = ctx(contract=with_codes())
    for case in probed:
        wrong = 401 if case.group != "wrong_credential" else 21
        assert judge("S9", [missing(wrong, case.defect)], context), case.id
    unprobed = [c for c in cases if c.defect and c not in probed]
    assert unprobed and not judge("S9", [missing(401, c.defect) for c in unprobed], context)


def test_S9_without_kinds_is_not_applicable_and_says_why() -> None:
    assert "no code table" in (na("S9", ctx()) or "")
    assert "names no code" in (na("S9", ctx(contract=with_codes(kinds={}))) or "")
    only_unknown_user = ctx(contract=with_codes(kinds={"unknown_user": (9,)}))
    assert "unknown_user only" in (na("S9", only_unknown_user) or "")
    assert na("S9", ctx(contract=with_codes())) is None


def _without_roles(*roles: str) -> Contract:
    fields = tuple(dataclasses.replace(f, role="value") if f.role in roles else f for f in CONTRACT.fields)
    return dataclasses.replace(CONTRACT, fields=fields)


def test_rules_whose_field_role_is_absent_are_not_applicable_with_a_reason() -> None:
    bare = ctx(contract=_without_roles("credential", "request_id"))
    assert na("M5", bare) == "the document names no credential field"
    assert "no request id" in (na("M7", bare) or "")
    for rule in ("M1", "M2", "M3", "M4", "M6", "M8", "M9", "S1", "S2", "S3", "S4", "S5", "S6", "S8"):
        assert na(rule, bare) is None, rule
    assert na("M5", ctx()) is None and na("M7", ctx()) is None


def test_rules_without_their_fields_are_not_applicable() -> None:
    untyped = tuple(dataclasses.replace(f, judge_type=False, judge_missing=False) for f in CONTRACT.fields)
    context = ctx(contract=dataclasses.replace(CONTRACT, fields=untyped, description_field=None))
    assert "judge_type" in (na("M4", context) or "")
    assert "no required string field" in (na("S1", context) or "")
    assert "no description field" in (na("S3", context) or "")


# --- hostile codes and echoes (issue 14) ---------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    ["--1", "²", "١٢", "1" * 5000, "1" * 19, "12\n", " 12", "+1", "", 10**19, -(10**19), 1e300, True, None, [1], {}],
)
def test_a_hostile_code_is_no_code_and_never_a_crash(value) -> None:
    from kyren_conformance.judgements import code_of

    answer = ex(200, {"error": value, "description": "x"})
    assert code_of(answer, ctx()) is None
    assert judge("M1", [answer])  # a valid request whose answer has no readable code: M1 says so
    for rule in ("M2", "M3", "M8", "S2", "S3", "S6", "S7"):
        judge(rule, [answer], ctx(profile=Profile(code_table={0: "Success"})))  # none of them crashes


@pytest.mark.parametrize(
    ("value", "code"), [("0", 0), ("-1", -1), ("9" * 18, 10**18 - 1), (-(10**18) + 1, -(10**18) + 1)]
)
def test_codes_of_up_to_18_ascii_digits_are_read(value, code) -> None:
    from kyren_conformance.judgements import code_of

    assert code_of(ex(200, {"error": value}), ctx()) == code


def test_S3_a_whitespace_only_description_is_no_description() -> None:
    findings = judge("S3", [ex(200, {"error": 2, "description": "   "})])
    assert len(findings) == 1 and "description='   '" in findings[0].received
    assert not judge("S3", [ex(200, {"error": 2, "description": " x "})])


def _with_headers(headers: tuple[tuple[str, str], ...], *, echoed: bool = False, reason: str = "OK") -> Exchange:
    plain = ex(200, {"error": 0})
    assert plain.response is not None
    response = dataclasses.replace(
        plain.response, headers=(("Content-Type", "application/json"), *headers), reason=reason
    )
    return dataclasses.replace(plain, response=response, secret_echoed=echoed)


def test_S4_a_token_echoed_only_in_a_response_header() -> None:
    # The redactor masks the header's value; the body is clean, and S4 still sees the echo.
    findings = judge("S4", [_with_headers((("X-Debug", "token=***"),))])
    assert len(findings) == 1 and "'X-Debug: token=***'" in findings[0].received
    assert judge("S4", [_with_headers((("X-Debug", "***[:-1]"),))])  # a near miss of the token, masked
    assert judge("S4", [_with_headers((), reason="OK ***")])  # in the reason phrase
    assert not judge("S4", [_with_headers((("X-Debug", "token=none"),))])


def test_S4_an_echo_with_upper_case_unicode_escapes() -> None:
    # `\u0054` written `\u0054` or `\u00E9` style: the client flags the echo, the judgement reports it quoted.
    body = b'{"error": 0, "echo": "***", "raw": "\\u00C9\\u0054"}'
    findings = judge("S4", [dataclasses.replace(ex(200, raw=body), secret_echoed=True)])
    assert len(findings) == 1 and "\\\\u00C9" in findings[0].received
    assert findings[0].level == "SHOULD" and findings[0].exchange is not None


def test_m1_takes_the_pages_already_exists_code_for_a_repeated_valid_request() -> None:
    """The suite sends the same example values in several valid requests: Create User may answer the second with
    8 'already been registered', Deposit with 61 'Transaction already exists'. Only a page that says so allows it."""
    page = ctx(contract=with_codes(kinds={"already_exists": (8, 61)}))
    repeat = ex(200, {"error": 61, "description": "Transaction already exists"})
    assert judge("M1", [repeat], page) == []
    assert [f.rule_id for f in judge("M1", [repeat], ctx())] == ["M1"]  # no page: 61 is an error like any other
    assert [f.rule_id for f in judge("M1", [ex(200, {"error": 21, "description": "x"})], page)] == ["M1"]
