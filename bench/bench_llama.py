"""Judging against a real llama-server on this machine: pairs/s and invalid answers.

Starts llama.cpp's llama-server (built by `scripts/local-llm.sh build`) serving
SmolLM2-135M-Instruct with N parallel slots on a free loopback port, then runs qrelay
in the embedded mode (SQLite, tasks in-process) in a temporary data directory: imports
real ESCI rows (../shared/data/esci-calibration.csv by default), judges them with
`manage.py judge --pairs labelled --backend openai` under QRELAY_LLM_PRESET=local-cpu, and
prints wall time, pairs/s, LLM calls, calls per pair, and the share of judgments and
guidelines that stayed invalid (with their reasons). No asserts on time.

Usage: python bench/bench_llama.py [--pairs 40] [--slots 4] [--threads 2] [--file ESCI.csv]
"""

import argparse
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("QRELAY_LLM_CACHE", Path.home() / ".cache" / "qrelay-llm"))
SERVER, MODEL = CACHE / "build/bin/llama-server", CACHE / "models/SmolLM2-135M-Instruct.Q4_1.gguf"
ALIAS = "smollm2-135m"

STATE = """
import json
from collections import Counter
from judging.models import Judgment, JudgeJob, PrepFailure
job = JudgeJob.objects.order_by("-id").first()
print(json.dumps({
    "judgments": Judgment.objects.count(),
    "invalid": Judgment.objects.filter(status="invalid").count(),
    "reasons": Counter(e[:90] for e in Judgment.objects.filter(status="invalid").values_list("error", flat=True)).most_common(5),
    "prep_failures": PrepFailure.objects.count(),
    "calls": job.calls, "tokens_in": job.tokens_in, "tokens_out": job.tokens_out, "status": job.status,
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--file", default=str(ROOT.parent / "shared/data/esci-calibration.csv"))
    args = parser.parse_args()
    if not (SERVER.exists() and MODEL.exists()):
        sys.exit(f"run scripts/local-llm.sh build first ({SERVER} or {MODEL} is missing)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    work = Path(tempfile.mkdtemp(prefix="qrelay-bench-llama-"))
    server = subprocess.Popen(
        [str(SERVER), "-m", str(MODEL), "-a", ALIAS, "--host", "127.0.0.1", "--port", str(port),
         "-c", str(args.slots * 2048), "-np", str(args.slots), "-t", str(args.threads), "--no-webui"],
        stdout=(work / "server.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        with open(args.file, encoding="utf-8") as source:
            rows = list(csv.DictReader(source))[: args.pairs]
        sample = work / "esci.csv"
        with sample.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
        env.update(
            QRELAY_DATA_DIR=str(work / "data"),
            OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1",
            QRELAY_LLM_PRESET="local-cpu",
            QRELAY_LLM_SLOTS=str(args.slots),
            QRELAY_GUIDELINE_MODEL=ALIAS,
            QRELAY_VISION_MODEL=ALIAS,
            QRELAY_JUDGE_MODEL=ALIAS,
        )

        def manage(*command: str) -> str:
            done = subprocess.run(
                [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True
            )
            if done.returncode:
                sys.exit(f"manage.py {' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
            return done.stdout

        manage("migrate", "--no-input")
        manage("create_project", "bench", "--scale", "esci")
        manage("import_labels", "--project", "bench", "--rater", "esci", str(sample))
        started = time.monotonic()
        manage("judge", "--project", "bench", "--pairs", "labelled", "--backend", "openai")
        wall = time.monotonic() - started
        state = json.loads(manage("shell", "-c", STATE).strip().splitlines()[-1])  # after any log lines
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    n = len(rows)
    print(f"llama-server SmolLM2-135M Q4_1, {args.slots} slots, {args.threads} threads; {n} ESCI pairs ({n} queries)")
    print(f"wall {wall:.1f} s  ->  {n / wall:.2f} pairs/s; job {state['status']}")
    print(
        f"LLM calls {state['calls']} ({state['calls'] / n:.2f} per pair), tokens in {state['tokens_in']}, out {state['tokens_out']}"
    )
    print(
        f"judgments invalid {state['invalid']}/{state['judgments']} ({state['invalid'] / max(state['judgments'], 1):.0%}); "
        f"guideline/description failures {state['prep_failures']}"
    )
    for reason, count in state["reasons"]:
        print(f"  {count} × {reason}")


if __name__ == "__main__":
    main()
