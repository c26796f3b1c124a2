"""Two Celery worker processes, as two hosts would run them, judging one job.

qrelay scales out by running more workers against one PostgreSQL and one broker. This
starts two `celery worker` processes with their own node names (`bench-a@…`,
`bench-b@…`, as on two machines) on the app's queue, one job of `--queries` ×
`--per-query` pairs in judge chunks of `--chunk-size`, against the fake
OpenAI-compatible server (`--latency` s per call). Then it checks, from the database and
from the server's own count, that every pair was judged exactly once: one judgment and
one LLM label per pair, one guideline per query, as many judgment calls as pairs. It
prints which worker ran which chunks and the wall time against the ideal.

Usage: DATABASE_URL=... python bench/bench_two_workers.py [--queries 100] [--per-query 20]
       [--chunk-size 200] [--in-flight 50] [--latency 1.0] [--broker redis://127.0.0.1:6379/11]
Uses its own database, qrelay_bench_two_workers (dropped and re-created).
"""

import argparse
import os
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

from _setup import setup
from bench_judge import (
    BROKER,
    KEY_ENV,
    allow_endpoint,
    fake,
    group_pids,
    products_of,
    start_fake_server,
    start_worker,
    stop,
    write_run,
)

NODES = ("bench-a", "bench-b")
CHUNK_DONE = re.compile(r"job (?P<job>\d+) (?P<phase>prep|judge) chunk (?P<index>\d+): (?P<items>\d+) items")


def chunks_by_worker(logs: dict[str, Path], job_id: int) -> dict[str, list[str]]:
    out = {}
    for node, log in logs.items():
        found = [m for m in CHUNK_DONE.finditer(log.read_text(errors="replace")) if int(m["job"]) == job_id]
        out[node] = [f"{m['phase']} {m['index']}" for m in found]
    return out


def peak_rss_mb(pids: list[int]) -> list[int]:
    """Each process's peak resident memory (VmHWM), in MB."""
    peaks = []
    for pid in sorted(pids):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
        peaks.append(round(kb / 1024))
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--per-query", type=int, default=20)
    parser.add_argument("--chunk-size", type=int, default=200)
    parser.add_argument("--in-flight", type=int, default=50, help="max_in_flight per worker process")
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--broker", default=BROKER, help=f"Redis URL of the broker (default {BROKER}); flushed")
    args = parser.parse_args()
    os.environ["CELERY_BROKER_URL"] = args.broker
    os.environ["QRELAY_JUDGE_CHUNK_SIZE"] = str(args.chunk_size)
    setup(fresh=True)
    import redis
    from django.db.models import Count

    from annotation.importers import run_import
    from annotation.models import Label, LabelSource, SearchRun
    from annotation.services import project_create
    from judging.jobs import judge_job_create
    from judging.models import Guideline, JudgeConfig, JudgeJob, Judgment

    redis.Redis.from_url(args.broker).flushdb()
    work = Path(tempfile.mkdtemp(prefix="bench-two-workers-"))
    fake_process, base_url = start_fake_server(args.latency)
    allow_endpoint(base_url)
    workers = []
    try:
        logs = {node: work / f"{node}.log" for node in NODES}
        for node in NODES:
            workers.append(
                start_worker(
                    logs[node], concurrency=1, chunk_size=args.chunk_size, broker=args.broker, name=f"{node}@%h"
                )
            )
        project = project_create(name="bench-two-workers")
        JudgeConfig.objects.create(
            project=project, backend="openai", mode="text", base_url=base_url, api_key_env=KEY_ENV,
            guideline_model="bench-guide", judge_model="bench-judge", vision_model="bench-vision",
            max_in_flight=args.in_flight,
        )  # fmt: skip
        rows = [(q, p) for q in range(args.queries) for p in products_of(q, args.per_query)]
        write_run(work / "run.csv", rows)
        run_import(project=project, run_name="A", path=work / "run.csv")
        print(
            f"{len(NODES)} workers ({', '.join(NODES)}), 1 process × max_in_flight {args.in_flight} each; "
            f"{len(rows)} pairs, {args.queries} queries, judge chunks of {args.chunk_size}; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        fake(base_url, "/_fake/reset", {})
        started = time.monotonic()
        job = judge_job_create(project=project, run=SearchRun.objects.get(project=project, name="A"))
        while job.status in JudgeJob.ACTIVE:
            time.sleep(0.2)
            job.refresh_from_db()
        wall = time.monotonic() - started
        calls = fake(base_url, "/_fake/stats")["calls_by_task"]
        judgments = Counter(
            dict(Judgment.objects.filter(project=project).values_list("pair").order_by().annotate(n=Count("id")))
        )
        labels = Counter(
            dict(
                Label.objects.filter(project=project, source=LabelSource.LLM)
                .values_list("pair")
                .order_by()
                .annotate(n=Count("id"))
            )
        )
        guidelines = Guideline.objects.filter(project=project).count()
        ran = chunks_by_worker(logs, job.id)
        ideal = sum(calls.values()) * args.latency / (args.in_flight * len(NODES))

        print(f"job {job.id}: {job.status}, {job.done}/{job.total} done, {job.failed} failed, {job.cached} cached")
        print(f"wall {wall:.1f} s, ideal {ideal:.1f} s ({ideal / wall:.0%}); LLM calls {dict(sorted(calls.items()))}")
        for node, chunks in ran.items():
            print(f"  {node}: {len(chunks)} chunks ({', '.join(chunks)})")
        checks = {
            "every pair has exactly one judgment": len(judgments) == len(rows) and set(judgments.values()) == {1},
            "every pair has exactly one LLM label": len(labels) == len(rows) and set(labels.values()) == {1},
            "one guideline per query": guidelines == args.queries,
            "judgment calls = pairs": calls.get("judgment") == len(rows),
            "guideline calls = queries": calls.get("guideline") == args.queries,
            "both workers ran chunks": all(ran.values()),
            "every chunk ran once": sum(len(c) for c in ran.values()) == job.chunks.count(),
        }
        for name, ok in checks.items():
            print(f"  {'ok  ' if ok else 'FAIL'} {name}")
        peaks = {node: peak_rss_mb(group_pids(w.pid)) for node, w in zip(NODES, workers)}
        print("worker peak RSS (MB, main process + pool process): " + "; ".join(f"{n} {p}" for n, p in peaks.items()))
        print(f"worker logs: {work}")
        if not all(checks.values()):
            raise SystemExit(1)
    finally:
        for worker in workers:
            stop(worker)
        stop(fake_process)


if __name__ == "__main__":
    main()
