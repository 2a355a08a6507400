"""Where the shipped contracts and schemas are, installed or in a checkout."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


# where each shipped folder sits in a checkout
_CHECKOUT_PATHS = {"contracts": "contracts", "schemas": "schemas", "conformance": "tests/conformance"}


def data_dir(name: str) -> Path:
    """The `contracts`, `schemas` or `conformance` (the suite's test module) folder.

    A wheel carries copies under `_data/`; an editable install or a bare checkout reads the
    top-level folders, so an edit there is seen at once.
    """
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parents[1] / _CHECKOUT_PATHS[name]):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the {name}/ folder is missing from the installation ({_PACKAGE_DIR})")


def default_contract_path() -> Path:
    return data_dir("contracts") / "close-session.json"


def shipped_contract_paths() -> list[Path]:
    """Every shipped method contract: the zero-configuration run covers them all."""
    return sorted(p for p in data_dir("contracts").glob("*.json") if p.is_file())


def shipped_flow_paths() -> list[Path]:
    """Every shipped money-flow declaration (contracts/flows/*.json): a run takes those whose methods it has."""
    folder = data_dir("contracts") / "flows"
    return sorted(p for p in folder.glob("*.json") if p.is_file()) if folder.is_dir() else []


def contract_paths(given: str | Sequence[str] | None) -> list[Path]:
    """Each `--contract`: a contract file, or a folder of them (or one holding contracts/, as `derive --out`
    writes); none: every shipped contract. Raise ValueError for a folder with no contract in it."""
    if not given:
        return shipped_contract_paths()
    paths: list[Path] = []
    for item in [given] if isinstance(given, str) else list(given):
        path = Path(item)
        if path.is_dir():
            folder = path / "contracts" if (path / "contracts").is_dir() else path
            found = sorted(p for p in folder.glob("*.json") if p.is_file())
            if not found:
                shown = item if item.isprintable() else repr(item)  # one line, whatever the folder's name
                raise ValueError(f"--contract {shown}: a folder with no contract (*.json) in it")
            paths += found
        else:
            paths.append(path)
    return list(dict.fromkeys(p.resolve() if p.exists() else p for p in paths))
