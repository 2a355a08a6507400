"""Derive a method's contract and JSON Schemas from the provider's document (`kyren-conformance derive`).

The modules, in the order a document goes through them:

- `document`: the markdown reader (tables, nested tables, fenced examples, headings, each with its line);
  `values` reads data types and example values as JSON, `json_repair` the broken examples;
- `reading`: one document as derive reads it (examples, names spelt two ways, Remark and Data Type cells),
  with `examples`, `names` (a name spelt two ways), `roles` (generic fields, request id, result fields)
  and `errata` (each contradiction, the clause it quotes, the decision taken);
- `endpoint`, `request`, `response`, `nested` (list and object sub-fields): the contract's parts;
  `rules`: the suite's rules, their sources filled in from the document; `assemble`: `derive` itself;
- `error_codes`: the Error Code page as the contract's code table; `overlay`: a reviewed overlay;
  `cli`: the command, which writes the files.

This layer only writes contracts and schemas. It never imports the engine (client, runner, judgements,
pytest_plugin, suite_run, conformance_run, results, the report modules), and the engine never imports
it; it imports `contract` only to load what it wrote, as a self-check.
"""

from kyren_conformance.derive.assemble import derive
from kyren_conformance.derive.cli import run_derive
from kyren_conformance.derive.derived import Derived
from kyren_conformance.derive.document import DocumentError, NotAMethodDocument

__all__ = ["Derived", "DocumentError", "NotAMethodDocument", "derive", "run_derive"]
