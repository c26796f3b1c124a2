"""Judging throughput: pairs judged end to end through a real Celery worker.

The paper-scale target: 20,000 pairs (1,000 queries × 20 products) judged through
`celery -A config worker` (prefork, 2 processes) on Redis and PostgreSQL, against the
fake OpenAI-compatible server run as a separate process with 1 s latency per call, and
200 calls in flight in total (2 processes × max_in_flight 100). Then a second run that
shares 80% of its pairs: it must cost only the new pairs and the new queries' guidelines.

Prints wall time, pairs/s, LLM calls, the ideal time (calls × latency / calls in flight),
the efficiency (ideal / wall) and where the rest went: the launch, the prep phase, and
per chunk the reading, LLM and writing time (from the worker's per-chunk log lines), the
mean number of calls in flight (sampled from the fake server) and CPU seconds used.
No asserts on time. Uses its own database (qrelay_bench_judge, dropped and re-created)
and Redis db 11 as the broker (`--broker` for another; it is flushed).

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/qrelay python bench/bench_judge.py
       [--queries 1000] [--per-query 20] [--latency 1.0] [--in-flight 100] [--chunk-size N] [--broker URL]
       (--chunk-size: pairs per judge chunk; default the app's, 20 × --in-flight)
"""

import argparse
import csv
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from _setup import ROOT, setup

DATABASE = "qrelay_bench_judge"
BROKER = "redis://127.0.0.1:6379/11"
KEY_ENV = "QRELAY_LLM_KEY_BENCH"  # an allowed name (judging.endpoint_rules)
CLK_TCK = os.sysconf("SC_CLK_TCK")
MODELS = ("bench-guide", "bench-judge", "bench-vision")  # served by the fake server (checked at job creation)

COLOURS = ["red", "black", "white", "blue", "green", "beige", "grey", "pink", "navy", "brown", "yellow", "purple"]
TYPES = ["dress", "boots", "sneakers", "jeans", "jacket", "shirt", "skirt", "coat", "sandals", "sweater", "blazer",
         "hoodie", "shorts", "scarf", "bag", "hat", "trousers", "loafers", "cardigan", "t-shirt"]  # fmt: skip
EXTRAS = ["", "women", "men", "leather", "cotton", "wool", "linen", "kids", "summer", "winter", "silk", "denim"]
BRANDS = ["Nordvik", "Kestrel Sport", "Alba & Co", "Maison Verel", "Rivabella", "Urbanic", "Fjell"]


def query_text(i: int) -> str:
    colour, kind, extra = COLOURS[i % 12], TYPES[(i // 12) % 20], EXTRAS[(i // 240) % 12]
    return " ".join(w for w in (colour, extra, kind) if w) + (f" size {36 + i // 2880}" if i >= 2880 else "")


def product_title(p: int) -> str:
    return f"{BRANDS[p % 7]} {EXTRAS[(p // 7) % 12].title()} {TYPES[(p // 3) % 20].title()} – {COLOURS[(p // 5) % 12].title()}".replace(
        "  ", " "
    )


def write_run(path: Path, rows: list[tuple[int, int]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["query_id", "query", "product_id", "product_title", "rank"])
        ranks: dict[int, int] = {}
        for q, p in rows:
            ranks[q] = ranks.get(q, 0) + 1
            writer.writerow([f"q{q}", query_text(q), f"p{p}", product_title(p), ranks[q]])


def products_of(q: int, per_query: int) -> list[int]:
    # Products are shared between queries, as in a real catalogue; pairs are unique.
    return [(q * 7 + j * 211) % 6007 for j in range(per_query)]


# --- processes ----------------------------------------------------------------------


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLK_TCK


def group_pids(pgid: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            pids.append(int(stat.parent.name))
    return pids


def start_fake_server(latency: float) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_server", "--port", "0", "--latency", str(latency),
         *(arg for model in MODELS for arg in ("--model", model))],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    base_url = process.stdout.readline().strip()
    if not base_url.startswith("http"):
        raise SystemExit(f"the fake server did not start (said {base_url!r})")
    return process, base_url


def allow_endpoint(base_url: str) -> None:
    """The operator's allow-lists (judging.endpoint_rules) for the fake server and the key
    variable, here and in the worker started after this."""
    from django.conf import settings

    os.environ["QRELAY_LLM_BASE_URLS"] = base_url
    os.environ[KEY_ENV] = "bench-key"
    settings.QRELAY_LLM_BASE_URLS = [base_url]


def fake(base_url: str, path: str, payload: dict | None = None) -> dict:
    root = base_url.rsplit("/v1", 1)[0]
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(root + path, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def start_worker(
    log: Path, *, concurrency: int, chunk_size: int | None, broker: str = BROKER, name: str = "bench-judge@%h"
) -> subprocess.Popen:
    env = {**os.environ, "CELERY_BROKER_URL": broker, "QRELAY_REDIS_URL": broker, KEY_ENV: "bench-key"}
    env.pop("QRELAY_JUDGE_CHUNK_SIZE", None)
    if chunk_size:  # else the app's default size
        env["QRELAY_JUDGE_CHUNK_SIZE"] = str(chunk_size)
    command = [
        str(Path(sys.executable).with_name("celery")), "-A", "config", "worker", "--pool=prefork",
        f"--concurrency={concurrency}", "-Q", "qrelay", "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel=INFO", "-n", name,
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 120
    while " ready." not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    return process


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


# --- the machine's ceiling -------------------------------------------------------------


def client_only(base_url: str, calls: int, in_flight: int) -> None:
    """One process making `calls` judgment calls through judging.llm_client, no database."""
    import asyncio

    from judging import prompts
    from judging.contracts import GuidelineDraft, LevelInfo, ProductContext, QueryContext, Requirement
    from judging.llm_client import LLMClient

    levels = [LevelInfo(0, "irrelevant"), LevelInfo(1, "acceptable substitute"), LevelInfo(2, "highly relevant")]
    messages = prompts.judgment_messages(
        query=QueryContext(text="red dress", locale="en-GB"),
        guideline=GuidelineDraft(requirements=[Requirement("product_type", "dress", 1.0)], text="A red dress."),
        product=ProductContext(external_id="p1", title="Red Silk Evening Dress", category="Clothing > Dresses"),
        levels=levels,
        mode="text",
    )
    schema = prompts.judgment_schema(levels)

    async def run() -> None:
        client = LLMClient(base_url=base_url, api_key="bench-key", timeout=60, max_connections=in_flight)
        semaphore = asyncio.Semaphore(in_flight)

        async def one():
            async with semaphore:
                await client.complete(model="bench-judge", messages=messages, schema=schema)

        await asyncio.gather(*(one() for _ in range(calls)))
        await client.aclose()

    cpu = time.process_time()
    asyncio.run(run())
    print(f"{time.process_time() - cpu:.2f}")


def ceiling(base_url: str, *, processes: int, calls: int, in_flight: int, latency: float) -> dict:
    """The same calls as a judge chunk per worker process, without Celery or a database:
    what the machine (CPU left over by everything else on it) allows right now."""
    started = time.monotonic()
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--client-only", base_url, str(calls), str(in_flight)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    cpu = [float(child.communicate()[0].strip() or 0) for child in children]
    wall = time.monotonic() - started
    return {
        "wall": wall,
        "ideal": calls * latency / in_flight,
        "cpu_per_call_ms": 1000 * sum(cpu) / (calls * processes),
    }


# --- one job ---------------------------------------------------------------------------

CHUNK_LINE = re.compile(
    r"\[(?P<ts>[\d-]+ [\d:,]+): INFO/(?P<proc>[\w-]+)\] job (?P<job>\d+) (?P<phase>prep|judge) chunk (?P<index>\d+): "
    r"(?P<items>\d+) items; read (?P<read>[\d.]+)s, llm (?P<llm>[\d.]+)s \(writing (?P<writing>[\d.]+)s meanwhile\), "
    r"write (?P<write>[\d.]+)s"
)


class Sampler(threading.Thread):
    """Samples the fake server's calls in flight every 0.25 s."""

    def __init__(self, base_url: str):
        super().__init__(daemon=True)
        self.base_url = base_url
        self.samples: list[int] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.25):
            try:
                self.samples.append(fake(self.base_url, "/_fake/stats")["in_flight"])
            except OSError:
                pass


def judge_run(label: str, *, project, run, base_url: str, latency: float, in_flight_total: int, pids) -> dict:
    from judging.jobs import judge_job_create
    from judging.models import Guideline, JudgeJob

    fake(base_url, "/_fake/reset", {})
    cpu_before = {name: cpu_seconds(get()) for name, get in pids.items()}
    sampler = Sampler(base_url)
    sampler.start()
    started = time.monotonic()
    job = judge_job_create(project=project, run=run)
    while True:
        time.sleep(0.2)
        job.refresh_from_db()
        if job.status not in JudgeJob.ACTIVE:
            break
    wall = time.monotonic() - started
    sampler.stopped.set()
    sampler.join()
    cpu = {name: cpu_seconds(get()) - cpu_before[name] for name, get in pids.items()}
    stats = fake(base_url, "/_fake/stats")
    calls = stats["calls_by_task"]
    total_calls = sum(calls.values())
    ideal = total_calls * latency / in_flight_total
    last_guideline = (
        Guideline.objects.filter(job=job).order_by("-created_at").values_list("created_at", flat=True).first()
    )
    return {
        "label": label,
        "job": job,
        "wall": wall,
        "db_wall": (job.finished_at - job.created_at).total_seconds(),
        "launch": (job.started_at - job.created_at).total_seconds(),
        "prep": (last_guideline - job.started_at).total_seconds() if last_guideline else 0.0,
        "calls": calls,
        "total_calls": total_calls,
        "ideal": ideal,
        "in_flight_mean": statistics.mean(sampler.samples) if sampler.samples else 0.0,
        "in_flight_peak": stats["peak_in_flight"],
        "cpu": cpu,
        "errors": stats["errors"],
    }


def chunk_lines(log: Path, job_id: int) -> list[dict]:
    lines = []
    for match in CHUNK_LINE.finditer(log.read_text(errors="replace")):
        if int(match["job"]) == job_id:
            lines.append(
                {k: float(v) if k in ("read", "llm", "writing", "write") else v for k, v in match.groupdict().items()}
            )
    return lines


def report(result: dict, chunks: list[dict], in_flight_total: int) -> None:
    job = result["job"]
    print(
        f"\n== {result['label']}: job {job.id} {job.status}, {job.done}/{job.total} pairs judged, {job.failed} failed, {job.cached} cached"
    )
    print(
        f"wall time            {result['wall']:8.1f} s   (created → finished in the database: {result['db_wall']:.1f} s)"
    )
    print(f"pairs/s              {job.total / result['wall']:8.1f}")
    print(f"LLM calls            {result['total_calls']:8d}   {json.dumps(result['calls'], sort_keys=True)}")
    print(f"ideal time           {result['ideal']:8.1f} s   (calls × latency / {in_flight_total} in flight)")
    print(f"efficiency           {result['ideal'] / result['wall']:8.1%}")
    print(
        f"calls in flight      {result['in_flight_mean']:8.1f}   mean of 0.25 s samples (peak {result['in_flight_peak']})"
    )
    print(f"launch               {result['launch']:8.1f} s   (queue + launch task: plan, vocabulary, chunks)")
    print(f"prep phase           {result['prep']:8.1f} s   (launch → last guideline written)")
    for phase in ("prep", "judge"):
        rows = [c for c in chunks if c["phase"] == phase]
        if not rows:
            continue
        for part in ("read", "llm", "writing", "write"):
            values = [c[part] for c in rows]
            print(
                f"  {phase} chunks × {len(rows):3d}  {part:7s} mean {statistics.mean(values):6.2f} s  max {max(values):6.2f} s"
                f"  total {sum(values):7.1f} s"
            )
    print(f"CPU seconds          {json.dumps({k: round(v, 1) for k, v in result['cpu'].items()})}")
    if result["errors"]:
        print(f"fake server errors   {result['errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--per-query", type=int, default=20)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--in-flight", type=int, default=100, help="max_in_flight per worker process")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument("--chunk-size", type=int, default=None, help="pairs per judge chunk (default: the app's)")
    parser.add_argument("--broker", default=BROKER, help=f"Redis URL of the broker (default {BROKER}); flushed")
    parser.add_argument("--client-only", nargs=3, metavar=("URL", "CALLS", "IN_FLIGHT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client_only:
        client_only(args.client_only[0], int(args.client_only[1]), int(args.client_only[2]))
        return

    os.environ["CELERY_BROKER_URL"] = args.broker
    if args.chunk_size:
        os.environ["QRELAY_JUDGE_CHUNK_SIZE"] = str(args.chunk_size)
    setup(DATABASE, fresh=True)
    from judging.jobs.launch import judge_chunk_size

    chunk_size = judge_chunk_size(args.in_flight)
    import redis
    from django.db import connection

    from annotation.importers import run_import
    from annotation.services import project_create
    from judging.models import JudgeConfig

    redis.Redis.from_url(args.broker).flushdb()
    in_flight_total = args.in_flight * args.concurrency
    work = Path(tempfile.mkdtemp(prefix="bench-judge-"))
    fake_process, base_url = start_fake_server(args.latency)
    allow_endpoint(base_url)
    worker = None
    try:
        worker = start_worker(
            work / "worker.log", concurrency=args.concurrency, chunk_size=args.chunk_size, broker=args.broker
        )
        pids = {"worker": lambda: group_pids(worker.pid), "fake server": lambda: [fake_process.pid]}
        project = project_create(name="bench-judge")
        JudgeConfig.objects.create(
            project=project, backend="openai", mode="text", base_url=base_url, api_key_env=KEY_ENV,
            guideline_model="bench-guide", judge_model="bench-judge", vision_model="bench-vision",
            max_in_flight=args.in_flight,
        )  # fmt: skip
        n, k = args.queries, args.per_query
        first_rows = [(q, p) for q in range(n) for p in products_of(q, k)]
        write_run(work / "run-a.csv", first_rows)
        t = time.monotonic()
        run_import(project=project, run_name="A", path=work / "run-a.csv")
        print(f"imported run A: {len(first_rows)} pairs, {n} queries in {time.monotonic() - t:.1f} s")
        print(f"{args.concurrency} worker processes × max_in_flight {args.in_flight}, chunk size {chunk_size}, "
              f"fake latency {args.latency} s; load average before: {os.getloadavg()[0]:.1f}")  # fmt: skip

        bare = ceiling(
            base_url, processes=args.concurrency, calls=chunk_size, in_flight=args.in_flight, latency=args.latency
        )
        print(
            f"ceiling now: {args.concurrency} processes × {chunk_size} calls, {args.in_flight} in flight each, no Celery or "
            f"database: {bare['wall']:.1f} s for an ideal {bare['ideal']:.1f} s ({bare['ideal'] / bare['wall']:.0%}); "
            f"client CPU {bare['cpu_per_call_ms']:.1f} ms per call"
        )
        first = judge_run("run A (all new)", project=project, run=_run(project, "A"), base_url=base_url, latency=args.latency,
                          in_flight_total=in_flight_total, pids=pids)  # fmt: skip
        report(first, chunk_lines(work / "worker.log", first["job"].id), in_flight_total)

        # Run B: 80% of its pairs are run A's (the first 80% of the queries, unchanged);
        # the other 20% belong to new queries.
        kept = int(n * 0.8)
        second_rows = [(q, p) for q in range(kept) for p in products_of(q, k)]
        second_rows += [(q, p) for q in range(n, n + n - kept) for p in products_of(q, k)]
        write_run(work / "run-b.csv", second_rows)
        run_import(project=project, run_name="B", path=work / "run-b.csv")
        shared = len(set(second_rows) & set(first_rows))
        print(f"\nimported run B: {len(second_rows)} pairs, {shared} ({shared / len(second_rows):.0%}) shared with run A, "
              f"{n - kept} new queries")  # fmt: skip
        second = judge_run("run B (80% shared)", project=project, run=_run(project, "B"), base_url=base_url,
                           latency=args.latency, in_flight_total=in_flight_total, pids=pids)  # fmt: skip
        report(second, chunk_lines(work / "worker.log", second["job"].id), in_flight_total)
        expected = {"guideline": n - kept, "judgment": len(second_rows) - shared}
        print(f"run B should cost {expected}; it cost {second['calls']}")
        print(f"\nworker log: {work / 'worker.log'}; load average after: {os.getloadavg()[0]:.1f}")
        connection.close()
    finally:
        if worker is not None:
            stop(worker)
        stop(fake_process)


def _run(project, name: str):
    from annotation.models import SearchRun

    return SearchRun.objects.get(project=project, name=name)


if __name__ == "__main__":
    main()
