"""Where the shipped contracts and schemas are, installed or in a checkout."""

from __future__ import annotations

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
