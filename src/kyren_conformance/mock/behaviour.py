"""The reference behaviour of a Kyren method, driven by its contract, as a pipeline of overridable steps.

A fault or a dialect is a small subclass that overrides one step. The server combines a fault and a
dialect by multiple inheritance, so every override calls `super()` for the cases it leaves alone.
No field name of any method is written here: names, roles and codes all come from the contract.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar, TypeVar

from kyren_conformance.contract import Contract, Field, describe_types

# Kinds of answer. Each error kind has its own code, so "the same defect gets the same code" holds.
SUCCESS = "success"
MALFORMED = "malformed"  # not UTF-8 JSON, not an object, or a body that could not be read
MISSING_FIELD = "missing"
WRONG_TYPE = "type"
EMPTY = "empty"
AUTH = "auth"
ROUTE = "route"
DUPLICATE = "duplicate"
MEDIA = "media"
INTERNAL = "internal"


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # a field absent from the request body (distinct from a JSON null)

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Incoming:
    """One HTTP request as the server read it. `framing` is (status, why) when the body could not be read."""

    method: str
    target: str
    headers: Mapping[str, str]  # keys lower-cased
    body: bytes = b""
    framing: tuple[int, str] | None = None

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    @property
    def media_type(self) -> str:
        return self.header("content-type").split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class Answer:
    """What the method decided, before it is rendered as HTTP."""

    kind: str
    code: int
    description: str
    field: str | None = None
    status: int = 200
    headers: Headers = ()
    replayed: bool = False
    body: tuple[tuple[str, Any], ...] = ()  # answer fields a wallet fills in (a balance), over the example's

    @property
    def succeeded(self) -> bool:
        return self.kind == SUCCESS


@dataclass
class Call:
    """The state of one request as it moves through the steps."""

    incoming: Incoming
    obj: dict[str, Any] | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class Reply:
    """The HTTP answer. `delay` waits before the status line; `drip` spreads the body over that many seconds."""

    status: int
    headers: Headers
    body: bytes
    delay: float = 0.0
    drip: float = 0.0
    close: bool = False
    chunked: bool = False


class Reference:
    """The conformant reading of the contract: every answer is HTTP 200 with a JSON code and description."""

    codes: ClassVar[Mapping[str, int]] = {
        MALFORMED: 1, MISSING_FIELD: 2, WRONG_TYPE: 3, EMPTY: 3, AUTH: 4,
        DUPLICATE: 5, MEDIA: 6, ROUTE: 7, INTERNAL: 9,
    }  # fmt: skip
    replay_capacity: ClassVar[int] = 100_000
    # True: the server serves one connection at a time, as a single-threaded HTTP/1.1 server does.
    one_connection_at_a_time: ClassVar[bool] = False
    # True: a repeated request id is answered from the replay cache before the credentials are checked, so a
    # wrong token with a known id gets the first answer (a defect; only a fault sets it).
    replay_before_auth: ClassVar[bool] = False

    def __init__(self, contract: Contract, credentials: Mapping[str, Any], *, fault_delay: float = 15.0) -> None:
        self.contract = contract
        self.credentials = dict(credentials)
        self.fault_delay = fault_delay
        self._lock = threading.Lock()
        self._answers: OrderedDict[bytes, Answer] = OrderedDict()
        self._tally: Counter[Any] = Counter()

    # -- the pipeline ------------------------------------------------------------------------------

    def handle(self, incoming: Incoming) -> Reply:
        call = Call(incoming)
        return self.render(self.answer(call), call)

    def answer(self, call: Call) -> Answer:
        steps: tuple[Callable[[Call], Answer | None], ...] = (self.route, self.parse, self.screen, self.validate)
        for step in steps:
            refusal = step(call)
            if refusal is not None:
                return refusal
        if not self.replay_before_auth:
            # Authenticate before the replay cache: a known request id must not let a wrong credential through.
            refusal = self.authenticate(call)
            if refusal is not None:
                if self.recall(call) is None:  # the id is spent; a refusal never replaces a first answer
                    self.remember(call, refusal)
                return refusal
        first = self.recall(call)
        if first is not None:
            return self.replayed(call, first)
        answer = self.authenticate(call) or self.succeed(call)
        self.remember(call, answer)
        return answer

    def route(self, call: Call) -> Answer | None:
        incoming = call.incoming
        if incoming.path != self.contract.http_path:
            return self.refuse(ROUTE, "no such endpoint", status=404)
        if incoming.method != self.contract.http_method:
            allow = (("Allow", self.contract.http_method),)
            return self.refuse(ROUTE, f"method {incoming.method} not allowed", status=405, headers=allow)
        return None

    def parse(self, call: Call) -> Answer | None:
        """Any Content-Type (or none) is read as JSON: a lenient reading the document allows."""
        if call.incoming.framing is not None:
            status, why = call.incoming.framing
            return self.refuse(MALFORMED, why, status=status)
        try:
            obj = json.loads(call.incoming.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return self.refuse(MALFORMED, "malformed body: not UTF-8 JSON")
        if not isinstance(obj, dict):
            return self.refuse(MALFORMED, "malformed body: not a JSON object")
        call.obj = obj
        return None

    def screen(self, call: Call) -> Answer | None:
        """A hook before validation, where faulty variants crash on input they do not expect."""
        return None

    def validate(self, call: Call) -> Answer | None:
        obj = self._obj(call)
        for field in self.contract.fields:
            value = self.normalise(field, obj.get(field.name, MISSING))
            if value is MISSING:
                obj.pop(field.name, None)
            else:
                obj[field.name] = value
            problem = self.check_field(field, value)
            if problem is not None:
                why = _WHY[problem].format(name=field.name, types=describe_types(field.types))
                return self.refuse(problem, why, field=field.name)
        rid = self.contract.request_id_field
        if rid is not None and isinstance(obj.get(rid.name), str) and obj[rid.name]:
            call.request_id = obj[rid.name]
        return None

    def normalise(self, field: Field, value: Any) -> Any:
        """The value validation sees; the reference takes the request as sent."""
        return value

    def check_field(self, field: Field, value: Any) -> str | None:
        """The kind of problem with one field (null is present but of the wrong type), or None."""
        if value is MISSING:
            return MISSING_FIELD if field.required else None
        if not field.accepts(value):  # as JSON Schema reads types: a bool is no number, 2.0 is an integer
            return WRONG_TYPE
        return EMPTY if value == "" else None  # (only a string field accepts "")

    def authenticate(self, call: Call) -> Answer | None:
        obj = self._obj(call)
        for field in self.contract.credential_fields:
            if not self.credential_matches(field, obj.get(field.name), self.credentials[field.name]):
                return self.refuse(AUTH, "authentication failed", field=field.name)
        return None

    def credential_matches(self, field: Field, sent: Any, configured: str) -> bool:
        # Exact, case-sensitive and constant-time: the behaviour an integrator should copy.
        return isinstance(sent, str) and hmac.compare_digest(_utf8(sent), _utf8(configured))

    def succeed(self, call: Call) -> Answer:
        return Answer(SUCCESS, self.contract.success_code, "Success")

    # -- request id replay -------------------------------------------------------------------------

    def recall(self, call: Call) -> Answer | None:
        if call.request_id is None:
            return None
        with self._lock:
            first = self._answers.get(_digest(call.request_id))
        return None if first is None else replace(first, replayed=True)

    def replayed(self, call: Call, first: Answer) -> Answer:
        """The reference is idempotent: a repeated request id gets the first answer again."""
        return first

    def remember(self, call: Call, answer: Answer) -> None:
        if call.request_id is None:
            return
        with self._lock:
            # Keyed by digest: a run may send request ids of several KB, and memory must stay bounded.
            self._answers[_digest(call.request_id)] = answer
            while len(self._answers) > self.replay_capacity:
                self._answers.popitem(last=False)

    # -- building answers --------------------------------------------------------------------------

    def refuse(
        self, kind: str, description: str, *, field: str | None = None, status: int = 200, headers: Headers = ()
    ) -> Answer:
        return Answer(kind, self.code_for(kind, field), description, field, status, headers)

    def code_for(self, kind: str, field: str | None) -> int:
        code = self.base_code(kind, field)
        # A contract whose success code equals an error code must still see the error as an error.
        return code + 100 if code == self.contract.success_code else code

    def base_code(self, kind: str, field: str | None) -> int:
        return self.documented_codes(self.contract).get(kind, self.codes[kind])

    @classmethod
    def documented_codes(cls, contract: Contract) -> dict[str, int]:
        """The code the provider's code table names for a kind of answer (the first of the contract's
        `codes.kinds`): a conformant server answers those (S9). A kind the page names no code for gets the
        page's code for a missing or incorrect parameter, so that every answer's code is documented (S7)."""
        kinds = contract.codes.kinds if contract.codes else {}
        named = {answer: kinds[kind][0] for answer, kind in _DOCUMENTED_KINDS.items() if kinds.get(kind)}
        fallback = kinds.get(_DOCUMENTED_KINDS[MISSING_FIELD])
        if not fallback:
            return named
        return {answer: named.get(answer, fallback[0]) for answer in cls.codes}

    @classmethod
    def code_table(cls, contract: Contract) -> dict[int, str]:
        """The codes the reference answers, as a target profile declares them (E3), with the contract's table."""
        table = dict(contract.codes.table) if contract.codes else {}
        documented = set(table)
        table.setdefault(contract.success_code, "success")
        for kind, code in {**cls.codes, **cls.documented_codes(contract)}.items():
            code = code + 100 if code == contract.success_code else code
            if code in documented:
                continue  # the provider's description says what the code means
            table[code] = f"{table[code]} / {kind}" if code in table else kind
        return table

    def count(self, key: Any) -> int:
        """How many times `key` has been counted, this time included (for variants that vary by occurrence)."""
        with self._lock:
            self._tally[key] += 1
            return self._tally[key]

    # -- rendering ---------------------------------------------------------------------------------

    def render(self, answer: Answer, call: Call) -> Reply:
        headers = (("Content-Type", self.media_type(answer)), *answer.headers)
        return Reply(self.status(answer), headers, self.encode(self.document(answer, call)))

    def status(self, answer: Answer) -> int:
        return answer.status

    def code_value(self, answer: Answer) -> Any:
        return answer.code

    def describes(self, answer: Answer) -> bool:
        return True

    def document(self, answer: Answer, call: Call) -> dict[str, Any]:
        """The body: the code and description, and on success the rest of the documented success body."""
        example = self.contract.response_example if answer.succeeded else None
        document = copy.deepcopy(example) if example else {}
        document.update(answer.body)
        document[self.contract.code_field] = self.code_value(answer)
        if self.contract.description_field:
            if self.describes(answer):
                document[self.contract.description_field] = answer.description
            else:
                document.pop(self.contract.description_field, None)
        return document

    def media_type(self, answer: Answer) -> str:
        return "application/json"

    def encode(self, document: dict[str, Any]) -> bytes:
        return json.dumps(document).encode("utf-8")

    def transport_error(self, status: int, description: str) -> Reply:
        """An answer to HTTP the server could not parse: still JSON, never the stock HTML page."""
        call = Call(Incoming("", "", {}))
        return replace(self.render(self.refuse(MALFORMED, description, status=status), call), close=True)

    @staticmethod
    def _obj(call: Call) -> dict[str, Any]:
        if call.obj is None:  # the pipeline parses before anything reads the object
            raise RuntimeError("request body not parsed yet")
        return call.obj


# The kinds of answer the provider's code table may name a code for (the contract's `codes.kinds`).
_DOCUMENTED_KINDS = {MISSING_FIELD: "missing_field", EMPTY: "missing_field", AUTH: "bad_credentials"}

_WHY = {
    MISSING_FIELD: "missing required field {name}",
    WRONG_TYPE: "field {name} must be {types}",
    EMPTY: "field {name} must not be empty",
}


def _utf8(text: str) -> bytes:
    # JSON may carry lone surrogates ("\ud800"); they must compare, not crash.
    return text.encode("utf-8", "surrogatepass")


def _digest(request_id: str) -> bytes:
    return hashlib.sha256(_utf8(request_id)).digest()


# -- the registries of variants ----------------------------------------------------------------------

_NAME = re.compile(r"^[0-9a-z]+(-[0-9a-z]+)*$")
_RULE = re.compile(r"^[MSF][0-9]+$")  # F: the money-flow rules
R = TypeVar("R", bound=type[Reference])


@dataclass(frozen=True)
class Variant:
    """A named change to the reference: a fault (trips `rules`) or a conformant dialect (no rules)."""

    name: str
    description: str
    rules: tuple[str, ...]
    behaviour: type[Reference]


def register(table: dict[str, Variant], name: str, description: str, rules: tuple[str, ...]) -> Callable[[R], R]:
    """A class decorator adding a variant to `table`; a duplicate or badly formed entry is refused."""

    def add(cls: R) -> R:
        if name in table:
            raise ValueError(f"variant {name!r} is registered twice")
        if not _NAME.match(name):
            raise ValueError(f"variant name {name!r} is not kebab-case")
        if not description or "\n" in description:
            raise ValueError(f"variant {name!r}: the description must be one non-empty line")
        bad = [rule for rule in rules if not _RULE.match(rule)]
        if bad:
            raise ValueError(f"variant {name!r}: bad rule ids {bad!r}")
        table[name] = Variant(name, description, rules, cls)
        return cls

    return add


def pick(table: Mapping[str, Variant], what: str, name: str | None) -> type[Reference] | None:
    """The behaviour class of `name` in `table`; an unknown name raises ValueError listing the valid ones."""
    if name is None:
        return None
    if name not in table:
        raise ValueError(f"unknown {what} {name!r}; expected one of: {', '.join(sorted(table))}")
    return table[name].behaviour
