"""Throughput of the fake OpenAI server (tests/fakes/openai_server.py).

Starts the server as its own process (`python -m tests.fakes.openai_server`), sends
1000 judgment requests from 200 concurrent clients (200 keep-alive connections) with 1 s
of latency per answer, and prints the wall time (ideal: 1000 / 200 × 1 s = 5 s), the
latency spread, the peak of requests in flight and the CPU per request of server and
client. `--client all` compares client stacks (see `run`): one shared httpx.AsyncClient
with 200 connections is itself CPU-bound (httpcore's pool), so the default gives each
worker its own httpx.AsyncClient.

Usage: python bench/bench_fake_server.py [--requests 1000] [--concurrency 200] [--latency 1.0]
       [--client httpx-per-worker|httpx|httpx2|openai|all]
       [--url http://127.0.0.1:8765/v1]   (use a server that is already running)
"""

import argparse
import asyncio
import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from judging import prompts
from judging.contracts import (
    GuidelineDraft,
    LevelInfo,
    ProductContext,
    QueryContext,
    Requirement,
)

LEVELS = [LevelInfo(0, "irrelevant"), LevelInfo(1, "substitute"), LevelInfo(2, "complement"), LevelInfo(3, "exact")]


def bodies(count: int) -> list[bytes]:
    query = QueryContext(text="red summer dress not white", locale="en-GB")
    guideline = GuidelineDraft(
        requirements=[
            Requirement("product_type", "dress", 1.0),
            Requirement("colour", "red", 0.8),
            Requirement("colour", "white", 1.0, negated=True),
        ],
        text="A red dress is relevant; white dresses are not.",
        tags=["colour", "negation"],
    )
    titles = ["Red linen summer dress", "White cotton dress", "Red T-shirt", "Blue jeans", "Crimson maxi dress"]
    out = []
    for i in range(count):
        product = ProductContext(external_id=f"p{i}", title=titles[i % len(titles)], brand="Acme", category="Dresses")
        messages = prompts.judgment_messages(
            query=query, guideline=guideline, product=product, levels=LEVELS, mode="text"
        )
        body = {
            "model": "gpt-fake",
            "messages": messages,
            "temperature": 0,
            "response_format": {"type": "json_schema", "json_schema": prompts.judgment_schema(LEVELS)},
        }
        out.append(json.dumps(body).encode())
    return out


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CLIENTS = ("httpx-per-worker", "httpx", "httpx2", "openai")


async def run(base_url: str, payloads: list[bytes], concurrency: int, kind: str):
    """Send all payloads from `concurrency` workers; returns (wall s, latencies, statuses).

    httpx-per-worker: one httpx.AsyncClient per worker (the default). httpx: one shared
    httpx.AsyncClient with limits=concurrency: httpcore's pool does O(connections) work per
    request, so at 200 connections the *client* burns CPU and dominates the figure.
    httpx2: one shared httpx2.AsyncClient (the transport of openai 3.x; linear pool).
    openai: one shared openai.AsyncOpenAI (adds the SDK's own per-request CPU)."""
    latencies: list[float] = []
    statuses: collections.Counter = collections.Counter()
    queue = list(reversed(payloads))
    headers = {"Authorization": "Bearer bench", "Content-Type": "application/json"}
    closers = []

    if kind in ("httpx", "httpx-per-worker"):
        size = concurrency if kind == "httpx" else 1
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        count = 1 if kind == "httpx" else concurrency
        # verify=False: plain HTTP on loopback; skips loading the CA bundle 200 times
        clients = [httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120, verify=False) for _ in range(count)]
        closers = [c.aclose for c in clients]

        async def send(worker: int, body: bytes) -> int:
            response = await clients[worker % len(clients)].post("/chat/completions", content=body, headers=headers)
            if response.status_code == 200:
                json.loads(response.json()["choices"][0]["message"]["content"])
            return response.status_code

    elif kind == "httpx2":
        import httpx2

        limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        client2 = httpx2.AsyncClient(base_url=base_url, limits=limits, timeout=120)
        closers = [client2.aclose]

        async def send(worker: int, body: bytes) -> int:
            response = await client2.post("/chat/completions", content=body, headers=headers)
            if response.status_code == 200:
                json.loads(response.json()["choices"][0]["message"]["content"])
            return response.status_code

    elif kind == "openai":
        import httpx2
        import openai

        limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        sdk = openai.AsyncOpenAI(
            base_url=base_url,
            api_key="bench",
            max_retries=0,
            timeout=120,
            http_client=openai.DefaultAsyncHttpxClient(limits=limits),
        )
        closers = [sdk.close]

        async def send(worker: int, body: bytes) -> int:
            try:
                response = await sdk.chat.completions.create(**json.loads(body))
            except openai.APIStatusError as exc:
                return exc.status_code
            json.loads(response.choices[0].message.content)
            return 200

    else:
        raise ValueError(f"unknown client {kind!r}")

    async def worker(number: int) -> None:
        while queue:
            body = queue.pop()
            started = time.perf_counter()
            status = await send(number, body)
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        return time.perf_counter() - started, latencies, statuses
    finally:
        for close in closers:
            await close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--url", help="base URL of a running fake server (its latency is not changed)")
    parser.add_argument("--client", choices=(*CLIENTS, "all"), default="httpx-per-worker")
    parser.add_argument("--server-pid", type=int, help="with --url: the server's pid, to report its CPU")
    args = parser.parse_args()
    kinds = CLIENTS if args.client == "all" else (args.client,)

    payloads = bodies(args.requests)
    proc = None
    if args.url:
        base_url = args.url.rstrip("/")
    else:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.openai_server", "--port", "0", "--latency", str(args.latency)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        base_url = proc.stdout.readline().strip()
        if not base_url:
            raise SystemExit("the fake server did not start")
    root = base_url.removesuffix("/v1")
    ideal = args.requests / args.concurrency * args.latency
    print(f"fake OpenAI server: {args.requests} requests, {args.concurrency} concurrent, latency {args.latency:.2f} s")
    print(f"  ideal wall time {ideal:.2f} s")
    try:
        for kind in kinds:
            httpx.post(root + "/_fake/reset")
            pid = proc.pid if proc else args.server_pid
            cpu_before = cpu_seconds(pid) if pid else None
            client_cpu = time.process_time()
            wall, latencies, statuses = asyncio.run(run(base_url, payloads, args.concurrency, kind))
            client_cpu = time.process_time() - client_cpu
            cpu_after = cpu_seconds(pid) if pid else None
            stats = httpx.get(root + "/_fake/stats").json()
            latencies.sort()
            print(f"client {kind}:")
            print(f"  wall time        {wall:6.2f} s  -> {args.requests / wall:7.1f} req/s")
            print(
                f"  request latency  p50 {latencies[len(latencies) // 2]:.3f} s  "
                f"p95 {latencies[int(len(latencies) * 0.95)]:.3f} s  max {latencies[-1]:.3f} s"
            )
            print(f"  status codes     {dict(statuses)}   server errors {stats['errors']}")
            print(f"  peak in flight   {stats['peak_in_flight']}")
            server_cpu = ""
            if cpu_before is not None:
                used = cpu_after - cpu_before
                server_cpu = f"server {used:.2f} s ({used / args.requests * 1000:.2f} ms/request), "
            print(
                f"  CPU              {server_cpu}client {client_cpu:.2f} s ({client_cpu / args.requests * 1000:.2f} ms/request)"
            )
    finally:
        if proc:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
