"""One pure function per rule: exchanges in, findings out.

Nothing here sends a request, reads an option or knows pytest. Field names come from the contract
through `JudgeContext`; rule ids come from the registry keys.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from kyren_conformance.contract import Contract, Field
from kyren_conformance.exchange import Exchange
from kyren_conformance.findings import Finding
from kyren_conformance.policy import ReplayPolicy
from kyren_conformance.profile import Profile
from kyren_conformance.redaction import REDACTED
from kyren_conformance.response_reading import read_code, shown


@dataclass(frozen=True)
class JudgeContext:
    contract: Contract
    response_validator: Draft202012Validator  # compiled once per run
    profile: Profile
    replay_policy: ReplayPolicy = "either"
    timeout: float = 10.0

    @classmethod
    def for_contract(cls, contract: Contract, profile: Profile | None = None, **kwargs: Any) -> JudgeContext:
        validator = Draft202012Validator(
            contract.response_schema, format_checker=Draft202012Validator.FORMAT_CHECKER, registry=contract.registry
        )  # the registry holds the schemas folder's files: a $ref is never fetched
        return cls(contract, validator, profile or Profile(), **kwargs)

    @property
    def code_table(self) -> Mapping[int, str]:
        """The codes declared for the target: the profile's table when it gives one (a profile wins), else the
        contract's (the provider's Error Code page), else none."""
        if self.profile.code_table:
            return self.profile.code_table
        return self.contract.codes.table if self.contract.codes else {}

    @property
    def code_table_name(self) -> str:
        """Where `code_table` comes from, for messages."""
        if self.profile.code_table:
            return "the target profile's code table"
        return f"the code table of {self.contract.codes.source}" if self.contract.codes else "no code table"

    def finding(self, rule_id: str, received: str, documented: str, exchange: Exchange | None) -> Finding:
        level = self.contract.rule(rule_id).level
        return Finding(rule_id, level, received, documented, exchange, exchange.case_id if exchange else "")


Judge = Callable[[Sequence[Exchange], JudgeContext], list[Finding]]
Applicability = Callable[[JudgeContext], str | None]  # why the rule has nothing to check, or None


def _always(ctx: JudgeContext) -> str | None:
    return None


@dataclass(frozen=True)
class Judgement:
    rule_id: str
    scope: Literal["case", "run"]  # judged on one case's exchanges, or on every exchange of the run
    judge: Judge
    not_applicable: Applicability = _always


REGISTRY: dict[str, Judgement] = {}


def judgement(
    rule_id: str, scope: Literal["case", "run"], not_applicable: Applicability = _always
) -> Callable[[Judge], Judge]:
    def register(func: Judge) -> Judge:
        if rule_id in REGISTRY:
            raise ValueError(f"rule {rule_id} already has a judgement: {REGISTRY[rule_id].judge.__name__}")
        REGISTRY[rule_id] = Judgement(rule_id, scope, func, not_applicable)
        return func

    return register


# --- reading a response -------------------------------------------------------------------------


def code_of(exchange: Exchange, ctx: JudgeContext) -> int | None:
    """The result code of an answer to this contract's method (its code field), or None if there is none."""
    return read_code(exchange, ctx.contract.code_field)


def _is_rejection(exchange: Exchange, ctx: JudgeContext) -> bool:
    """A refusal: a non-zero code, or a 4xx without a readable code (E4 allows errors on 4xx)."""
    code = code_of(exchange, ctx)
    if code is not None:
        return code != ctx.contract.success_code
    status = exchange.status
    return status is not None and 400 <= status < 500


def _unanswered(exchanges: Sequence[Exchange], rule_id: str, ctx: JudgeContext) -> list[Finding]:
    return [
        ctx.finding(rule_id, shown(e), "every request gets a complete answer, so this rule could not be checked", e)
        for e in exchanges
        if e.response is None
    ]


def _must_be_refused(rule_id: str, documented: str) -> Judge:
    def judge(exchanges: Sequence[Exchange], ctx: JudgeContext) -> list[Finding]:
        found = _unanswered(exchanges, rule_id, ctx)
        for e in exchanges:
            if e.response is None or e.setup:  # a setup step is a valid request: M1 and M2 judge it
                continue
            if e.response.status >= 500:
                found.append(
                    ctx.finding(
                        rule_id,
                        shown(e),
                        f"{documented}; a 5xx to a request the client got wrong is a failure (DESIGN.md E4)",
                        e,
                    )
                )
            elif not _is_rejection(e, ctx):
                found.append(
                    ctx.finding(rule_id, shown(e), f"{documented} (a non-zero {ctx.contract.code_field!r})", e)
                )
        return found

    judge.__name__ = f"judge_{rule_id}"
    return judge


# --- MUST ---------------------------------------------------------------------------------------


@judgement("M1", "case")
def valid_request_succeeds(exchanges: Sequence[Exchange], ctx: JudgeContext) -> list[Finding]:
    found = _unanswered(exchanges, "M1", ctx)
    # The suite sends the same values in several valid requests (the document's example transactionId, the test
    # user id): a method that creates something may answer a repeat with the page's "already exists" code (E8).
    repeated = ctx.contract.codes.kinds.get("already_exists", ()) if ctx.contract.codes else ()
    allowed = {ctx.contract.success_code, *ctx.profile.valid_request_codes, *repeated}
    field = ctx.contract.code_field
    for e in exchanges:
        if e.response is None:
            continue
        status, code = e.response.status, code_of(e, ctx)
        if not 200 <= status < 300:
            found.append(ctx.finding("M1", shown(e), "a valid request gets a 2xx status", e))
        elif _schema_error(e, ctx) is not None:
            found.append(
                ctx.finding(
                    "M1",
                    f"{shown(e)}: {_schema_error(e, ctx)}",
                    "a valid request gets a body matching the response schema",
                    e,
                )
            )
        elif code not in allowed:
            codes = " or ".join(str(c) for c in sorted(allowed))
            found.append(
                ctx.finding(
                    "M1", f"{field}={code!r} in {shown(e)}", f"a valid request gets {field} = {codes} (Success; E8)", e
                )
            )
    return found


def _schema_error(e: Exchange, ctx: JudgeContext) -> str | None:
    assert e.response is not None
    if e.response.truncated:
        return f"a body longer than the cap ({len(e.response.body)} bytes kept)"
    if not e.response.is_json:
        problem = getattr(e.response, "json_problem", None)
        return f"a body that is not JSON ({problem})" if problem else "a body that is not JSON"
    error = best_match(ctx.response_validator.iter_errors(e.response.json))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "the body"
    return f"{where}: {error.message}"


@judgement("M2", "run")
def responses_match_schema(exchanges: Sequence[Exchange], ctx: JudgeContext) -> list[Finding]:
    found = []
    for e in exchanges:
        if e.response is None:
            continue  # M9's business
        if 300 <= e.response.status < 400:
            where = e.response.header("location") or "no Location"
            found.append(
                ctx.finding(
                    "M2",
                    f"a redirect HTTP {e.response.status} to {where} (not followed)",
                    "every answer is a JSON object matching the response schema; the suite never follows redirects",
                    e,
                )
            )
            continue
        problem = _schema_error(e, ctx)
        if problem is not None:
            found.append(
                ctx.finding(
                    "M2",
                    f"{shown(e)}: {problem}",
                    "every answer is a JSON object matching the response schema (E1, E2)",
                    e,
                )
            )
    return found


# Why a case rule has no case to judge: the contract lacks the fields (or field roles) its cases are built from.
# Each mirrors what cases.py builds the rule's cases from; the reason quotes what the document lacks.
def _without_typed_fields(ctx: JudgeContext) -> str | None:
    if any(f.judge_type for f in ctx.contract.fields):
        return None
    return "no field's type is judged (the contract marks every field judge_type: false)"


def _without_credentials(ctx: JudgeContext) -> str | None:
    return None if ctx.contract.credential_fields else "the document names no credential field"


def _without_request_id(ctx: JudgeContext) -> str | None:
    return None if ctx.contract.request_id_field else "the document names no request id field (DESIGN.md E5)"


def _judged_empty(f: Field) -> bool:
    """Whether an empty string in this field is judged as a missing value (S1; S9's missing_field)."""
    return f.required and f.judge_missing and "string" in f.types


def _without_required_strings(ctx: JudgeContext) -> str | None:
    if any(_judged_empty(f) for f in ctx.contract.fields):
        return None
    return "the document names no required string field (an empty string is judged for those only)"


valid_missing = judgement("M3", "case")(_must_be_refused("M3", "a request lacking a required field gets an error"))
valid_types = judgement("M4", "case", not_applicable=_without_typed_fields)(
    _must_be_refused("M4", "a field of another JSON type than documented gets an error")
)
valid_auth = judgement("M5", "case", not_applicable=_without_credentials)(
    _must_be_refused("M5", "a wrong credential gets an error")
)


@judgement("M6", "case")
def malformed_input_handled(exchanges: Sequence[Exchange], ctx: JudgeContext) -> list[Finding]:
    found = _unanswered(exchanges, "M6", ctx)
    for e in exchanges:
        if e.response is None:
            continue
        if e.response.status >= 500:
            found.append(ctx.finding("M6", shown(e), "malformed input never gets a 5xx (DESIGN.md E4)", e))
        elif not e.response.is_json:
            found.append(
                ctx.finding("M6", shown(e), "malformed input gets a JSON answer, never an HTML or empty one", e)
            )
    return found


@judgement("M7", "case", not_applicable=_without_request_id)
def replay_follows_policy(exchanges: Sequence[Exchange], ctx: JudgeContext) -> list[Finding]:
    found = _unanswered(exchanges, "M7", ctx)
    if found or len(exchanges) < 2:
        return found
    first, *repeats = exchanges
    first_code = code_of(first, ctx)
    success = ctx.contract.success_code
    policy = ctx.replay_policy
    for again in repeats:
        assert again.response is not None
        code = code_of(again, ctx)
        if again.response.status >= 500:
            found.append(ctx.finding("M7", shown(again), "a repeated uuid never gets a 5xx", again))
            continue
        rejected = _is_rejection(again, ctx)
        same = code is not None and code == first_code
        if policy == "idempotent":
            ok, rule = (
                same,
                f"the same {ctx.contract.code_field} as the first answer ({first_code!r}) (--uuid-replay idempotent)",
            )
        elif policy == "reject":
            ok, rule = rejected, "a non-zero code for a repeated uuid (--uuid-replay reject)"
        else:
            ok = same or rejected
            rule = (
                f"the same {ctx.contract.code_field} as the first answer ({first_code!r}) "
                "or a rejection (--uuid-replay either)"
            )
        if first_code is not None and first_code != success and code == success:
            ok, rule = False, "a repeat of a refused request is never accepted"
        if not ok:
            found.append(ctx.finding("M7", f"{shown(again)} after a first answer {shown(first)}", rule, again))
    return found


@judgement("M8", "run")
def error_status_never_success(exchanges: Sequence[Exchange], ctx: JudgeContext) -> list[Finding]:
    field, success = ctx.contract.code_field, ctx.contract.success_code
    return [
        ctx.finding("M8", shown(e), f"a non-2xx status never carries {field} = {success} (DESIGN.md E4)", e)
        for e in exchanges
        if e.response is not None and not 200 <= e.response.status < 300 and code_of(e, ctx) == success
    ]


@judgement("M9", "run")
def answers_complete_in_time(exchanges: Sequence[Exchange], ctx: JudgeContext) -> list[Finding]:
    found = []
    not_sent = [e for e in exchanges if e.not_sent]
    for e in exchanges:
        if e.response is None and not e.not_sent:
            found.append(
                ctx.finding(
                    "M9", f"{e.label}: {e.failure}", f"every answer arrives complete within {ctx.timeout:g} s", e
                )
            )
    if not_sent:
        reason = not_sent[0].failure or "the target stopped answering"
        found.append(
            ctx.finding(
                "M9",
                f"{len(not_sent)} requests not sent: {reason}",
                "every answer arrives complete within the timeout",
                None,
            )
        )
    return found


# --- SHOULD -------------------------------------------------------------------------------------

empty_refused = judgement("S1", "case", not_applicable=_without_required_strings)(
    _must_be_refused("S1", "an empty required field gets an error")
)


@judgement("S2", "run")
def same_defect_same_code(exchanges: Sequence[Exchange], ctx: JudgeContext) -> list[Finding]:
    """Exchanges are grouped by the defect key of the case that sent them."""
    by_defect: dict[str, dict[int, Exchange]] = defaultdict(dict)
    for e in exchanges:
        code = code_of(e, ctx)
        if e.defect and not e.setup and code is not None:
            by_defect[e.defect].setdefault(code, e)
    return [
        ctx.finding(
            "S2",
            f"codes {sorted(codes)} for the same defect ({defect})",
            "the same kind of defect gets the same code every time",
            next(iter(codes.values())),
        )
        for defect, codes in sorted(by_defect.items())
        if len(codes) > 1
    ]


def _without_description_field(ctx: JudgeContext) -> str | None:
    return None if ctx.contract.description_field else "the document names no description field in the response"


@judgement("S3", "run", not_applicable=_without_description_field)
def errors_described(exchanges: Sequence[Exchange], ctx: JudgeContext) -> list[Finding]:
    name = ctx.contract.description_field
    if name is None:
        return []
    found = []
    for e in exchanges:
        code = code_of(e, ctx)
        if code is None or code == ctx.contract.success_code:
            continue
        value = e.response.json.get(name) if e.response else None
        if not isinstance(value, str) or not value.strip():
            found.append(
                ctx.finding(
                    "S3",
                    f"{ctx.contract.code_field}={code} with {name}={value!r}",
                    f"an error carries a non-empty {name!r}",
                    e,
                )
            )
    return found[:20]


def _masked_headers(exchange: Exchange) -> list[str]:
    """The response's header lines (and status line) where the redactor put a secret's mask."""
    r = exchange.response
    if r is None:
        return []
    lines = [f"{name}: {value}" for name, value in r.headers] + [f"HTTP {r.status} {r.reason}"]
    return [line for line in lines if REDACTED in line]


@judgement("S4", "run")
def secrets_not_echoed(exchanges: Sequence[Exchange], ctx: JudgeContext) -> list[Finding]:
    found = []
    for e in exchanges:
        headers = _masked_headers(e)
        if not (e.secret_echoed or headers):
            continue
        where = f" in {headers[0]!r}" if headers else ""
        found.append(
            ctx.finding(
                "S4",
                f"a response containing a secret (shown as ***){where}: {shown(e)}",
                "a response never echoes the token (DESIGN.md E6)",
                e,
            )
        )
    return found


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@judgement("S5", "run")
def latency_within_objective(exchanges: Sequence[Exchange], ctx: JudgeContext) -> list[Finding]:
    elapsed = [e.elapsed for e in exchanges if e.response is not None]
    p95_ms = percentile(elapsed, 95) * 1000
    if p95_ms <= ctx.profile.p95_ms:
        return []
    return [
        ctx.finding(
            "S5",
            f"p95 latency {p95_ms:.0f} ms over {len(elapsed)} answers",
            f"p95 within the profile's objective of {ctx.profile.p95_ms:.0f} ms",
            None,
        )
    ]


def code_forms(exchanges: Sequence[Exchange], ctx: JudgeContext) -> dict[str, int]:
    """How many answers carried the code as an integer, and how many as a digit string (DESIGN.md E1)."""
    forms: dict[str, int] = defaultdict(int)
    for e in exchanges:
        if code_of(e, ctx) is not None:
            assert e.response is not None
            value = e.response.json[ctx.contract.code_field]
            forms["digit string" if isinstance(value, str) else "integer"] += 1
    return dict(forms)


@judgement("S6", "run")
def one_code_form(exchanges: Sequence[Exchange], ctx: JudgeContext) -> list[Finding]:
    forms = code_forms(exchanges, ctx)
    if len(forms) < 2:
        return []
    return [
        ctx.finding(
            "S6",
            f"{ctx.contract.code_field} as {json.dumps(forms)}",
            "one form for the code, an integer or a digit string (DESIGN.md E1)",
            None,
        )
    ]


def _without_code_table(ctx: JudgeContext) -> str | None:
    if ctx.code_table:
        return None
    return (
        "no code table declared in the target profile (--profile) nor in the contract "
        "(derive reads it from the provider's Error Code page; DESIGN.md E3)"
    )


@judgement("S7", "run", not_applicable=_without_code_table)
def codes_declared(exchanges: Sequence[Exchange], ctx: JudgeContext) -> list[Finding]:
    table = ctx.code_table
    if not table:
        return []
    declared = set(table) | {ctx.contract.success_code}
    seen: dict[int, Exchange] = {}
    for e in exchanges:
        code = code_of(e, ctx)
        if code is not None and code not in declared:
            seen.setdefault(code, e)
    return [
        ctx.finding(
            "S7",
            f"code {code} not in {ctx.code_table_name}",
            f"codes declared in the code table: {sorted(declared)} (DESIGN.md E3)",
            e,
        )
        for code, e in sorted(seen.items())
    ]


def _json_media(media: str | None) -> bool:
    return media is not None and (media == "application/json" or media.endswith("+json"))


@judgement("S8", "run")
def json_media_type(exchanges: Sequence[Exchange], ctx: JudgeContext) -> list[Finding]:
    seen: dict[str | None, Exchange] = {}
    for e in exchanges:
        if e.response is not None and e.response.is_json and not _json_media(e.response.media_type):
            seen.setdefault(e.response.media_type, e)
    return [
        ctx.finding(
            "S8",
            f"a JSON body sent as {media or 'no Content-Type'}",
            "a JSON body comes with a JSON media type (DESIGN.md E9)",
            e,
        )
        for media, e in seen.items()
    ]


# --- S9: the code the code table names for a kind of defect -----------------------------------------

# The kind of defect a case probes, by the first part of its "same kind of defect" key (cases.py:
# "missing:<field>", "empty:<field>", "auth:<field>"). No case probes an unknown user yet, so the
# contract's `unknown_user` codes are read but not judged.
_DEFECT_KINDS = {"missing": "missing_field", "empty": "missing_field", "auth": "bad_credentials"}
_KIND_WORDS = {"missing_field": "a missing or empty required field", "bad_credentials": "a wrong credential"}


def _kind_of(exchange: Exchange, ctx: JudgeContext) -> str | None:
    if exchange.setup:  # the valid request that prepares a probe is no defect
        return None
    what, _, name = exchange.defect.partition(":")
    kind = _DEFECT_KINDS.get(what)
    if kind is None or what != "empty":
        return kind
    field = next((f for f in ctx.contract.fields if f.name == name), None)
    return kind if field is not None and _judged_empty(field) else None  # an empty optional field is no defect


def _judged_kinds(ctx: JudgeContext) -> dict[str, tuple[int, ...]]:
    kinds = ctx.contract.codes.kinds if ctx.contract.codes else {}
    return {kind: codes for kind, codes in kinds.items() if kind in _KIND_WORDS and codes}


def _without_kinds(ctx: JudgeContext) -> str | None:
    if _judged_kinds(ctx):
        return None
    if ctx.contract.codes is None:
        return "the contract carries no code table (derive reads the provider's Error Code page)"
    named = sorted(ctx.contract.codes.kinds)
    if not named:
        return f"the code table of {ctx.contract.codes.source} names no code for a missing field or a wrong credential"
    return f"the code table names codes for {', '.join(named)} only, and no case of the suite probes that kind"


@judgement("S9", "run", not_applicable=_without_kinds)
def kind_gets_its_code(exchanges: Sequence[Exchange], ctx: JudgeContext) -> list[Finding]:
    """A refusal with a documented code of another kind. An undocumented code is S7's business, success M3's/M5's."""
    kinds, table = _judged_kinds(ctx), ctx.code_table
    seen: dict[tuple[str, int], Exchange] = {}
    for e in exchanges:
        kind = _kind_of(e, ctx)
        code = code_of(e, ctx)
        if kind not in kinds or code is None or code == ctx.contract.success_code or code not in table:
            continue
        if code not in kinds[kind]:
            seen.setdefault((kind, code), e)
    documented = ctx.contract.codes.table if ctx.contract.codes else {}
    source = ctx.contract.codes.source if ctx.contract.codes else ""
    return [
        ctx.finding(
            "S9",
            f"{ctx.contract.code_field}={code} ({table[code]!r}) to {_KIND_WORDS[kind]} ({e.label})",
            f"{kind}: " + ", ".join(f"{c} ({documented.get(c, '')!r})" for c in kinds[kind]) + f" ({source})",
            e,
        )
        for (kind, code), e in sorted(seen.items())
    ]
