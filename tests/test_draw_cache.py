"""Hypothesis' draws kept between runs: the same requests, no hypothesis import on a hit, and a cache file that
is corrupt, foreign or tampered with is drawn again and rewritten, never a failure."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kyren_conformance import draw_cache
from kyren_conformance.cases import PlannedCase, plan_cases
from kyren_conformance.contract import Contract, load_contract
from kyren_conformance.resources import data_dir

VALUES = {"secureLogin": "partner-1", "userId": "12345", "gameId": "g1", "token": "Secret-Token"}
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _requests(plans: tuple[PlannedCase, ...]) -> list[tuple[str, str, bytes]]:
    """What each case sends, its fresh uuids masked."""
    return [
        (case.id, step.label, UUID.sub(b"U", step.body)) for case in (p.build() for p in plans) for step in case.steps
    ]


def _only_file(folder: Path) -> Path:
    (path,) = folder.glob("*.json")
    return path


@pytest.mark.parametrize("name", ["close-session", "start-game", "deposit-balance"])
def test_a_hit_sends_exactly_what_a_fresh_draw_sends(name: str, tmp_path: Path) -> None:
    contract = load_contract(data_dir("contracts") / f"{name}.json")
    values = {f.name: f.example or f"v-{f.name}" for f in contract.fields if f.role != "request_id"}
    fresh = plan_cases(contract, values, 3)
    cold = plan_cases(contract, values, 3, cache=tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == 1
    warm = plan_cases(contract, values, 3, cache=tmp_path)
    assert _requests(fresh) == _requests(cold) == _requests(warm)
    assert [(p.id, p.rules, p.defect, p.size) for p in warm] == [(p.id, p.rules, p.defect, p.size) for p in fresh]
    assert _requests(plan_cases(contract, values, 4, cache=tmp_path)) != _requests(warm)  # another seed: other draws
    assert len(list(tmp_path.glob("*.json"))) == 2


_WARM_RUN = """
import sys
from pathlib import Path
from kyren_conformance.cases import plan_cases
from kyren_conformance.contract import load_contract
from kyren_conformance.resources import default_contract_path
values = {"secureLogin": "partner-1", "userId": "12345", "gameId": "g1", "token": "Secret-Token"}
plans = plan_cases(load_contract(default_contract_path()), values, 0, cache=Path(sys.argv[1]))
print(len(plans), "hypothesis" in sys.modules)
"""


def test_a_hit_does_not_import_hypothesis(tmp_path: Path) -> None:
    def run() -> str:
        command = [sys.executable, "-c", _WARM_RUN, str(tmp_path)]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()

    count, imported = run()
    assert imported == "True"  # the first run draws
    assert run() == [count, "False"]


def _tamper(folder: Path, change: Any) -> None:
    path = _only_file(folder)
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "damage",
    [
        "",  # empty
        "{not json",
        "\udcff",  # not UTF-8 once written
        '{"format": 99, "key": "x", "draws": []}',
        '{"format": 1, "draws": [["long_text", ["json", "x"]]]}',  # no key
        "[1, 2, 3]",
    ],
)
def test_a_corrupt_file_is_drawn_again_and_rewritten(contract: Contract, tmp_path: Path, damage: str) -> None:
    expected = _requests(plan_cases(contract, VALUES, 0))
    plan_cases(contract, VALUES, 0, cache=tmp_path)
    path = _only_file(tmp_path)
    path.write_bytes(damage.encode("utf-8", "surrogateescape"))
    assert _requests(plan_cases(contract, VALUES, 0, cache=tmp_path)) == expected
    key = path.stem
    assert draw_cache.load(tmp_path, key) is not None  # rewritten whole


@pytest.mark.parametrize(
    ("what", "value"),
    [
        ("not_json_bytes", ["bytes", base64.b64encode(b'{"valid": "JSON"}').decode()]),  # a body that IS JSON
        ("not_json_bytes", ["bytes", "!!! not base64"]),
        ("other_json_type", ["json", "a string"]),  # a wrong-type value of the field's own type
        ("long_text", ["json", "short"]),
        ("wrong_text", ["json", "partner-1"]),  # the real partner id as the wrong one
        ("extra_fields", ["json", {"userId": 1}]),  # a known field as an unknown one
        ("fraction", ["json", 3.0]),
        ("mystery", ["json", 1]),
    ],
)
def test_a_kept_value_the_strategy_could_not_have_drawn_is_drawn_again(
    contract: Contract, tmp_path: Path, what: str, value: list[Any]
) -> None:
    expected = _requests(plan_cases(contract, VALUES, 0))
    plan_cases(contract, VALUES, 0, cache=tmp_path)

    def change(data: dict[str, Any]) -> None:
        names = [name for name, _ in data["draws"]]
        index = names.index(what) if what in names else 0
        data["draws"][index] = [what, value]

    _tamper(tmp_path, change)
    assert _requests(plan_cases(contract, VALUES, 0, cache=tmp_path)) == expected


def test_more_or_fewer_draws_than_the_plan_makes_is_a_miss(contract: Contract, tmp_path: Path) -> None:
    expected = _requests(plan_cases(contract, VALUES, 0))
    plan_cases(contract, VALUES, 0, cache=tmp_path)
    _tamper(tmp_path, lambda data: data["draws"].append(data["draws"][0]))
    assert _requests(plan_cases(contract, VALUES, 0, cache=tmp_path)) == expected
    _tamper(tmp_path, lambda data: data["draws"].pop())
    _tamper(tmp_path, lambda data: data["draws"].pop())
    assert _requests(plan_cases(contract, VALUES, 0, cache=tmp_path)) == expected


def test_the_secret_stays_out_of_the_key_and_the_file(contract: Contract, tmp_path: Path) -> None:
    plan_cases(contract, VALUES, 0, cache=tmp_path)
    plan_cases(contract, {**VALUES, "token": "Another-Secret"}, 0, cache=tmp_path)
    path = _only_file(tmp_path)  # one key for both tokens
    text = path.read_text()
    assert "Secret-Token" not in text and "Another-Secret" not in text
    plan_cases(contract, {**VALUES, "secureLogin": "partner-2"}, 0, cache=tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == 2  # a credential that is no secret is in the key


def test_a_kept_wrong_token_that_is_now_the_real_one_is_drawn_again(contract: Contract, tmp_path: Path) -> None:
    plan_cases(contract, VALUES, 0, cache=tmp_path)
    kept = draw_cache.load(tmp_path, _only_file(tmp_path).stem)
    assert kept is not None
    wrong_tokens = [value for name, value in kept if name == "wrong_text"]
    token = wrong_tokens[-1]  # the credentials are drawn in the contract's order: the token's is the last
    values = {**VALUES, "token": token}
    plans = plan_cases(contract, values, 0, cache=tmp_path)
    random = next(p.build() for p in plans if p.id == "wrong_credential[token-random]")
    assert json.loads(random.steps[0].body)["token"] != token


def test_a_folder_that_cannot_be_written_is_no_failure(contract: Contract, tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    expected = _requests(plan_cases(contract, VALUES, 0))
    assert _requests(plan_cases(contract, VALUES, 0, cache=blocked / "draws")) == expected
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert _requests(plan_cases(contract, VALUES, 0, cache=locked)) == expected


def test_the_cache_lives_beside_hypothesis_files_and_only_where_the_run_points_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("HYPOTHESIS_STORAGE_DIRECTORY", raising=False)
    assert draw_cache.cache_folder() is None  # a plain pytest session: its cwd, maybe a project, is not used
    monkeypatch.setenv("HYPOTHESIS_STORAGE_DIRECTORY", str(tmp_path))
    assert draw_cache.cache_folder() == tmp_path / draw_cache.FOLDER
