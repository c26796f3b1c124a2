"""Fixtures for the importer and management-command tests."""

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from annotation.models import Label, Pair, Product, ProductImage, Query, SearchResult, SearchRun
from annotation.services import project_create

SNAPSHOT_MODELS = (Query, Product, ProductImage, Pair, Label, SearchRun, SearchResult)


@pytest.fixture
def default_project(db):
    return project_create(name="fashion-DE")


@pytest.fixture
def esci_project(db):
    return project_create(name="esci-us", scale="esci")


@pytest.fixture
def snapshot(db):
    """A function returning every row of the importable models, plus the files under
    MEDIA_ROOT, so that `snapshot() == before` proves an import changed nothing: no row
    added, removed or updated, and no image file left behind."""

    def take() -> dict:
        state = {model.__name__: list(model.objects.order_by("pk").values()) for model in SNAPSHOT_MODELS}
        media = Path(settings.MEDIA_ROOT)
        state["media files"] = (
            sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file()) if media.exists() else []
        )
        return state

    return take


@pytest.fixture
def counts(db):
    """A function returning the row count of each importable model."""

    def take() -> dict[str, int]:
        return {model.__name__: model.objects.count() for model in SNAPSHOT_MODELS}

    return take


@pytest.fixture
def write(tmp_path):
    """write(name, content) puts a str (UTF-8) or bytes file into tmp_path; returns its path as str."""

    def _write(name: str, content: str | bytes) -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_bytes(content.encode("utf-8"))
        else:
            path.write_bytes(content)
        return str(path)

    return _write


def image_bytes(fmt: str, size: tuple[int, int] = (8, 6), mode: str = "RGB", color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def png_rgba() -> bytes:
    """A small PNG with a half-transparent alpha channel."""
    return image_bytes("PNG", (8, 6), "RGBA", (255, 0, 0, 128))


@pytest.fixture
def jpeg() -> bytes:
    return image_bytes("JPEG", (10, 7), "RGB", (10, 120, 240))


@pytest.fixture
def png_20x20() -> bytes:
    return image_bytes("PNG", (20, 20), "RGB", (0, 200, 0))


@pytest.fixture
def command(db):
    """command(name, *args, **options) runs a management command and returns its stdout."""

    def run(name: str, *args, **options) -> str:
        out = io.StringIO()
        call_command(name, *args, stdout=out, stderr=io.StringIO(), **options)
        return out.getvalue()

    return run


@pytest.fixture
def command_error(command):
    """command_error(name, *args, **options) runs a command that must fail; returns the message."""

    def run(name: str, *args, **options) -> str:
        with pytest.raises(CommandError) as failure:
            command(name, *args, **options)
        return str(failure.value)

    return run
