"""The mock's fault modes and dialects: the registries, and a direct HTTP probe of each variant.

Every fault has a probe that observes its defect; the probe must see the defect on the fault and must
not see it on the reference, so a fault that stopped misbehaving (or a reference that started) fails.
Every dialect has a probe of its own behaviour, and must still pass a small conformance check.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
import requests

from kyren_conformance.contract import Contract, Field, load_contract
from kyren_conformance.mock import DIALECTS, FAULTS, MockServer, Variant
from kyren_conformance.mock.behaviour import Reference, register
from kyren_conformance.resources import default_contract_path

DROP = object()
FAULT_DELAY = 1.0  # seconds: long enough to exceed the probes' 0.5 s timeout, short enough to keep the run fast
TIMEOUT = 0.5
MUSTS = {f"M{i}" for i in range(1, 10)}


@pytest.fixture(scope="module", params=["shipped", "without-codes"])
def contract(request: pytest.FixtureRequest) -> Contract:
    """The shipped contract (the provider's code table), and the same without it (the mock's own codes 1-9)."""
    shipped = load_contract(default_contract_path())
    assert shipped.codes is not None
    return shipped if request.param == "shipped" else replace(shipped, codes=None)


@dataclass
class Probe:
    """A target under probe: the server, a keep-alive session, and the contract's fields by role."""

    server: MockServer
    session: requests.Session

    @property
    def contract(self) -> Contract:
        return self.server.contract

    def field(self, *, role: str, secret: bool | None = None, required: bool | None = None) -> Field:
        return next(
            f
            for f in self.contract.fields
            if f.role == role and secret in (None, f.secret) and required in (None, f.required)
        )

    @property
    def secret(self) -> str:
        return self.field(role="credential", secret=True).name

    @property
    def login(self) -> str:
        return self.field(role="credential", secret=False).name

    @property
    def value(self) -> str:
        return self.field(role="value", required=True).name

    @property
    def optional(self) -> str:
        return self.field(role="value", required=False).name

    @property
    def rid(self) -> str:
        return self.field(role="request_id").name

    def body(self, **overrides: Any) -> dict[str, Any]:
        body = {**self.server.credentials, self.rid: str(uuid.uuid4()), **overrides}
        return {k: v for k, v in body.items() if v is not DROP}

    def post(self, body: Any = None, *, raw: bytes | None = None, **kw: Any) -> requests.Response:
        url = self.server.url + self.contract.http_path
        kw.setdefault("timeout", 5)
        return self.session.post(url, json=body, data=raw, allow_redirects=False, **kw)

    def expected(self, kind: str, builtin: int) -> set[str]:
        """The codes (as text) the reference answers for a kind of defect: the page's, else its own built-in one."""
        codes = self.contract.codes
        return {str(c) for c in codes.kinds[kind]} if codes is not None else {str(builtin)}

    def code(self, response: requests.Response) -> Any:
        try:
            document = response.json()
        except ValueError:
            return "not-json"
        return document.get(self.contract.code_field, "absent") if isinstance(document, dict) else "not-object"

    def succeeded(self, response: requests.Response) -> bool:
        return self.code(response) == self.contract.success_code and type(self.code(response)) is int

    def twice(self, body: dict[str, Any]) -> tuple[requests.Response, requests.Response]:
        return self.post(body), self.post(body)


@pytest.fixture
def probe_for(contract: Contract) -> Iterator[Callable[..., Probe]]:
    started: list[tuple[MockServer, requests.Session]] = []

    def start(fault: str | None = None, dialect: str | None = None) -> Probe:
        server = MockServer(contract, fault=fault, dialect=dialect, fault_delay=FAULT_DELAY).start()
        started.append((server, requests.Session()))
        return Probe(*started[-1])

    yield start
    for server, session in started:
        session.close()
        server.stop()


def _timed_out(p: Probe, body: dict[str, Any]) -> bool:
    try:
        p.post(body, timeout=TIMEOUT)
    except requests.Timeout:
        return True
    return False


def _whole_answer_slow(p: Probe) -> bool:
    started = time.monotonic()
    response = p.post(p.body(), timeout=TIMEOUT)  # a per-read timeout: each byte comes well within it
    return response.ok and time.monotonic() - started > FAULT_DELAY * 0.8


def _slow_answer(p: Probe) -> bool:
    started = time.monotonic()
    p.post(p.body())
    return time.monotonic() - started > 0.3 * FAULT_DELAY * 0.8


def _not_json(response: requests.Response) -> bool:
    try:
        response.json()
    except ValueError:
        return True
    return False


# One probe per fault: True when the defect shows.
DEFECTS: dict[str, Callable[[Probe], bool]] = {
    "missing-field-unchecked": lambda p: p.succeeded(p.post(p.body(**{p.value: DROP}))),
    "uuid-optional": lambda p: p.succeeded(p.post(p.body(**{p.rid: DROP}))),
    "presence-checked-only-with-optional": lambda p: p.succeeded(p.post(p.body(**{p.value: DROP, p.optional: DROP}))),
    "auth-only-with-optional": lambda p: p.succeeded(p.post(p.body(**{p.secret: "wrong", p.optional: DROP}))),
    "types-coerced": lambda p: p.succeeded(p.post(p.body(**{p.value: 12345}))),
    "null-as-absent-optional": lambda p: p.succeeded(p.post(p.body(**{p.optional: None}))),
    "null-as-present": lambda p: p.succeeded(p.post(p.body(**{p.value: None}))),
    "array-unwrapped": lambda p: p.succeeded(p.post(p.body(**{p.secret: [p.server.credentials[p.secret]]}))),
    "token-not-checked": lambda p: p.succeeded(p.post(p.body(**{p.secret: "wrong-" + uuid.uuid4().hex}))),
    "secure-login-not-checked": lambda p: p.succeeded(p.post(p.body(**{p.login: "someone-else"}))),
    "token-prefix-compare": lambda p: all(
        p.succeeded(p.post(p.body(**{p.secret: t})))
        for t in (p.server.credentials[p.secret][:-1], p.server.credentials[p.secret] + "x")
    ),
    "credentials-trimmed": lambda p: p.succeeded(p.post(p.body(**{p.secret: f" {p.server.credentials[p.secret]} "}))),
    "credentials-rstrip": lambda p: (
        all(p.succeeded(p.post(p.body(**{name: p.server.credentials[name] + " "}))) for name in (p.secret, p.login))
        and not p.succeeded(p.post(p.body(**{p.secret: " " + p.server.credentials[p.secret]})))
    ),
    "token-ignores-last-char": lambda p: p.succeeded(
        p.post(p.body(**{p.secret: p.server.credentials[p.secret][:-1] + "\u00e9"}))  # no token ends in é
    ),
    "crash-on-4-byte-utf8": lambda p: (
        p.post(p.body(**{p.value: "\U0001f600"})).status_code == 500
        and p.post(p.body(**{p.value: "\u00e9\u4e2d"})).status_code < 500  # 2- and 3-byte characters are fine
    ),
    "case-insensitive-token": lambda p: p.succeeded(
        p.post(p.body(**{p.secret: p.server.credentials[p.secret].swapcase()}))
    ),
    "error-no-body": lambda p: (r := p.post(p.body(**{p.login: "wrong"}))).status_code == 401 and r.content == b"",
    "success-wrong-code": lambda p: p.code(p.post(p.body())) not in (p.contract.success_code, "not-json"),
    "success-code-as-bool": lambda p: p.code(p.post(p.body())) is False,
    "error-as-float-string": lambda p: p.code(p.post(p.body())) == "0.0",
    "missing-error-field": lambda p: p.code(p.post(p.body())) == "absent",
    "redirect-to-other-host": lambda p: (
        (r := p.post(p.body())).is_redirect and "127.0.0.1" not in r.headers["Location"]
    ),
    "html-500-on-malformed": lambda p: (r := p.post(raw=b"nope")).status_code == 500 and _not_json(r),
    "5xx-json-on-malformed": lambda p: (r := p.post(raw=b"[1]")).status_code == 500 and p.code(r) != "not-json",
    "non-json-text-body": lambda p: (r := p.post(raw=b"{")).status_code < 500 and _not_json(r),
    "non-2xx-error-zero": lambda p: not (r := p.post(raw=b"")).ok and p.code(r) == p.contract.success_code,
    "wrapped-body-unwrapped": lambda p: p.succeeded(p.post(raw=json.dumps([p.body()]).encode())),
    "extra-field-crash": lambda p: p.post(p.body(unexpected="x")).status_code == 500,
    "long-value-crash": lambda p: p.post(p.body(**{p.value: "u" * 8192})).status_code == 500,
    "non-ascii-crash": lambda p: (r := p.post(p.body(**{p.value: "tëster"}))).status_code == 502 and _not_json(r),
    "replay-crash": lambda p: p.twice(p.body())[1].status_code == 500,
    "replay-rejected-then-success": lambda p: p.succeeded(p.twice(p.body(**{p.secret: "wrong"}))[1]),
    "replay-before-auth": lambda p: (
        (b := p.body()) is not None and p.succeeded(p.post(b)) and p.succeeded(p.post({**b, p.secret: "wrong"}))
    ),
    "truncated-body": lambda p: _not_json(p.twice(p.body())[1]),
    "replay-409-error-zero": lambda p: (r := p.twice(p.body())[1]).status_code == 409 and p.code(r) == 0,
    "slow-valid-path": lambda p: _timed_out(p, p.body()),
    "slow-drip-body": _whole_answer_slow,
    "empty-string-accepted": lambda p: p.succeeded(p.post(p.body(**{p.value: ""}))),
    "inconsistent-codes": lambda p: len({p.code(p.post(p.body(**{p.value: DROP}))) for _ in range(2)}) == 2,
    "no-description-on-error": lambda p: p.contract.description_field not in p.post(p.body(**{p.secret: "x"})).json(),
    "echo-token": lambda p: p.server.credentials[p.secret] in p.post(p.body()).text,
    "latency-spikes": lambda p: sum(_slow_answer(p) for _ in range(8)) == 1,
    "undeclared-error-code": lambda p: p.code(p.post(p.body(**{p.value: 7}))) == 42,
    "mixed-code-forms": lambda p: {type(p.code(p.post(p.body()))), type(p.code(p.post(raw=b"x")))} == {int, str},
    "text-plain-media-type": lambda p: p.post(p.body()).headers["Content-Type"].startswith("text/plain"),
}


# One probe per dialect: True when its behaviour shows.
def _second_connection_waits(p: Probe) -> bool:
    """While one kept-alive connection is open, a request on another one gets no answer."""
    first = requests.Session()
    try:
        first.post(p.server.url + p.contract.http_path, json=p.body(), timeout=5)
        with requests.Session() as second:
            second.post(p.server.url + p.contract.http_path, json=p.body(), timeout=0.5)
    except requests.exceptions.Timeout:
        return True
    finally:
        first.close()
    return False


BEHAVIOURS: dict[str, Callable[[Probe], bool]] = {
    "one-connection-at-a-time": _second_connection_waits,
    "errors-as-4xx": lambda p: (
        (r := p.post(p.body(**{p.secret: "x"}))).status_code == 401
        and str(p.code(r)) in p.expected("bad_credentials", 4)
    ),
    # A malformed body: the mock's own code 1, or with the page the code of a missing or incorrect parameter.
    "string-codes": lambda p: (
        p.code(p.post(p.body())) == "0" and p.code(p.post(raw=b"x")) in p.expected("missing_field", 1)
    ),
    "extra-response-fields": lambda p: {"timestamp", "requestId"} <= set(p.post(p.body()).json()),
    "charset-param": lambda p: p.post(p.body()).headers["Content-Type"] == "application/json; charset=utf-8",
    "gzip": lambda p: (
        p.post(p.body()).headers.get("Content-Encoding") == "gzip"
        and "Content-Encoding" not in p.post(p.body(), headers={"Accept-Encoding": "identity"}).headers
    ),
    "connection-close": lambda p: p.post(p.body()).headers.get("Connection") == "close",
    "chunked": lambda p: p.post(p.body()).headers.get("Transfer-Encoding") == "chunked",
    "latency": lambda p: min(p.post(p.body()).elapsed.total_seconds() for _ in range(3)) >= 0.025,
    "no-description-on-success": lambda p: (
        p.contract.description_field not in p.post(p.body()).json()
        and p.contract.description_field in p.post(raw=b"x").json()
    ),
    "replay-rejects": lambda p: p.code(p.twice(p.body())[1]) not in (0, "not-json"),
    "strict-content-type": lambda p: (
        (r := p.post(raw=b"{}", headers={"Content-Type": "text/plain"})).status_code == 415 and p.code(r) != 0
    ),
    "detailed-codes": lambda p: p.code(p.post(p.body(**{p.value: DROP}))) != p.code(p.post(p.body(**{p.login: DROP}))),
}


# -- the registries --------------------------------------------------------------------------------


def test_there_are_enough_faults_and_they_cover_every_must():
    assert len(FAULTS) >= 25
    covered = {rule for variant in FAULTS.values() for rule in variant.rules}
    assert covered >= MUSTS
    assert {"S1", "S2", "S3", "S4", "S6", "S8"} <= covered
    assert all(variant.rules for variant in FAULTS.values())


def test_there_are_enough_dialects_and_they_trip_nothing():
    assert len(DIALECTS) >= 6
    assert all(variant.rules == () for variant in DIALECTS.values())


@pytest.mark.parametrize("variant", [*FAULTS.values(), *DIALECTS.values()], ids=lambda v: v.name)
def test_each_variant_is_named_and_described_on_one_line(variant: Variant):
    assert variant.name in FAULTS or variant.name in DIALECTS
    assert variant.description and "\n" not in variant.description and len(variant.description) <= 100
    assert issubclass(variant.behaviour, Reference) and variant.behaviour is not Reference


def test_every_variant_has_a_probe():
    assert set(DEFECTS) == set(FAULTS)
    assert set(BEHAVIOURS) == set(DIALECTS)
    assert not set(FAULTS) & set(DIALECTS)


def test_unknown_names_are_refused_with_the_valid_ones(contract):
    with pytest.raises(ValueError, match="unknown fault 'nope'.*token-not-checked"):
        MockServer(contract, fault="nope")
    with pytest.raises(ValueError, match="unknown dialect 'nope'.*string-codes"):
        MockServer(contract, dialect="nope")


def test_registering_a_duplicate_or_malformed_variant_is_refused():
    table: dict[str, Variant] = {}
    register(table, "fine-name", "a line", ("M1",))(Reference)
    with pytest.raises(ValueError, match="twice"):
        register(table, "fine-name", "a line", ("M1",))(Reference)
    with pytest.raises(ValueError, match="kebab"):
        register(table, "Bad_Name", "a line", ())(Reference)
    with pytest.raises(ValueError, match="one non-empty line"):
        register(table, "two-lines", "a\nb", ())(Reference)
    with pytest.raises(ValueError, match="rule"):
        register(table, "bad-rule", "a line", ("X1",))(Reference)


# -- the probes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_shows_its_defect_and_the_reference_does_not(probe_for, name):
    assert DEFECTS[name](probe_for(fault=name)), f"fault {name} did not show its defect"
    assert not DEFECTS[name](probe_for()), f"the reference shows the defect of {name}"


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_dialect_shows_its_behaviour_and_the_reference_does_not(probe_for, name):
    assert BEHAVIOURS[name](probe_for(dialect=name)), f"dialect {name} did not show its behaviour"
    assert not BEHAVIOURS[name](probe_for()), f"the reference shows the behaviour of {name}"


def _conformance_problems(p: Probe) -> list[str]:
    """A small, independent reading of M1-M8 (the suite proper does this in full)."""
    problems = []
    success = p.contract.success_code

    def code_of(r: requests.Response, what: str) -> int | None:
        if r.status_code >= 500 or _not_json(r) or not isinstance(r.json(), dict):
            problems.append(f"{what}: {r.status_code} {r.text[:80]!r}")
            return None
        value = r.json().get(p.contract.code_field)
        if type(value) is int or (isinstance(value, str) and value.lstrip("-").isdigit()):
            if not r.ok and int(value) == success:
                problems.append(f"{what}: non-2xx with the success code")
            return int(value)
        problems.append(f"{what}: code {value!r}")
        return None

    if code_of(r := p.post(p.body()), "valid") != success or not r.ok:
        problems.append("valid request did not succeed")
    for f in p.contract.required_fields:
        if code_of(p.post(p.body(**{f.name: DROP})), f"missing {f.name}") in (success, None):
            problems.append(f"missing {f.name} accepted")
        if code_of(p.post(p.body(**{f.name: 7})), f"{f.name} as number") in (success, None):
            problems.append(f"{f.name} as number accepted")
    if code_of(p.post(p.body(**{p.secret: "wrong"})), "wrong secret") in (success, None):
        problems.append("wrong secret accepted")
    for raw in (b"nope", b"[]", b""):
        if code_of(p.post(raw=raw), f"raw {raw!r}") in (success, None):
            problems.append(f"raw {raw!r} accepted")
    code_of(p.post(raw=b'{"x": 1}', headers={"Content-Type": "text/plain"}), "text/plain")
    first, second = (code_of(r, "replay") for r in p.twice(p.body(**{p.secret: "wrong"})))
    if second not in (first, None) and second == success:
        problems.append("rejected request accepted on replay")
    return problems


@pytest.mark.parametrize("name", [None, *sorted(DIALECTS)])
def test_dialect_stays_conformant(probe_for, name):
    assert _conformance_problems(probe_for(dialect=name)) == []


@pytest.mark.parametrize("name", ["token-not-checked", "missing-field-unchecked", "html-500-on-malformed"])
def test_the_small_conformance_check_catches_faults(probe_for, name):
    assert _conformance_problems(probe_for(fault=name))


@pytest.mark.parametrize(("fault", "dialect"), [("mixed-code-forms", "errors-as-4xx"), ("token-not-checked", "gzip")])
def test_a_fault_and_a_dialect_combine(probe_for, fault, dialect):
    p = probe_for(fault=fault, dialect=dialect)
    assert DEFECTS[fault](p) and BEHAVIOURS[dialect](p)


def test_fault_delay_comes_from_the_environment(contract, monkeypatch):
    monkeypatch.setenv("KYREN_MOCK_FAULT_DELAY", "0.25")
    assert MockServer(contract, fault="slow-valid-path").fault_delay == 0.25
    monkeypatch.setenv("KYREN_MOCK_FAULT_DELAY", "soon")
    with pytest.raises(ValueError, match="KYREN_MOCK_FAULT_DELAY"):
        MockServer(contract)


def test_stop_interrupts_a_slow_answer(contract):
    server = MockServer(contract, fault="slow-valid-path", fault_delay=30).start()
    p = Probe(server, requests.Session())
    assert _timed_out(p, p.body())
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1
    p.session.close()
