"""One table of the run's options: the CLI's flags, the pytest plugin's options, and what passes between them.

`kyren-conformance` parses its own flags and hands them to pytest under the plugin's names (the plugin's
carry a `--kyren-` prefix where a plain name could clash with another pytest plugin). Both parsers, the
pass-through and the settings read this one table, so an option is added once.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kyren_conformance.options import GENERIC_OPTIONS
from kyren_conformance.policy import REPLAY_POLICIES


@dataclass(frozen=True)
class RunOption:
    dest: str  # the plugin's dest, which the settings read
    cli_flag: str
    pytest_flag: str
    help: str
    metavar: str | None = None
    type: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    action: str | None = None  # "append" or "store_true"
    path: bool = False  # the CLI makes it absolute: pytest runs in the suite's folder

    def values(self, given: Any) -> list[str]:
        """The pytest arguments that carry `given` (the CLI's parsed value) to the plugin."""
        if self.action == "store_true":
            return [self.pytest_flag] if given else []
        ones = given if isinstance(given, list) else [] if given is None else [given]
        return [part for one in ones for part in (self.pytest_flag, str(one))]


def _generic() -> Iterator[RunOption]:
    for g in GENERIC_OPTIONS:  # used by the contract fields that name them; others ignore them (a note)
        never = "; never a command-line value" if g.secret_file else ""
        yield RunOption(g.dest, g.flag, g.flag, f"{g.help} (else {g.env}){never}", g.metavar, path=g.secret_file)


RUN_OPTIONS: tuple[RunOption, ...] = (
    RunOption("target_url", "--target-url", "--target-url",
              "base URL of the target (else KYREN_TARGET_URL; none: the embedded reference mock)", "URL"),
    *_generic(),
    RunOption("uuid_replay", "--uuid-replay", "--uuid-replay",
              "what a repeated uuid must get: either (default), idempotent, reject", "POLICY", choices=REPLAY_POLICIES),
    RunOption("kyren_timeout", "--timeout", "--kyren-timeout",
              "deadline for each whole response in seconds (default 10)", "S", type=float),
    RunOption("ca_bundle", "--ca-bundle", "--ca-bundle", "a private CA certificate to trust as well", "PEM",
              path=True),
    RunOption("kyren_json_report", "--json-report", "--kyren-json-report",
              "JSON results (default: results.json beside the report)", "PATH", path=True),
    RunOption("kyren_strict", "--strict", "--kyren-strict", "SHOULD warnings fail the run", action="store_true"),
    RunOption("kyren_seed", "--seed", "--kyren-seed",
              "hypothesis seed (default 0: the same requests every run)", "N", type=int),
    RunOption("kyren_concurrency", "--concurrency", "--kyren-concurrency",
              "requests in flight at once (default 4; 1 for a target that forbids parallel calls)", "N", type=int),
    RunOption("kyren_rate_limit", "--rate-limit", "--kyren-rate-limit",
              "at most N requests a second over the whole run (a target behind a limiter)", "N/s"),
    RunOption("kyren_contract", "--contract", "--kyren-contract",
              "a method contract, or a folder of them; repeatable (default: every shipped method, in one run)",
              "FILE|DIR", action="append", path=True),
    RunOption("kyren_profile", "--profile", "--kyren-profile",
              "target profile JSON: code_table, valid_request_codes, p95_ms", "FILE", path=True),
    RunOption("kyren_field", "--field", "--kyren-field", "a contract field's value (repeatable)", "NAME=VALUE",
              action="append"),
    RunOption("kyren_flows", "--flows", "--kyren-flows",
              "run the money flows against a target that is not the mock (they move small amounts on the test user)",
              action="store_true"),
)  # fmt: skip


def _kwargs(option: RunOption, dest: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"dest": dest, "help": option.help}
    if option.action:
        kwargs["action"] = option.action
    if option.metavar and option.action != "store_true":
        kwargs["metavar"] = option.metavar
    if option.type:
        kwargs["type"] = option.type
    if option.choices:
        kwargs["choices"] = option.choices
    return kwargs


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """The run options as `kyren-conformance` flags; the namespace keeps the plugin's dest names."""
    for option in RUN_OPTIONS:
        parser.add_argument(option.cli_flag, **_kwargs(option, option.dest))


def add_pytest_options(add: Callable[..., None]) -> None:
    """The run options as the plugin's pytest options (`add` is a pytest option group's `addoption`)."""
    for option in RUN_OPTIONS:
        add(option.pytest_flag, **_kwargs(option, option.dest))


def pytest_arguments(given: Mapping[str, Any]) -> list[str]:
    """The plugin's arguments that carry the CLI's values (`given`, by dest) into pytest."""
    return [arg for option in RUN_OPTIONS for arg in option.values(given.get(option.dest))]


DESTS: tuple[str, ...] = tuple(option.dest for option in RUN_OPTIONS)
PATH_DESTS: tuple[str, ...] = tuple(option.dest for option in RUN_OPTIONS if option.path)
