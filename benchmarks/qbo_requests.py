"""How many QBO requests the client spends on bulk reads and writes, against the floors.

Starts a time-scaled emulator (throttle on, QBO's limits divided by the time scale), seeds
10,000 customers, pulls them with `query_all` (floor ⌈N/1000⌉ queries), then creates 3,000
customers through `batch` (floor ⌈N/30⌉ requests), reading the emulator's request counters.

    .venv/bin/python -m benchmarks.qbo_requests [--customers 10000] [--creates 3000] [--time-scale 60]
"""
from __future__ import annotations

import argparse
import math
import time
from datetime import datetime, timedelta, timezone

import httpx

from qbo_pipeline.emulator.server import EmulatorServer
from qbo_pipeline.emulator.settings import EmulatorSettings
from qbo_pipeline.qbo import (
    BatchOperation,
    InMemoryTokenSource,
    OAuthClient,
    QBOClient,
    QBOEndpoints,
    RateLimiter,
    RateLimits,
    TokenSet,
    request_id_for,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--creates", type=int, default=3_000)
    parser.add_argument("--time-scale", type=float, default=60.0)
    args = parser.parse_args()

    server = EmulatorServer(settings=EmulatorSettings(time_scale=args.time_scale)).start()
    control = httpx.Client(base_url=server.base_url, timeout=120)
    try:
        company = control.post("/_emulator/companies", json={"name": "Benchmark Co"}).json()
        realm = company["realm_id"]
        endpoints = QBOEndpoints.for_environment("emulator", emulator_base_url=server.base_url)
        oauth = OAuthClient(endpoints, "emulator-client-id", "emulator-client-secret", "http://127.0.0.1/cb")
        now = datetime.now(timezone.utc)
        tokens = TokenSet(company["access_token"], company["refresh_token"],
                          now + timedelta(seconds=company["expires_in"]))
        client = QBOClient(realm, InMemoryTokenSource(tokens, oauth, lambda _: None), endpoints,
                           limiter=RateLimiter(RateLimits(time_scale=args.time_scale)))

        started = time.perf_counter()
        for start in range(0, args.customers, 2000):
            batch = [{"DisplayName": f"Seeded Customer {i:06d}"} for i in range(start, min(start + 2000, args.customers))]
            response = control.post(f"/_emulator/companies/{realm}/seed", json={"Customer": batch})
            response.raise_for_status()
            assert not response.json()["faults"]
        seed_seconds = time.perf_counter() - started

        def counters() -> dict[str, int]:
            return control.get("/_emulator/requests", params={"realm_id": realm}).json()

        rows_out = []
        before = counters()
        started = time.perf_counter()
        pulled = client.query_all("Customer")
        pull_seconds = time.perf_counter() - started
        after = counters()
        assert len(pulled) == args.customers, (len(pulled), args.customers)
        queries = after["query"] - before["query"]
        rows_out.append(("query_all Customer", args.customers, "query", queries,
                         math.ceil(args.customers / 1000), pull_seconds, after["throttled"] - before["throttled"]))

        operations = [BatchOperation.create("Customer", {"DisplayName": f"Batch Customer {i:06d}"})
                      for i in range(args.creates)]
        before = counters()
        started = time.perf_counter()
        outcomes = client.batch(operations, request_id=request_id_for("benchmark", realm))
        create_seconds = time.perf_counter() - started
        after = counters()
        failed = [o for o in outcomes if not o.ok]
        assert not failed, failed[:3]
        requests = (after["batch"] - before["batch"]) + (after["write"] - before["write"])
        rows_out.append(("batch create Customer", args.creates, "batch+write", requests,
                         math.ceil(args.creates / 30), create_seconds, after["throttled"] - before["throttled"]))

        print(f"QBO client request counts (emulator time_scale {args.time_scale:g}, throttle on; "
              f"seeding {args.customers} via control API took {seed_seconds:.1f} s)")
        print()
        print("| operation | records | counted | requests | floor | requests/floor | wall s | records/s | 429s |")
        print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, records, kind, measured, floor, seconds, throttled in rows_out:
            print(f"| {name} | {records} | {kind} | {measured} | {floor} | {measured / floor:.2f} | "
                  f"{seconds:.2f} | {records / seconds:,.0f} | {throttled} |")
        print()
        print("query_all stops on a short page; a count that is an exact multiple of 1000 costs one extra "
              "(empty) page. Batch wall time is bound by the client limiter: 36 batch requests per "
              f"(60 / {args.time_scale:g}) s.")
    finally:
        control.close()
        server.stop()


if __name__ == "__main__":
    main()
