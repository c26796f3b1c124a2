"""Fetching product images recorded as URLs: downloaded from their own host only,
validated and re-encoded like imported files, failures reported and left remote. A real
HTTP server on loopback plays the image host (allowed via QRELAY_CONNECTOR_ALLOWED_HOSTS,
as an operator would allow an internal CDN)."""

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
from django.core.management import call_command
from PIL import Image

from annotation.image_fetch import images_fetch_remote
from annotation.models import Product, ProductImage
from annotation.services import project_create

pytestmark = pytest.mark.django_db


def png_bytes(colour=(200, 30, 30), size=(40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


class ImageHost:
    """/ok.png an image, /page.html not an image, /fake.png HTML labelled as an image,
    /moved a redirect to another host, anything else 404."""

    def __init__(self):
        self.requests: list[str] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                host.requests.append(self.path)
                routes = {
                    "/ok.png": (200, "image/png", png_bytes()),
                    "/page.html": (200, "text/html", b"<html>hi</html>"),
                    "/fake.png": (200, "image/png", b"<html>not really</html>"),
                }
                if self.path == "/moved":
                    self.send_response(302)
                    self.send_header("Location", "http://localhost:1/elsewhere.png")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, content_type, body = routes.get(self.path, (404, "text/plain", b"no"))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def host(settings):
    server = ImageHost()
    settings.QRELAY_CONNECTOR_ALLOWED_HOSTS = [f"127.0.0.1:{server.port}"]
    yield server
    server.server.shutdown()


@pytest.fixture
def project():
    return project_create(name="catalogue-urls")


def remote(project, *paths_or_urls) -> list[ProductImage]:
    product = Product.objects.create(
        project=project, external_id=f"p{Product.objects.count()}", title="Dress", content_hash="0" * 64
    )
    return [
        ProductImage.objects.create(product=product, position=i, source=url, status=ProductImage.Status.REMOTE)
        for i, url in enumerate(paths_or_urls)
    ]


def test_a_remote_image_is_downloaded_re_encoded_and_stored(project, host, settings):
    [image] = remote(project, host.url("/ok.png"))

    report = images_fetch_remote(project=project)

    image.refresh_from_db()
    assert (report.fetched, report.failed) == (1, {})
    assert (image.status, image.width, image.height) == ("stored", 40, 30)
    stored = settings.MEDIA_ROOT / image.stored_name
    with Image.open(stored) as img:
        assert img.format == "JPEG"  # what we serve is an image we wrote ourselves
    assert image.source == host.url("/ok.png")  # the product's content hash keeps its key


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/page.html", "not an image"),
        ("/fake.png", "not an image in an accepted format"),
        ("/missing.png", "HTTP 404"),
        ("/moved", "refused to leave"),
    ],
)
def test_a_failed_image_stays_remote_with_its_reason(project, host, path, reason):
    [image] = remote(project, host.url(path))

    report = images_fetch_remote(project=project)

    image.refresh_from_db()
    assert report.fetched == 0 and reason in report.failed[image.id]
    assert (image.status, image.stored_name) == ("remote", "")


def test_an_image_host_on_a_private_address_is_refused_without_the_operators_allow_list(project, host, settings):
    settings.QRELAY_CONNECTOR_ALLOWED_HOSTS = []
    [image] = remote(project, host.url("/ok.png"))

    report = images_fetch_remote(project=project)

    assert "private, loopback or link-local" in report.failed[image.id]
    assert host.requests == []


def test_images_larger_than_the_cap_are_refused(project, host, settings):
    settings.QRELAY_IMAGE_MAX_BYTES = 100
    [image] = remote(project, host.url("/ok.png"))

    report = images_fetch_remote(project=project)

    assert "limit of 100 bytes" in report.failed[image.id]


def test_the_command_fetches_only_what_is_still_remote_and_reports_failures(project, host):
    ok, bad = remote(project, host.url("/ok.png"), host.url("/missing.png"))
    out = StringIO()

    call_command("fetch_images", "--project", project.name, stdout=out)
    call_command("fetch_images", "--project", project.name, stdout=out)

    assert "fetched 1 image(s); 1 failed" in out.getvalue()
    assert "fetched 0 image(s); 1 failed" in out.getvalue()  # the stored one is not fetched again
    assert host.requests.count("/ok.png") == 1
    assert ProductImage.objects.get(id=ok.id).status == "stored"


def test_fetch_images_fetches_the_reference_images_of_queries_too(project, host):
    from annotation.models import Query, QueryImage

    query = Query.objects.create(project=project, external_id="q1", text="like this")
    ok, bad = (
        QueryImage.objects.create(query=query, position=i, source=host.url(path), status=ProductImage.Status.REMOTE)
        for i, path in enumerate(["/ok.png", "/page.html"])
    )
    out = StringIO()

    call_command("fetch_images", project=project.name, stdout=out)

    ok.refresh_from_db()
    bad.refresh_from_db()
    assert (ok.status, ok.width, ok.height, ok.source) == ("stored", 40, 30, host.url("/ok.png"))
    assert bad.status == "remote"
    assert "fetched 1 image(s); 1 failed" in out.getvalue() and f"query image {bad.id}: " in out.getvalue()
