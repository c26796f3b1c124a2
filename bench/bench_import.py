"""Import benchmark: 100,000-row files through the real import path on PostgreSQL.

Prints rows/s for an ESCI-style flat label file (creates queries, products, pairs,
labels and gold in one go), a run file over the same pairs, and the idempotent re-import.
Usage: make bench   (or DATABASE_URL=... python bench/bench_import.py [--rows N])
"""

import argparse
import csv
import random
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    setup()
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
