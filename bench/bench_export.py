"""Export benchmark: 1,000,000 gold labels streamed to a file, with time and peak RSS.

Builds (in SQL, see bench_metrics.build) a project of 10,000 queries × 100 products, all
1,000,000 pairs with gold, one human label per pair and one LLM label per pair (so every
row of the gold export looks up raters and a model), and a run over all of them. Then
exports, each in a fresh child process so that its peak RSS is its own: the gold labels
as CSV, JSONL and qrels, all 2,000,000 labels as JSONL, and the run as a TREC run file.

Usage: DATABASE_URL=... python bench/bench_export.py [--queries N] [--reuse] [--only FORMAT]
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _setup import setup

NAME = "bench-export"
FORMATS = ("csv", "jsonl", "qrels", "labels", "run")


def export_once(fmt: str) -> None:
    """Run one export in this process and print its time, size and peak RSS."""
    from annotation.exports import export_gold, export_labels_jsonl, export_run_trec, write_file
    from annotation.models import Project, SearchRun

    project = Project.objects.get(name=NAME)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"export.{fmt}"
        start = time.perf_counter()
        if fmt == "labels":
            blocks = export_labels_jsonl(project)
        elif fmt == "run":
            blocks = export_run_trec(SearchRun.objects.get(project=project, name="r1"))
        else:
            blocks = export_gold(project, fmt)
        write_file(blocks, path)
        elapsed = time.perf_counter() - start
        with path.open("rb") as handle:
            lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
        size = path.stat().st_size / 1e6
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    what = {"labels": "all labels jsonl", "run": "run as TREC run"}.get(fmt, f"gold {fmt}")
    print(
        f"{what:<18} {lines:>9} lines {size:8.1f} MB {elapsed:7.2f} s "
        f"{lines / elapsed:9.0f} lines/s  peak RSS {peak:6.1f} MB (after setup {rss_before:.1f} MB)"
        f"  load {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--reuse", action="store_true", help="keep an existing bench project")
    parser.add_argument("--only", choices=FORMATS, help="run one export in this process (used by the parent)")
    args = parser.parse_args()
    setup(fresh=not (args.reuse or args.only))  # the --only child reads the parent's data
    if args.only:
        export_once(args.only)
        return

    from bench_metrics import build

    from annotation.models import Project

    project = Project.objects.filter(name=NAME).first()
    if project is None or not args.reuse:
        build(NAME, queries=args.queries, results=100, extra_pairs=0, products=200_000, gold_share=1.0, labels="both")
        project = Project.objects.get(name=NAME)
    print(f"gold pairs: {project.pairs.filter(gold_value__isnull=False).count()}, labels: {project.labels.count()}")
    env = dict(os.environ)
    for fmt in FORMATS:
        subprocess.run([sys.executable, __file__, "--only", fmt], check=True, env=env)


if __name__ == "__main__":
    main()
