"""Speed of a run against the reference mock, next to the network floor: one method, the whole API, and a
synthetic method of 2,000+ requests, side by side.

    python benchmarks/bench.py [--repeat 3] [--latency-ms 80] [--concurrency 4] [--synthetic-fields 170]
                               [--synthetic-requests 100,10000]

For each scenario and repetition: start the mock (serving its contracts, each at its own path), run the
suite (the real CLI, in its own process: wall time, CPU time and peak RSS of that process), read from
results.json how many requests each method got, then send as many valid requests to each method through
one keep-alive requests.Session (the floor). The interpreter + import start-up of a run is timed on its own.
The figure to shrink is the cost per request above the floor: (wall - floor - start-up) / requests.

Two synthetic methods: `--synthetic-fields N` adds N required string fields to Close Session (every body
grows with N: a stress of big bodies, some 2,300 requests at 170), `--synthetic-requests N` adds optional
string fields that the run is given no value for, as many as make about N requests, so every body keeps
Close Session's size and only the number of requests grows (the figure that must stay flat from 100 to
10,000). The runs keep hypothesis' files in a temporary folder of their own: the first repetition of each
scenario draws cold, the next ones reuse the draws.
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
from typing import Any

import requests

from kyren_conformance.contract import Contract, load_contract
from kyren_conformance.mock import MockServer
from kyren_conformance.mutation import suite_target_args
from kyren_conformance.resources import data_dir, default_contract_path, shipped_contract_paths

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


# Cases of one optional string field with no configured value: 6 wrong types (5 JSON types and the value in an
# array), 4 odd texts, 1 empty string. The method itself (Close Session) brings the rest.
_CASES_PER_OPTIONAL_FIELD = 11


def synthetic_contract(folder: Path, extra_fields: int, *, required: bool = True, name: str = "synthetic") -> Contract:
    """Close Session with `extra_fields` more string fields: required ones (in every body) or optional ones with
    no example (in no valid body: the run is given no value for them, see `_omitted`)."""
    source = load_contract(default_contract_path())
    data = json.loads(source.path.read_text())
    request = json.loads((data_dir("schemas") / data["schemas"]["request"]).read_text())
    response = json.loads((data_dir("schemas") / data["schemas"]["response"]).read_text())
    template = next(f for f in data["fields"] if f["name"] == "userId")
    for i in range(extra_fields):
        field_name = f"field{i:04d}" if extra_fields > 999 else f"field{i:03d}"
        field = {**copy.deepcopy(template), "name": field_name, "source": "synthetic"}
        field.update({"example": f"value-{i}"} if required else {"required": False})
        for key in ("option", "env", "mock_value", *(() if required else ("example",))):
            field.pop(key, None)
        data["fields"].append(field)
        request["properties"][field_name] = {"type": "string", "minLength": 1}
        if required:
            request["required"].append(field_name)
    kind = "required" if required else "optional"
    data["method"], data["title"] = "Synthetic", f"Synthetic ({extra_fields} extra {kind} fields)"
    data["http"]["path"] = f"/v1/{name}"
    data["schemas"] = {"request": f"{name}.request.schema.json", "response": f"{name}.response.schema.json"}
    request["$id"] = request["$id"].replace("close-session", name)
    response["$id"] = response["$id"].replace("close-session", name)
    (folder / "contracts").mkdir(parents=True, exist_ok=True)
    (folder / "schemas").mkdir(parents=True, exist_ok=True)
    (folder / "schemas" / f"{name}.request.schema.json").write_text(json.dumps(request))
    (folder / "schemas" / f"{name}.response.schema.json").write_text(json.dumps(response))
    path = folder / "contracts" / f"{name}.json"
    path.write_text(json.dumps(data))
    return load_contract(path)


def synthetic_of_requests(folder: Path, requests: int) -> Contract:
    """A method of about `requests` requests whose bodies all keep Close Session's size."""
    base = 87  # Close Session's own requests
    fields = max(0, round((requests - base) / _CASES_PER_OPTIONAL_FIELD))
    return synthetic_contract(folder / str(requests), fields, required=False, name=f"synthetic-{requests}")


def _omitted(contract: Contract) -> set[str]:
    """The synthetic optional fields, for which the run is given no value (so no valid body carries them)."""
    return {f.name for f in contract.fields if f.source == "synthetic" and not f.required}


def _values(server: MockServer, contract: Contract) -> dict[str, Any]:
    """The values a run (and the floor) sends this method: the mock's, but for the omitted fields."""
    omitted = _omitted(contract)
    return {k: v for k, v in server.credentials_of(contract).items() if k not in omitted}


def _without_fields(args: list[str], omitted: set[str]) -> list[str]:
    """The options less each `--field NAME=VALUE` of an omitted field."""
    out: list[str] = []
    for flag, value in zip(args[::2], args[1::2], strict=True):  # suite_target_args gives flag-value pairs
        if not (flag == "--field" and value.split("=", 1)[0] in omitted):
            out += [flag, value]
    return out


def _startup() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORTS], check=True)
    return time.perf_counter() - started


def _mock(contracts: list[Contract], latency: float) -> MockServer:
    return MockServer(contracts, latency=latency)


def _suite(
    server: MockServer, contracts: list[Contract], concurrency: int
) -> tuple[float, float, float, dict[str, int]]:
    """(wall s, CPU s, peak RSS MB, requests per method) of one run of the real CLI."""
    args, secrets = suite_target_args(server.url, server, contracts)  # the product's own helper
    args = _without_fields(args, {name for contract in contracts for name in _omitted(contract)})
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
            body = _values(server, contract)
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


# Plans every shipped method's cases in a fresh interpreter, as a run does, and prints the milliseconds it took.
_DRAWS = """
import sys, time
from pathlib import Path
started = time.perf_counter()
from kyren_conformance import cases
from kyren_conformance.contract import load_contract
from kyren_conformance.resources import shipped_contract_paths
from kyren_conformance.mock import shared_defaults
contracts = [load_contract(p) for p in shipped_contract_paths()]
values = shared_defaults(contracts)
started = time.perf_counter()
cache = Path(sys.argv[1]) if sys.argv[1] else None
for c in contracts:
    mine = {f.name: values[f.name] for f in c.fields if f.name in values}
    if hasattr(cases, "plan_cases"):
        cases.plan_cases(c, mine, 0, cache=cache)
    else:  # a suite without kept draws
        cases.build_cases(c, mine, 0)
print(round((time.perf_counter() - started) * 1000), "hypothesis" in sys.modules)
"""


def _plan_ms(storage: Path, cache: Path | None) -> tuple[int, bool]:
    env = {**os.environ, "HYPOTHESIS_STORAGE_DIRECTORY": str(storage)}
    command = [sys.executable, "-c", _DRAWS, str(cache or "")]
    ms, imported = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout.split()
    return int(ms), imported == "True"


def draws(repeat: int) -> None:
    """Planning the whole shipped API's cases: on a new machine, with hypothesis' files from an earlier run, and
    with the draws kept by an earlier run (what a run pays for hypothesis' warm-up, and what it saves)."""
    rows: dict[str, list[tuple[int, bool]]] = {"new machine": [], "hypothesis files kept": [], "draws kept": []}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            storage = Path(tmp)
            rows["new machine"].append(_plan_ms(storage, None))  # builds hypothesis' tables
            rows["hypothesis files kept"].append(_plan_ms(storage, None))
            _plan_ms(storage, storage / "kyren-draws")  # draws once, keeps them
            rows["draws kept"].append(_plan_ms(storage, storage / "kyren-draws"))
    print(f"\nplanning the whole shipped API's cases (median of {repeat}, a fresh interpreter each)")
    for name, samples in rows.items():
        ms = statistics.median(m for m, _ in samples)
        print(f"  {name:<24} {ms:>6.0f} ms   hypothesis imported: {'yes' if samples[0][1] else 'no'}")


def _report(title: str, scenarios: dict[str, list[Sample]], latency: float, concurrency: int) -> None:
    print(f"\n{title} (median of {len(next(iter(scenarios.values())))})")
    head = (
        f"{'scenario':<30} {'requests':>8} {'wall s':>8} {'CPU s':>7} {'peak MB':>8} {'floor s':>8} "
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
            f"{name:<30} {count:>8} {med['wall']:>8.2f} {med['cpu']:>7.2f} {med['rss_mb']:>8.0f} "
            f"{med['floor']:>8.2f} {startup:>10.2f} {above:>18.2f}"
        )
        if latency:
            bound = count * latency / concurrency + startup
            line += f" {bound:>8.2f} {med['wall'] / bound:>10.2f}"
        print(line)


def _sizes(text: str) -> list[int]:
    try:
        return [int(n) for n in text.split(",") if n.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers of requests such as 100,10000, not {text!r}") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="also run against a mock this slow (0: skip)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--synthetic-fields", type=int, default=170, help="extra required fields of the big-body method (0: skip)"
    )
    parser.add_argument(
        "--synthetic-requests",
        type=_sizes,
        default=[],
        metavar="N[,N...]",
        help="also a method of about N requests of Close Session's size, for each N (e.g. 100,10000)",
    )
    parser.add_argument("--only", metavar="TEXT", help="only the scenarios whose name holds TEXT")
    parser.add_argument("--no-draws", action="store_true", help="skip the planning (hypothesis warm-up) figures")
    ns = parser.parse_args()
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    with tempfile.TemporaryDirectory() as tmp:
        # hypothesis' files (and the suite's cached draws) in a folder of this benchmark's: the first
        # repetition of a scenario starts cold, as a first run does
        os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = str(Path(tmp) / "hypothesis")
        scenarios = {
            "one method (Close Session)": [load_contract(default_contract_path())],
            f"whole shipped API ({len(shipped_contract_paths())})": [
                load_contract(p) for p in shipped_contract_paths()
            ],
        }
        if ns.synthetic_fields:
            big = synthetic_contract(Path(tmp) / "big", ns.synthetic_fields)
            scenarios[f"synthetic, {ns.synthetic_fields} req. fields"] = [big]
        for n in ns.synthetic_requests:
            scenarios[f"synthetic, ~{n} requests"] = [synthetic_of_requests(Path(tmp), n)]
        if ns.only:
            scenarios = {name: c for name, c in scenarios.items() if ns.only in name}
        local = {name: [measure(c, 0.0, ns.concurrency) for _ in range(ns.repeat)] for name, c in scenarios.items()}
        if local:
            _report("local reference mock", local, 0.0, ns.concurrency)
        if ns.latency_ms and scenarios:
            latency = ns.latency_ms / 1000
            slow = {name: [measure(c, latency, ns.concurrency)] for name, c in scenarios.items()}
            _report(f"reference mock with {ns.latency_ms:.0f} ms added latency", slow, latency, ns.concurrency)
    if not ns.no_draws:
        draws(ns.repeat)


if __name__ == "__main__":
    main()
