import pytest
from django.contrib import admin
from django.urls import reverse

from annotation.models import (
    Label,
    Membership,
    MetricSnapshot,
    Pair,
    Product,
    ProductImage,
    Project,
    Query,
    RepeatSchedule,
    ScaleLevel,
    SearchConnector,
    SearchResult,
    SearchRun,
)

pytestmark = pytest.mark.django_db

ANNOTATION_MODELS = [
    Project,
    Membership,
    ScaleLevel,
    Query,
    Product,
    ProductImage,
    SearchRun,
    SearchResult,
    Pair,
    Label,
    SearchConnector,
    RepeatSchedule,
    MetricSnapshot,
]


@pytest.fixture
def data(admin_user):
    project = Project.objects.create(name="fashion-DE")
    ScaleLevel.objects.bulk_create(
        [ScaleLevel(project=project, value=v, name=n, gain=v) for v, n in [(0, "bad"), (1, "ok"), (2, "good")]]
    )
    Membership.objects.create(project=project, user=admin_user, role="lead")
    run = SearchRun.objects.create(project=project, name="baseline")
    labels = []
    for i in range(3):
        query = Query.objects.create(project=project, external_id=f"q{i}", text=f"query {i}", traffic=i)
        product = Product.objects.create(project=project, external_id=f"p{i}", title=f"product {i}", content_hash="h")
        ProductImage.objects.create(product=product, position=0, source="https://x.example/a.jpg", status="remote")
        pair = Pair.objects.create(project=project, query=query, product=product)
        SearchResult.objects.create(run=run, query=query, product=product, pair=pair, rank=i + 1)
        labels.append(Label.objects.create(project=project, pair=pair, source="llm", rater="m", value=1))
    connector = SearchConnector.objects.create(project=project, name="es", base_url="https://search.example.com")
    schedule = RepeatSchedule.objects.create(connector=connector)
    MetricSnapshot.objects.create(schedule=schedule, run=run, k=10, label_source="any", status="done", ndcg=0.5)
    return {"project": project, "label": labels[0], "product": product}


def test_it_registers_every_annotation_model():
    registered = {model for model in admin.site._registry if model._meta.app_label == "annotation"}

    assert registered == set(ANNOTATION_MODELS)


@pytest.mark.parametrize("model", ANNOTATION_MODELS, ids=lambda m: m.__name__)
def test_it_loads_the_changelist_with_rows(admin_client, data, model, django_assert_max_num_queries):
    url = reverse(f"admin:annotation_{model._meta.model_name}_changelist")

    # Three rows per model: one lookup per row would push every changelist past this.
    with django_assert_max_num_queries(7):
        response = admin_client.get(url)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) > 0


def test_it_loads_the_project_page_with_scale_and_membership_inlines(admin_client, data):
    response = admin_client.get(reverse("admin:annotation_project_change", args=[data["project"].id]))

    assert response.status_code == 200
    content = response.content.decode()
    assert "levels-TOTAL_FORMS" in content
    assert "memberships-TOTAL_FORMS" in content


def test_it_loads_the_product_page_with_its_images(admin_client, data):
    response = admin_client.get(reverse("admin:annotation_product_change", args=[data["product"].id]))

    assert response.status_code == 200
    assert "images-TOTAL_FORMS" in response.content.decode()


def test_it_does_not_let_the_admin_change_or_delete_a_label(admin_client, data):
    label = data["label"]
    change_url = reverse("admin:annotation_label_change", args=[label.id])

    page = admin_client.get(change_url)
    posted = admin_client.post(change_url, {"value": 2, "rater": "someone-else"})
    deleted = admin_client.post(reverse("admin:annotation_label_delete", args=[label.id]), {"post": "yes"})

    label.refresh_from_db()
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert posted.status_code == 403
    assert deleted.status_code == 403
    assert (label.value, label.rater) == (1, "m")


def test_it_adds_a_label_through_the_admin(admin_client, admin_user, data):
    label = data["label"]

    response = admin_client.post(
        reverse("admin:annotation_label_add"),
        {"project": data["project"].id, "pair": label.pair_id, "source": "human", "rater": "lead", "value": 2},
    )

    assert response.status_code == 302
    assert Label.objects.filter(pair=label.pair, source="human", value=2).exists()


def test_it_rejects_an_admin_label_outside_the_scale_as_a_form_error(admin_client, data):
    label = data["label"]

    response = admin_client.post(
        reverse("admin:annotation_label_add"),
        {"project": data["project"].id, "pair": label.pair_id, "source": "human", "rater": "lead", "value": 9},
    )

    assert response.status_code == 200
    assert "not on the project" in response.content.decode()
    assert not Label.objects.filter(value=9).exists()
