"""`kyren-conformance`: a thin front over `pytest.main` running the shipped conformance suite.

Exit codes: 0 conformant, 1 not conformant, 2 interrupted, 3 internal error, 4 usage or configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kyren_conformance.options import GENERIC_OPTIONS
from kyren_conformance.run_options import DESTS, PATH_DESTS, add_cli_arguments, pytest_arguments
from kyren_conformance.usage import INTERNAL_ERROR, USAGE_ERROR, UsageParser

if TYPE_CHECKING:
    from kyren_conformance.settings import SuiteSettings


def _parser() -> argparse.ArgumentParser:
    p = UsageParser(
        prog="kyren-conformance",
        description="Check a Kyren API target against its contract. With no target, runs against the embedded "
        "reference mock. Subcommands: `mock` (serve the reference mock), `openapi` (export OpenAPI 3.1), "
        "`mutation` (score the suite on the mock's fault catalogue), `derive` (a contract from a method's document).",
        epilog=f"environment: KYREN_TARGET_URL {' '.join(g.env for g in GENERIC_OPTIONS)}. "
        "exit codes: 0 conformant, 1 not conformant, 2 interrupted, 3 internal error, 4 usage or configuration error.",
    )
    add_cli_arguments(p)
    p.add_argument(
        "--report", metavar="PATH.html", default="reports/report.html", help="HTML report (default %(default)s)"
    )
    p.add_argument("--junitxml", metavar="PATH", help="JUnit XML (default: junit.xml beside the report)")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per test")
    return p


# pytest's own plugins a conformance run never uses: not imported, not called on every test
_UNUSED_PLUGINS = (
    "doctest", "unittest", "legacypath", "tmpdir", "monkeypatch", "recwarn", "pastebin",
    "setuponly", "setupplan", "stepwise", "subtests",
)  # fmt: skip

_PATH_OPTIONS = ("report", "junitxml", *PATH_DESTS)


def _absolute_paths(ns: argparse.Namespace) -> None:
    """pytest runs from the suite's folder (short test names); the user's paths stay relative to theirs."""
    for dest in _PATH_OPTIONS:
        value = getattr(ns, dest)
        if isinstance(value, list):
            setattr(ns, dest, [os.path.abspath(v) for v in value])
        elif value:
            setattr(ns, dest, os.path.abspath(value))


def pytest_args(ns: argparse.Namespace, suite_dir: Path) -> list[str]:
    report = Path(ns.report)
    args = [
        str(suite_dir),
        "-c",
        str(suite_dir / "pytest.ini"),
        "--rootdir",
        str(suite_dir),
        "--html",
        str(report),
        "--self-contained-html",
        "--junitxml",
        ns.junitxml or str(report.with_name("junit.xml")),
        "-p",
        "no:cacheprovider",
        *(arg for name in _UNUSED_PLUGINS for arg in ("-p", f"no:{name}")),
        "-p",
        "kyren_conformance.pytest_plugin",
        "-p",
        "pytest_metadata.plugin",
        "-p",
        "pytest_html.plugin",
    ]
    given = vars(ns) | {"kyren_json_report": ns.kyren_json_report or str(report.with_name("results.json"))}
    args += pytest_arguments(given)
    # Quiet: a progress line, one line per failed check, the verdict; the evidence is in the report.
    args += ["-v", "--tb=short", "-rfEs"] if ns.verbose else ["-q", "--tb=no", "-rfEs"]
    return args


class _VerdictCatcher:
    """Reads the verdict before pytest tears the session down, for the CLI's last line."""

    headline: str | None = None

    def pytest_unconfigure(self, config: Any) -> None:
        from kyren_conformance import pytest_plugin

        verdict = pytest_plugin.current_verdict(config)
        if verdict is not None:
            self.headline = verdict.headline


def _refuse_secrets_on_command_line(extras: list[str]) -> None:
    """Unknown options are named without their values: a mistyped flag may be followed by a secret."""
    names = [a.split("=", 1)[0] for a in extras if a.startswith("-")]
    if any(n in ("--token", "--secret", "--password") for n in names):
        sys.stderr.write(
            "kyren-conformance: a token is never given on the command line (it would show in ps): "
            "set KYREN_TOKEN or use --token-file\n"
        )
    else:
        shown = ", ".join(names) if names else f"{len(extras)} unexpected argument(s)"
        sys.stderr.write(f"kyren-conformance: unrecognized arguments: {shown} (see --help)\n")
    raise SystemExit(USAGE_ERROR)


class _Resolved:
    """The settings the CLI resolved from exactly the options it passes to pytest: the plugin takes them as they
    are, so the contracts are loaded and validated once per run, not twice."""

    def __init__(self, settings: SuiteSettings) -> None:
        self.kyren_suite_settings = settings


def _check_settings(ns: argparse.Namespace) -> tuple[str | None, SuiteSettings | None]:
    """The configuration error found before pytest starts (it reads like every other CLI error), or the settings.
    The paths in `ns` are absolute already: pytest runs in the suite's folder."""
    from kyren_conformance.settings import ConfigError, resolve_suite

    json_report = ns.kyren_json_report or str(Path(ns.report).with_name("results.json"))  # as pytest_args passes it
    options = {dest: getattr(ns, dest) for dest in DESTS} | {"kyren_json_report": json_report}
    try:
        return None, resolve_suite(options.get)
    except ConfigError as exc:
        return str(exc), None


_WRITE_CHECK = b"kyren-conformance write check\n" * 256  # a few KB: a full disk fails on write or fsync, not open


def _unwritable_outputs(ns: argparse.Namespace) -> str | None:
    """Make the output folders and prove they take a file, before a run that could not be saved.

    Every output is written whole to a temporary file and moved into place, so each must be a regular file
    (or not exist yet): a device such as /dev/full opens fine and fails only on the first write, after the run.
    """
    from kyren_conformance.contract import shown  # a path with a line break stays on one line

    report = Path(ns.report)
    json_report = Path(ns.kyren_json_report or report.with_name("results.json"))
    outputs = [report, Path(ns.junitxml or report.with_name("junit.xml")), json_report]
    outputs.append(json_report.with_name("exchanges.jsonl"))
    for path in outputs:
        if path.exists() and not path.is_file():
            return f"cannot write the results to {shown(path)}: not a regular file"
    for folder in sorted({path.parent for path in outputs}):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".kyren-write-check-") as probe:
                probe.write(_WRITE_CHECK)
                probe.flush()
                os.fsync(probe.fileno())
        except OSError as exc:
            return f"cannot write the results in {shown(folder)}: {exc.strerror or exc}"
    return None


def _user_cache() -> Path:
    """$XDG_CACHE_HOME/kyren-conformance (else ~/.cache/...): per user, outside the project."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kyren-conformance"


def run_suite(argv: list[str]) -> int:
    ns, extras = _parser().parse_known_args(argv)
    if extras:
        _refuse_secrets_on_command_line(extras)
    shown_report = ns.report
    _absolute_paths(ns)
    problem, settings = _check_settings(ns)
    if problem or settings is None:
        sys.stderr.write(f"kyren-conformance: {problem}\n")
        return USAGE_ERROR
    for note in settings.notes:
        sys.stderr.write(f"kyren-conformance: note: {note}\n")

    import pytest

    from kyren_conformance.resources import data_dir

    problem = _unwritable_outputs(ns)
    if problem:
        sys.stderr.write(f"kyren-conformance: {problem}\n")
        return USAGE_ERROR
    # Only the plugins the suite needs: faster start-up, and no plugin of the user's environment
    # (random ordering, timeouts, ...) changes what a conformance run does.
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    # pytest runs in the suite's folder (site-packages once installed): hypothesis' files and the kept draws go
    # to the user's own cache folder, not a fixed name in /tmp that another user of the machine could create first.
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(_user_cache() / "hypothesis"))
    catcher = _VerdictCatcher()
    suite_dir = data_dir("conformance")
    here = os.getcwd()
    os.chdir(suite_dir)
    try:
        code = int(pytest.main(pytest_args(ns, suite_dir), plugins=[catcher, _Resolved(settings)]))
    finally:
        os.chdir(here)
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        sys.stderr.write("kyren-conformance: internal error: no conformance test was collected\n")
        return INTERNAL_ERROR
    if catcher.headline and code in (0, 1, 2, INTERNAL_ERROR):
        print(f"{catcher.headline} — report: {shown_report}")
    return code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["mock"]:
            from kyren_conformance.mock.cli import run_mock

            return run_mock(argv[1:])
        if argv[:1] == ["mutation"]:
            from kyren_conformance.mutation import run_mutation

            return run_mutation(argv[1:])
        if argv[:1] == ["derive"]:
            from kyren_conformance.derive import run_derive

            return run_derive(argv[1:])
        if argv[:1] == ["openapi"]:
            from kyren_conformance.openapi import run_openapi

            return run_openapi(argv[1:])
        return run_suite(argv)
    except KeyboardInterrupt:
        sys.stderr.write("kyren-conformance: interrupted\n")
        return 2
    except BrokenPipeError:  # `kyren-conformance ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # a crash of the suite is never "not conformant" (Python's own exit 1)
        import traceback

        traceback.print_exc()
        sys.stderr.write(f"kyren-conformance: internal error (not a verdict on the target): {type(exc).__name__}\n")
        return INTERNAL_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
