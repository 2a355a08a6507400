"""The report's one input: the results and, per method, the little the report needs besides them.

Made once at session finish, from the results dictionary and the run's snapshot, and kept in the stash under
`stash_keys.REPORT`: the report hooks (html_report.py) read it and never see a run. It holds no secret: the
secret fields are named with their environment variable only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from kyren_conformance.report_sections import ReportContext

if TYPE_CHECKING:
    from kyren_conformance.run_snapshot import MethodSnapshot, SuiteSnapshot

__all__ = ["ReportInput", "report_input"]


@dataclass(frozen=True)
class ReportInput:
    results: Mapping[str, Any]  # results.json's dictionary (results.py)
    contexts: Mapping[str, ReportContext]  # by method name, in the run's order
    secret_envs: Mapping[str, str]  # by method name: the variable a reproducing curl command reads the secret from

    @property
    def several(self) -> bool:
        return len(self.contexts) > 1


def context_of(method: MethodSnapshot) -> ReportContext:
    """What the report shows of one method besides its results: field notes, secret names, errata, timings."""
    contract = method.contract
    return ReportContext(
        contract_title=contract.title,
        field_notes={f.name: f.description for f in contract.fields if not f.secret},
        secret_fields={f.name: f.env or "" for f in contract.secret_fields},
        errata=contract.errata,
        run_wide_rules=method.run_wide_rules,
        latencies_ms=[elapsed * 1000 for elapsed in method.info.latencies_s],
        unanswered=method.info.unanswered,
    )


def report_input(results: Mapping[str, Any], snapshot: SuiteSnapshot) -> ReportInput:
    return ReportInput(
        results=results,
        contexts=MappingProxyType({m.name: context_of(m) for m in snapshot.methods}),
        secret_envs=MappingProxyType({m.name: m.secret_env for m in snapshot.methods}),
    )
