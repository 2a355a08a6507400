"""The suite's rules (DESIGN.md: MUST M1–M9, SHOULD S1–S9), as `derive` writes them into every contract.

The titles are the suite's; each source is filled in with the clause of the method's own document
that the rule rests on, so the report's traceability table points into that document.
"""

from __future__ import annotations

from typing import Any

# (id, level, title, source template). Template fields are filled by derive from the document.
_RULES = (
    ("M1", "MUST", "a valid request gets a 2xx and a success body",
     "Response: example of a successful response ({code_field}: {success_code}); DESIGN.md E8"),
    ("M2", "MUST", "every response is a JSON object matching the response schema",
     "Response parameters (line {response_line}); errata on response types"),
    ("M3", "MUST", "a request lacking a required field gets a non-zero error",
     "Request Parameters (line {request_line}): Remark 'Required' ({required})"),
    ("M4", "MUST", "a field of another JSON type gets a non-zero error",
     "Request Parameters (line {request_line}): Data Type"),
    ("M5", "MUST", "a wrong credential gets a non-zero error",
     "Request Parameters: {credentials}; DESIGN.md E6"),
    ("M6", "MUST", "malformed input never gets a 5xx or a non-JSON answer",
     "Examples: HEADER Content-Type: {content_type}; DESIGN.md E4"),
    ("M7", "MUST", "a repeated uuid is handled by the replay policy, never with a 5xx",
     "Request Parameters: {request_id}; DESIGN.md E5"),
    ("M8", "MUST", "a non-2xx status never carries a success code", "DESIGN.md E4"),
    ("M9", "MUST", "every answer arrives complete within the timeout",
     "suite policy (the document gives no timeout): --timeout, whole response"),
    ("S1", "SHOULD", "an empty-string required field gets a non-zero error",
     "Request Parameters: Remark 'Required'; DESIGN.md E5"),
    ("S2", "SHOULD", "the same kind of defect gets the same code every time",
     "Response parameters: {code_field} '{code_description}'; DESIGN.md E3"),
    ("S3", "SHOULD", "an error response carries a non-empty description",
     "Response parameters: {description_clause}"),
    ("S4", "SHOULD", "a response never echoes a secret", "DESIGN.md E6"),
    ("S5", "SHOULD", "p95 latency within the profile's objective",
     "target profile (the document gives no latency)"),
    ("S6", "SHOULD", "the error code keeps one form (integer or digit string)",
     "Response parameters: {code_field} typed '{code_type}', example {code_example}; DESIGN.md E1"),
    ("S7", "SHOULD", "error codes are declared in the code table (the profile's, else the Error Code page's)",
     "DESIGN.md E3"),
    ("S8", "SHOULD", "a JSON body comes with a JSON media type", "DESIGN.md E9"),
    ("S9", "SHOULD", "a defect gets the code the code table names for its kind",
     "the provider's Error Code page (the contract's codes.kinds); DESIGN.md E3"),
)  # fmt: skip


def suite_rules(clauses: dict[str, Any]) -> list[dict[str, str]]:
    """Every rule, its source filled in from `clauses` (the keys the templates above name)."""
    return [
        {"id": rule_id, "level": level, "title": title, "source": template.format(**clauses)}
        for rule_id, level, title, template in _RULES
    ]


def code_table_sources(document_ref: str) -> dict[str, str]:
    """The sources of the rules that rest on the provider's Error Code page, once a contract carries its table."""
    return {
        "S7": f"Error Code page {document_ref}: the documented codes (a target profile's table wins); DESIGN.md E3",
        "S9": f"Error Code page {document_ref}: the codes its descriptions name for each kind of defect",
    }
