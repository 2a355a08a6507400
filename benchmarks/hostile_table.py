"""Run the real CLI against each hostile target of tests/hostile.py and print a table.

    python benchmarks/hostile_table.py [--timeout S] [--only SUBSTRING]

Columns: the hostile case, the CLI's exit code, its wall time, and the peak RSS of the CLI process itself
(read from the rusage `os.wait4` returns when reaping that one child: the same figure as
`getrusage(RUSAGE_CHILDREN)` or `/usr/bin/time -v`, but for each run separately). Needs the test extra
(trustme) and runs from a checkout: the hostile servers live in tests/hostile.py.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import hostile  # noqa: E402
from kyren_conformance.contract import load_contract  # noqa: E402
from kyren_conformance.resources import default_contract_path  # noqa: E402


def _shown(command: list[str], env: dict[str, str]) -> str:
    """The command line as a user would type it, the token's value replaced by its variable."""
    pairs = [f"{k}={shlex.quote(v)}" for k, v in env.items()]
    line = " ".join([*pairs, *(shlex.quote(a) for a in command)])
    return line.replace(hostile.TOKEN, "$KYREN_TOKEN")


def _outcome(output: str) -> str:
    """The verdict, or why the target was unreachable, from the CLI's last line."""
    lines = [line for line in output.splitlines() if line.strip()]
    last = lines[-1].split(" — report:")[0] if lines else ""
    if "(last: " in last:
        return "unreachable: " + last.split("(last: ", 1)[1].removesuffix("))")
    return last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", default="1", help="the CLI's --timeout (default 1)")
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    ns = parser.parse_args(argv)
    contract = load_contract(default_contract_path())
    cases = [c for c in hostile.CLI_CASES if ns.only in c.name]

    print(f"$ {' '.join(shlex.quote(a) for a in [sys.executable, *sys.argv])}")
    rows = []
    for case in cases:
        with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as servers:
            target = case.start(servers, scratch)
            args, env = hostile.cli_options(target, contract, ns.timeout)
            run = hostile.run_measured(args, f"{scratch}/reports/report.html", env, scratch)
        if not rows:
            print(f"# each case runs (URL, options and environment vary):\n# {_shown(run.command, env)}")
        rows.append((case.name, run.code, run.seconds, run.peak_rss_mb, _outcome(run.output)))

    width = max(len("hostile case"), *(len(r[0]) for r in rows))
    print(f"\n{'hostile case':<{width}}  exit  wall s  peak RSS MB  verdict or reason")
    print(f"{'-' * width}  ----  ------  -----------  {'-' * 17}")
    for name, code, seconds, rss, outcome in rows:
        print(f"{name:<{width}}  {code:>4}  {seconds:>6.2f}  {rss:>11.1f}  {outcome[:110]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
