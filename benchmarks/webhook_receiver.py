"""Webhook receiver throughput and latency on PostgreSQL.

    .venv/bin/python -m benchmarks.webhook_receiver [--clients 16] [--deliveries 3000]
        [--rate 1000] [--seconds 10] [--events 10] [--workspaces 100] [--duplicates 0.1] [--sqlite]

Starts `qbo-pipeline webhooks serve` (uvicorn, one process) on a scratch Postgres database
(or a temporary SQLite file with --sqlite) and connects `--workspaces` realms. Then:
1. saturation: `--clients` keep-alive connections post signed CloudEvents deliveries of
   `--events` events back-to-back (a `--duplicates` fraction re-sent, as Intuit retries do)
   → the maximum events/s;
2. steady load: deliveries sent on a fixed schedule at `--rate` events/s for `--seconds`
   → latency percentiles at that rate (the target: p99 < 50 ms at 1,000 events/s).
Checks that the inbox holds exactly one row per unique event.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import sqlalchemy as sa

from qbo_pipeline.state import StateStore, TokenVault, generate_key
from qbo_pipeline.state.vault import decode_key
from qbo_pipeline.webhooks import sign

ADMIN_URL = os.environ.get("QBO_BENCH_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
TOKEN = "bench-verifier-token"
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    access_expires_at: datetime
    refresh_expires_at: datetime


def scratch_postgres() -> tuple[str, callable]:
    name = f"qbo_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    url = sa.engine.make_url(ADMIN_URL).set(database=name)
    return url.render_as_string(hide_password=False), drop


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def delivery(realm: str, events: int) -> bytes:
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    return json.dumps([
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "intuit.bench",
            "type": random.choice(("qbo.invoice.updated.v1", "qbo.customer.updated.v1", "qbo.payment.created.v1")),
            "datacontenttype": "application/json",
            "time": now,
            "intuitentityid": str(random.randint(1, 10**6)),
            "intuitaccountid": realm,
            "data": {},
        }
        for _ in range(events)
    ], separators=(",", ":")).encode()


class Connection:
    """A minimal keep-alive HTTP/1.1 client: the load generator shares the machine's two
    cores with the receiver and Postgres, so it must cost far less CPU than httpx."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, signature: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nintuit-signature: {signature}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def closed_loop(base: tuple[str, int], signed: list[tuple[bytes, str]], clients: int) -> tuple[list[float], float]:
    """`clients` connections each posting the next delivery as soon as the previous answered."""
    latencies: list[float] = []
    pending = iter(signed)

    async def worker() -> None:
        conn = Connection(*base)
        try:
            for body, signature in pending:
                started = time.perf_counter()
                status, answer = await conn.post("/webhooks/qbo", body, signature)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    raise RuntimeError(f"receiver answered {status}: {answer[:200]!r}")
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return latencies, time.perf_counter() - started


async def open_loop(base: tuple[str, int], signed: list[tuple[bytes, str]], rate: float) -> tuple[list[float], float]:
    """Deliveries sent on a fixed schedule (`rate` per second) whatever the answers' speed,
    like Intuit does; latency therefore includes any queueing in the receiver."""
    latencies: list[float] = []
    idle: list[Connection] = []

    async def send(body: bytes, signature: str) -> None:
        conn = idle.pop() if idle else Connection(*base)
        started = time.perf_counter()
        status, answer = await conn.post("/webhooks/qbo", body, signature)
        latencies.append(time.perf_counter() - started)
        idle.append(conn)
        if status != 200:
            raise RuntimeError(f"receiver answered {status}: {answer[:200]!r}")

    tasks = []
    started = time.perf_counter()
    for n, (body, signature) in enumerate(signed):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(body, signature)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    for conn in idle:
        conn.close()
    return latencies, elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def signed_deliveries(realms: list[str], count: int, events: int) -> list[tuple[bytes, str]]:
    bodies = [delivery(random.choice(realms), events) for _ in range(count)]
    return [(body, sign(body, TOKEN)) for body in bodies]


def report(title: str, latencies: list[float], elapsed: float, deliveries: int, events: int) -> None:
    ms = [x * 1000 for x in latencies]
    print(f"  {title}")
    print(f"    throughput   {deliveries * events / elapsed:,.0f} events/s ({deliveries / elapsed:,.0f} deliveries/s)")
    print(f"    latency ms   p50 {percentile(ms, 0.50):.1f}  p90 {percentile(ms, 0.90):.1f}  "
          f"p99 {percentile(ms, 0.99):.1f}  max {max(ms):.1f}  mean {statistics.fmean(ms):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections, saturation phase")
    parser.add_argument("--deliveries", type=int, default=3000, help="deliveries in the saturation phase")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s offered in the latency phase")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency phase")
    parser.add_argument("--events", type=int, default=10, help="events per delivery")
    parser.add_argument("--workspaces", type=int, default=100)
    parser.add_argument("--duplicates", type=float, default=0.1, help="fraction of deliveries re-sent")
    parser.add_argument("--sqlite", action="store_true", help="use a temporary SQLite file instead")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    if args.sqlite:
        url, drop = f"sqlite:///{tmp.name}/state.db", (lambda: None)
    else:
        url, drop = scratch_postgres()
    server = None
    try:
        store = StateStore.from_url(url)
        vault = TokenVault(decode_key(generate_key()))
        now = datetime.now(timezone.utc)
        realms = [str(9_130_000_000 + n) for n in range(args.workspaces)]
        for n, realm in enumerate(realms):
            store.connections.connect(
                f"ws-{n}", realm,
                Tokens(f"a{n}", f"r{n}", now + timedelta(hours=1), now + timedelta(days=100)), vault,
            )

        port = free_port()
        env = {**os.environ, "QBO_PIPELINE_DATABASE_URL": url, "QBO_WEBHOOK_VERIFIER_TOKEN": TOKEN,
               "QBO_PIPELINE_DATA_DIR": tmp.name}
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "qbo-pipeline"), "webhooks", "serve", "--port", str(port),
             "--relay-interval", "0"],  # the receiver alone, without the JobsiteOn relay thread
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the receiver did not start")
            time.sleep(0.2)
        address = ("127.0.0.1", port)

        warmup = signed_deliveries(realms, 300, args.events)
        unique = signed_deliveries(realms, args.deliveries, args.events)
        resent = random.sample(unique, int(len(unique) * args.duplicates))
        saturation = unique + resent
        random.shuffle(saturation)
        per_second = args.rate / args.events
        paced = signed_deliveries(realms, int(per_second * args.seconds), args.events)

        asyncio.run(closed_loop(address, warmup, args.clients))
        saturated = asyncio.run(closed_loop(address, saturation, args.clients))
        steady = asyncio.run(open_loop(address, paced, per_second))

        expected = (len(warmup) + len(unique) + len(paced)) * args.events
        stored = store.inbox.count()
        backend = "SQLite" if args.sqlite else "PostgreSQL 15"
        print(f"webhook receiver: 1 uvicorn process on {backend}, {os.cpu_count()} CPUs shared with the "
              f"database and this load generator; {args.events} CloudEvents per delivery, "
              f"{args.workspaces} workspaces")
        report(f"saturation: {args.clients} connections posting back-to-back, {len(saturation)} deliveries "
               f"({len(resent)} re-sent duplicates)", *saturated, len(saturation), args.events)
        report(f"steady load: {args.rate:,.0f} events/s offered for {args.seconds:.0f} s "
               f"(open loop, {per_second:,.0f} deliveries/s)", *steady, len(paced), args.events)
        print(f"  inbox rows     {stored} stored for {expected} unique events "
              f"({'OK' if stored == expected else 'MISMATCH'})")
        store.dispose()
        if stored != expected:
            raise SystemExit(1)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        drop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
