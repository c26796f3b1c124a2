"""Take the README's screenshots: the review card, the routing policy and the agreement
dashboard of the demo project, in Chromium at 1280 px wide.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/qrelay_shots .venv/bin/python scripts/screenshots.py

It builds the demo project (`manage.py demo --no-serve`, idempotent), has the demo
annotator label some pairs so the dashboard has figures, serves the app on a free port,
and writes docs/screenshots/{review,policy,dashboard}.png, reduced to 256 colours with
Pillow. Use a database of its own: the labels it gives stay there. Without DATABASE_URL
it runs in the embedded mode, where the dashboard says it needs PostgreSQL.
"""

import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
WIDTH = 1280
LABELS = 40  # pairs the demo annotator labels before the shots


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, check=True)


def label_some_pairs() -> None:
    """The demo annotator labels LABELS pairs: the LLM's label, one level lower on every
    fourth, so the agreement figures are neither empty nor perfect."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from annotation.models import Project
    from judging.models import Judgment
    from reviews.services.queue import task_claim_next, task_submit

    project = Project.objects.get(name="demo-fashion")
    user = get_user_model().objects.get(username="annotator")
    lowest = project.levels.order_by("value").first().value
    for i in range(LABELS):
        task = task_claim_next(project=project, user=user)
        if task is None:
            break
        judged = Judgment.objects.filter(pair_id=task.pair_id).order_by("-id").values_list("value", flat=True).first()
        value = judged if judged is not None else lowest
        if i % 4 == 3:
            value = max(lowest, value - 1)
        task_submit(task=task, user=user, value=value, time_spent_ms=4000 + 300 * i)


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the server did not answer at {url}")


def save_small(png: bytes, path: Path) -> None:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"{path.relative_to(ROOT)}: {image.width}×{image.height}, {path.stat().st_size // 1024} KiB")


def shoot(base: str) -> None:
    from django.urls import reverse
    from playwright.sync_api import sync_playwright

    from annotation.models import Project

    # Read before Playwright starts: its sync API runs an event loop, where the ORM refuses to run.
    project = Project.objects.get(name="demo-fashion")
    shots = {
        "review": (reverse("reviews:review", args=[project.id]), 800),
        "policy": (reverse("reviews:policy", args=[project.id]), 1400),
        "dashboard": (reverse("reviews:dashboard", args=[project.id]), 1400),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": WIDTH, "height": 800}, color_scheme="light")
        page.goto(f"{base}/accounts/login/")
        page.fill("input[name=username]", "lead")
        page.fill("input[name=password]", "qrelay-demo")
        page.click("main button[type=submit]")
        page.wait_for_load_state()
        for name, (path, height) in shots.items():
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            full = page.evaluate("() => document.documentElement.scrollHeight")
            clip = {"x": 0, "y": 0, "width": WIDTH, "height": min(height, full)}
            save_small(page.screenshot(clip=clip, full_page=True), OUT / f"{name}.png")
        browser.close()


def main() -> None:
    manage("demo", "--no-serve")
    label_some_pairs()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--insecure", "--noreload"], cwd=ROOT
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/healthz")
        shoot(base)
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
