"""The values hypothesis drew for a run, kept between runs: a run with the same contract, seed and values does not
pay hypothesis' warm-up again (its import, and on a new machine the character tables it builds on first use).

The draws live in the folder the run already points hypothesis' own files at (the CLI sets
`HYPOTHESIS_STORAGE_DIRECTORY` outside the project), one small JSON file per key. A file that is missing,
unreadable, corrupt or of another format is a miss: the values are drawn again and the file rewritten. Nothing
here ever fails a run.

The key is a hash of the suite's version, hypothesis' version, the contract's content, the seed and the
configured values the draws depend on. Those are the credentials' only (a wrong credential is drawn as any text
but the real one); the other values decide what a body holds, not what is drawn, and the embedded mock makes
some of them up anew each run. A secret stays out of the key: a hash of the token would sit in a shared
temporary folder, where a weak token could be guessed from it. The replay checks each kept value instead
(`cases.py`): a kept wrong credential that is the real one is a miss.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kyren_conformance import __version__

FORMAT = 1
FOLDER = "kyren-draws"  # inside hypothesis' storage folder

Drawn = tuple[str, Any]  # (what was drawn: a strategy's name, the value)


def cache_folder() -> Path | None:
    """Where the draws are kept: beside hypothesis' own files when the run points them somewhere (the CLI does,
    outside the project); None, no cache, when it does not (a plain pytest session keeps them in its cwd)."""
    root = os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY")
    return Path(root) / FOLDER if root else None


def _hypothesis_version() -> str | None:
    """hypothesis' version file, read without importing hypothesis (the import is what a hit saves)."""
    try:
        spec = importlib.util.find_spec("hypothesis")
        if spec is None or spec.origin is None:
            return None
        return Path(spec.origin).with_name("version.py").read_text(encoding="utf-8")
    except (OSError, ValueError, ImportError):
        return None


def draws_key(contract_sha256: str, seed: int, values: Mapping[str, Any]) -> str | None:
    """The key of a run's draws; None when it cannot be told (then nothing is cached).

    `values`: the configured values the draws depend on, no secret among them.
    """
    hypothesis = _hypothesis_version()
    if hypothesis is None:
        return None
    try:
        text = json.dumps(
            {
                "suite": __version__,
                "hypothesis": hypothesis,
                "contract": contract_sha256,
                "seed": seed,
                "values": dict(values),
            },
            sort_keys=True,
            ensure_ascii=True,
        )
    except (TypeError, ValueError):  # a configured value JSON cannot write: no cache for this run
        return None
    return hashlib.sha256(text.encode()).hexdigest()


def _encode(value: Any) -> list[Any]:
    if isinstance(value, bytes):
        return ["bytes", base64.b64encode(value).decode("ascii")]
    return ["json", value]


def _decode(cell: Any) -> Any:
    kind, value = cell
    if kind == "bytes":
        return base64.b64decode(value.encode("ascii"), validate=True)
    if kind == "json":
        return value
    raise ValueError(f"unknown kind of drawn value {kind!r}")


def load(folder: Path, key: str) -> list[Drawn] | None:
    """The draws kept under `key`, in the order they were made; None for a miss (absent, unreadable, corrupt)."""
    try:
        data = json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
        if data["format"] != FORMAT or data["key"] != key:
            return None
        return [(str(name), _decode(cell)) for name, cell in data["draws"]]
    except (OSError, ValueError, KeyError, TypeError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None


def save(folder: Path, key: str, draws: Sequence[Drawn]) -> None:
    """Keep the draws under `key`, whole or not at all (another run may be reading it); a failure is ignored."""
    try:
        text = json.dumps(
            {"format": FORMAT, "key": key, "draws": [[name, _encode(value)] for name, value in draws]},
            ensure_ascii=True,  # a lone surrogate (valid in a Python str, not in UTF-8) reads back as itself
        )
    except (TypeError, ValueError):  # a value JSON cannot hold: never cached
        return
    tmp: str | None = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key[:12]}-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, folder / f"{key}.json")
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
