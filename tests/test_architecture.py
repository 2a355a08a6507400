"""The import rules ARCHITECTURE.md states hold: import-linter's contracts in pyproject.toml, checked on every run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_import_rule_of_the_architecture_is_kept() -> None:
    result = _lint(ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_a_broken_rule_is_reported(tmp_path: Path) -> None:
    """The check can fail: the plugin does import the findings, so a contract forbidding it is broken."""
    config = tmp_path / "broken.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "kyren_conformance"\n\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "a rule the code does not keep"\ntype = "forbidden"\n'
        'source_modules = ["kyren_conformance.pytest_plugin"]\n'
        'forbidden_modules = ["kyren_conformance.findings"]\n'
    )
    result = _lint(config)
    assert result.returncode != 0
    assert "a rule the code does not keep BROKEN" in result.stdout
