import io

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from PIL import Image

from annotation import selectors
from annotation.models import (
    Label,
    Membership,
    Pair,
    Product,
    ProductImage,
    Project,
    Query,
    ScaleLevel,
    SearchResult,
    SearchRun,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def make_project(name: str) -> Project:
    project = Project.objects.create(name=name)
    ScaleLevel.objects.bulk_create(
        [
            ScaleLevel(project=project, value=0, name="irrelevant", gain=0),
            ScaleLevel(project=project, value=1, name="acceptable substitute", gain=1),
            ScaleLevel(project=project, value=2, name="highly relevant", gain=2),
        ]
    )
    return project


def store_image(product: Product, stored_name: str, data: bytes, *, position: int = 0) -> ProductImage:
    media = settings.MEDIA_ROOT
    media.mkdir(parents=True, exist_ok=True)
    target = media / stored_name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return ProductImage.objects.create(
        product=product,
        position=position,
        source="https://shop.example/img.png",
        status=ProductImage.Status.STORED,
        stored_name=stored_name,
        sha256="a" * 64,
        width=4,
        height=3,
    )


@pytest.fixture
def member(django_user_model):
    return django_user_model.objects.create_user(username="ann", password="pw-ann-123")


@pytest.fixture
def outsider(django_user_model):
    return django_user_model.objects.create_user(username="olaf", password="pw-olaf-123")


@pytest.fixture
def world(member):
    """A project the member belongs to, with one run over two queries, and a foreign one."""
    project = make_project("fashion-DE")
    Membership.objects.create(project=project, user=member, role="annotator")
    red = Query.objects.create(project=project, external_id="q1", text="red dress", traffic=500, tags=["style"])
    boots = Query.objects.create(project=project, external_id="q2", text="winter boots", traffic=90)
    dress = Product.objects.create(
        project=project, external_id="p1", title="Scarlet midi dress", brand="Acme", content_hash="h1"
    )
    boot = Product.objects.create(
        project=project, external_id="p2", title="Lined boot", brand="Bootco", content_hash="h2"
    )
    image = store_image(dress, "ab/dress.png", png_bytes())
    pair_red = Pair.objects.create(project=project, query=red, product=dress, gold_value=2, gold_provenance="human")
    pair_boots = Pair.objects.create(project=project, query=boots, product=boot)
    run = SearchRun.objects.create(project=project, name="bm25-baseline")
    SearchResult.objects.create(run=run, query=red, product=dress, pair=pair_red, rank=1, score=3.5)
    SearchResult.objects.create(run=run, query=boots, product=boot, pair=pair_boots, rank=1, score=1.0)
    Label.objects.create(project=project, pair=pair_red, source="llm", rater="gpt", value=2, confidence=0.9)

    other = make_project("electronics-FR")
    other_query = Query.objects.create(project=other, external_id="x1", text="usb cable")
    other_product = Product.objects.create(project=other, external_id="y1", title="Cable", content_hash="h3")
    other_image = store_image(other_product, "cd/cable.png", png_bytes())
    other_run = SearchRun.objects.create(project=other, name="secret-run")
    other_pair = Pair.objects.create(project=other, query=other_query, product=other_product)
    SearchResult.objects.create(run=other_run, query=other_query, product=other_product, pair=other_pair, rank=1)
    return {
        "project": project,
        "run": run,
        "image": image,
        "dress": dress,
        "other": other,
        "other_run": other_run,
        "other_image": other_image,
    }


@pytest.fixture
def member_client(client, member):
    client.force_login(member)
    return client


def test_it_renders_the_login_page(client):
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert b'name="password"' in response.content


def test_it_logs_a_user_in_with_the_login_form(client, member):
    response = client.post("/accounts/login/", {"username": "ann", "password": "pw-ann-123"})

    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_it_redirects_anonymous_users_to_the_login_page(client):
    response = client.get(reverse("home"))

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_it_lists_only_the_member_projects_with_counts(member_client, world):
    response = member_client.get(reverse("home"))

    assert response.status_code == 200
    assert [p.name for p in response.context["projects"]] == ["fashion-DE"]
    listed = response.context["projects"][0]
    assert (listed.query_count, listed.pair_count, listed.gold_count, listed.label_count) == (2, 2, 1, 1)
    assert b"electronics-FR" not in response.content


def test_it_shows_all_projects_to_a_superuser(client, django_user_model, world):
    client.force_login(django_user_model.objects.create_superuser(username="root", password="pw-root-123"))

    response = client.get(reverse("home"))

    assert [p.name for p in response.context["projects"]] == ["electronics-FR", "fashion-DE"]


def test_it_shows_the_project_page_with_scale_runs_and_queries(member_client, world):
    response = member_client.get(reverse("project_detail", args=[world["project"].id]))

    assert response.status_code == 200
    content = response.content.decode()
    assert "<html" in content
    assert "acceptable substitute" in content
    assert "bm25-baseline" in content
    assert "red dress" in content and "winter boots" in content
    assert response.context["counts"] == {
        "queries": 2,
        "products": 2,
        "pairs": 2,
        "runs": 1,
        "labels": 1,
        "gold_pairs": 1,
    }
    assert 'hx-trigger="input changed delay:300ms"' in content


@pytest.mark.parametrize("page", ["project_detail", "run_detail", "product_image"])
def test_it_answers_404_for_objects_of_a_project_the_user_is_not_in(member_client, world, page):
    urls = {
        "project_detail": reverse("project_detail", args=[world["other"].id]),
        "run_detail": reverse("run_detail", args=[world["other"].id, world["other_run"].id]),
        "product_image": reverse("product_image", args=[world["other_image"].id]),
    }

    assert member_client.get(urls[page]).status_code == 404


def test_it_answers_404_for_a_run_under_the_wrong_project(member_client, world):
    # The member's project id with the foreign project's run id must not leak the run.
    url = reverse("run_detail", args=[world["project"].id, world["other_run"].id])

    assert member_client.get(url).status_code == 404


def test_it_answers_404_to_a_logged_in_non_member(client, outsider, world):
    client.force_login(outsider)

    assert client.get(reverse("project_detail", args=[world["project"].id])).status_code == 404
    assert client.get(reverse("run_detail", args=[world["project"].id, world["run"].id])).status_code == 404
    assert client.get(reverse("product_image", args=[world["image"].id])).status_code == 404


def test_it_returns_only_the_filtered_query_table_to_htmx(member_client, world):
    url = reverse("project_detail", args=[world["project"].id])

    response = member_client.get(url, {"q": "boots"}, **HTMX)

    assert response.status_code == 200
    content = response.content.decode()
    assert "<html" not in content
    assert content.lstrip().startswith('<div id="query-table">')
    assert "winter boots" in content
    assert "red dress" not in content
    assert "bm25-baseline" not in content
    assert "HX-Request" in response["Vary"]


def test_it_filters_the_full_page_without_htmx(member_client, world):
    url = reverse("project_detail", args=[world["project"].id])

    response = member_client.get(url, {"q": "red"})

    content = response.content.decode()
    assert "<html" in content
    assert "red dress" in content
    assert "winter boots" not in content


def test_it_paginates_queries_by_fifty_ordered_by_traffic(member_client, world):
    project = world["project"]
    Query.objects.bulk_create(
        [Query(project=project, external_id=f"bulk{i:03}", text=f"bulk query {i}", traffic=i) for i in range(60)]
    )
    url = reverse("project_detail", args=[project.id])

    first = member_client.get(url, **HTMX)
    second = member_client.get(url, {"page": 2}, **HTMX)

    first_page = list(first.context_data["queries"])
    assert len(first_page) == 50
    assert [q.text for q in first_page[:3]] == ["red dress", "winter boots", "bulk query 59"]
    assert len(list(second.context_data["queries"])) == 12
    assert b"page=2" in first.content


def test_it_escapes_query_text_produced_by_imports(member_client, world):
    Query.objects.create(project=world["project"], external_id="evil", text="<script>alert(1)</script>")

    response = member_client.get(reverse("project_detail", args=[world["project"].id]), {"q": "script"}, **HTMX)

    assert b"<script>alert(1)</script>" not in response.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in response.content


def test_it_shows_run_results_with_thumbnail_and_gold_name(member_client, world):
    response = member_client.get(reverse("run_detail", args=[world["project"].id, world["run"].id]))

    assert response.status_code == 200
    content = response.content.decode()
    assert "Scarlet midi dress" in content and "Acme" in content
    assert "highly relevant" in content
    assert reverse("product_image", args=[world["image"].id]) in content
    queries = list(response.context["queries"])
    assert [q.text for q in queries] == ["red dress", "winter boots"]
    assert queries[1].top_results[0].gold_shown is None


def test_it_paginates_run_queries_by_twenty(member_client, world):
    project, run, dress = world["project"], world["run"], world["dress"]
    for i in range(25):
        query = Query.objects.create(project=project, external_id=f"r{i}", text=f"run query {i}", traffic=1)
        pair = Pair.objects.create(project=project, query=query, product=dress)
        SearchResult.objects.create(run=run, query=query, product=dress, pair=pair, rank=1)
    url = reverse("run_detail", args=[project.id, run.id])

    assert len(list(member_client.get(url).context["queries"])) == 20
    assert len(list(member_client.get(url, {"page": 2}).context["queries"])) == 7


def test_it_serves_a_stored_image_to_a_member(member_client, world):
    response = member_client.get(reverse("product_image", args=[world["image"].id]))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == png_bytes()
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == "inline"
    assert response["Cache-Control"] == "private, max-age=3600"


@pytest.mark.parametrize("stored_name", ["../secret.png", "../../secret.png", "/tmp/qrelay-secret.png"])
def test_it_refuses_image_paths_outside_media_root(member_client, world, stored_name):
    image = world["image"]
    # The target exists and has an image extension: only the traversal guard stops it.
    outside = (settings.MEDIA_ROOT / stored_name).resolve()
    outside.parent.mkdir(parents=True, exist_ok=True)
    outside.write_bytes(b"secret")
    ProductImage.objects.filter(pk=image.pk).update(stored_name=stored_name)
    try:
        response = member_client.get(reverse("product_image", args=[image.id]))
    finally:
        outside.unlink()

    assert response.status_code == 404


def test_it_refuses_a_symlink_leading_out_of_media_root(member_client, world, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"secret")
    (settings.MEDIA_ROOT / "link.png").symlink_to(secret)
    ProductImage.objects.filter(pk=world["image"].pk).update(stored_name="link.png")

    assert member_client.get(reverse("product_image", args=[world["image"].id])).status_code == 404


@pytest.mark.parametrize("stored_name", ["ab/page.svg", "ab/page.html", "ab/noext"])
def test_it_refuses_files_that_are_not_known_image_types(member_client, world, stored_name):
    image = store_image(world["dress"], stored_name, b"<svg onload=alert(1)>", position=5)

    assert member_client.get(reverse("product_image", args=[image.id])).status_code == 404


def test_it_refuses_remote_and_missing_images(member_client, world):
    remote = ProductImage.objects.create(
        product=world["dress"], position=1, source="https://shop.example/x.jpg", status="remote"
    )
    missing = ProductImage.objects.create(
        product=world["dress"], position=2, source="x", status="stored", stored_name="zz/gone.jpg", sha256="b" * 64
    )

    assert member_client.get(reverse("product_image", args=[remote.id])).status_code == 404
    assert member_client.get(reverse("product_image", args=[missing.id])).status_code == 404


def test_it_logs_out_with_a_post(member_client, world):
    response = member_client.post("/accounts/logout/")

    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert member_client.get(reverse("home")).status_code == 302


def test_it_puts_the_csrf_token_and_a_post_logout_form_on_every_page(member, world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)

    page = client.get(reverse("home")).content.decode()
    rejected = client.post("/accounts/logout/")

    token = client.cookies["csrftoken"].value
    assert 'hx-headers=\'{"X-CSRFToken": "' in page
    assert f'action="{reverse("logout")}"' in page and 'method="post"' in page
    assert rejected.status_code == 403
    assert client.post("/accounts/logout/", HTTP_X_CSRFTOKEN=token).status_code == 302


def test_it_counts_results_and_distinct_queries_per_run(world):
    run = world["run"]
    extra = Product.objects.create(project=world["project"], external_id="p3", title="Other", content_hash="h")
    red = Query.objects.get(project=world["project"], external_id="q1")
    pair = Pair.objects.create(project=world["project"], query=red, product=extra)
    SearchResult.objects.create(run=run, query=red, product=extra, pair=pair, rank=2)

    runs = list(selectors.runs_with_counts(world["project"]))

    assert [(r.name, r.result_count, r.query_count) for r in runs] == [("bm25-baseline", 3, 2)]
