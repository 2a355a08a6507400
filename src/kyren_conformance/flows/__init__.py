"""Money flows (issue 15): balances, idempotent transactions and races, checked across calls.

Kept light on purpose: the mock imports `flows.declaration`, which runs this file first, and must not pull
in the client. The engine is `flows.engine.run_flow`, the rules `flows.judgements.judge_flow`.
"""

from kyren_conformance.flows.declaration import FlowDeclaration, FlowError, check_fields, check_methods, load_flow

__all__ = ["FlowDeclaration", "FlowError", "check_fields", "check_methods", "load_flow"]
