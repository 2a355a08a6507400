"""The plan of a run: contract + configured values + seed -> the cases to send.

A case is one named situation (e.g. "M3 missing_field[uuid]"): one or more requests sent in order,
and the rule ids that judge what comes back. Field names come from the contract only.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from kyren_conformance import strategies
from kyren_conformance.contract import Contract, Field, placeholder
from kyren_conformance.exchange import OutgoingRequest

Draw = Callable[[st.SearchStrategy[Any]], Any]

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


class _Builder:
    """Holds what every case needs: the contract, the configured values and a hypothesis draw."""

    def __init__(self, contract: Contract, values: Mapping[str, Any], draw: Draw) -> None:
        self.contract = contract
        self.values = values
        self.draw = draw
        self.request_id = contract.request_id_field
        # One drawn value per kind, shared by every field: drawing is most of a run's start-up,
        # and a server's type or encoding check does not care which number or which emoji it gets.
        self.other_types = {name: draw(strategy) for name, strategy in strategies.other_json_types().items()}
        self.odd_text = {
            "long": draw(strategies.long_text()),
            "non_ascii": draw(strategies.non_ascii_text()),
            "control_chars": draw(strategies.control_text()),
            # fixed, not drawn: a server that fails only on 4-byte UTF-8 (a MySQL `utf8` column) is caught on
            # every seed, under M6, rather than on the seeds whose draw happens to hold an emoji
            "four_byte_utf8": strategies.FOUR_BYTE_TEXT,
        }
        # Drawn on first use only, so a contract of string fields draws exactly what it always drew.
        self._lazy: dict[str, Any] = {}

    def drawn(self, kind: str) -> Any:
        """The run's value of a wrong-type kind: "string", "fraction" or one of the other JSON types."""
        if kind in self.other_types:
            return self.other_types[kind]
        if kind not in self._lazy:
            self._lazy[kind] = self.draw(strategies.text_value() if kind == "string" else strategies.fraction())
        return self._lazy[kind]

    def valid_payload(self, *, optional: bool = True) -> dict[str, Any]:
        payload: dict[str, Any] = {}
        for f in self.contract.fields:
            if f.role == "request_id":
                payload[f.name] = str(uuid.uuid4())
            elif f.name in self.values and (f.required or optional):
                payload[f.name] = self.values[f.name]
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


def _valid_requests(b: _Builder) -> list[Case]:
    optional = [f for f in b.contract.fields if not f.required and f.name in b.values]
    cases = [
        Case(
            "valid_request",
            "required_fields_only",
            ("M1",),
            (b.json_request(b.valid_payload(optional=False), "valid, required fields only"),),
        )
    ]
    if optional:
        names = "+".join(f.name for f in optional)
        cases.append(
            Case(
                "valid_request", f"with_{names}", ("M1",), (b.json_request(b.valid_payload(), f"valid, with {names}"),)
            )
        )
    return cases


def _without_optional(b: _Builder) -> str:
    """The suffix of cases sent without the configured optional fields, or "" when there are none."""
    names = [f.name for f in b.contract.fields if not f.required and f.name in b.values]
    return "without_" + "+".join(names) if names else ""


def _missing_fields(b: _Builder) -> list[Case]:
    # Once with the optional fields and once without: a server may check in one branch only
    # (closing one game's session vs every session).
    without = _without_optional(b)
    cases = []
    for f in (f for f in b.contract.required_fields if f.judge_missing):
        for suffix in ("", without) if without else ("",):
            payload = b.valid_payload(optional=not suffix)
            del payload[f.name]
            label = f"{f.name} missing" + (f", {suffix.replace('_', ' ')}" if suffix else "")
            param = f"{f.name}-{suffix}" if suffix else f.name
            cases.append(Case("missing_field", param, ("M3",), (b.json_request(payload, label),), f"missing:{f.name}"))
    return cases


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


def _wrong_types(b: _Builder) -> list[Case]:
    cases = []
    for f in (f for f in b.contract.fields if f.judge_type):
        variants = {kind: b.drawn(kind) for kind in wrong_type_kinds(f)}
        variants |= {k: v for k, v in _reencoded(b.reference_value(f)).items() if not f.accepts(v)}
        for kind, value in variants.items():
            request = b.with_value(f, value, f"{f.name} as {kind.replace('_', ' ')}")  # values are in the body
            cases.append(Case("wrong_type", f"{f.name}-{kind}", ("M4",), (request,), f"type:{f.name}"))
    return cases


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


def _wrong_credentials(b: _Builder) -> list[Case]:
    without = _without_optional(b)
    cases = []
    for f in b.contract.credential_fields:
        real = str(b.values.get(f.name, ""))  # a credential is a string (the contract says so)
        variants = {"random": b.draw(strategies.wrong_text(real)), **near_misses(real)}
        for kind, value in variants.items():
            request = b.with_value(f, value, f"wrong {f.name} ({kind})")
            cases.append(Case("wrong_credential", f"{f.name}-{kind}", ("M5",), (request,), f"auth:{f.name}"))
        if without:  # the branch without optional fields must authenticate too
            payload = {**b.valid_payload(optional=False), f.name: variants["random"]}
            request = b.json_request(payload, f"wrong {f.name} (random), {without.replace('_', ' ')}")
            cases.append(Case("wrong_credential", f"{f.name}-random-{without}", ("M5",), (request,), f"auth:{f.name}"))
    return cases


def _malformed_bodies(b: _Builder) -> list[Case]:
    # every request gets its own fresh uuid, even a malformed one: a target may remember it
    form = "&".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in b.valid_payload().items()).encode()
    raw: dict[str, OutgoingRequest] = {
        "not_json": b.raw_request(b.draw(strategies.not_json_bytes()), "a body that is not JSON"),
        "truncated_json": b.raw_request(json.dumps(b.valid_payload()).encode()[:-1], "valid JSON cut by one byte"),
        "empty_body": b.raw_request(b"", "an empty body"),
        "json_array": b.json_request([b.valid_payload()], "the valid object inside an array"),
        "json_string": b.json_request(json.dumps(b.valid_payload()), "the valid object as a JSON string"),
        "json_number": b.json_request(0, "the JSON number 0"),
        "json_null": b.json_request(None, "the JSON null"),
        "no_content_type": b.json_request(b.valid_payload(), "valid JSON, no Content-Type", content_type=None),
        "text_plain": b.json_request(b.valid_payload(), "valid JSON as text/plain", content_type="text/plain"),
        "form_encoded": b.raw_request(form, "form-encoded fields", content_type="application/x-www-form-urlencoded"),
    }
    extra = b.draw(strategies.extra_fields(frozenset(f.name for f in b.contract.fields)))
    raw["unknown_fields"] = b.json_request({**b.valid_payload(), **extra}, f"valid plus unknown fields {sorted(extra)}")
    # A body that is not a JSON object lacks every required field: it must be refused too (M3), not only
    # answered sanely (M6). A lenient reading of the media type (no or another Content-Type) may succeed.
    not_an_object = {
        "not_json",
        "truncated_json",
        "empty_body",
        "json_array",
        "json_string",
        "json_number",
        "json_null",
    }
    cases = [
        Case("malformed_input", name, ("M6", "M3") if name in not_an_object else ("M6",), (req,), "")
        for name, req in raw.items()
    ]
    for f in b.contract.fields:
        for kind, text in b.odd_text.items():
            request = b.with_value(f, text, f"{f.name} {kind.replace('_', ' ')}")
            cases.append(Case("malformed_input", f"{f.name}-{kind}", ("M6",), (request,), ""))
    return cases


def _empty_strings(b: _Builder) -> list[Case]:
    cases = []
    for f in b.contract.fields:
        request = b.with_value(f, "", f"{f.name} empty")
        if "string" in f.types:
            rules = ("M6", "S1") if f.required and f.judge_missing else ("M6",)
            cases.append(Case("empty_string", f.name, rules, (request,), f"empty:{f.name}"))
        else:  # "" is a value of the wrong type, not an empty one
            rules, defect = (("M6", "M4"), f"type:{f.name}") if f.judge_type else (("M6",), "")
            cases.append(Case("empty_string", f.name, rules, (request,), defect))
    return cases


def _replays(b: _Builder) -> list[Case]:
    if b.request_id is None:
        return []
    valid = b.json_request(b.valid_payload(), "valid request")
    cases = [Case("uuid_replay", "valid", ("M7",), (valid, _again(valid)))]
    credential = next(iter(b.contract.credential_fields), None)
    if credential is not None:
        wrong = "wrong-" + str(b.reference_value(credential))[:8]
        first = b.with_value(credential, wrong, f"wrong {credential.name}")
        cases.append(Case("uuid_replay", f"wrong_{credential.name}", ("M7",), (first, _again(first))))
    for credential in b.contract.credential_fields:
        # A server that answers a known uuid from its replay cache before it checks the credentials gives a
        # wrong credential the first answer's success: the wrong one is refused whatever the replay policy.
        known = b.json_request(b.valid_payload(), "valid request (its uuid is then reused)")
        known = dataclasses.replace(known, setup=True)
        payload = {**known.payload, credential.name: "wrong-" + str(b.reference_value(credential))[:8]}
        reused = b.json_request(payload, f"wrong {credential.name}, with the uuid of an answered valid request")
        case = Case("uuid_replay", f"known_uuid_wrong_{credential.name}", ("M5",), (known, reused),
                    f"auth:{credential.name}")  # fmt: skip
        cases.append(case)
    return cases


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


def build_cases(contract: Contract, values: Mapping[str, Any], run_seed: int) -> tuple[Case, ...]:
    """Every case of a run. The same seed draws the same values (uuids are always fresh)."""
    built: list[Case] = []

    # One hypothesis run draws every value. The first example hypothesis tries is the simplest
    # ("0", [], ...); we keep the second, which exercises more.
    @settings(
        max_examples=2, database=None, deadline=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
    )
    @seed(run_seed)
    @given(st.data())
    def draw_all(data: st.DataObject) -> None:
        builder = _Builder(contract, values, data.draw)
        built[:] = [case for make in _BUILDERS for case in make(builder)]

    draw_all()
    ids = [c.id for c in built]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:  # a contract whose field names collide with our case names
        raise ValueError(f"duplicate case ids: {sorted(duplicates)}")
    return tuple(built)
