"""Helpers for tests that run the real CLI, in a subprocess, against a target on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kyren_conformance.contract import Contract
from kyren_conformance.mock import MockServer
from kyren_conformance.mutation import target_args

__all__ = ["CliRun", "run_cli", "target_args"]


@dataclass
class CliRun:
    code: int
    output: str  # stdout + stderr
    seconds: float
    report_dir: Path

    @property
    def results(self) -> dict[str, Any]:
        return json.loads((self.report_dir / "results.json").read_text())

    def outcomes(self) -> dict[str, str]:
        return {r["id"]: r["outcome"] for r in self.results["rules"]}

    def artefacts(self) -> dict[str, str]:
        files = {p.name: p.read_text(errors="replace") for p in self.report_dir.iterdir() if p.is_file()}
        return {**files, "terminal": self.output}


def run_cli(args: list[str], tmp_path: Path, *, env: dict[str, str] | None = None, timeout: float = 120) -> CliRun:
    report_dir = tmp_path / "reports"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KYREN_")}
    full_env.update(env or {})
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "kyren_conformance.cli", "--report", str(report_dir / "report.html"), *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=tmp_path,
        timeout=timeout,
    )
    return CliRun(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started, report_dir)


def plugin_args(server: MockServer, contract: Contract, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The pytest plugin's own options pointing an inner session (pytester) at `server`; the secret goes by its
    environment variable, as documented. `--option=value`: pytest takes a bare path among the arguments for a
    root directory to look in."""
    args = ["-p", "no:xdist", "-p", "no:cacheprovider", f"--target-url={server.url}"]
    args.append(f"--kyren-contract={contract.path}")
    for f in contract.fields:
        value = server.credentials.get(f.name)
        if value is None or f.role == "request_id":
            continue
        if f.secret and f.env:
            monkeypatch.setenv(f.env, str(value))
        else:
            args.append(f"--kyren-field={f.name}={value}")
    return args
