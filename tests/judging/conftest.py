"""Fixtures for the judging-core tests: a fake OpenAI-compatible server on loopback, a
project configured for it, a small catalogue imported through the real importers, and
a driver that runs a job's task bodies in-process (the broker is never touched)."""

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

from annotation.importers import products_import, queries_import, run_import
from annotation.models import Pair, SearchRun
from annotation.services import project_create
from judging import jobs
from judging.jobs import launch
from judging.models import JudgeChunk, JudgeConfig, JudgeJob
from tests.fakes.openai_server import FakeOpenAIServer

KEY_ENV = "QRELAY_LLM_KEY_TEST"  # a name the endpoint rules allow (judging/endpoint_rules.py)
MODELS = {"guideline_model": "fake-guide", "vision_model": "fake-vision", "judge_model": "fake-judge"}
# What the fake server's /v1/models lists: a job is refused a model its endpoint lacks.
SERVED = sorted(MODELS.values())

# Titles the offline judge (behind the fake server) can tell apart, so labels vary.
PRODUCTS = {
    "p1": ("Red Silk Evening Dress", "Clothing > Dresses", {"colour": "red", "material": "silk"}, (200, 20, 20)),
    "p2": ("Black Leather Ankle Boots", "Shoes > Boots", {"colour": "black", "material": "leather"}, (15, 15, 15)),
    "p3": ("White Mesh Running Shoes", "Shoes > Running Shoes", {"colour": "white"}, (245, 245, 245)),
    "p4": ("Blue Denim Jeans", "Clothing > Jeans", {"colour": "blue", "material": "denim"}, (20, 40, 200)),
    "p5": ("Green Wool Jacket", "Clothing > Jackets", {"colour": "green", "material": "wool"}, (20, 160, 40)),
    "p6": ("Red Leather Boots", "Shoes > Boots", {"colour": "red", "material": "leather"}, (180, 30, 40)),
    "p7": ("Black Cotton Dress", "Clothing > Dresses", {"colour": "black", "material": "cotton"}, (30, 30, 30)),
    "p8": ("Yellow Rain Jacket", "Clothing > Jackets", {"colour": "yellow"}, (230, 220, 20)),
}
QUERIES = {
    "q1": "red dress",
    "q2": "black boots",
    "q3": "white running shoes",
    "q4": "blue jeans",
    "q5": "green jacket",
    "q6": "red boots",
    "q7": "black dress",
    "q8": "rain jacket",
}


def png(colour: tuple[int, int, int], size: tuple[int, int] = (24, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class Catalogue:
    """Imports queries, products (each with one PNG image) and runs from CSV files."""

    project: object
    directory: Path
    imported: set = field(default_factory=set)

    def run(self, name: str, pairs: list[tuple[str, str]], *, image_for: dict | None = None) -> SearchRun:
        """Import a run of (query id, product id) pairs; queries and products it names
        are imported first (once). image_for maps a product id to an image file name
        (products sharing a file share image bytes)."""
        self._products(sorted({p for _, p in pairs} - self.imported), image_for or {})
        self._queries(sorted({q for q, _ in pairs} - self.imported))
        lines = ["query_id,product_id,rank"]
        rank: dict[str, int] = {}
        for q, p in pairs:
            rank[q] = rank.get(q, 0) + 1
            lines.append(f"{q},{p},{rank[q]}")
        path = self.directory / f"run-{name}.csv"
        path.write_text("\n".join(lines) + "\n")
        run_import(project=self.project, run_name=name, path=path)
        return SearchRun.objects.get(project=self.project, name=name)

    def _products(self, ids: list[str], image_for: dict) -> None:
        if not ids:
            return
        lines = ["product_id,title,category,attributes,image"]
        for pid in ids:
            title, category, attributes, colour = PRODUCTS[pid]
            image = image_for.get(pid, f"{pid}.png")
            (self.directory / "img").mkdir(exist_ok=True)
            if not (self.directory / "img" / image).exists():
                (self.directory / "img" / image).write_bytes(png(colour))
            attrs = json.dumps(attributes).replace('"', '""')
            lines.append(f'{pid},{title},{category},"{attrs}",img/{image}')
        path = self.directory / f"products-{ids[0]}-{len(ids)}.csv"
        path.write_text("\n".join(lines) + "\n")
        products_import(project=self.project, path=path)
        self.imported.update(ids)

    def _queries(self, ids: list[str]) -> None:
        if not ids:
            return
        path = self.directory / f"queries-{ids[0]}-{len(ids)}.csv"
        path.write_text("query_id,query,locale\n" + "".join(f"{q},{QUERIES[q]},en-GB\n" for q in ids))
        queries_import(project=self.project, path=path)
        self.imported.update(ids)


def grid(queries: str, products: str) -> list[tuple[str, str]]:
    """grid("q1 q2", "p1 p2") → every (query, product) combination."""
    return [(q, p) for q in queries.split() for p in products.split()]


def pair_ids(project, pairs: list[tuple[str, str]]) -> list[int]:
    wanted = set(pairs)
    return sorted(
        pid
        for pid, q, p in Pair.objects.filter(project=project).values_list(
            "id", "query__external_id", "product__external_id"
        )
        if (q, p) in wanted
    )


@pytest.fixture
def fake_llm():
    """The fake OpenAI-compatible server, in this process, on a free loopback port."""
    server = FakeOpenAIServer(latency=0.0, hang_seconds=5.0, models=SERVED).start()
    yield server
    server.stop()


@pytest.fixture
def llm_project(db, fake_llm, monkeypatch, tmp_path, settings):
    """llm_project(mode=..., **config) → a project judged through the fake server, whose URL
    the operator allows (settings.QRELAY_LLM_BASE_URLS)."""
    monkeypatch.setenv(KEY_ENV, "test-key")
    counter = iter(range(1, 1000))

    def make(mode: str = "text", *, scale: str = "default", server=None, **config):
        base_url = config.pop("base_url", (server or fake_llm).base_url)
        settings.QRELAY_LLM_BASE_URLS = [*settings.QRELAY_LLM_BASE_URLS, base_url]
        project = project_create(name=f"judging-{next(counter)}", scale=scale)
        JudgeConfig.objects.create(
            project=project,
            backend="openai",
            mode=mode,
            base_url=base_url,
            api_key_env=KEY_ENV,
            **{**MODELS, "max_in_flight": 8, **config},
        )
        return project

    return make


@pytest.fixture
def catalogue(tmp_path):
    """catalogue(project) → a Catalogue writing its files under tmp_path."""
    made = iter(range(1, 1000))

    def make(project) -> Catalogue:
        directory = tmp_path / f"catalogue-{next(made)}"
        directory.mkdir()
        return Catalogue(project, directory)

    return make


@pytest.fixture
def no_broker(monkeypatch):
    """Nothing is enqueued: the launch task's delay_on_commit and the chunk fan-out are
    recorded instead, and the tests run the task bodies themselves."""
    from judging.tasks import judge_job_launch_task

    calls = {"launch": [], "pending": []}
    monkeypatch.setattr(judge_job_launch_task, "delay_on_commit", lambda job_id: calls["launch"].append(job_id))
    monkeypatch.setattr(launch, "enqueue_pending", lambda job: calls["pending"].append(job.id))
    return calls


@dataclass
class DriveResult:
    job: JudgeJob
    retries: list[float]  # retry_in of every chunk attempt that asked for one


@pytest.fixture
def drive(no_broker):
    """drive(job) runs judge_job_launch, then every prep chunk, then every judge chunk,
    re-running a chunk that asks for a retry (as Celery would, without the countdown)."""

    def run(job: JudgeJob, *, max_attempts: int = 20, phases=("prep", "judge")) -> DriveResult:
        jobs.judge_job_launch(job_id=job.id)
        retries: list[float] = []
        for phase in phases:
            for chunk_id in (
                JudgeChunk.objects.filter(job=job, phase=phase).order_by("index").values_list("id", flat=True)
            ):
                for _ in range(max_attempts):
                    outcome = jobs.judge_chunk_run(chunk_id=chunk_id)
                    if outcome.retry_in is None:
                        break
                    retries.append(outcome.retry_in)
                else:
                    raise AssertionError(f"chunk {chunk_id} still asks for retries after {max_attempts} attempts")
        job.refresh_from_db()
        return DriveResult(job, retries)

    return run


@pytest.fixture
def fast_backoff(monkeypatch):
    """The backends' in-process backoff sleeps are recorded, not slept (client timeouts
    and the fake server's latency stay real)."""
    import asyncio
    import types

    from judging import backends

    slept: list[float] = []

    async def sleep(seconds):
        slept.append(seconds)
        await asyncio.sleep(0)

    monkeypatch.setattr(backends, "asyncio", types.SimpleNamespace(sleep=sleep))
    return slept
