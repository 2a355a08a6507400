"""Derive a method's contract and JSON Schemas (2020-12) from its provider document.

Method and path come from the examples; fields, types, required/optional and the source clause from
the tables; example values from the JSON blocks. Where the document contradicts itself, nothing is
hidden: each contradiction becomes a numbered erratum quoting its clause, marked for review, with the
decision DESIGN.md takes for that kind (E1, E2, ...). This module puts the parts together: the request
side (request.py), the response side (response.py), the rules (rules.py) with the clauses they rest on.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kyren_conformance.derive.derived import Derived, title_kebab
from kyren_conformance.derive.document import DocumentError, MethodDoc, NotAMethodDocument, read_method_doc
from kyren_conformance.derive.endpoint import Endpoint, find_endpoint
from kyren_conformance.derive.errata import Erratum
from kyren_conformance.derive.reading import DocumentReading
from kyren_conformance.derive.request import RequestParts, request_parts, request_schema
from kyren_conformance.derive.response import ResponseParts, example_fits, response_parts, response_schema
from kyren_conformance.derive.rules import suite_rules


def kebab(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).lower()


def _not_a_method(doc: MethodDoc) -> None:
    """An overview page, or a page whose tables sit outside any Request/Response section."""
    if not doc.tables["request"] and not doc.tables["response"]:
        what = "its tables list methods or codes, not parameters" if doc.stray_tables else "it has no tables"
        raise NotAMethodDocument(
            f"{doc.path}: not a method document: an overview page, with no request or response parameter table ({what})"
        )
    if doc.stray_tables:
        raise DocumentError(
            f"{doc.path}:{doc.stray_tables[0]}: a parameter table outside any 'Request' or 'Response' section; "
            "put it under a heading that says which"
        )


def derive(doc_path: str, text: str, document_ref: str) -> Derived:
    """Derive the contract and schemas of the method `text` documents; raise DocumentError naming the line
    (NotAMethodDocument for a page that documents no method)."""
    doc = read_method_doc(doc_path, text)
    _not_a_method(doc)
    reading = DocumentReading(doc)
    reading.check_family()
    if doc.unclosed_fence:
        reading.errata.add("document.unclosed-fence", doc.unclosed_fence,
                           f"the code block opened at line {doc.unclosed_fence} is never closed",
                           "closed at the end of the file, as CommonMark does")  # fmt: skip
    endpoint = find_endpoint(doc, reading.errata)
    method = endpoint.path.rstrip("/").rsplit("/", 1)[-1]
    if not re.match(r"^[A-Za-z][A-Za-z0-9]*$", method):
        raise DocumentError(f"{doc_path}: the URL's last segment {method!r} is not a method name such as CloseSession")
    name = kebab(method)
    request = request_parts(reading)
    response = response_parts(reading)
    title = reading.errata.repaired(doc.title, "title.encoding", doc.title_line, "the title")
    reading.errata.prose_encoding(doc.prose)

    http = (endpoint.method, endpoint.path)
    request_body = request_schema(name, title, http, document_ref, request, reading.pairs("request"))
    response_body = response_schema(name, title, document_ref, response)
    keep_example = example_fits(reading, response_body, response.result)
    errata = reading.errata.numbered()
    contract = _contract(reading, name, method, title, document_ref, endpoint, request, response, errata)
    if not keep_example:
        contract.pop("response_example", None)
    return Derived(name, contract, request_body, response_body, errata, title_kebab(title))


def _contract(
    reading: DocumentReading,
    name: str,
    method: str,
    title: str,
    document_ref: str,
    endpoint: Endpoint,
    request: RequestParts,
    response: ResponseParts,
    errata: list[Erratum],
) -> dict[str, Any]:
    response_example, _ = reading.examples("response")
    contract: dict[str, Any] = {
        "$schema": "../schemas/contract.schema.json",
        "contract_version": 1,
        "method": method,
        "title": title,
        "source": {"document": document_ref, "received": "derived by `kyren-conformance derive`"},
        "http": {"method": endpoint.method, "path": endpoint.path, "content_type": endpoint.content_type},
        "schemas": {"request": f"{name}.request.schema.json", "response": f"{name}.response.schema.json"},
        "result": response.result,
        "fields": request.fields,
        "rules": suite_rules(_rule_clauses(reading.doc, endpoint, request, response, response_example)),
        "errata": [e.as_json() for e in errata],
    }
    if response_example is not None:
        contract["response_example"] = response_example
    return contract


def _rule_clauses(
    doc: MethodDoc,
    endpoint: Endpoint,
    request: RequestParts,
    response: ResponseParts,
    response_example: dict[str, Any] | None,
) -> dict[str, Any]:
    """The clauses of the document each rule's source quotes (the keys of rules.py's templates)."""
    fields, result = request.fields, response.result
    code_row, description_row = response.code_row, response.description_row
    request_id = next((f for f in fields if f["role"] == "request_id"), None)
    return {
        "code_field": result["code_field"],
        "success_code": result["success_code"],
        "request_line": doc.table_lines["request"],
        "response_line": doc.table_lines["response"],
        "required": ", ".join(f["name"] for f in fields if f["required"] and f.get("judge_missing", True)),
        "credentials": ", ".join(f["name"] for f in fields if f["role"] == "credential") or "no credential field",
        "content_type": endpoint.content_type,
        "request_id": f"{request_id['name']} '{request_id['description']}'" if request_id else "no request id",
        "code_description": code_row.description,
        "code_type": code_row.type,
        "code_example": json.dumps((response_example or {}).get(code_row.name)),
        "description_clause": f"{description_row.name} '{description_row.description}'"
        if description_row
        else "no description field",
    }
