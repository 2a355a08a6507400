"""The run as data: verdict, identity, per-rule outcomes, findings and INFO facts.

One dictionary feeds the JSON results file (schemas/results.schema.json) and the HTML report, made from the
run's snapshot (run_snapshot.py) taken at session finish. Everything in it comes from redacted exchanges; the
secret fields' values are never included.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kyren_conformance import __version__
from kyren_conformance.exchange_log import exchange_data
from kyren_conformance.findings import Finding
from kyren_conformance.flow_results import flow_data
from kyren_conformance.verdict import Verdict, verdict_of

if TYPE_CHECKING:
    from kyren_conformance.run_snapshot import Info, MethodSnapshot, SuiteSnapshot


def _finding(f: Finding, secret_env: str) -> dict[str, Any]:
    return {
        "rule": f.rule_id,
        "level": f.level,
        "case": f.case_id,
        "received": f.received,
        "documented": f.documented,
        "evidence": exchange_data(f.exchange, secret_env) if f.exchange else None,
    }


def _outcome(failed: int, warned: int, judged: int, not_applicable: str | None) -> str:
    if not_applicable:
        return "not applicable"
    return "not run" if not judged else "failed" if failed else "warned" if warned else "passed"


def results_of(method: MethodSnapshot, verdict: Verdict, *, complete: bool, finished_at: float) -> dict[str, Any]:
    contract, ident = method.contract, method.identity
    rules = [
        {
            "id": r.rule.id,
            "level": r.rule.level,
            "title": r.rule.title,
            "source": r.rule.source,
            "tests": list(r.tests),
            "requests": r.requests,
            "outcome": _outcome(r.failed, r.warned, r.judged, r.not_applicable),
            "note": r.not_applicable or "",
            "findings": len(r.findings),
        }
        for r in method.rules
    ]
    return {
        "suite": {"name": "kyren-conformance", "version": __version__},
        "verdict": _verdict_data(verdict, complete),
        "identity": {
            "target_url": ident.public_target,
            "embedded_mock": ident.embedded_mock,
            "method": contract.method,
            "fields": dict(ident.public_values),
            "notes": list(ident.notes),
            "replay_policy": ident.replay_policy,
            "strict": ident.strict,
            "seed": ident.seed,
            "timeout_s": ident.timeout_s,
            "concurrency": ident.concurrency,
            "rate_limit": ident.rate_limit,
            "contract": {"file": str(contract.path), "sha256": contract.sha256},
            "started": _utc(ident.started_at),
            "duration_s": round(finished_at - ident.started_at, 3),
            "requests": verdict.requests,
        },
        "rules": rules,
        "findings": [_finding(f, method.secret_env) for r in method.rules for f in r.findings],
        "info": _info(verdict, method.info),
    }


def method_summary(method: MethodSnapshot, verdict: Verdict) -> dict[str, Any]:
    """One row of the run's method table: which method, from which contract, with what verdict."""
    contract = method.contract
    return {
        "name": method.name,
        "method": contract.method,
        "title": contract.title,
        "path": f"{contract.http_method} {contract.http_path}",
        "contract": {"file": str(contract.path), "sha256": contract.sha256},
        "document": contract.source_document,
        "errata_to_review": sum(1 for e in contract.errata if e.review),
        "verdict": {
            "label": verdict.label,
            "must_failures": verdict.must_failures,
            "should_warnings": verdict.should_warnings,
            "so_far": verdict.so_far,
        },
        "requests": verdict.requests,
        "info": _info(verdict, method.info),
    }


def suite_results(suite: SuiteSnapshot) -> dict[str, Any]:
    """The whole run as data: the overall verdict, a row per method, and every method's rules and findings,
    each tagged with its method. A one-method run reads as it always has, plus its one-row method table."""
    overall = verdict_of(suite)
    complete = not suite.interrupted and not overall.errors  # a crash of the suite leaves the run unfinished too
    verdicts = {method.name: verdict_of(method) for method in suite}  # each judged once
    per_method = [
        (method, results_of(method, verdicts[method.name], complete=complete, finished_at=suite.finished_at))
        for method in suite
    ]
    if not suite.several:
        results = per_method[0][1]
        results["verdict"] = _verdict_data(overall, complete)
    else:
        first = per_method[0][1]
        identity = dict(first["identity"])
        contracts = sorted(f"{method.name} {method.contract.sha256}" for method in suite)
        folder = os.path.commonpath([str(method.contract.path.parent) for method in suite])
        identity.update(
            target_url=suite.public_target,
            method=f"{len(suite.methods)} methods",
            fields={k: v for _, r in per_method for k, v in r["identity"]["fields"].items()},
            contract={"file": folder, "sha256": hashlib.sha256("\n".join(contracts).encode()).hexdigest()},
            started=_utc(suite.started_at),
            duration_s=round(suite.finished_at - suite.started_at, 3),
            requests=overall.requests,
        )
        results = {
            "suite": first["suite"],
            "verdict": _verdict_data(overall, complete),
            "identity": identity,
            "rules": [],
            "findings": [],
            "info": _info(overall, suite.info),
        }
    results["identity"]["target_url"] = suite.public_target
    results["rules"] = [{**rule, "method": m.name} for m, r in per_method for rule in r["rules"]]
    results["findings"] = [{**f, "method": m.name} for m, r in per_method for f in r["findings"]]
    results["methods"] = [method_summary(method, verdicts[method.name]) for method in suite]
    if suite.flows:  # each money flow, and in the identity what the ones sent move on the test user
        results["flows"] = [flow_data(flow) for flow in suite.flows]
        staging = [flow.note for flow in suite.flows if flow.sent]
        results["identity"]["notes"] = [*results["identity"]["notes"], *staging]
    return results


def _utc(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def _verdict_data(verdict: Verdict, complete: bool) -> dict[str, Any]:
    return {
        "label": verdict.label,
        "must_failures": verdict.must_failures,
        "should_warnings": verdict.should_warnings,
        "complete": complete,
        "so_far": verdict.so_far,
        "strict": verdict.strict,
        "errors": list(verdict.errors),  # redacted with every method's masks when the snapshot was taken
    }


def _info(verdict: Verdict, info: Info) -> dict[str, Any]:
    return {
        "code_forms": verdict.code_forms,
        "statuses": verdict.statuses,
        "codes": verdict.codes,
        "media_types": verdict.media_types,
        "latency_ms": {k: round(v, 2) for k, v in verdict.latency_ms.items()},
        "unreachable": verdict.unreachable,
        "resent_one_at_a_time": info.resent_one_at_a_time,
        "throttled": info.throttled,
        "retried": info.retried,
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a file
