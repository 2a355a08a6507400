"""A run's settings, resolved once from options and the environment.

Every problem here is a configuration error: one clear line, exit 4. Field values are looked up by
the names the contract gives (`option`, `env`), never by Close Session field names.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kyren_conformance.client import _read_extra_ca, check_target_url
from kyren_conformance.contract import Contract, ContractError, Field, load_contract
from kyren_conformance.policy import REPLAY_POLICIES, ReplayPolicy
from kyren_conformance.profile import Profile, load_profile
from kyren_conformance.resources import default_contract_path

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
    values: Mapping[str, str]  # configured field values, by contract field name (secrets included)
    replay_policy: ReplayPolicy
    timeout: float
    ca_bundle: str | None
    strict: bool
    seed: int
    concurrency: int
    profile: Profile
    json_report: Path | None


Option = Callable[[str], Any]  # reads a parsed option by its dest name, None when not given


def read_secret_file(path: str, what: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(f"{what} {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    if not text:
        raise ConfigError(f"{what} {path}: the file is empty")
    return text


def _parse_field_overrides(items: list[str] | None, contract: Contract) -> dict[str, str]:
    out = {}
    names = [f.name for f in contract.fields]
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--field expects NAME=VALUE, got {item!r}")
        if name not in names:
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


def _field_value(f: Field, option: Option, environ: Mapping[str, str]) -> str | None:
    if f.option and (given := option(f.option)):
        return read_secret_file(given, f"--{f.option.replace('_', '-')}") if f.secret else str(given)
    return (environ.get(f.env) or None) if f.env else None


def _hint(f: Field) -> str:
    ways = [f"--{f.option.replace('_', '-')}" if f.option else "", f.env or ""]
    return " or ".join(w for w in ways if w) or f"--field {f.name}=VALUE"


def resolve(option: Option, environ: Mapping[str, str] = os.environ) -> RunSettings:
    """Build the run's settings; raise ConfigError with the one line to show."""
    try:
        contract = load_contract(option("kyren_contract") or default_contract_path())
        profile = load_profile(option("kyren_profile"))
    except ContractError as exc:
        raise ConfigError(str(exc)) from None

    target = option("target_url") or environ.get(TARGET_URL_ENV) or None
    if target is not None:
        try:
            target = check_target_url(target)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    values = {}
    if target is not None:  # the mock brings its own test credentials
        overrides = _parse_field_overrides(option("kyren_field"), contract)
        for f in contract.fields:
            if f.role == "request_id":
                continue
            value = overrides.get(f.name) or _field_value(f, option, environ)
            if value is not None:
                values[f.name] = value
            elif f.required:
                raise ConfigError(f"no value for {f.name} of {contract.method}: set {_hint(f)}")
    elif option("kyren_field"):
        _parse_field_overrides(option("kyren_field"), contract)  # still reject a malformed one

    policy = option("uuid_replay") or "either"
    if policy not in REPLAY_POLICIES:
        raise ConfigError(f"--uuid-replay {policy!r}: expected one of: {', '.join(REPLAY_POLICIES)}")
    timeout = _positive(option("kyren_timeout"), DEFAULT_TIMEOUT, "--timeout")
    concurrency = int(_positive(option("kyren_concurrency"), DEFAULT_CONCURRENCY, "--concurrency"))
    if timeout > MAX_TIMEOUT:  # beyond what sockets and the watchdog's clock can represent
        raise ConfigError(f"--timeout {timeout:g}: at most {MAX_TIMEOUT:g} seconds")
    ca_bundle = option("ca_bundle")
    if ca_bundle:
        try:  # a directory, a non-PEM or a certificate-less file fails here, not as a crash mid-run
            _read_extra_ca(ca_bundle)
        except ValueError as exc:
            raise ConfigError(f"--ca-bundle: {exc}") from None
    seed = option("kyren_seed")
    json_report = option("kyren_json_report")
    return RunSettings(
        contract=contract,
        target_url=target,
        values=values,
        replay_policy=policy,
        timeout=timeout,
        ca_bundle=ca_bundle,
        strict=bool(option("kyren_strict")),
        seed=DEFAULT_SEED if seed is None else int(seed),
        concurrency=concurrency,
        profile=profile,
        json_report=Path(json_report) if json_report else None,
    )


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
