"""The reference mock of a Kyren method: a loopback HTTP server, with fault modes and conformant dialects.

It imports the contract loader only, never the suite's engine, so it can stand in for any target.
"""

from kyren_conformance.contract import Contract
from kyren_conformance.mock.behaviour import Reference, Variant
from kyren_conformance.mock.dialects import DIALECTS
from kyren_conformance.mock.faults import FAULTS
from kyren_conformance.mock.server import MockServer

__all__ = ["DIALECTS", "FAULTS", "MockServer", "Variant", "reference_code_table"]


def reference_code_table(contract: Contract) -> dict[int, str]:
    """The reference mock's code table, for the embedded run's profile (so S7 has something to check)."""
    return Reference.code_table(contract)
