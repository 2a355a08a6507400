"""Fault modes: realistic integration defects, each meant to trip only the rules it lists.

Each fault overrides one step of the reference and calls `super()` for everything else, so it can be
combined with a dialect. Timing faults wait `fault_delay` seconds (a MockServer parameter).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from kyren_conformance.contract import Field
from kyren_conformance.mock.behaviour import (
    AUTH,
    INTERNAL,
    MALFORMED,
    MISSING,
    WRONG_TYPE,
    Answer,
    Call,
    Reference,
    Reply,
    Variant,
    register,
)

FAULTS: dict[str, Variant] = {}


def fault(name: str, description: str, *rules: str) -> Callable[[type[Reference]], type[Reference]]:
    return register(FAULTS, name, description, rules)


def _unchecked(behaviour: Reference) -> Field | None:
    """The field a sloppy presence check forgets: the first required plain value, else the request id.

    Only a field whose absence the suite judges: one the document is unsure about has no M3 case.
    """
    values = [f for f in behaviour.contract.required_fields if f.role == "value" and f.judge_missing]
    return values[0] if values else behaviour.contract.request_id_field


# -- M3: presence ----------------------------------------------------------------------------------


@fault("missing-field-unchecked", "the first required value field (e.g. the user id) may be left out", "M3")
class MissingFieldUnchecked(Reference):
    def check_field(self, field: Field, value: Any) -> str | None:
        return None if value is MISSING and field == _unchecked(self) else super().check_field(field, value)


@fault("uuid-optional", "the request id may be left out (the server would generate one)", "M3")
class UuidOptional(Reference):
    def check_field(self, field: Field, value: Any) -> str | None:
        if value is MISSING and field.role == "request_id":
            return None
        return super().check_field(field, value)


@fault(
    "presence-checked-only-with-optional",
    "required fields are checked only when an optional field is sent (closing one game's session)",
    "M3",
)
class PresenceCheckedOnlyWithOptional(Reference):
    def validate(self, call: Call) -> Answer | None:
        obj = self._obj(call)
        if any(f.name in obj for f in self.contract.fields if not f.required):
            return super().validate(call)
        # The "close every session" branch only checks types of what is there.
        for f in self.contract.fields:
            if f.name in obj and (problem := self.check_field(f, obj[f.name])) is not None:
                return self.refuse(problem, f"bad {f.name}", field=f.name)
        return None


# -- M4: types -------------------------------------------------------------------------------------


@fault("types-coerced", "values of another type are coerced through their JSON text (loose typing)", "M4")
class TypesCoerced(Reference):
    def normalise(self, field: Field, value: Any) -> Any:
        if value is MISSING or field.accepts(value):
            return super().normalise(field, value)
        if "string" in field.types:  # 42 -> "42", null -> "null"
            return super().normalise(field, json.dumps(value))
        if isinstance(value, str):  # "42" -> 42, "true" -> true
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = value
            if field.accepts(parsed):
                return super().normalise(field, parsed)
        return super().normalise(field, value)


@fault("null-as-absent-optional", "a null optional field is read as absent instead of refused", "M4")
class NullAsAbsentOptional(Reference):
    def normalise(self, field: Field, value: Any) -> Any:
        return MISSING if value is None and not field.required else super().normalise(field, value)


@fault("null-as-present", "null passes the presence and type checks (a key-exists test)", "M4")
class NullAsPresent(Reference):
    def check_field(self, field: Field, value: Any) -> str | None:
        return None if value is None else super().check_field(field, value)


@fault("array-unwrapped", "a one-element array is unwrapped to its element (form-parser habit)", "M4")
class ArrayUnwrapped(Reference):
    def normalise(self, field: Field, value: Any) -> Any:
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        return super().normalise(field, value)


# -- M5: credentials -------------------------------------------------------------------------------


@fault("token-not-checked", "the secret credential is required but never compared", "M5")
class TokenNotChecked(Reference):
    def credential_matches(self, field: Field, sent: Any, configured: str) -> bool:
        return field.secret or super().credential_matches(field, sent, configured)


@fault(
    "auth-only-with-optional",
    "credentials are compared only when an optional field is sent (closing every session skips them)",
    "M5",
)
class AuthOnlyWithOptional(Reference):
    def authenticate(self, call: Call) -> Answer | None:
        obj = self._obj(call)
        if any(f.name in obj for f in self.contract.fields if not f.required):
            return super().authenticate(call)
        return None


@fault("credentials-trimmed", "credentials are compared after trimming whitespace (a form library's habit)", "M5")
class CredentialsTrimmed(Reference):
    def credential_matches(self, field: Field, sent: Any, configured: str) -> bool:
        trimmed = sent.strip() if isinstance(sent, str) else sent
        return super().credential_matches(field, trimmed, configured)


@fault("credentials-rstrip", "credentials are compared after a right trim (a CHAR(n) column, rstrip)", "M5")
class CredentialsRstrip(Reference):
    def credential_matches(self, field: Field, sent: Any, configured: str) -> bool:
        return super().credential_matches(field, sent.rstrip() if isinstance(sent, str) else sent, configured)


@fault("token-ignores-last-char", "the secret's last character is never compared (an off-by-one loop)", "M5")
class TokenIgnoresLastChar(Reference):
    def credential_matches(self, field: Field, sent: Any, configured: str) -> bool:
        if field.secret and isinstance(sent, str) and len(sent) == len(configured):
            return sent[:-1] == configured[:-1]
        return super().credential_matches(field, sent, configured)


@fault("secure-login-not-checked", "the partner id is required but never compared", "M5")
class SecureLoginNotChecked(Reference):
    def credential_matches(self, field: Field, sent: Any, configured: str) -> bool:
        return not field.secret or super().credential_matches(field, sent, configured)


@fault("token-prefix-compare", "the secret is compared over the shorter length (strncmp): near misses pass", "M5")
class TokenPrefixCompare(Reference):
    def credential_matches(self, field: Field, sent: Any, configured: str) -> bool:
        if field.secret and isinstance(sent, str):
            n = min(len(sent), len(configured))
            return sent[:n] == configured[:n]
        return super().credential_matches(field, sent, configured)


@fault("case-insensitive-token", "the secret is compared case-insensitively", "M5")
class CaseInsensitiveToken(Reference):
    def credential_matches(self, field: Field, sent: Any, configured: str) -> bool:
        if field.secret and isinstance(sent, str):
            return sent.casefold() == configured.casefold()
        return super().credential_matches(field, sent, configured)


@fault(
    "error-no-body", "an unknown partner id gets 401 with an empty body (partner-lookup middleware)", "M2"
)  # a 401 is a refusal (E4): M5 holds, the body does not
class ErrorNoBody(Reference):
    # Only the non-secret credential: a wrong secret (which the replay check repeats) keeps its JSON answer.
    def render(self, answer: Answer, call: Call) -> Reply:
        if answer.kind == AUTH and answer.field in {f.name for f in self.contract.credential_fields if not f.secret}:
            return Reply(401, (), b"")
        return super().render(answer, call)


# -- M1 / M2: the success answer -------------------------------------------------------------------


@fault("success-wrong-code", "success is reported with code 1 (a one-based code table)", "M1")
class SuccessWrongCode(Reference):
    def succeed(self, call: Call) -> Answer:
        answer = super().succeed(call)
        return replace(answer, code=answer.code + 1)


@fault("success-code-as-bool", "success is rendered as the boolean false (an error flag)", "M1", "M2")
class SuccessCodeAsBool(Reference):
    def code_value(self, answer: Answer) -> Any:
        return False if answer.succeeded else super().code_value(answer)


@fault("error-as-float-string", 'the success code is formatted from a decimal column ("0.0")', "M1", "M2")
class ErrorAsFloatString(Reference):
    def code_value(self, answer: Answer) -> Any:
        return f"{answer.code:.1f}" if answer.succeeded else super().code_value(answer)


@fault("missing-error-field", "a zero code is dropped from the success body (omitempty)", "M1", "M2")
class MissingErrorField(Reference):
    def document(self, answer: Answer, call: Call) -> dict[str, Any]:
        document = super().document(answer, call)
        if answer.succeeded:
            document.pop(self.contract.code_field, None)
        return document


@fault("redirect-to-other-host", "success answers 302 to a page on another host, with no body", "M1", "M2")
class RedirectToOtherHost(Reference):
    def render(self, answer: Answer, call: Call) -> Reply:
        if answer.succeeded:
            return Reply(302, (("Location", "http://sessions.kyren-mock.invalid/closed"),), b"")
        return super().render(answer, call)


# -- M6 / M8: malformed input ----------------------------------------------------------------------


@fault("html-500-on-malformed", "a body that is not a JSON object gets the framework's HTML 500 page", "M2", "M6")
class Html500OnMalformed(Reference):
    def render(self, answer: Answer, call: Call) -> Reply:
        if answer.kind == MALFORMED:
            page = b"<html><body><h1>500 Internal Server Error</h1><pre>JSONDecodeError</pre></body></html>"
            return Reply(500, (("Content-Type", "text/html; charset=utf-8"),), page)
        return super().render(answer, call)


@fault("5xx-json-on-malformed", "a body that is not a JSON object gets HTTP 500 (with a JSON error)", "M6")
class ServerErrorOnMalformed(Reference):
    def status(self, answer: Answer) -> int:
        return 500 if answer.kind == MALFORMED else super().status(answer)


@fault("non-json-text-body", "a body that is not a JSON object gets 400 with a plain-text message", "M2", "M6")
class NonJsonTextBody(Reference):
    def render(self, answer: Answer, call: Call) -> Reply:
        if answer.kind == MALFORMED:
            return Reply(400, (("Content-Type", "text/plain; charset=utf-8"),), b"Bad Request: invalid JSON")
        return super().render(answer, call)


@fault("non-2xx-error-zero", "a body that is not a JSON object gets 400 with the code left at 0", "M8")
class Non2xxErrorZero(Reference):
    def parse(self, call: Call) -> Answer | None:
        answer = super().parse(call)
        if answer is not None and answer.kind == MALFORMED:
            return replace(answer, code=self.contract.success_code, status=400, description="Bad Request")
        return answer


@fault("wrapped-body-unwrapped", "a JSON array or string holding the request is unwrapped and processed", "M3")
class WrappedBodyUnwrapped(Reference):
    # A "be liberal" parser: takes the first element of an array, or decodes a JSON string a second time.
    def parse(self, call: Call) -> Answer | None:
        try:
            obj = json.loads(call.incoming.body.decode("utf-8"))
            if isinstance(obj, list) and obj:
                obj = obj[0]
            elif isinstance(obj, str):
                obj = json.loads(obj)
        except (UnicodeDecodeError, ValueError, RecursionError):
            return super().parse(call)
        if isinstance(obj, dict):
            call.obj = obj
            return None
        return super().parse(call)


@fault("extra-field-crash", "an unknown field crashes a strict deserialiser (HTTP 500)", "M6")
class ExtraFieldCrash(Reference):
    def screen(self, call: Call) -> Answer | None:
        known = {f.name for f in self.contract.fields}
        if set(self._obj(call)) - known:
            return self.refuse(INTERNAL, "internal error: unrecognized field", status=500)
        return super().screen(call)


@fault("long-value-crash", "a value over 255 characters overflows a database column (HTTP 500)", "M6")
class LongValueCrash(Reference):
    def screen(self, call: Call) -> Answer | None:
        if any(isinstance(v, str) and len(v) > 255 for v in self._obj(call).values()):
            return self.refuse(INTERNAL, "value too long for type character varying(255)", status=500)
        return super().screen(call)


@fault("non-ascii-crash", "non-ASCII or control characters kill the worker: the proxy answers 502 HTML", "M2", "M6")
class NonAsciiCrash(Reference):
    def screen(self, call: Call) -> Answer | None:
        if any(isinstance(v, str) and not (v.isascii() and v.isprintable()) for v in self._obj(call).values()):
            return self.refuse(INTERNAL, "bad gateway", status=502)
        return super().screen(call)

    def render(self, answer: Answer, call: Call) -> Reply:
        if answer.status == 502:
            page = b"<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>"
            return Reply(502, (("Content-Type", "text/html"),), page)
        return super().render(answer, call)


@fault("crash-on-4-byte-utf8", "a character outside the BMP (an emoji) fails a 3-byte utf8 column (HTTP 500)", "M6")
class CrashOn4ByteUtf8(Reference):
    def screen(self, call: Call) -> Answer | None:
        if any(isinstance(v, str) and any(ord(c) > 0xFFFF for c in v) for v in self._obj(call).values()):
            return self.refuse(INTERNAL, "Incorrect string value: '\\xF0\\x9F\\x8E\\xB0'", status=500)
        return super().screen(call)


# -- M7 / M8: request id replay --------------------------------------------------------------------


@fault("replay-crash", "a repeated request id hits a unique constraint (HTTP 500)", "M7")
class ReplayCrash(Reference):
    def replayed(self, call: Call, first: Answer) -> Answer:
        return self.refuse(INTERNAL, "duplicate key value violates unique constraint", status=500)


@fault("replay-rejected-then-success", "any repeated request id is answered 'already processed' with 0", "M7")
class ReplayRejectedThenSuccess(Reference):
    replay_before_auth = True  # the cache answers before the credentials are checked: a wrong token's replay too

    def replayed(self, call: Call, first: Answer) -> Answer:
        return replace(self.succeed(call), replayed=True)


@fault(
    "replay-before-auth",
    "a known request id is answered from the replay cache before the credentials are checked",
    "M5",
)
class ReplayBeforeAuth(Reference):
    replay_before_auth = True  # a wrong token with the uuid of an answered request gets that request's success


@fault("truncated-body", "a replayed answer comes from a 24-byte cache column: its JSON is cut", "M2", "M7")
class TruncatedBody(Reference):
    def render(self, answer: Answer, call: Call) -> Reply:
        reply = super().render(answer, call)
        return replace(reply, body=reply.body[:24]) if answer.replayed else reply


@fault("replay-409-error-zero", "a repeated successful request gets 409 Conflict with code 0", "M8")
class Replay409ErrorZero(Reference):
    def replayed(self, call: Call, first: Answer) -> Answer:
        if first.succeeded:
            return replace(first, status=409, description="already processed")
        return super().replayed(call, first)


# -- M9: time --------------------------------------------------------------------------------------


@fault("slow-valid-path", "a valid request waits fault_delay seconds (15 s by default) before answering", "M9")
class SlowValidPath(Reference):
    def render(self, answer: Answer, call: Call) -> Reply:
        reply = super().render(answer, call)
        return replace(reply, delay=reply.delay + self.fault_delay) if answer.succeeded else reply


@fault("slow-drip-body", "a valid answer's body trickles out over fault_delay seconds, byte by byte", "M9")
class SlowDripBody(Reference):
    def render(self, answer: Answer, call: Call) -> Reply:
        reply = super().render(answer, call)
        return replace(reply, drip=self.fault_delay) if answer.succeeded else reply


# -- SHOULDs ---------------------------------------------------------------------------------------


@fault("empty-string-accepted", "an empty string passes validation (a key-exists presence check)", "S1")
class EmptyStringAccepted(Reference):
    def check_field(self, field: Field, value: Any) -> str | None:
        # Where a string is valid; where it is not, "" still fails the type check.
        return None if value == "" and "string" in field.types else super().check_field(field, value)


@fault("inconsistent-codes", "the same defect alternates between two code tables (two builds, round robin)", "S2")
class InconsistentCodes(Reference):
    def code_for(self, kind: str, field: str | None) -> int:
        code = super().code_for(kind, field)
        # Counting per kind of defect, not globally, makes any two alike requests differ whatever the concurrency.
        return code + 100 if self.count((kind, field)) % 2 == 0 else code


@fault("no-description-on-error", "error answers carry no description", "S3")
class NoDescriptionOnError(Reference):
    def describes(self, answer: Answer) -> bool:
        return answer.succeeded and super().describes(answer)


@fault("latency-spikes", "one answer in eight waits 0.3 x fault_delay (a cold cache, a GC pause)", "S5")
class LatencySpikes(Reference):
    def render(self, answer: Answer, call: Call) -> Reply:
        reply = super().render(answer, call)
        return replace(reply, delay=reply.delay + 0.3 * self.fault_delay) if self.count("spike") % 8 == 0 else reply


@fault("undeclared-error-code", "a type error gets code 42, which the operator's code table does not list", "S7")
class UndeclaredErrorCode(Reference):
    def base_code(self, kind: str, field: str | None) -> int:
        return 42 if kind == WRONG_TYPE else super().base_code(kind, field)


@fault("echo-token", "every JSON answer echoes the request body, secret included (debug field)", "S4")
class EchoToken(Reference):
    def document(self, answer: Answer, call: Call) -> dict[str, Any]:
        document = super().document(answer, call)
        if call.obj is not None:
            document["request"] = call.obj
        return document


@fault("mixed-code-forms", "success codes are integers, error codes digit strings", "S6")
class MixedCodeForms(Reference):
    def code_value(self, answer: Answer) -> Any:
        value = super().code_value(answer)
        return value if answer.succeeded else str(value)


@fault("text-plain-media-type", "JSON bodies are labelled text/plain", "S8")
class TextPlainMediaType(Reference):
    def media_type(self, answer: Answer) -> str:
        return "text/plain; charset=utf-8"
