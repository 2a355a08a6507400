"""A run's settings, resolved once from options and the environment.

Every problem here is a configuration error: one clear line, exit 4. Field values are looked up by
the names the contract gives (`option`, `env`), never by Close Session field names.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kyren_conformance.client import check_target_url, read_extra_ca
from kyren_conformance.contract import (
    Contract,
    ContractError,
    Field,
    describe_types,
    load_contract,
    parse_json,
    quoted,
    shown,
)
from kyren_conformance.flows import FlowDeclaration, FlowError, check_fields, load_flow
from kyren_conformance.options import GENERIC_OPTIONS
from kyren_conformance.policy import REPLAY_POLICIES, ReplayPolicy
from kyren_conformance.profile import Profile, load_profile
from kyren_conformance.resources import contract_paths, default_contract_path, shipped_flow_paths

DEFAULT_SEED = 0
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 86400.0
DEFAULT_CONCURRENCY = 4
TARGET_URL_ENV = "KYREN_TARGET_URL"


class ConfigError(ValueError):
    """A usage or configuration problem; the message is the one line the user sees."""


@dataclass(frozen=True)
class RunSettings:
    contract: Contract
    target_url: str | None  # None: the embedded reference mock
    values: Mapping[str, Any]  # configured JSON values, by contract field name (secrets included, as strings)
    replay_policy: ReplayPolicy
    timeout: float
    ca_bundle: str | None
    strict: bool
    seed: int
    concurrency: int
    profile: Profile
    json_report: Path | None
    notes: tuple[str, ...] = ()  # what the user should know but is no error (an option this method ignores)
    rate_limit: float | None = None  # requests per second over the whole run; None: as fast as concurrency allows


@dataclass(frozen=True)
class FlowSettings:
    """One money flow of the run: its declaration, whether it is sent, and what it does to the test user's money."""

    declaration: FlowDeclaration
    note: str  # the staging note, for the run identity: what it moves, on which test user
    not_run: str | None = None  # why it is not sent (not asked for against a real target); None: it is sent

    @property
    def name(self) -> str:
        return self.declaration.flow


@dataclass(frozen=True)
class SuiteSettings:
    """A whole-integration run: one RunSettings per method, all against the same target with the same options."""

    methods: tuple[RunSettings, ...]
    notes: tuple[str, ...] = ()
    flows: tuple[FlowSettings, ...] = ()  # every shipped flow whose methods are all among the run's contracts

    @property
    def first(self) -> RunSettings:
        return self.methods[0]


Option = Callable[[str], Any]  # reads a parsed option by its dest name, None when not given


def read_secret_file(path: str, what: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(f"{what} {shown(path)}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {shown(path)}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    if not text:
        raise ConfigError(f"{what} {shown(path)}: the file is empty")
    return text


def _parse_field_overrides(
    items: list[str] | None, contract: Contract, others: Sequence[Contract] = ()
) -> dict[str, str]:
    """The --field values meant for `contract`; a name no contract of the run has is an error."""
    out = {}
    names = [f.name for f in contract.fields]
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--field expects NAME=VALUE, got {item!r}")
        if name not in names:
            if any(name in (f.name for f in other.fields) for other in others):
                continue  # another method of the run has it
            raise ConfigError(
                f"--field {name}: no such field in {contract.path.name}; expected one of: {', '.join(names)}"
            )
        if contract.field(name).secret:
            raise ConfigError(
                f"--field {name}: a secret is never given on the command line; "
                f"use {contract.field(name).env or 'its file option'}"
            )
        out[name] = value
    return out


def _flag(dest: str) -> str:
    return f"--{dest.replace('_', '-')}"


def _coerce(f: Field, text: str, source: str) -> Any:
    """The configured text as a value of the field's type: the text itself when a string is valid, else JSON."""
    if "string" in f.types:
        return text
    expected = f"{source} {quoted(text)}: expected {describe_types(f.types)}"
    try:
        value = parse_json(text)  # bounded: a 5,000-digit number or 100,000 `[` is a bad value, not a crash
    except ValueError:
        raise ConfigError(expected) from None
    if not f.accepts(value):
        raise ConfigError(expected)
    return value


def _field_value(f: Field, overrides: Mapping[str, str], option: Option, environ: Mapping[str, str]) -> Any:
    """The field's configured value: --field, else its option, else its variable, else the document's example."""
    if overrides.get(f.name):
        return _coerce(f, overrides[f.name], f"--field {f.name}")
    if f.option and (given := option(f.option)):
        if f.secret:
            return read_secret_file(given, _flag(f.option))
        return _coerce(f, str(given), _flag(f.option))
    if f.env and (text := environ.get(f.env)):
        return text if f.secret else _coerce(f, text, f.env)
    if f.option is None and not f.secret:  # a generic field's value is the user's, never the document's
        return f.example
    return None


def ignored_options(
    contracts: Contract | Sequence[Contract], option: Option, environ: Mapping[str, str]
) -> tuple[str, ...]:
    """Notes on the generic options and variables that are set but mean nothing to any method of the run."""
    contracts = [contracts] if isinstance(contracts, Contract) else list(contracts)
    options = {f.option for c in contracts for f in c.fields if f.option}
    variables = {f.env for c in contracts for f in c.fields if f.env}
    methods = ", ".join(c.method for c in contracts)
    what = "has" if len(contracts) == 1 else "have"
    notes = []
    for generic in GENERIC_OPTIONS:  # never the value: it may be a secret
        if option(generic.dest) and generic.dest not in options:
            notes.append(f"{generic.flag} is ignored: {methods} {what} no field for it")
        if environ.get(generic.env) and generic.env not in variables:
            notes.append(f"{generic.env} is ignored: {methods} {what} no field for it")
    return tuple(notes)


def _hint(f: Field) -> str:
    field = f"--field {f.name}=VALUE" if not f.option and not f.secret else ""
    ways = [_flag(f.option) if f.option else "", f.env or "", field]
    return " or ".join(w for w in ways if w) or f"--field {f.name}=VALUE"


def _load_contracts(given: str | Sequence[str] | None) -> list[Contract]:
    try:
        contracts = [load_contract(path) for path in contract_paths(given)]
    except (ContractError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    seen: dict[str, Contract] = {}
    for contract in contracts:
        for key in (contract.path.stem, f"{contract.http_method} {contract.http_path}"):
            if key in seen:
                raise ConfigError(
                    f"--contract: {shown(contract.path)} and {shown(seen[key].path)} are both {key!r}; "
                    "one contract per method"
                )
            seen[key] = contract
    return contracts


def resolve(option: Option, environ: Mapping[str, str] = os.environ) -> RunSettings:
    """The settings of a one-method run (the first contract given, else Close Session); raise ConfigError."""

    def one(dest: str) -> Any:
        value = option(dest)
        return (value or str(default_contract_path())) if dest == "kyren_contract" else value

    return resolve_suite(one, environ).first


def resolve_suite(option: Option, environ: Mapping[str, str] = os.environ) -> SuiteSettings:
    """Build the settings of every method of the run; raise ConfigError with the one line to show."""
    contracts = _load_contracts(option("kyren_contract"))
    try:
        profile = load_profile(option("kyren_profile"))
    except ContractError as exc:
        raise ConfigError(str(exc)) from None
    shared = _shared_settings(option, environ, profile)
    flows = _flows(contracts, against_mock=shared["target_url"] is None, asked=bool(option("kyren_flows")))
    small = _small_amounts(flows)
    methods = tuple(_method_settings(contract, contracts, shared, option, environ, small) for contract in contracts)
    notes = ignored_options(contracts, option, environ) + _flow_notes(flows, asked=bool(option("kyren_flows")))
    return SuiteSettings(tuple(replace(m, notes=notes) for m in methods), notes, flows)


FLOWS_NOT_ASKED = (
    "not asked for: against a target that is not the embedded mock, money flows run only with --flows "
    "(they move small amounts on the configured test user)"
)


def _flows(contracts: Sequence[Contract], *, against_mock: bool, asked: bool) -> tuple[FlowSettings, ...]:
    """The shipped flows whose methods are all contracts of the run (by file stem), each checked against them.
    Staging safety: against the embedded mock they always run; against any other target only when asked."""
    from kyren_conformance.flows.engine import staging_note

    by_stem = {c.path.stem: c for c in contracts}
    flows = []
    try:
        for path in shipped_flow_paths():
            declaration = load_flow(path)
            if not set(declaration.methods) <= by_stem.keys():
                continue
            check_fields(declaration, by_stem)
            not_run = None if against_mock or asked else FLOWS_NOT_ASKED
            flows.append(FlowSettings(declaration, staging_note(declaration), not_run))
    except FlowError as exc:
        raise ConfigError(str(exc)) from None
    return tuple(flows)


def _small_amounts(flows: Sequence[FlowSettings]) -> dict[str, dict[str, str]]:
    """method -> {amount field: the flow's small amount}: what a plain run's valid requests move, not the example.

    A document's example amount (Deposit Balance's is 1000) sent by every valid request and replay of a plain
    run would move thousands on a staging test user; where a reviewed flow names a method's amount field, the
    run sends the flow's small amount instead, unless `--field` gives one.
    """
    small: dict[str, dict[str, str]] = {}
    for flow in flows:
        for op in flow.declaration.operations.values():
            if op.amount_field:
                small.setdefault(op.method, {})[op.amount_field] = str(flow.declaration.amount)
    return small


def _flow_notes(flows: Sequence[FlowSettings], *, asked: bool) -> tuple[str, ...]:
    """One line when flows were not run (and how to ask), or when --flows has no flow to run."""
    skipped = [f.name for f in flows if f.not_run]
    if skipped:
        return (
            f"money flows not run against this target: {', '.join(skipped)}; add --flows to run them "
            "(they move small amounts on the configured test user)",
        )
    if asked and not flows:
        return ("--flows is ignored: no money flow has all its methods among the run's contracts",)
    return ()


def _shared_settings(option: Option, environ: Mapping[str, str], profile: Profile) -> dict[str, Any]:
    target = option("target_url") or environ.get(TARGET_URL_ENV) or None
    if target is not None:
        try:
            target = check_target_url(target)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    policy = option("uuid_replay") or "either"
    if policy not in REPLAY_POLICIES:
        raise ConfigError(f"--uuid-replay {policy!r}: expected one of: {', '.join(REPLAY_POLICIES)}")
    timeout = _positive(option("kyren_timeout"), DEFAULT_TIMEOUT, "--timeout")
    concurrency = int(_positive(option("kyren_concurrency"), DEFAULT_CONCURRENCY, "--concurrency"))
    rate_limit = _rate_limit(option("kyren_rate_limit"))
    if timeout > MAX_TIMEOUT:  # beyond what sockets and the watchdog's clock can represent
        raise ConfigError(f"--timeout {timeout:g}: at most {MAX_TIMEOUT:g} seconds")
    ca_bundle = option("ca_bundle")
    if ca_bundle:
        try:  # a directory, a non-PEM or a certificate-less file fails here, not as a crash mid-run
            read_extra_ca(ca_bundle)
        except ValueError as exc:
            raise ConfigError(f"--ca-bundle: {exc}") from None
    seed = option("kyren_seed")
    json_report = option("kyren_json_report")
    return {
        "target_url": target,
        "replay_policy": policy,
        "timeout": timeout,
        "ca_bundle": ca_bundle,
        "strict": bool(option("kyren_strict")),
        "seed": DEFAULT_SEED if seed is None else int(seed),
        "concurrency": concurrency,
        "rate_limit": rate_limit,
        "profile": profile,
        "json_report": Path(json_report) if json_report else None,
    }


def _method_settings(
    contract: Contract,
    contracts: Sequence[Contract],
    shared: Mapping[str, Any],
    option: Option,
    environ: Mapping[str, str],
    small_amounts: Mapping[str, Mapping[str, str]],
) -> RunSettings:
    others = [c for c in contracts if c is not contract]
    values: dict[str, Any] = {}
    if shared["target_url"] is not None:  # the mock brings its own test credentials
        overrides = _parse_field_overrides(option("kyren_field"), contract, others)
        small = small_amounts.get(contract.path.stem, {})
        for f in contract.fields:
            if f.role == "request_id":
                continue
            if f.name in small and f.name not in overrides:
                values[f.name] = _coerce(f, small[f.name], f"the flow's amount for {f.name}")
                continue
            value = _field_value(f, overrides, option, environ)
            if value is not None:
                values[f.name] = value
            elif f.required:
                raise ConfigError(f"no value for {f.name} of {contract.method}: set {_hint(f)}")
    elif option("kyren_field"):  # still reject a malformed one
        for name, text in _parse_field_overrides(option("kyren_field"), contract, others).items():
            _coerce(contract.field(name), text, f"--field {name}")
    return RunSettings(contract=contract, values=values, **shared)


def _rate_limit(value: Any) -> float | None:
    """`--rate-limit 5/s` (or `5`): requests per second, at most one a millisecond."""
    if value is None:
        return None
    text = str(value).strip()
    number = text.removesuffix("/s").strip()
    try:
        rate = float(number)
    except ValueError:
        rate = float("nan")
    if not 0 < rate <= 1000:  # also refuses NaN
        raise ConfigError(f"--rate-limit {text!r}: expected requests per second, such as 5/s (at most 1000/s)")
    return rate


def _positive(value: Any, default: float, name: str) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} {value!r}: expected a positive number") from None
    if not number > 0 or number != number:
        raise ConfigError(f"{name} {value!r}: expected a positive number")
    return number
