"""`kyren-conformance mutation`: its exit code, its table and its usage errors, through the real CLI (issue 14)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kyren_conformance import mutation
from kyren_conformance.mutation import Outcome, run_mutation


def _mutation(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYREN_")}
    command = [sys.executable, "-m", "kyren_conformance.cli", "mutation", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def _rows(table: str) -> dict[str, list[str]]:
    return {cells[1]: cells for line in table.splitlines() if len(cells := line.split()) == 7}


def test_one_fault_and_one_dialect_through_the_cli(tmp_path: Path) -> None:
    proc = _mutation("--only", "token-ignores-last-char", "--only", "charset-param", "--jobs", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = _rows(proc.stdout)
    assert proc.stdout.splitlines()[0].split() == [
        "kind",
        "name",
        "expected",
        "rules",
        "failed",
        "result",
        "requests",
        "seconds",
    ]
    fault, dialect = rows["token-ignores-last-char"], rows["charset-param"]
    assert fault[:3] == ["fault", "token-ignores-last-char", "M5"] and "M5" in fault[3].split(",")
    assert fault[4] == "killed" and int(fault[5]) > 50
    assert dialect[:5] == ["dialect", "charset-param", "-", "-", "passed"] and int(dialect[5]) > 50
    assert set(rows) == {"token-ignores-last-char", "charset-param"}  # nothing else was run
    assert re.search(r"^faults killed by their expected rule: 1/1; dialects passed: 1/1; [0-9.]+ s$", proc.stdout, re.M)
    assert proc.stderr == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--only", "token-ignores-last-chr"], r"--only 'token-ignores-last-chr': no such fault or dialect; expected"),
        (["--timeout", "0"], r"--timeout 0: expected a positive number of seconds"),
        (["--timeout", "nan"], r"--timeout nan: expected a positive number"),
        (["--jobs", "0"], r"--jobs 0: expected at least 1"),
        (["--jobs", "two"], r"argument --jobs: invalid int value: 'two'"),
        (["--contract", "absent.json"], r"contract absent\.json: cannot read it"),
        (["--contract", "bad\nname.json"], r"contract 'bad\\nname\.json': cannot read it"),
    ],
)
def test_a_usage_error_is_exit_4_in_one_line_and_runs_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    proc = _mutation(*args, "--only", "token-not-checked", cwd=tmp_path)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert re.search(message, proc.stderr) and proc.stderr.startswith("kyren-conformance mutation: ")


def _outcome(kind: str, name: str, expected: tuple[str, ...], failed: tuple[str, ...], code: int) -> Outcome:
    return Outcome(kind, name, expected, failed, code, 10, 0.1)


def test_outcomes_are_judged_by_their_expected_rule() -> None:
    assert _outcome("fault", "f", ("M5",), ("M5", "S2"), 1).verdict == "killed"
    assert _outcome("fault", "f", ("M5",), ("S2",), 1).verdict == "SURVIVED"  # caught, but not by its rule
    assert _outcome("fault", "f", ("M1", "M2"), ("M1",), 1).verdict == "SURVIVED"  # every expected rule must fail
    assert _outcome("fault", "f", ("M5",), ("M5",), 4).verdict == "SURVIVED"  # a usage error is no kill
    assert _outcome("dialect", "d", (), (), 0).verdict == "passed"
    assert _outcome("dialect", "d", (), ("S2",), 1).verdict == "WRONGLY FAILED"


def test_a_survivor_or_a_wrongly_failed_dialect_makes_the_command_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fake(contract: object, kind: str, name: str, timeout: float, fault_delay: float) -> Outcome:
        assert (timeout, fault_delay) == (0.5, 1.0)  # the timing faults wait twice the suite's deadline
        return _outcome(kind, name, ("M5",) if kind == "fault" else (), ("S2",) if name == "bad" else ("M5",), 1)

    monkeypatch.setattr(mutation, "run_variant", fake)
    monkeypatch.setattr(mutation, "FAULTS", {"good": None, "bad": None})
    monkeypatch.setattr(mutation, "DIALECTS", {})
    monkeypatch.setattr(mutation, "FLOW_FAULTS", {})  # scored by tests of their own: keep this one fast
    monkeypatch.setattr(mutation, "FLOW_DIALECTS", {})
    assert run_mutation(["--timeout", "0.5", "--jobs", "1"]) == 1
    out = capsys.readouterr().out
    assert _rows(out)["bad"][4] == "SURVIVED" and _rows(out)["good"][4] == "killed"
    assert "faults killed by their expected rule: 1/2; dialects passed: 0/0" in out
    assert run_mutation(["--timeout", "0.5", "--only", "good"]) == 0
