"""The run as data: verdict, identity, per-rule outcomes, findings and INFO facts.

One dictionary feeds the JSON results file (schemas/results.schema.json) and the HTML report.
Everything in it comes from redacted exchanges; the secret fields' values are never included.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kyren_conformance import __version__
from kyren_conformance.exchange_log import exchange_data
from kyren_conformance.findings import Finding
from kyren_conformance.verdict import Verdict, verdict_of

if TYPE_CHECKING:
    from kyren_conformance.conformance_run import ConformanceRun
    from kyren_conformance.suite_run import SuiteRun


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


def results_of(run: ConformanceRun, verdict: Verdict, *, complete: bool) -> dict[str, Any]:
    contract = run.contract
    public_values = {f.name: run.values[f.name] for f in contract.fields if f.name in run.values and not f.secret}
    rules = []
    for rule in contract.rules:
        record = run.records[rule.id]
        rules.append(
            {
                "id": rule.id,
                "level": rule.level,
                "title": rule.title,
                "source": rule.source,
                "tests": record.tests,
                "requests": record.requests,
                "outcome": _outcome(record.failed, record.warned, record.judged, record.not_applicable),
                "note": record.not_applicable or "",
                "findings": len(record.findings),
            }
        )
    return {
        "suite": {"name": "kyren-conformance", "version": __version__},
        "verdict": _verdict_data(verdict, complete, run.redact),
        "identity": {
            "target_url": run.public_target,
            "embedded_mock": run.settings.target_url is None,
            "method": contract.method,
            "fields": public_values,
            "notes": list(run.settings.notes),
            "replay_policy": run.settings.replay_policy,
            "strict": run.settings.strict,
            "seed": run.settings.seed,
            "timeout_s": run.settings.timeout,
            "concurrency": run.settings.concurrency,
            "rate_limit": run.settings.rate_limit,
            "contract": {"file": str(contract.path), "sha256": contract.sha256},
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(run.started_at)),
            "duration_s": round(time.time() - run.started_at, 3),
            "requests": verdict.requests,
        },
        "rules": rules,
        "findings": [_finding(f, run.secret_env) for r in contract.rules for f in run.records[r.id].findings],
        "info": _info(verdict, run),
    }


def method_summary(run: ConformanceRun, verdict: Verdict) -> dict[str, Any]:
    """One row of the run's method table: which method, from which contract, with what verdict."""
    contract = run.contract
    return {
        "name": run.name,
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
        "info": _info(verdict, run),
    }


def suite_results(suite: SuiteRun, *, complete: bool) -> dict[str, Any]:
    """The whole run as data: the overall verdict, a row per method, and every method's rules and findings,
    each tagged with its method. A one-method run reads as it always has, plus its one-row method table."""
    interrupted = not complete
    overall = verdict_of(suite, interrupted=interrupted)
    complete = complete and not overall.errors  # a crash of the suite leaves the run unfinished too
    verdicts = {run.name: verdict_of(run, interrupted=interrupted) for run in suite}  # each judged once
    per_method = [(run, results_of(run, verdicts[run.name], complete=complete)) for run in suite]
    if not suite.several:
        results = per_method[0][1]
        results["verdict"] = _verdict_data(overall, complete, _redactor(suite))
    else:
        first = per_method[0][1]
        identity = dict(first["identity"])
        contracts = sorted(f"{run.name} {run.contract.sha256}" for run in suite)
        folder = os.path.commonpath([str(run.contract.path.parent) for run in suite])
        identity.update(
            target_url=suite.public_target,
            method=f"{len(suite.runs)} methods",
            fields={k: v for _, r in per_method for k, v in r["identity"]["fields"].items()},
            contract={"file": folder, "sha256": hashlib.sha256("\n".join(contracts).encode()).hexdigest()},
            started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(suite.started_at)),
            duration_s=round(time.time() - suite.started_at, 3),
            requests=overall.requests,
        )
        results = {
            "suite": first["suite"],
            "verdict": _verdict_data(overall, complete, _redactor(suite)),
            "identity": identity,
            "rules": [],
            "findings": [],
            "info": _info(overall, suite),
        }
    results["identity"]["target_url"] = suite.public_target
    results["rules"] = [{**rule, "method": run.name} for run, r in per_method for rule in r["rules"]]
    results["findings"] = [{**f, "method": run.name} for run, r in per_method for f in r["findings"]]
    results["methods"] = [method_summary(run, verdicts[run.name]) for run in suite]
    if suite.flows:  # each money flow, and in the identity what the ones sent move on the test user
        from kyren_conformance.flow_results import flow_data

        results["flows"] = [flow_data(flow) for flow in suite.flows.values()]
        staging = [flow.settings.note for flow in suite.flows.values() if flow.sent]
        results["identity"]["notes"] = [*results["identity"]["notes"], *staging]
    return results


def _verdict_data(verdict: Verdict, complete: bool, redact: Callable[[str], str] = str) -> dict[str, Any]:
    return {
        "label": verdict.label,
        "must_failures": verdict.must_failures,
        "should_warnings": verdict.should_warnings,
        "complete": complete,
        "so_far": verdict.so_far,
        "strict": verdict.strict,
        "errors": [redact(e) for e in verdict.errors],
    }


def _redactor(suite: SuiteRun) -> Callable[[str], str]:
    """An internal error's message may quote anything the suite held: every method's secrets are masked in it."""

    def redact(text: str) -> str:
        for run in suite:
            text = run.redact(text)
        return text

    return redact


def _info(verdict: Verdict, run: ConformanceRun | SuiteRun) -> dict[str, Any]:
    return {
        "code_forms": verdict.code_forms,
        "statuses": verdict.statuses,
        "codes": verdict.codes,
        "media_types": verdict.media_types,
        "latency_ms": {k: round(v, 2) for k, v in verdict.latency_ms.items()},
        "unreachable": verdict.unreachable,
        "resent_one_at_a_time": run.resent_one_at_a_time,
        "throttled": run.throttled,
        "retried": run.retried,
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a file
