"""Fixtures shared by the project's tests."""

import pytest

from kyren_conformance.contract import Contract, load_contract
from kyren_conformance.resources import default_contract_path


@pytest.fixture(scope="session")
def contract() -> Contract:
    return load_contract(default_contract_path())
