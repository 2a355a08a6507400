"""The keys under which a pytest session keeps the run's state (`config.stash`), in a module of their own.

The plugin writes them and the report hooks read them; neither imports the other for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from kyren_conformance.settings import SuiteSettings  # noqa: F401 (named in a string below)
    from kyren_conformance.suite_run import SuiteRun  # noqa: F401

SETTINGS = pytest.StashKey["SuiteSettings"]()
RUN = pytest.StashKey["SuiteRun"]()
INTERNAL_ERRORS = pytest.StashKey[list[str]]()
RESULTS = pytest.StashKey[dict[str, Any]]()  # the run as data (results.py), set at session finish
