"""The reference mock of a Kyren method: a loopback HTTP server, with fault modes and conformant dialects;
given flow declarations, it keeps real balances for the methods they name (money-flow faults and dialects too).

It imports the contract and flow-declaration loaders only, never the suite's engine, so it can stand in for any target.
"""

from kyren_conformance.contract import Contract
from kyren_conformance.mock.behaviour import Reference, Variant
from kyren_conformance.mock.dialects import DIALECTS
from kyren_conformance.mock.faults import FAULTS
from kyren_conformance.mock.flow_variants import FLOW_DIALECTS, FLOW_FAULTS
from kyren_conformance.mock.server import MockServer, shared_defaults

__all__ = [
    "DIALECTS",
    "FAULTS",
    "FLOW_DIALECTS",
    "FLOW_FAULTS",
    "MockServer",
    "Variant",
    "reference_code_table",
    "shared_defaults",
]


def reference_code_table(contract: Contract) -> dict[int, str]:
    """The reference mock's code table, for the embedded run's profile (so S7 has something to check)."""
    return Reference.code_table(contract)
