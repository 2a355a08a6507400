"""Speed of a run against the reference mock, next to the network floor: one method, the whole API, and a
synthetic method of 2,000+ requests, side by side.

    python benchmarks/bench.py [--repeat 3] [--latency-ms 80] [--concurrency 4] [--synthetic-fields 170]

For each scenario and repetition: start the mock (serving its contracts, each at its own path), run the
suite (the real CLI, in its own process: wall time, CPU time and peak RSS of that process), read from
results.json how many requests each method got, then send as many valid requests to each method through
one keep-alive requests.Session (the floor). The interpreter + import start-up of a run is timed on its own.
The figure to shrink is the cost per request above the floor: (wall - floor - start-up) / requests.
With --latency-ms, the scenarios are run again against a mock that adds that latency to every answer,
next to the bound requests x latency / concurrency + start-up.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests

from kyren_conformance.contract import Contract, load_contract
from kyren_conformance.mock import MockServer
from kyren_conformance.mutation import suite_target_args
from kyren_conformance.resources import data_dir, default_contract_path, shipped_contract_paths
from kyren_conformance.suite_run import shared_mock_values

IMPORTS = (
    "import pytest, pytest_html.plugin, pytest_metadata.plugin, hypothesis, requests, jsonschema; "
    "import kyren_conformance.pytest_plugin, kyren_conformance.conformance_run, kyren_conformance.mock"
)


@dataclass(frozen=True)
class Sample:
    requests: int
    wall: float
    cpu: float  # user + system seconds of the suite's process
    rss_mb: float  # its peak resident set
    floor: float
    startup: float

    @property
    def above_floor_ms(self) -> float:
        return (self.wall - self.floor - self.startup) / self.requests * 1000


def synthetic_contract(folder: Path, extra_fields: int) -> Contract:
    """Close Session with `extra_fields` more required string fields: a method of some 2,000+ requests."""
    source = load_contract(default_contract_path())
    data = json.loads(source.path.read_text())
    request = json.loads((data_dir("schemas") / data["schemas"]["request"]).read_text())
    response = json.loads((data_dir("schemas") / data["schemas"]["response"]).read_text())
    template = next(f for f in data["fields"] if f["name"] == "userId")
    for i in range(extra_fields):
        name = f"field{i:03d}"
        field = {**copy.deepcopy(template), "name": name, "example": f"value-{i}", "source": "synthetic"}
        for key in ("option", "env", "mock_value"):
            field.pop(key, None)
        data["fields"].append(field)
        request["properties"][name] = {"type": "string", "minLength": 1}
        request["required"].append(name)
    data["method"], data["title"] = "Synthetic", f"Synthetic ({extra_fields} extra fields)"
    data["http"]["path"] = "/v1/Synthetic"
    data["schemas"] = {"request": "synthetic.request.schema.json", "response": "synthetic.response.schema.json"}
    request["$id"] = request["$id"].replace("close-session", "synthetic")
    response["$id"] = response["$id"].replace("close-session", "synthetic")
    (folder / "contracts").mkdir(parents=True, exist_ok=True)
    (folder / "schemas").mkdir(parents=True, exist_ok=True)
    (folder / "schemas" / "synthetic.request.schema.json").write_text(json.dumps(request))
    (folder / "schemas" / "synthetic.response.schema.json").write_text(json.dumps(response))
    path = folder / "contracts" / "synthetic.json"
    path.write_text(json.dumps(data))
    return load_contract(path)


def _startup() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORTS], check=True)
    return time.perf_counter() - started


def _mock(contracts: list[Contract], latency: float) -> MockServer:
    return MockServer(contracts, credentials=shared_mock_values(contracts), latency=latency)


def _suite(
    server: MockServer, contracts: list[Contract], concurrency: int
) -> tuple[float, float, float, dict[str, int]]:
    """(wall s, CPU s, peak RSS MB, requests per method) of one run of the real CLI."""
    args, secrets = suite_target_args(server.url, server, contracts)  # the product's own helper
    args += ["--concurrency", str(concurrency)]
    with tempfile.TemporaryDirectory() as tmp:
        with open(f"{tmp}/output.txt", "w") as output:
            started = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-m", "kyren_conformance.cli", *args, "--report", f"{tmp}/r.html"],
                env={**os.environ, **secrets},
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
        with open(f"{tmp}/results.json") as file:
            results = json.load(file)
        if proc.returncode != 0:
            tail = Path(f"{tmp}/output.txt").read_text()[-2000:]
            raise SystemExit(f"the suite failed on the reference mock ({results['verdict']['label']}):\n{tail}")
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024, {m["name"]: m["requests"] for m in results["methods"]}


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
        wall, cpu, rss, counts = _suite(server, contracts, concurrency)
    with _mock(contracts, latency) as server:
        floor = _floor(server, contracts, counts)
    return Sample(sum(counts.values()), wall, cpu, rss, floor, startup)


def _report(title: str, scenarios: dict[str, list[Sample]], latency: float, concurrency: int) -> None:
    print(f"\n{title} (median of {len(next(iter(scenarios.values())))})")
    head = (
        f"{'scenario':<28} {'requests':>8} {'wall s':>8} {'CPU s':>7} {'peak MB':>8} {'floor s':>8} "
        f"{'start-up s':>10} {'above floor ms/req':>18}"
    )
    if latency:
        head += f" {'bound s':>8} {'wall/bound':>10}"
    print(head)
    for name, samples in scenarios.items():
        med = {k: statistics.median(getattr(s, k) for s in samples) for k in ("wall", "cpu", "rss_mb", "floor")}
        startup = statistics.median(s.startup for s in samples)
        above = statistics.median(s.above_floor_ms for s in samples)
        count = samples[0].requests
        line = (
            f"{name:<28} {count:>8} {med['wall']:>8.2f} {med['cpu']:>7.2f} {med['rss_mb']:>8.0f} "
            f"{med['floor']:>8.2f} {startup:>10.2f} {above:>18.2f}"
        )
        if latency:
            bound = count * latency / concurrency + startup
            line += f" {bound:>8.2f} {med['wall'] / bound:>10.2f}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="also run against a mock this slow (0: skip)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--synthetic-fields", type=int, default=170, help="extra fields of the synthetic method")
    ns = parser.parse_args()
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    with tempfile.TemporaryDirectory() as tmp:
        scenarios = {
            "one method (Close Session)": [load_contract(default_contract_path())],
            f"whole shipped API ({len(shipped_contract_paths())})": [
                load_contract(p) for p in shipped_contract_paths()
            ],
            "synthetic method": [synthetic_contract(Path(tmp), ns.synthetic_fields)],
        }
        local = {name: [measure(c, 0.0, ns.concurrency) for _ in range(ns.repeat)] for name, c in scenarios.items()}
        _report("local reference mock", local, 0.0, ns.concurrency)
        if ns.latency_ms:
            latency = ns.latency_ms / 1000
            slow = {name: [measure(c, latency, ns.concurrency)] for name, c in scenarios.items()}
            _report(f"reference mock with {ns.latency_ms:.0f} ms added latency", slow, latency, ns.concurrency)


if __name__ == "__main__":
    main()
