"""Product and query imports: fields, images, BOM, idempotency and updates."""

import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from PIL import Image

from annotation.importers import products_import
from annotation.models import Product, ProductImage, Query
from annotation.services import project_create

from .conftest import image_bytes

pytestmark = pytest.mark.django_db

PROJECT = "fashion-DE"
STORED_NAME = re.compile(r"^products/([0-9a-f]{2})/([0-9a-f]{64})\.jpg$")


def media_files() -> list[Path]:
    media = Path(settings.MEDIA_ROOT)
    return sorted(p for p in media.rglob("*") if p.is_file()) if media.exists() else []


# --- products -----------------------------------------------------------------------


def test_it_imports_every_product_column_from_csv(default_project, write, command):
    path = write(
        "products.csv",
        "product_id,title,brand,category,description,attributes\n"
        'p1,Red dress,Acme,Dresses > Midi,"Silk, knee length","{""colour"": ""red"", ""size"": [36, 38]}"\n'
        "p2,Boots,,,,\n",
    )

    out = command("import_products", path, project=PROJECT)

    assert "products.csv: 2 row(s) read; products created 2; updated 0; unchanged 0; images written 0" in out
    dress = Product.objects.get(project=default_project, external_id="p1")
    assert (dress.title, dress.brand, dress.category, dress.description) == (
        "Red dress",
        "Acme",
        "Dresses > Midi",
        "Silk, knee length",
    )
    assert dress.attributes == {"colour": "red", "size": [36, 38]}
    assert re.fullmatch(r"[0-9a-f]{64}", dress.content_hash)
    boots = Product.objects.get(external_id="p2")
    assert (boots.brand, boots.attributes) == ("", {})
    assert boots.content_hash != dress.content_hash


def test_it_imports_products_from_jsonl_with_aliases_and_an_image_list(default_project, write, command, png_rgba, jpeg):
    write("a.png", png_rgba)
    write("b.jpg", jpeg)
    path = write(
        "products.jsonl",
        json.dumps(
            {"sku": 17, "name": "Hat", "attributes": {"colour": "red"}, "images": ["a.png", "b.jpg"], "ignored": 1}
        )
        + "\n",
    )

    command("import_products", path, project=PROJECT)

    hat = Product.objects.get()
    assert (hat.external_id, hat.title, hat.attributes) == ("17", "Hat", {"colour": "red"})
    assert list(hat.images.values_list("position", "source")) == [(0, "a.png"), (1, "b.jpg")]


def test_it_reads_tab_separated_files(default_project, write, command):
    command("import_products", write("products.tsv", "product_id\ttitle\np1\tRed, long dress\n"), project=PROJECT)

    assert Product.objects.get().title == "Red, long dress"


def test_it_reads_a_file_with_another_extension_given_format(default_project, write, command):
    command(
        "import_products",
        write("export.dat", '{"product_id": "p1", "title": "Hat"}\n'),
        project=PROJECT,
        format="jsonl",
    )

    assert Product.objects.get().title == "Hat"


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_it_accepts_a_utf8_bom(default_project, write, command, line_end):
    content = line_end.join(["product_id,title", "p1,Kleid für Damen", "p2,Schuh", ""])
    path = write("products.csv", b"\xef\xbb\xbf" + content.encode("utf-8"))

    command("import_products", path, project=PROJECT)

    assert dict(Product.objects.values_list("external_id", "title")) == {"p1": "Kleid für Damen", "p2": "Schuh"}


def test_it_accepts_a_utf8_bom_in_jsonl_queries(default_project, write, command):
    path = write("queries.jsonl", b'\xef\xbb\xbf{"query_id": "q1", "query": "r\xc3\xb6ck"}\r\n')

    command("import_queries", path, project=PROJECT)

    assert Query.objects.get().text == "röck"


def test_reimporting_the_same_products_changes_nothing(default_project, write, command, snapshot, png_rgba):
    write("img/a.png", png_rgba)
    path = write(
        "products.csv",
        'product_id,title,attributes,image\np1,Dress,"{""a"": 1}",img/a.png|https://cdn.example/p1.jpg\np2,Boots,,\n',
    )
    command("import_products", path, project=PROJECT)
    before = snapshot()

    out = command("import_products", path, project=PROJECT)

    assert "products created 0; updated 0; unchanged 2; images written 0" in out
    assert snapshot() == before


def test_changing_one_product_row_updates_exactly_that_product_and_replaces_its_images(
    default_project, write, command, png_rgba, jpeg
):
    write("img/a.png", png_rgba)
    write("img/b.jpg", jpeg)
    command(
        "import_products",
        write("v1.csv", "product_id,title,image\np1,Dress,img/a.png\np2,Boots,img/b.jpg\n"),
        project=PROJECT,
    )
    dress, boots = Product.objects.get(external_id="p1"), Product.objects.get(external_id="p2")
    boots_images = list(boots.images.values())
    old_dress_image = dress.images.get()

    out = command(
        "import_products",
        write("v2.csv", "product_id,title,image\np1,Dress,img/b.jpg|img/a.png\np2,Boots,img/b.jpg\n"),
        project=PROJECT,
    )

    assert "products created 0; updated 1; unchanged 1; images written 2" in out
    dress_after, boots_after = Product.objects.get(external_id="p1"), Product.objects.get(external_id="p2")
    assert dress_after.content_hash != dress.content_hash
    assert dress_after.updated_at > dress.updated_at
    assert (boots_after.content_hash, boots_after.updated_at) == (boots.content_hash, boots.updated_at)
    assert list(boots_after.images.values()) == boots_images
    assert not ProductImage.objects.filter(id=old_dress_image.id).exists()
    assert list(dress_after.images.values_list("position", "source")) == [(0, "img/b.jpg"), (1, "img/a.png")]
    assert ProductImage.objects.count() == 3


def test_changing_an_image_file_changes_the_content_hash(default_project, write, command, png_rgba, jpeg):
    write("img/a.png", png_rgba)
    path = write("products.csv", "product_id,title,image\np1,Dress,img/a.png\n")
    command("import_products", path, project=PROJECT)
    first = Product.objects.get()
    first_image_sha = first.images.get().sha256
    write("img/a.png", image_bytes("PNG", (8, 6), "RGB", (0, 0, 255)))

    out = command("import_products", path, project=PROJECT)

    assert "products created 0; updated 1; unchanged 0; images written 1" in out
    assert Product.objects.get().content_hash != first.content_hash
    assert Product.objects.get().images.get().sha256 != first_image_sha


def test_changing_attributes_updates_the_product(default_project, write, command):
    command(
        "import_products",
        write("a.jsonl", '{"product_id": "p1", "title": "Dress", "attributes": {"colour": "red"}}\n'),
        project=PROJECT,
    )
    first_hash = Product.objects.get().content_hash

    out = command(
        "import_products",
        write("b.jsonl", '{"product_id": "p1", "title": "Dress", "attributes": {"colour": "blue"}}\n'),
        project=PROJECT,
    )

    assert "updated 1" in out
    product = Product.objects.get()
    assert product.attributes == {"colour": "blue"}
    assert product.content_hash != first_hash


def test_products_of_other_projects_are_not_touched(default_project, write, command):
    other = project_create(name="other")
    path = write("products.csv", "product_id,title\np1,Dress\n")
    command("import_products", path, project="other")

    out = command("import_products", write("p.csv", "product_id,title\np1,Robe\n"), project=PROJECT)

    assert "products created 1" in out
    assert Product.objects.get(project=other).title == "Dress"
    assert Product.objects.get(project=default_project).title == "Robe"


# --- images -------------------------------------------------------------------------


def test_it_stores_a_png_with_alpha_and_a_jpeg_re_encoded_as_jpeg_under_a_server_chosen_name(
    default_project, write, command, png_rgba, jpeg
):
    write("img/my-dress.png", png_rgba)
    write("img/my-boots.jpeg", jpeg)
    path = write("products.csv", "product_id,title,image\np1,Dress,img/my-dress.png\np2,Boots,img/my-boots.jpeg\n")

    out = command("import_products", path, project=PROJECT)

    assert "images written 2" in out
    for external_id, source, size in [("p1", "img/my-dress.png", (8, 6)), ("p2", "img/my-boots.jpeg", (10, 7))]:
        image = ProductImage.objects.get(product__external_id=external_id)
        assert (image.status, image.source, image.position, (image.width, image.height)) == (
            ProductImage.Status.STORED,
            source,
            0,
            size,
        )
        match = STORED_NAME.match(image.stored_name)
        assert match, image.stored_name
        assert "my-" not in image.stored_name
        stored = Path(settings.MEDIA_ROOT) / image.stored_name
        data = stored.read_bytes()
        assert hashlib.sha256(data).hexdigest() == image.sha256 == match.group(2)
        assert match.group(1) == image.sha256[:2]
        with Image.open(io.BytesIO(data)) as decoded:
            assert decoded.format == "JPEG"
            assert decoded.mode == "RGB"
            assert decoded.size == size
    # The half-transparent red was laid on white, not on black.
    with Image.open(
        Path(settings.MEDIA_ROOT) / ProductImage.objects.get(product__external_id="p1").stored_name
    ) as dress:
        red, green, blue = dress.getpixel((4, 3))
    assert red > 230 and 100 < green < 160 and 100 < blue < 160
    assert len(media_files()) == 2


def test_it_splits_images_on_a_pipe_into_positions(default_project, write, command, png_rgba, jpeg):
    write("a.png", png_rgba)
    write("b.jpg", jpeg)
    path = write("products.csv", "product_id,title,image\np1,Dress, a.png | b.jpg \n")

    command("import_products", path, project=PROJECT)

    images = list(ProductImage.objects.filter(product__external_id="p1").order_by("position"))
    assert [(i.position, i.source, i.status) for i in images] == [(0, "a.png", "stored"), (1, "b.jpg", "stored")]
    assert images[0].sha256 != images[1].sha256


def test_it_records_http_images_as_remote_without_a_file(default_project, write, command):
    path = write(
        "products.csv", "product_id,title,image\np1,Dress,https://cdn.example/p1.jpg|HTTP://cdn.example/p1b.jpg\n"
    )

    out = command("import_products", path, project=PROJECT)

    assert "images written 2" in out
    images = list(
        ProductImage.objects.order_by("position").values(
            "position", "source", "status", "stored_name", "sha256", "width"
        )
    )
    assert images == [
        {
            "position": 0,
            "source": "https://cdn.example/p1.jpg",
            "status": "remote",
            "stored_name": "",
            "sha256": "",
            "width": None,
        },
        {
            "position": 1,
            "source": "HTTP://cdn.example/p1b.jpg",
            "status": "remote",
            "stored_name": "",
            "sha256": "",
            "width": None,
        },
    ]
    assert media_files() == []


def test_the_same_image_for_two_products_is_stored_once(default_project, write, command, jpeg):
    write("a.jpg", jpeg)
    write("copy.jpg", jpeg)

    command(
        "import_products",
        write("products.csv", "product_id,title,image\np1,Dress,a.jpg\np2,Robe,copy.jpg\n"),
        project=PROJECT,
    )

    names = set(ProductImage.objects.values_list("stored_name", flat=True))
    assert len(names) == 1
    assert len(media_files()) == 1


def test_it_shrinks_images_larger_than_the_maximum_side(default_project, write, command, settings):
    settings.QRELAY_IMAGE_MAX_SIDE = 64
    write("big.png", image_bytes("PNG", (200, 100)))

    command("import_products", write("products.csv", "product_id,title,image\np1,Dress,big.png\n"), project=PROJECT)

    image = ProductImage.objects.get()
    assert (image.width, image.height) == (64, 32)
    with Image.open(Path(settings.MEDIA_ROOT) / image.stored_name) as stored:
        assert stored.size == (64, 32)


def test_image_paths_are_relative_to_the_files_folder_not_the_working_directory(
    default_project, tmp_path, write, monkeypatch, jpeg
):
    write("data/img/a.jpg", jpeg)
    path = Path(write("data/products.csv", "product_id,title,image\np1,Dress,img/a.jpg\n"))
    monkeypatch.chdir(tmp_path)

    summary = products_import(project=default_project, path=Path("data/products.csv"))

    assert summary.counts["images written"] == 1
    assert path.exists()
    assert ProductImage.objects.get().status == "stored"


# --- queries ------------------------------------------------------------------------


def test_it_imports_queries_with_locale_and_traffic(default_project, write, command):
    path = write("queries.csv", "qid,text,locale,count\nq1,red dress,de-DE,120\nq2,winter boots,,\n")

    out = command("import_queries", path, project=PROJECT)

    assert "queries.csv: 2 row(s) read; queries created 2; updated 0; unchanged 0" in out
    assert list(Query.objects.order_by("external_id").values_list("external_id", "text", "locale", "traffic")) == [
        ("q1", "red dress", "de-DE", 120),
        ("q2", "winter boots", "", 0),
    ]


def test_reimporting_the_same_queries_changes_nothing(default_project, write, command, snapshot):
    path = write(
        "queries.jsonl", '{"query_id": "q1", "query": "red dress", "traffic": 5}\n{"query_id": 2, "query": "boots"}\n'
    )
    command("import_queries", path, project=PROJECT)
    before = snapshot()

    out = command("import_queries", path, project=PROJECT)

    assert "queries created 0; updated 0; unchanged 2" in out
    assert snapshot() == before


def test_changing_one_query_row_updates_exactly_that_query(default_project, write, command):
    command("import_queries", write("a.csv", "query_id,query,traffic\nq1,red dress,5\nq2,boots,7\n"), project=PROJECT)
    boots = Query.objects.get(external_id="q2")

    out = command(
        "import_queries", write("b.csv", "query_id,query,traffic\nq1,red dress,6\nq2,boots,7\n"), project=PROJECT
    )

    assert "queries created 0; updated 1; unchanged 1" in out
    assert Query.objects.get(external_id="q1").traffic == 6
    assert Query.objects.filter(external_id="q2").values().get() == Query.objects.filter(id=boots.id).values().get()


def test_a_row_without_traffic_or_locale_keeps_the_known_values(default_project, write, command):
    command("import_queries", write("a.csv", "query_id,query,locale,traffic\nq1,red dress,de-DE,5\n"), project=PROJECT)

    out = command("import_queries", write("b.csv", "query_id,query\nq1,red dress\n"), project=PROJECT)

    assert "unchanged 1" in out
    assert Query.objects.values_list("locale", "traffic").get() == ("de-DE", 5)
