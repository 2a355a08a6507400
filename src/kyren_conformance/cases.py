"""The plan of a run: contract + configured values + seed -> the cases to send.

A case is one named situation (e.g. "M3 missing_field[uuid]"): one or more requests sent in order,
and the rule ids that judge what comes back. Field names come from the contract only.

A run plans its cases (`plan_cases`): hypothesis draws the invalid values up front, once, and each case's
requests are made only when it is sent (`PlannedCase.build`), so a run of 10,000 requests never holds
10,000 bodies. The draws are kept between runs (`draw_cache.py`): a run that drew them before does not
import hypothesis at all.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from kyren_conformance import draw_cache, draws
from kyren_conformance.contract import Contract, Field, placeholder
from kyren_conformance.exchange import OutgoingRequest

Steps = Callable[[], tuple[OutgoingRequest, ...]]

# Characters outside the Basic Multilingual Plane: 4 bytes in UTF-8, a surrogate pair in UTF-16.
FOUR_BYTE_TEXT = "player \U0001f3b0\U0001f600"

# The JSON types a wrong-type kind is valid for: a field accepting one of them gets no case of that kind.
# A drawn number may be integral, so a field taking integers gets a `fraction` instead.
_KIND_VALID_FOR = {
    "string": ("string",),
    "number": ("number", "integer"),
    "boolean": ("boolean",),
    "null": (),
    "array": ("array",),
    "object": ("object",),
}
_OTHER_TYPES = ("number", "boolean", "null", "array", "object")  # drawn in this order, every run


@dataclass(frozen=True)
class Case:
    group: str  # what kind of case: "missing_field", "wrong_type", ...
    param: str  # which one: "uuid", "userId-number", ...
    rules: tuple[str, ...]  # rule ids that judge this case's exchanges
    steps: tuple[OutgoingRequest, ...]  # sent in order, on one worker
    defect: str = ""  # "same kind of defect" key for the consistency rule; "" for valid requests

    @property
    def id(self) -> str:
        return f"{self.group}[{self.param}]"

    @property
    def size(self) -> int:
        """Its number of requests."""
        return len(self.steps)

    def build(self) -> Case:
        return self


@dataclass(frozen=True, eq=False, slots=True)
class PlannedCase:
    """A case whose requests are made when it is sent: `build()` makes them (with fresh request ids each time).

    What a run holds per case until the end (the tests name it, the report counts its rules) is this, not
    its bodies: a body is made just before it is sent and is the exchange's from then on.
    """

    group: str
    param: str
    rules: tuple[str, ...]
    make: Steps = field(repr=False)
    defect: str = ""
    size: int = 1  # its number of requests, known without making them

    @property
    def id(self) -> str:
        return f"{self.group}[{self.param}]"

    def build(self) -> Case:
        return Case(self.group, self.param, self.rules, self.make(), self.defect)


AnyCase = Case | PlannedCase


def _one(make: Callable[[], OutgoingRequest]) -> Steps:
    return lambda: (make(),)


class _Builder:
    """Holds what every case needs: the contract, the configured values and a draw."""

    def __init__(self, contract: Contract, values: Mapping[str, Any], draw: draws.Draw) -> None:
        self.contract = contract
        self.values = values
        self.draw = draw
        self.request_id = contract.request_id_field
        # One drawn value per kind, shared by every field: drawing is most of a run's start-up,
        # and a server's type or encoding check does not care which number or which emoji it gets.
        self.other_types = {kind: draw("other_json_type", kind) for kind in _OTHER_TYPES}
        self.odd_text = {
            "long": draw("long_text"),
            "non_ascii": draw("non_ascii_text"),
            "control_chars": draw("control_text"),
            # fixed, not drawn: a server that fails only on 4-byte UTF-8 (a MySQL `utf8` column) is caught on
            # every seed, under M6, rather than on the seeds whose draw happens to hold an emoji
            "four_byte_utf8": FOUR_BYTE_TEXT,
        }
        # Drawn on first use only, so a contract of string fields draws exactly what it always drew.
        self._lazy: dict[str, Any] = {}
        # The valid payload with and without the optional fields, in the contract's order; a request id's
        # place is kept (None) and filled with a fresh id for each request.
        self._valid = {optional: self._template(optional) for optional in (True, False)}

    def _template(self, optional: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {}
        for f in self.contract.fields:
            if f.role == "request_id":
                payload[f.name] = None
            elif f.name in self.values and (f.required or optional):
                payload[f.name] = self.values[f.name]
        return payload

    def plan(
        self, group: str, param: str, rules: tuple[str, ...], make: Steps, defect: str = "", size: int = 1
    ) -> PlannedCase:
        return PlannedCase(group, param, rules, make, defect, size)

    def drawn(self, kind: str) -> Any:
        """The run's value of a wrong-type kind: "string", "fraction" or one of the other JSON types."""
        if kind in self.other_types:
            return self.other_types[kind]
        if kind not in self._lazy:
            self._lazy[kind] = self.draw("text_value" if kind == "string" else "fraction")
        return self._lazy[kind]

    def valid_payload(self, *, optional: bool = True) -> dict[str, Any]:
        payload = dict(self._valid[optional])
        if self.request_id is not None:
            payload[self.request_id.name] = str(uuid.uuid4())
        return payload

    def json_request(self, payload: Any, label: str, content_type: str | None = "") -> OutgoingRequest:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        ctype = self.contract.content_type if content_type == "" else content_type
        return OutgoingRequest(body=body, content_type=ctype, label=label, payload=payload)

    def raw_request(self, body: bytes, label: str, content_type: str | None = "") -> OutgoingRequest:
        ctype = self.contract.content_type if content_type == "" else content_type
        return OutgoingRequest(body=body, content_type=ctype, label=label)

    def with_value(self, f: Field, value: Any, label: str) -> OutgoingRequest:
        payload = self.valid_payload()
        payload[f.name] = value
        return self.json_request(payload, label)

    def reference_value(self, f: Field) -> Any:
        """The value a field normally carries, to re-encode or to mutate."""
        if f.role == "request_id":
            return str(uuid.uuid4())
        for known in (self.values.get(f.name), f.mock_value, f.example):
            if known is not None and known != "":
                return known
        return placeholder(f.types[0], "value")


def _with_value(b: _Builder, f: Field, value: Any, label: str) -> tuple[OutgoingRequest, ...]:
    return (b.with_value(f, value, label),)


def _valid_requests(b: _Builder) -> list[PlannedCase]:
    optional = [f for f in b.contract.fields if not f.required and f.name in b.values]
    plans = [
        b.plan(
            "valid_request",
            "required_fields_only",
            ("M1",),
            _one(lambda: b.json_request(b.valid_payload(optional=False), "valid, required fields only")),
        )
    ]
    if optional:
        names = "+".join(f.name for f in optional)
        make = _one(lambda: b.json_request(b.valid_payload(), f"valid, with {names}"))
        plans.append(b.plan("valid_request", f"with_{names}", ("M1",), make))
    return plans


def _without_optional(b: _Builder) -> str:
    """The suffix of cases sent without the configured optional fields, or "" when there are none."""
    names = [f.name for f in b.contract.fields if not f.required and f.name in b.values]
    return "without_" + "+".join(names) if names else ""


def _missing(b: _Builder, name: str, optional: bool, label: str) -> tuple[OutgoingRequest, ...]:
    payload = b.valid_payload(optional=optional)
    del payload[name]
    return (b.json_request(payload, label),)


def _missing_fields(b: _Builder) -> list[PlannedCase]:
    # Once with the optional fields and once without: a server may check in one branch only
    # (closing one game's session vs every session).
    without = _without_optional(b)
    plans = []
    for f in (f for f in b.contract.required_fields if f.judge_missing):
        for suffix in ("", without) if without else ("",):
            label = f"{f.name} missing" + (f", {suffix.replace('_', ' ')}" if suffix else "")
            param = f"{f.name}-{suffix}" if suffix else f.name
            make = partial(_missing, b, f.name, not suffix, label)
            plans.append(b.plan("missing_field", param, ("M3",), make, f"missing:{f.name}"))
    return plans


def _reencoded(value: Any) -> dict[str, Any]:
    """The valid value itself as other JSON types, where that reading is natural."""
    out: dict[str, Any] = {"as_array": [value]}
    if isinstance(value, str):
        if value.lstrip("-").isdecimal():
            out["as_number"] = int(value)
        if value.lower() in ("true", "false"):
            out["as_boolean"] = value.lower() == "true"
    elif isinstance(value, int | float):  # bool included
        out["as_string"] = json.dumps(value)
    return out


def wrong_type_kinds(f: Field) -> list[str]:
    """The drawn kinds of value that are not of the field's types."""
    kinds = [kind for kind, valid_for in _KIND_VALID_FOR.items() if not set(valid_for) & set(f.types)]
    if "integer" in f.types and "number" not in f.types:
        kinds.append("fraction")
    return kinds


def _wrong_types(b: _Builder) -> list[PlannedCase]:
    plans = []
    for f in (f for f in b.contract.fields if f.judge_type):
        variants = {kind: b.drawn(kind) for kind in wrong_type_kinds(f)}
        variants |= {k: v for k, v in _reencoded(b.reference_value(f)).items() if not f.accepts(v)}
        for kind, value in variants.items():
            make = partial(_with_value, b, f, value, f"{f.name} as {kind.replace('_', ' ')}")  # values in the body
            plans.append(b.plan("wrong_type", f"{f.name}-{kind}", ("M4",), make, f"type:{f.name}"))
    return plans


def near_misses(real: str) -> dict[str, str]:
    """Values an integrator's comparison gets wrong: prefix, suffix, case-insensitive or trimmed matches, one that
    ignores the last character. Each holds the real value or all of it but its last character, so the redaction's
    masks of the secret and of `one_char_shorter` cover every one (conformance_run._secrets)."""
    out = {
        "one_char_shorter": real[:-1],
        "one_char_longer": real + real[-1:],
        "padded": f" {real} ",
        "trailing_space": real + " ",  # a right trim only (rstrip, a CHAR(n) column) still refuses `padded`
        "last_char_changed": real[:-1] + _other_char(real[-1:]),  # the same length: a compare that stops one short
    }
    if real.swapcase() != real:
        out["case_swapped"] = real.swapcase()
    return {k: v for k, v in out.items() if v and v != real}


def _other_char(last: str) -> str:
    """A letter that differs from `last` whatever the case: a case-insensitive compare must not make it pass."""
    return "x" if last.casefold() != "x" else "y"


def _wrong_without_optional(b: _Builder, name: str, value: str, label: str) -> tuple[OutgoingRequest, ...]:
    return (b.json_request({**b.valid_payload(optional=False), name: value}, label),)


def _wrong_credentials(b: _Builder) -> list[PlannedCase]:
    without = _without_optional(b)
    plans = []
    for f in b.contract.credential_fields:
        real = str(b.values.get(f.name, ""))  # a credential is a string (the contract says so)
        variants = {"random": b.draw("wrong_text", real), **near_misses(real)}
        for kind, value in variants.items():
            make = partial(_with_value, b, f, value, f"wrong {f.name} ({kind})")
            plans.append(b.plan("wrong_credential", f"{f.name}-{kind}", ("M5",), make, f"auth:{f.name}"))
        if without:  # the branch without optional fields must authenticate too
            label = f"wrong {f.name} (random), {without.replace('_', ' ')}"
            make = partial(_wrong_without_optional, b, f.name, variants["random"], label)
            plans.append(b.plan("wrong_credential", f"{f.name}-random-{without}", ("M5",), make, f"auth:{f.name}"))
    return plans


def _form(b: _Builder) -> bytes:
    return "&".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in b.valid_payload().items()).encode()


# A body that is not a JSON object lacks every required field: it must be refused too (M3), not only
# answered sanely (M6). A lenient reading of the media type (no or another Content-Type) may succeed.
_NOT_AN_OBJECT = {"not_json", "truncated_json", "empty_body", "json_array", "json_string", "json_number", "json_null"}


def _malformed_bodies(b: _Builder) -> list[PlannedCase]:
    # every request gets its own fresh uuid, even a malformed one: a target may remember it
    not_json = b.draw("not_json_bytes")
    extra = b.draw("extra_fields", frozenset(f.name for f in b.contract.fields))
    form_type = "application/x-www-form-urlencoded"
    raw: dict[str, Callable[[], OutgoingRequest]] = {
        "not_json": lambda: b.raw_request(not_json, "a body that is not JSON"),
        "truncated_json": lambda: b.raw_request(
            json.dumps(b.valid_payload()).encode()[:-1], "valid JSON cut by one byte"
        ),
        "empty_body": lambda: b.raw_request(b"", "an empty body"),
        "json_array": lambda: b.json_request([b.valid_payload()], "the valid object inside an array"),
        "json_string": lambda: b.json_request(json.dumps(b.valid_payload()), "the valid object as a JSON string"),
        "json_number": lambda: b.json_request(0, "the JSON number 0"),
        "json_null": lambda: b.json_request(None, "the JSON null"),
        "no_content_type": lambda: b.json_request(b.valid_payload(), "valid JSON, no Content-Type", content_type=None),
        "text_plain": lambda: b.json_request(b.valid_payload(), "valid JSON as text/plain", content_type="text/plain"),
        "form_encoded": lambda: b.raw_request(_form(b), "form-encoded fields", content_type=form_type),
        "unknown_fields": lambda: b.json_request(
            {**b.valid_payload(), **extra}, f"valid plus unknown fields {sorted(extra)}"
        ),
    }
    plans = [
        b.plan("malformed_input", name, ("M6", "M3") if name in _NOT_AN_OBJECT else ("M6",), _one(make), "")
        for name, make in raw.items()
    ]
    for f in b.contract.fields:
        for kind, text in b.odd_text.items():
            make = partial(_with_value, b, f, text, f"{f.name} {kind.replace('_', ' ')}")
            plans.append(b.plan("malformed_input", f"{f.name}-{kind}", ("M6",), make, ""))
    return plans


def _empty_strings(b: _Builder) -> list[PlannedCase]:
    plans = []
    for f in b.contract.fields:
        make = partial(_with_value, b, f, "", f"{f.name} empty")
        if "string" in f.types:
            rules = ("M6", "S1") if f.required and f.judge_missing else ("M6",)
            plans.append(b.plan("empty_string", f.name, rules, make, f"empty:{f.name}"))
        else:  # "" is a value of the wrong type, not an empty one
            rules, defect = (("M6", "M4"), f"type:{f.name}") if f.judge_type else (("M6",), "")
            plans.append(b.plan("empty_string", f.name, rules, make, defect))
    return plans


def _known_uuid_wrong(b: _Builder, credential: Field, wrong: str) -> tuple[OutgoingRequest, ...]:
    # A server that answers a known uuid from its replay cache before it checks the credentials gives a
    # wrong credential the first answer's success: the wrong one is refused whatever the replay policy.
    known = b.json_request(b.valid_payload(), "valid request (its uuid is then reused)")
    known = dataclasses.replace(known, setup=True)
    payload = {**known.payload, credential.name: wrong}
    return (known, b.json_request(payload, f"wrong {credential.name}, with the uuid of an answered valid request"))


def _replay_of(b: _Builder, credential: Field | None, wrong: str) -> tuple[OutgoingRequest, ...]:
    """A request and the same request again: a valid one, or one with a wrong credential."""
    if credential is None:
        first = b.json_request(b.valid_payload(), "valid request")
    else:
        first = b.with_value(credential, wrong, f"wrong {credential.name}")
    return (first, _again(first))


def _replays(b: _Builder) -> list[PlannedCase]:
    if b.request_id is None:
        return []
    plans = [b.plan("uuid_replay", "valid", ("M7",), partial(_replay_of, b, None, ""), size=2)]
    credential = next(iter(b.contract.credential_fields), None)
    if credential is not None:
        make = partial(_replay_of, b, credential, "wrong-" + str(b.reference_value(credential))[:8])
        plans.append(b.plan("uuid_replay", f"wrong_{credential.name}", ("M7",), make, size=2))
    for credential in b.contract.credential_fields:
        make = partial(_known_uuid_wrong, b, credential, "wrong-" + str(b.reference_value(credential))[:8])
        param = f"known_uuid_wrong_{credential.name}"
        plans.append(b.plan("uuid_replay", param, ("M5",), make, f"auth:{credential.name}", size=2))
    return plans


def with_fresh_request_ids(case: Case, contract: Contract) -> Case:
    """The same case with new request ids (the same new id where its steps shared one), to send it again.

    A target may have processed a request whose answer never reached us; its id is spent.
    """
    rid = contract.request_id_field
    if rid is None:
        return case
    old_ids = {
        s.payload[rid.name]
        for s in case.steps
        if isinstance(s.payload, dict) and isinstance(s.payload.get(rid.name), str)
    }
    renamed = {old: str(uuid.uuid4()) for old in old_ids if old}
    steps = []
    for step in case.steps:
        body, payload = step.body, step.payload
        for old, new in renamed.items():
            body = body.replace(old.encode(), new.encode())
        if isinstance(payload, dict) and isinstance(payload.get(rid.name), str) and payload[rid.name] in renamed:
            payload = {**payload, rid.name: renamed[payload[rid.name]]}
        steps.append(dataclasses.replace(step, body=body, payload=payload))
    return dataclasses.replace(case, steps=tuple(steps))


def _again(request: OutgoingRequest) -> OutgoingRequest:
    return OutgoingRequest(
        request.body, request.content_type, f"the same request again: {request.label}", request.payload
    )


_BUILDERS = (
    _valid_requests,
    _missing_fields,
    _wrong_types,
    _wrong_credentials,
    _malformed_bodies,
    _empty_strings,
    _replays,
)


def _plan(contract: Contract, values: Mapping[str, Any], draw: draws.Draw) -> list[PlannedCase]:
    builder = _Builder(contract, values, draw)
    return [plan for make in _BUILDERS for plan in make(builder)]


def plan_cases(
    contract: Contract, values: Mapping[str, Any], run_seed: int, *, cache: Path | None = None
) -> tuple[PlannedCase, ...]:
    """Every case of a run, its requests not made yet. The same seed draws the same values (uuids are always
    fresh). With `cache` (a folder), the draws are kept there and reused by the next run with the same contract,
    seed and values."""
    # What the draws depend on besides the contract and the seed: a wrong credential is any text but the real
    # one. A secret's value stays out of the key (draw_cache.py); the replay checks it instead (draws.fits).
    shaping = {f.name: values.get(f.name) for f in contract.credential_fields if not f.secret}
    key = draw_cache.draws_key(contract.sha256, run_seed, shaping) if cache is not None else None
    plans = draws.kept_or_drawn(partial(_plan, contract, values), run_seed, cache, key)
    duplicates = [i for i, n in Counter(p.id for p in plans).items() if n > 1]
    if duplicates:  # a contract whose field names collide with our case names
        raise ValueError(f"duplicate case ids: {sorted(duplicates)}")
    return tuple(plans)


def build_cases(contract: Contract, values: Mapping[str, Any], run_seed: int) -> tuple[Case, ...]:
    """Every case of a run, its requests made. The same seed draws the same values (uuids are always fresh)."""
    return tuple(plan.build() for plan in plan_cases(contract, values, run_seed))
