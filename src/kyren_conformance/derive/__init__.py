"""Derive a method's contract and JSON Schemas from the provider's document (`kyren-conformance derive`)."""

from kyren_conformance.derive.assemble import derive
from kyren_conformance.derive.cli import run_derive
from kyren_conformance.derive.derived import Derived
from kyren_conformance.derive.document import DocumentError, NotAMethodDocument

__all__ = ["Derived", "DocumentError", "NotAMethodDocument", "derive", "run_derive"]
