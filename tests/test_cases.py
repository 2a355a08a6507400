"""The plan: every case the issue lists, drawn deterministically from the seed, uuids always fresh."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from kyren_conformance import cases
from kyren_conformance.cases import build_cases, near_misses, plan_cases
from kyren_conformance.contract import load_contract
from kyren_conformance.exchange import OutgoingRequest
from kyren_conformance.resources import default_contract_path

CONTRACT = load_contract(default_contract_path())
VALUES = {"secureLogin": "partner-1", "userId": "12345", "gameId": "g1", "token": "Secret-Token"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _bodies(seed: int) -> list[bytes]:
    return [
        UUID.sub("U", s.body.decode("utf-8", "replace")).encode()
        for c in build_cases(CONTRACT, VALUES, seed)
        for s in c.steps
    ]


def test_same_seed_same_requests_other_seed_other_values() -> None:
    assert _bodies(7) == _bodies(7)
    assert _bodies(7) != _bodies(8)


def test_uuids_are_fresh_for_every_request_but_a_replay() -> None:
    cases = build_cases(CONTRACT, VALUES, 0)
    seen = [UUID.findall(s.body.decode("utf-8", "replace")) for c in cases if c.group != "uuid_replay" for s in c.steps]
    flat = [u for found in seen for u in found]
    assert len(flat) == len(set(flat)) > 50
    for replay in (c for c in cases if c.group == "uuid_replay"):
        first, again = replay.steps
        if replay.param.startswith("known_uuid_wrong_"):  # the uuid of a valid request, with a wrong credential
            name = replay.param.removeprefix("known_uuid_wrong_")
            assert first.setup and not again.setup and replay.rules == ("M5",)
            assert first.payload["uuid"] == again.payload["uuid"]
            assert first.payload[name] == VALUES[name] != again.payload[name]
        else:
            assert first.body == again.body
    known = [c.param for c in cases if c.param.startswith("known_uuid_wrong_")]
    assert sorted(known) == ["known_uuid_wrong_secureLogin", "known_uuid_wrong_token"]


def test_the_cases_the_issue_lists() -> None:
    ids = {c.id for c in build_cases(CONTRACT, VALUES, 0)}
    for field in ("secureLogin", "userId", "token", "uuid"):
        assert f"missing_field[{field}]" in ids
        assert f"empty_string[{field}]" in ids
    for field in ("secureLogin", "userId", "token", "uuid", "gameId"):
        for kind in ("number", "boolean", "null", "array", "object"):
            assert f"wrong_type[{field}-{kind}]" in ids
        assert f"malformed_input[{field}-long]" in ids
    assert "wrong_type[userId-as_number]" in ids  # a numeric user id re-encoded as a number
    assert {"valid_request[required_fields_only]", "valid_request[with_gameId]"} <= ids
    assert {f"wrong_credential[{f}-random]" for f in ("secureLogin", "token")} <= ids
    for name in (
        "not_json",
        "json_array",
        "json_null",
        "no_content_type",
        "text_plain",
        "unknown_fields",
        "empty_body",
    ):
        assert f"malformed_input[{name}]" in ids


def test_valid_requests_match_the_request_schema_and_invalid_ones_do_not() -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(CONTRACT.request_schema)
    for case in build_cases(CONTRACT, VALUES, 0):
        for step in case.steps:
            if step.payload is None or case.group not in ("valid_request", "missing_field", "wrong_type"):
                continue
            assert validator.is_valid(step.payload) is (case.group == "valid_request"), case.id


def test_long_values_are_several_kilobytes_and_without_game_id_no_with_case() -> None:
    cases = build_cases(CONTRACT, {k: v for k, v in VALUES.items() if k != "gameId"}, 0)
    long_user = next(c for c in cases if c.id == "malformed_input[userId-long]")
    assert len(json.loads(long_user.steps[0].body)["userId"]) >= 4096
    assert [c.id for c in cases if c.group == "valid_request"] == ["valid_request[required_fields_only]"]


def test_near_misses_differ_from_the_real_value() -> None:
    assert near_misses("Ab1") == {
        "one_char_shorter": "Ab",
        "one_char_longer": "Ab11",
        "padded": " Ab1 ",
        "trailing_space": "Ab1 ",
        "last_char_changed": "Abx",
        "case_swapped": "aB1",
    }
    assert "case_swapped" not in near_misses("123")
    # the changed last character differs whatever the case, so a case-insensitive compare refuses it too
    assert near_misses("abX")["last_char_changed"] == "aby"
    assert near_misses("abx")["last_char_changed"] == "aby"
    assert near_misses("a") == {"one_char_longer": "aa", "padded": " a ", "trailing_space": "a ",
                                "last_char_changed": "x", "case_swapped": "A"}  # fmt: skip


def test_every_credential_field_gets_the_trailing_space_and_same_length_probes() -> None:
    cases = {c.id: c for c in build_cases(CONTRACT, VALUES, 0)}
    for field in ("secureLogin", "token"):
        real = VALUES[field]
        for kind, sent in (("trailing_space", real + " "), ("last_char_changed", real[:-1] + "x")):
            case = cases[f"wrong_credential[{field}-{kind}]"]
            assert case.rules == ("M5",) and case.defect == f"auth:{field}"
            (step,) = case.steps
            payload = json.loads(step.body)
            assert payload[field] == sent and len(sent) == len(real) + (kind == "trailing_space")
            assert {k: v for k, v in payload.items() if k not in (field, "uuid")} == {
                k: v for k, v in VALUES.items() if k != field
            }


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 7, 8, 12345])
def test_every_field_gets_a_4_byte_utf8_value_under_M6_whatever_the_seed(seed: int) -> None:
    cases = {c.id: c for c in build_cases(CONTRACT, VALUES, seed)}
    for field in CONTRACT.fields:
        case = cases[f"malformed_input[{field.name}-four_byte_utf8]"]
        assert case.rules == ("M6",)
        (step,) = case.steps
        sent = json.loads(step.body)[field.name]
        assert any(ord(c) > 0xFFFF for c in sent) and len(sent.encode("utf-8")) > len(sent)
        assert "\\U" not in step.body.decode() and "\\ud83c" not in step.body.decode()  # raw UTF-8, not escaped
        assert b"\xf0\x9f" in step.body  # the 4-byte sequence itself is on the wire


def test_a_plan_is_the_cases_without_their_requests_made() -> None:
    plans = plan_cases(CONTRACT, VALUES, 0)
    built = build_cases(CONTRACT, VALUES, 0)
    assert [(p.id, p.rules, p.defect) for p in plans] == [(c.id, c.rules, c.defect) for c in built]
    assert [p.size for p in plans] == [len(c.steps) for c in built]
    valid = next(p for p in plans if p.group == "valid_request")
    first, again = valid.build(), valid.build()  # made anew each time: the same request, a fresh uuid
    assert first.steps[0].label == again.steps[0].label
    assert first.steps[0].payload["uuid"] != again.steps[0].payload["uuid"]
    assert {k: v for k, v in first.steps[0].payload.items() if k != "uuid"} == {
        k: v for k, v in again.steps[0].payload.items() if k != "uuid"
    }
    replay = next(p for p in plans if p.id == "uuid_replay[valid]").build()
    assert replay.steps[0].body == replay.steps[1].body  # a replay's steps share their uuid


def test_planning_makes_no_request(monkeypatch: pytest.MonkeyPatch) -> None:
    # What a run keeps per case until its end is the plan; each body is made when its case is sent.
    made: list[str] = []
    for name in ("json_request", "raw_request"):
        original = getattr(cases._Builder, name)

        def counting(self: object, *args: object, _original: Any = original, **kwargs: object) -> OutgoingRequest:
            made.append(str(args[1]))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cases._Builder, name, counting)
    plans = plan_cases(CONTRACT, VALUES, 0)
    assert made == []
    built = [plan.build() for plan in plans]
    again = "the same request again: "  # a replay's second step is its first, sent again: made once
    assert sorted(made) == sorted(s.label for c in built for s in c.steps if not s.label.startswith(again))
