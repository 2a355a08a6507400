"""The keys under which a pytest session keeps the run's state (`config.stash`), in a module of their own.

The plugin writes them and the report hooks read them; neither imports the other for it. At session finish the
plugin freezes the run once (SNAPSHOT) and makes from it the results (RESULTS) and the report's one input
(REPORT): what is read after that never looks at the live run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from kyren_conformance.report_input import ReportInput  # noqa: F401 (named in a string below)
    from kyren_conformance.run_snapshot import SuiteSnapshot  # noqa: F401
    from kyren_conformance.settings import SuiteSettings  # noqa: F401
    from kyren_conformance.suite_run import SuiteRun  # noqa: F401

SETTINGS = pytest.StashKey["SuiteSettings"]()
RUN = pytest.StashKey["SuiteRun"]()  # the live run: the plugin's alone
INTERNAL_ERRORS = pytest.StashKey[list[str]]()
SNAPSHOT = pytest.StashKey["SuiteSnapshot"]()  # the run, frozen at session finish (run_snapshot.py)
RESULTS = pytest.StashKey[dict[str, Any]]()  # the run as data (results.py), set at session finish
REPORT = pytest.StashKey["ReportInput"]()  # the report's one input (report_input.py), set at session finish
