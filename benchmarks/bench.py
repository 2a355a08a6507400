"""Speed of a run against the reference mock, next to the network floor: one method, and the whole API.

    python benchmarks/bench.py [--repeat 5] [--latency-ms 80] [--concurrency 4]

For each repetition: start the mock (serving one method, or every shipped contract at its own path),
run the suite (the real CLI, in its own process), read from results.json how many requests each
method got, then send as many valid requests to each method through one keep-alive
requests.Session (the floor). Also times the interpreter + import start-up of a run on its own.
Prints every repetition, then min and median: one method and the whole API against the local mock,
then both against a mock with added latency. The cost per request above the floor is the figure to shrink.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass

import requests

from kyren_conformance.contract import Contract, load_contract
from kyren_conformance.mock import MockServer
from kyren_conformance.mutation import suite_target_args
from kyren_conformance.resources import default_contract_path, shipped_contract_paths
from kyren_conformance.suite_run import shared_mock_values

ONE_METHOD = [load_contract(default_contract_path())]
WHOLE_API = [load_contract(p) for p in shipped_contract_paths()]
IMPORTS = (
    "import pytest, pytest_html.plugin, pytest_metadata.plugin, hypothesis, requests, jsonschema; "
    "import kyren_conformance.pytest_plugin, kyren_conformance.conformance_run, kyren_conformance.mock"
)


@dataclass(frozen=True)
class Sample:
    requests: int
    wall: float
    floor: float
    startup: float

    @property
    def overhead_ms(self) -> float:
        return (self.wall - self.floor - self.startup) / self.requests * 1000

    @property
    def ratio(self) -> float:
        return self.wall / self.floor


def _startup() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORTS], check=True)
    return time.perf_counter() - started


def _mock(contracts: list[Contract], latency: float) -> MockServer:
    return MockServer(contracts, credentials=shared_mock_values(contracts), latency=latency)


def _suite(server: MockServer, contracts: list[Contract], concurrency: int) -> tuple[float, dict[str, int]]:
    """The run's wall time and the requests each method got."""
    args, secrets = suite_target_args(server.url, server, contracts)  # the product's own helper
    env = {**os.environ, **secrets}
    args += ["--concurrency", str(concurrency)]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "kyren_conformance.cli", *args, "--report", f"{tmp}/r.html"],
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        with open(f"{tmp}/results.json") as file:
            results = json.load(file)
    if proc.returncode != 0:
        raise SystemExit(
            f"the suite failed on the reference mock ({results['verdict']['label']}):\n{proc.stdout[-2000:]}"
        )
    return wall, {m["name"]: m["requests"] for m in results["methods"]}


def _floor(server: MockServer, contracts: list[Contract], counts: dict[str, int]) -> float:
    """As many valid requests as the run sent to each method, one after the other, on one keep-alive session."""
    with requests.Session() as session:
        started = time.perf_counter()
        for contract in contracts:
            body = server.credentials_of(contract)
            request_id = contract.request_id_field
            url = server.url + contract.http_path
            for _ in range(counts[contract.path.stem]):
                if request_id is not None:
                    body[request_id.name] = str(uuid.uuid4())
                session.post(url, json=body, timeout=10).raise_for_status()
        return time.perf_counter() - started


def measure(contracts: list[Contract], latency: float, concurrency: int) -> Sample:
    startup = _startup()
    with _mock(contracts, latency) as server:
        wall, counts = _suite(server, contracts, concurrency)
    with _mock(contracts, latency) as server:
        floor = _floor(server, contracts, counts)
    return Sample(sum(counts.values()), wall, floor, startup)


def _report(title: str, samples: list[Sample], latency: float, concurrency: int) -> None:
    print(f"\n{title}")
    print(
        f"{'run':>4} {'requests':>8} {'wall s':>8} {'floor s':>8} {'start-up s':>10} "
        f"{'overhead ms/req':>15} {'wall/floor':>10}"
    )
    for i, s in enumerate(samples, 1):
        print(
            f"{i:>4} {s.requests:>8} {s.wall:>8.3f} {s.floor:>8.3f} {s.startup:>10.3f} "
            f"{s.overhead_ms:>15.2f} {s.ratio:>10.2f}"
        )
    for name, pick in (("min", min), ("median", statistics.median)):
        print(
            f"{name:>6}: wall {pick(s.wall for s in samples):.3f} s, floor {pick(s.floor for s in samples):.3f} s, "
            f"start-up {pick(s.startup for s in samples):.3f} s, "
            f"overhead {pick(s.overhead_ms for s in samples):.2f} ms/request, "
            f"wall/floor {pick(s.ratio for s in samples):.2f}"
        )
    if latency:
        bound = 2 * samples[0].requests * latency / concurrency
        print(f"target: wall <= 2 x requests x latency / concurrency = {bound:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=80.0)
    parser.add_argument("--concurrency", type=int, default=4)
    ns = parser.parse_args()
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    whole = f"the whole shipped API ({len(WHOLE_API)} methods)"
    for name, contracts in (("one method (Close Session)", ONE_METHOD), (whole, WHOLE_API)):
        local = [measure(contracts, 0.0, ns.concurrency) for _ in range(ns.repeat)]
        _report(f"{name}, local reference mock", local, 0.0, ns.concurrency)
    for name, contracts in (("one method (Close Session)", ONE_METHOD), (whole, WHOLE_API)):
        slow = [measure(contracts, ns.latency_ms / 1000, ns.concurrency) for _ in range(max(1, ns.repeat // 2))]
        _report(
            f"{name}, reference mock with {ns.latency_ms:.0f} ms added latency, concurrency {ns.concurrency}",
            slow,
            ns.latency_ms / 1000,
            ns.concurrency,
        )


if __name__ == "__main__":
    main()
