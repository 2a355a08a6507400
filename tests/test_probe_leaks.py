"""Issue 14: the near-miss credential probes reach the target, and no variant of the secret reaches any artefact.

Each run is the real CLI against the mock. The trailing-space and same-length probes hold the token, or all of
it but its last character: the report, results, exchanges, JUnit file and terminal show them masked, and the
curl command rebuilds the exact value from $KYREN_TOKEN.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from kyren_conformance.cases import near_misses
from kyren_conformance.contract import Contract
from kyren_conformance.mock import MockServer
from support import CliRun, run_cli, target_args

NEW_PROBES = ("trailing_space", "last_char_changed")


def _run(contract: Contract, tmp_path: Path, fault: str | None) -> tuple[CliRun, str, str]:
    secret = contract.secret_fields[0]
    with MockServer(contract, fault=fault) as server:
        args, env = target_args(server.url, server.credentials, contract)
        run = run_cli(args, tmp_path, env=env)
        return run, secret.name, server.credentials[secret.name]


def _exchanges(run: CliRun) -> list[dict]:
    lines = (run.report_dir / "exchanges.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("fault", [None, "token-ignores-last-char", "credentials-rstrip"])
def test_no_artefact_holds_a_variant_of_the_token(contract: Contract, tmp_path: Path, fault: str | None) -> None:
    run, name, token = _run(contract, tmp_path, fault)
    assert run.code == (0 if fault is None else 1), run.output[-3000:]
    variants = near_misses(token)
    for artefact, text in run.artefacts().items():
        # all but the last character, in any case, is in every variant but `one_char_longer`'s (which holds the token)
        assert token[:-1].lower() not in text.lower(), f"a variant of the token leaked into {artefact}"
        for kind in NEW_PROBES:
            assert variants[kind] not in text, f"the {kind} probe leaked into {artefact}"
    # ... and the probes were sent, masked with what they derive from
    labels = {f"wrong {name} ({kind})" for kind in NEW_PROBES}
    sent = {e["label"]: json.loads(e["request"]["body"])[name] for e in _exchanges(run) if e["label"] in labels}
    assert sent[f"wrong {name} (trailing_space)"] == "*** "
    assert sent[f"wrong {name} (last_char_changed)"] == "***[:-1]" + variants["last_char_changed"][-1]


@pytest.mark.parametrize(("fault", "kind"), [("token-ignores-last-char", "last_char_changed")])
def test_the_finding_of_a_new_probe_reproduces_the_exact_value_from_the_environment(
    contract: Contract, tmp_path: Path, fault: str, kind: str
) -> None:
    run, name, token = _run(contract, tmp_path, fault)
    assert run.outcomes()["M5"] == "failed", run.output[-3000:]
    (finding,) = [f for f in run.results["findings"] if f["case"] == f"wrong_credential[{name}-{kind}]"]
    curl = finding["evidence"]["curl"]
    assert "${KYREN_TOKEN%?}" in curl and token[:-1] not in curl
    data = re.search(r"--data-binary (.*)$", curl)
    assert data, curl
    body = subprocess.run(
        ["bash", "-c", f"printf %s {data[1]}"], env={"KYREN_TOKEN": token}, capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(body)[name] == near_misses(token)[kind]
