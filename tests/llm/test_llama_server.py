"""Judging through a real llama-server (tests/llm/conftest.py), in both modes qrelay runs
in: embedded (SQLite, tasks in-process, the `judge` command in a subprocess) and full stack
(PostgreSQL, a real `celery worker`). Real ESCI pairs from ../shared/data. Quality is not
asserted (a 135M model is weak); the plumbing is: every pair ends with a label or
llm-invalid with its reason, guidelines exist, a second run pays only for what the first left invalid, and the server
stopped mid-job and started again costs nothing twice."""

import csv
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings

from annotation.importers import labels_import
from annotation.models import Pair
from annotation.services import project_create
from judging.jobs import judge_job_create
from judging.models import Guideline, JudgeConfig, JudgeJob, Judgment, PrepFailure
from tests.builders import publishing_to, start_worker

from .conftest import ALIAS

pytestmark = [pytest.mark.llama, pytest.mark.worker]

ROOT = Path(__file__).resolve().parents[2]
ESCI = Path(settings.BASE_DIR).parent / "shared" / "data" / "esci-calibration.csv"
PAIRS = 8


def esci_sample(path: Path, *, offset: int, n: int = PAIRS) -> Path:
    """n real rows, every label the sample has among them (it is mostly Exact)."""
    if not ESCI.exists():
        pytest.skip(f"the real ESCI sample is not at {ESCI}")
    rows = list(csv.DictReader(ESCI.open(encoding="utf-8")))
    others = [r for r in rows if r["esci_label"] != "Exact"]
    exact = [r for r in rows if r["esci_label"] == "Exact"]
    picked = others[offset : offset + n // 2] + exact[offset : offset + n - n // 2]
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(picked)
    return path


def llm_env(llama) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": llama.url,
        "QRELAY_LLM_PRESET": "local-cpu",
        "QRELAY_LLM_MAX_IN_FLIGHT": "4",
        # A 135M model rambles: short answers keep the test to minutes on 2 cores (a
        # truncated answer is an invalid one, with its reason: plumbing, not quality).
        "QRELAY_LLM_MAX_TOKENS": "256",
        "QRELAY_LLM_TIMEOUT": "180",
        "QRELAY_GUIDELINE_MODEL": ALIAS,
        "QRELAY_VISION_MODEL": ALIAS,
        "QRELAY_JUDGE_MODEL": ALIAS,
    }


def stop_and_restart_when(llama, ready, *, pause: float = 4.0, timeout: float = 600) -> threading.Thread:
    """In the background: once ready() holds, stop the server, wait, start it again."""

    def run():
        deadline = time.monotonic() + timeout
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.5)
        llama.stop()
        time.sleep(pause)
        llama.start()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# --- embedded mode: SQLite, no broker, the judge command ------------------------------


def manage(env: dict, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_the_embedded_mode_judges_real_pairs_rides_out_a_server_restart_and_pays_once(llama, tmp_path):
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "QRELAY_REDIS_URL")}
    env.update(llm_env(llama), QRELAY_DATA_DIR=str(data))
    env.pop("OPENAI_API_KEY", None)  # a server of your own needs no key
    for args in (
        ("migrate", "--no-input"),
        ("create_project", "esci", "--scale", "esci"),
        ("import_labels", "--project", "esci", "--rater", "esci", str(esci_sample(tmp_path / "esci.csv", offset=0))),
    ):
        done = manage(env, *args)
        assert done.returncode == 0, done.stdout + done.stderr

    def judgments() -> int:
        with sqlite3.connect(f"file:{data / 'qrelay.sqlite3'}?mode=ro", uri=True, timeout=30) as db:
            return db.execute("SELECT COUNT(*) FROM judging_judgment").fetchone()[0]

    def unsettled() -> int:
        """Pairs without a valid judgment: the only ones a later run asks about again."""
        with sqlite3.connect(f"file:{data / 'qrelay.sqlite3'}?mode=ro", uri=True, timeout=30) as db:
            return db.execute(
                "SELECT COUNT(*) FROM annotation_pair p WHERE NOT EXISTS "
                "(SELECT 1 FROM judging_judgment j WHERE j.pair_id = p.id AND j.status = 'ok')"
            ).fetchone()[0]

    restart = stop_and_restart_when(llama, lambda: judgments() >= 2)
    first = manage(env, "judge", "--project", "esci", "--pairs", "labelled", "--backend", "openai")
    restart.join(120)
    left = unsettled()
    second = manage(env, "judge", "--project", "esci", "--pairs", "labelled")

    assert "Traceback" not in first.stderr, first.stderr
    assert first.returncode == 0, first.stdout + first.stderr
    assert second.returncode == 0, second.stdout + second.stderr
    # The second run pays only for what the first left invalid (asked again on purpose).
    assert f", {left} pair(s)," in second.stdout, second.stdout
    if left == 0:
        assert "0 LLM calls" in second.stdout
    state = json.loads(manage(env, "shell", "-c", DUMP).stdout.strip().splitlines()[-1])  # after any log lines
    assert_every_pair_ends_judged_once(state)


DUMP = """
import json
from annotation.models import Pair, Query
from judging.models import Guideline, Judgment, PrepFailure
print(json.dumps({
    "pairs": list(Pair.objects.values_list("id", flat=True)),
    "queries": Query.objects.count(),
    "guidelines": list(Guideline.objects.values_list("query_id", "model")),
    "prep_failures": list(PrepFailure.objects.values_list("query_id", "error")),
    "judgments": list(Judgment.objects.values_list("pair_id", "status", "value", "error", "model")),
}))
"""


def assert_every_pair_ends_judged_once(state: dict) -> None:
    """Every pair has a judgment; a valid one at most once (never paid twice); a pair
    without one has only invalid judgments, each with its reason (it went to a human).
    Every query has a guideline, or the reason its guideline step failed."""
    by_pair: dict[int, list] = {}
    for pair_id, status, value, error, model in state["judgments"]:
        by_pair.setdefault(pair_id, []).append((status, value, error))
        assert model == ALIAS
    assert sorted(by_pair) == sorted(state["pairs"])
    for rows in by_pair.values():
        valid = [row for row in rows if row[0] == "ok"]
        assert len(valid) <= 1, rows
        assert all(value is not None for _, value, _ in valid), rows
        assert all(status == "invalid" and error for status, _, error in rows if status != "ok"), rows
    guided = {query for query, _ in state["guidelines"]}
    failed = {query for query, error in state["prep_failures"] if query is not None and error}
    assert len(guided | failed) == state["queries"], state


# --- full stack: PostgreSQL and a real celery worker ----------------------------------


@pytest.fixture
def llama_worker(llama, transactional_db, tmp_path, settings):
    # The run's own broker db (TEST_BROKER_URL): two test runs on one machine never share it.
    broker_url = settings.CELERY_BROKER_URL
    broker = redis.Redis.from_url(broker_url)
    broker.flushdb()
    # A CPU model answers in seconds to minutes: the tasks' time limit is a deployment's,
    # not the 10 s the fake-server worker tests use.
    worker = start_worker(
        name="llama",
        broker=broker_url,
        directory=tmp_path,
        media_root=tmp_path / "media",
        children=2,
        CELERY_TASK_TIME_LIMIT=1800,
        **llm_env(llama),
    )
    settings.MEDIA_ROOT = tmp_path / "media"
    try:
        with publishing_to(broker_url):
            yield worker
    finally:
        worker.kill()
        broker.flushdb()


def test_a_worker_judges_real_pairs_rides_out_a_server_restart_and_pays_once(llama, llama_worker, tmp_path, settings):
    settings.QRELAY_LLM_BASE_URLS = [llama.url]  # the operator allows the local server
    project = project_create(name="esci-worker", scale="esci")
    labels_import(project=project, path=esci_sample(tmp_path / "esci.csv", offset=6), rater="esci")
    JudgeConfig.objects.create(
        project=project,
        backend="openai",
        base_url=llama.url,
        api_key_env="OPENAI_API_KEY",  # unset: a server of your own needs no key
        guideline_model=ALIAS,
        vision_model=ALIAS,
        judge_model=ALIAS,
        # The project's own endpoint settings: the job is made in this process, whose
        # environment has none of llm_env's.
        preset="local-cpu",
        max_in_flight=4,
        max_tokens=256,
        timeout=180,
    )
    pair_ids = list(Pair.objects.filter(project=project).values_list("id", flat=True))

    restart = stop_and_restart_when(llama, lambda: Judgment.objects.filter(project=project).count() >= 2)
    job = wait(judge_job_create(project=project, pair_ids=pair_ids), llama_worker)
    restart.join(120)
    valid_after_first = set(Judgment.objects.filter(project=project, status="ok").values_list("pair_id", flat=True))
    again = wait(judge_job_create(project=project, pair_ids=pair_ids), llama_worker)

    assert (job.status, job.error) == ("done", ""), llama_worker.text()[-3000:]
    # The second job pays only for the pairs the first left without a valid judgment.
    assert again.total == len(pair_ids) - len(valid_after_first), (again.total, len(valid_after_first))
    state = {
        "pairs": pair_ids,
        "queries": project.queries.count(),
        "guidelines": list(Guideline.objects.filter(query__project=project).values_list("query_id", "model")),
        "prep_failures": list(PrepFailure.objects.filter(job__project=project).values_list("query_id", "error")),
        "judgments": list(
            Judgment.objects.filter(project=project).values_list("pair_id", "status", "value", "error", "model")
        ),
    }
    assert_every_pair_ends_judged_once(state)
    assert "Traceback" not in llama_worker.text()


def wait(job: JudgeJob, worker, timeout: float = 1200) -> JudgeJob:
    deadline = time.monotonic() + timeout
    while True:
        job.refresh_from_db()
        if job.status not in JudgeJob.ACTIVE:
            return job
        if time.monotonic() > deadline or worker.process.poll() is not None:
            raise AssertionError(f"job {job.id} still {job.status}:\n{worker.text()[-3000:]}")
        time.sleep(1)
