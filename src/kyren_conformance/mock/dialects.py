"""Dialects: conformant readings of the contract that differ from the reference. The suite must pass them all."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from kyren_conformance.mock.behaviour import (
    AUTH,
    DUPLICATE,
    EMPTY,
    MALFORMED,
    MEDIA,
    MISSING_FIELD,
    WRONG_TYPE,
    Answer,
    Call,
    Reference,
    Reply,
    Variant,
    register,
)

DIALECTS: dict[str, Variant] = {}
LATENCY = 0.03  # seconds added to every answer by the `latency` dialect


def dialect(name: str, description: str) -> Callable[[type[Reference]], type[Reference]]:
    return register(DIALECTS, name, description, ())


_ERROR_STATUS = {MALFORMED: 400, MISSING_FIELD: 400, WRONG_TYPE: 422, EMPTY: 422, AUTH: 401, DUPLICATE: 409, MEDIA: 415}


@dialect("errors-as-4xx", "errors come with 400/401/409/415/422 and a JSON body with a non-zero code")
class ErrorsAs4xx(Reference):
    def status(self, answer: Answer) -> int:
        status = super().status(answer)
        if status == 200 and not answer.succeeded:
            return _ERROR_STATUS.get(answer.kind, 400)
        return status


@dialect("string-codes", 'every code is a string of digits ("0", "4"), as the document types it')
class StringCodes(Reference):
    def code_value(self, answer: Answer) -> Any:
        return str(super().code_value(answer))


@dialect("extra-response-fields", "answers carry extra fields: a timestamp and the request id")
class ExtraResponseFields(Reference):
    def document(self, answer: Answer, call: Call) -> dict[str, Any]:
        document = super().document(answer, call)
        document["timestamp"] = datetime.now(UTC).isoformat()
        document["requestId"] = call.request_id or str(uuid4())
        return document


@dialect("charset-param", "the media type carries a charset parameter (application/json; charset=utf-8)")
class CharsetParam(Reference):
    def media_type(self, answer: Answer) -> str:
        return f"{super().media_type(answer)}; charset=utf-8"


@dialect("gzip", "bodies are gzip-encoded when the request accepts gzip")
class Gzip(Reference):
    def render(self, answer: Answer, call: Call) -> Reply:
        reply = super().render(answer, call)
        if not _accepts_gzip(call.incoming.header("accept-encoding")):
            return reply
        headers = (*reply.headers, ("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding"))
        return replace(reply, headers=headers, body=gzip.compress(reply.body, mtime=0))


def _accepts_gzip(accept_encoding: str) -> bool:
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


@dialect("connection-close", "every answer says Connection: close and the server closes the connection")
class ConnectionClose(Reference):
    def render(self, answer: Answer, call: Call) -> Reply:
        return replace(super().render(answer, call), close=True)


@dialect("one-connection-at-a-time", "a single-threaded HTTP/1.1 server: a second connection waits for the first")
class OneConnectionAtATime(Reference):
    one_connection_at_a_time = True


@dialect("chunked", "bodies are sent with Transfer-Encoding: chunked instead of Content-Length")
class Chunked(Reference):
    def render(self, answer: Answer, call: Call) -> Reply:
        return replace(super().render(answer, call), chunked=True)


@dialect("latency", f"every answer waits {LATENCY * 1000:.0f} ms (a realistic network and database delay)")
class Latency(Reference):
    def render(self, answer: Answer, call: Call) -> Reply:
        reply = super().render(answer, call)
        return replace(reply, delay=reply.delay + LATENCY)


@dialect("no-description-on-success", "success answers carry no description (it is optional)")
class NoDescriptionOnSuccess(Reference):
    def describes(self, answer: Answer) -> bool:
        return not answer.succeeded and super().describes(answer)


@dialect("replay-rejects", "a repeated request id gets a non-zero 'duplicate request' code")
class ReplayRejects(Reference):
    def replayed(self, call: Call, first: Answer) -> Answer:
        rid = self.contract.request_id_field
        return self.refuse(DUPLICATE, "duplicate request", field=rid.name if rid else None)


@dialect("strict-content-type", "a request without a JSON Content-Type gets 415 and a JSON error")
class StrictContentType(Reference):
    def parse(self, call: Call) -> Answer | None:
        wanted = self.contract.content_type.split(";", 1)[0].strip().lower()
        if call.incoming.media_type != wanted:
            return self.refuse(MEDIA, f"unsupported media type; send {wanted}", status=415)
        return super().parse(call)


@dialect("detailed-codes", "each field has its own codes: kind x 100 + field position (e.g. 203, not the shared 2)")
class DetailedCodes(Reference):
    def base_code(self, kind: str, field: str | None) -> int:
        names = [f.name for f in self.contract.fields]
        index = names.index(field) + 1 if field in names else 0
        return super().base_code(kind, field) * 100 + index
