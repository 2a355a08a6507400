"""Exit codes and the argument parser every `kyren-conformance` command shares."""

from __future__ import annotations

import argparse
from typing import NoReturn

CONFORMANT, NOT_CONFORMANT, INTERRUPTED, INTERNAL_ERROR, USAGE_ERROR = 0, 1, 2, 3, 4


class UsageParser(argparse.ArgumentParser):
    """One line and exit 4 on a bad argument (argparse's default is a usage block and exit 2: "interrupted")."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("allow_abbrev", False)  # `--token X` must never silently become `--token-file X`
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: {message} (see --help)\n")
