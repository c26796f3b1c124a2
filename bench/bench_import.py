"""Import benchmark: 100,000-row files through the real import path on PostgreSQL.

Prints rows/s for an ESCI-style flat label file (creates queries, products, pairs,
labels and gold in one go), a run file over the same pairs, and the idempotent re-import.
Usage: make bench   (or DATABASE_URL=... python bench/bench_import.py [--rows N])

--memory MB: peak memory instead. Writes a run file of about MB megabytes and a labels
file of about half that (ESCI-style, with query and product text, so the import creates
everything), imports each in a subprocess of its own and prints its peak RSS (VmHWM)
and wall time; with --legacy-mb M, also the in-memory path (the one before staging) on
an M-megabyte run file, for comparison.
"""

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _setup import setup


def write_flat_labels(path: Path, rows: int, rng: random.Random) -> None:
    queries = max(rows // 20, 1)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["query_id", "query", "product_id", "product_title", "esci_label"])
        for i in range(rows):
            q = i % queries
            # Products are shared between queries, as in a real catalogue; pairs are unique.
            p = (i // queries) * 7 + q % 50
            writer.writerow([f"q{q}", f"query number {q}", f"p{p}", f"Product {p}", rng.choice("ESCI")])


def write_run(labels: Path, run: Path) -> None:
    with labels.open(newline="") as src, run.open("w", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.writer(dst)
        writer.writerow(["query_id", "product_id", "rank", "score"])
        ranks: dict[str, int] = {}
        for row in reader:
            rank = ranks[row["query_id"]] = ranks.get(row["query_id"], 0) + 1
            writer.writerow([row["query_id"], row["product_id"], rank, 100 - rank])


def timed(label: str, rows: int, fn):
    start = time.perf_counter()
    summary = fn()
    elapsed = time.perf_counter() - start
    print(f"{label:<34} {rows:>8} rows  {elapsed:7.2f} s  {rows / elapsed:9.0f} rows/s")
    return summary


# --- peak memory of big files -------------------------------------------------------------

DESCRIPTION = "A sturdy everyday item with a long description, as catalogues have them: " * 2


def write_big(path: Path, megabytes: int, kind: str) -> int:
    """An ESCI-style file of about `megabytes` MB: 50 results per query, products shared
    between queries, query text and product text on every row. Returns its row count."""
    rng = random.Random(7)
    target = megabytes * 1024 * 1024
    # Products: about one per ten rows (rows are about 230 bytes), shared between queries;
    # a fixed count above 50 (and 7919 prime) keeps the pairs of one query distinct.
    products = target // 2300 + 1000
    rows = 0
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        if kind == "run":
            writer.writerow(
                ["query_id", "product_id", "rank", "score", "query", "product_title", "product_description"]
            )
        else:
            writer.writerow(["query_id", "product_id", "esci_label", "query", "product_title", "product_description"])
        while handle.tell() < target:
            q, rank = divmod(rows, 50)
            p = (q * 13 + rank * 7919) % products
            text = [f"query number {q} about things", f"Product {p} in blue", f"{DESCRIPTION}{p}"]
            if kind == "run":
                writer.writerow([f"q{q}", f"p{p}", rank + 1, round(100 - rank * 1.5, 2), *text])
            else:
                writer.writerow([f"q{q}", f"p{p}", rng.choice("ESCI"), *text])
            rows += 1
    return rows


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(kind: str, path: str, project_id: int, legacy: bool, database: str) -> None:
    """One import in this process; prints a JSON line with its peak RSS and wall time."""
    setup(database=database)
    from django.conf import settings

    from annotation.importers import labels_import, run_import
    from annotation.models import Project

    settings.QRELAY_IMPORT_STAGED = not legacy
    project = Project.objects.get(pk=project_id)
    before = vm_hwm_mb()
    start = time.perf_counter()
    if kind == "run":
        summary = run_import(project=project, run_name=f"big-{os.getpid()}", path=Path(path))
    else:
        summary = labels_import(project=project, path=Path(path), rater="esci", gold=True)
    elapsed = time.perf_counter() - start
    print(json.dumps({"rows": summary.rows, "seconds": elapsed, "peak_mb": vm_hwm_mb(), "start_mb": before}))


def measure(kind: str, path: Path, project_id: int, database: str, *, legacy: bool = False) -> dict:
    command = [sys.executable, __file__, "--child", kind, str(path), str(project_id), "--database", database]
    if legacy:
        command.append("--legacy")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the {kind} import failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory(megabytes: int, legacy_mb: int, database: str, folder: str | None) -> None:
    """Each import into a project of its own (deleting millions of rows through the ORM
    between cases would take longer than the imports); the bench database is throw-away."""
    setup(database=database)
    from annotation.services import project_create

    print(f"{'import':<34} {'file MB':>8} {'rows':>10} {'seconds':>8} {'peak RSS MB':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(folder or tmp)

        def file(name: str, size: int, kind: str) -> Path:
            path = where / f"{name}-{size}mb.csv"
            if not path.exists():  # with --dir, files are kept and reused
                write_big(path, size, kind)
            return path

        cases = []
        if legacy_mb:
            small = file("run", legacy_mb, "run")
            cases += [("run, in memory (before)", "run", small, True), ("run, staged (now)", "run", small, False)]
        cases += [
            ("run, staged (now)", "run", file("run", megabytes, "run"), False),
            ("labels --gold, staged (now)", "labels", file("labels", megabytes // 2, "labels"), False),
        ]
        for number, (label, kind, path, legacy) in enumerate(cases):
            project = project_create(name=f"bench-import-memory-{os.getpid()}-{number}", scale="esci")
            figures = measure(kind, path, project.pk, database, legacy=legacy)
            size = path.stat().st_size / 1024 / 1024
            print(
                f"{label:<34} {size:>8.0f} {figures['rows']:>10} {figures['seconds']:>8.1f} {figures['peak_mb']:>12.0f}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--memory", type=int, metavar="MB", help="measure peak memory on a run file of MB megabytes")
    parser.add_argument("--legacy-mb", type=int, default=0, help="with --memory: the in-memory path on this size")
    parser.add_argument("--database", default="qrelay_bench_import")
    parser.add_argument("--dir", help="with --memory: write the files here and reuse them")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "PATH", "PROJECT"), help=argparse.SUPPRESS)
    parser.add_argument("--legacy", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]), args.legacy, args.database)
        return
    if args.memory:
        memory(args.memory, args.legacy_mb, args.database, args.dir)
        return
    setup(database=args.database)
    from annotation.importers import labels_import, run_import
    from annotation.models import Project
    from annotation.services import project_create

    Project.objects.filter(name="bench-import").delete()
    project = project_create(name="bench-import", scale="esci")
    with tempfile.TemporaryDirectory() as tmp:
        labels = Path(tmp) / "labels.csv"
        run = Path(tmp) / "run.csv"
        write_flat_labels(labels, args.rows, random.Random(1))
        write_run(labels, run)
        timed(
            "import_labels --gold (flat, new)",
            args.rows,
            lambda: labels_import(project=project, path=labels, rater="esci", gold=True),
        )
        timed(
            "import_labels --gold (again)",
            args.rows,
            lambda: labels_import(project=project, path=labels, rater="esci", gold=True),
        )
        timed("import_run (pairs exist)", args.rows, lambda: run_import(project=project, run_name="r1", path=run))
        timed("import_run (again)", args.rows, lambda: run_import(project=project, run_name="r1", path=run))
    print(
        f"pairs: {project.pairs.count()}, labels: {project.labels.count()}, results: {project.runs.get().results.count()}"
    )
    project.delete()


if __name__ == "__main__":
    main()
