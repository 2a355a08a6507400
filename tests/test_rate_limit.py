"""A staging endpoint behind a rate limiter: its 429s are waited out, counted, and --rate-limit avoids them."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from kyren_conformance.contract import Contract
from kyren_conformance.mock import MockServer
from kyren_conformance.mock.behaviour import Incoming, Reference, Reply
from support import CliRun, run_cli, target_args

SPACING = 0.004  # the limiter's rule: a request less than 4 ms after the last one it let through gets 429


class _Limited(Reference):
    """The reference behind a limiter that answers 429 + Retry-After: 0 to requests that come too close."""

    lock = threading.Lock()
    last = [0.0]
    refused = [0]

    def handle(self, incoming: Incoming) -> Reply:
        with self.lock:
            now = time.monotonic()
            too_soon = now - self.last[0] < SPACING
            if too_soon:
                self.refused[0] += 1
            else:
                self.last[0] = now
        if too_soon:
            body = b'{"error": 429, "description": "too many requests"}'
            return Reply(429, (("Retry-After", "0"), ("Content-Type", "application/json")), body)
        return super().handle(incoming)


def _run(contract: Contract, tmp_path: Path, *extra: str) -> tuple[CliRun, int]:
    _Limited.refused[0] = 0
    with MockServer(contract, behaviour=_Limited) as server:
        args, env = target_args(server.url, server.credentials, contract)
        result = run_cli([*args, "--timeout", "5", *extra], tmp_path, env=env)
    return result, _Limited.refused[0]


def test_429s_are_waited_out_and_counted_not_failed(contract: Contract, tmp_path: Path) -> None:
    result, refused = _run(contract, tmp_path, "--concurrency", "4")
    assert refused > 0, "the limiter never refused: the test shows nothing"
    assert result.code == 0, result.output[-3000:]
    info = result.results["info"]
    assert 0 < info["throttled"] <= refused
    assert f"{info['throttled']} requests were throttled (429 Too Many Requests)" in result.output
    assert info["statuses"].get("429") is None  # every 429 was waited out: no answer judged is one


def test_rate_limit_paces_the_run_under_the_limiter(contract: Contract, tmp_path: Path) -> None:
    # 40 ms apart: ten times the limiter's spacing, room for a loaded machine's jitter
    result, refused = _run(contract, tmp_path, "--concurrency", "4", "--rate-limit", "25/s")
    assert result.code == 0, result.output[-3000:]
    assert refused == 0 and result.results["info"]["throttled"] == 0
    assert result.results["identity"]["rate_limit"] == 25


def test_a_bad_rate_limit_is_one_line_and_exit_4(tmp_path: Path) -> None:
    for bad in ("fast", "0/s", "-1", "nan", "1e9/s"):
        result = run_cli(["--rate-limit", bad], tmp_path)
        assert result.code == 4, result.output
        assert result.output.strip().count("\n") == 0 and "--rate-limit" in result.output
