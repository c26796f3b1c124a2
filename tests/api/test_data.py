"""Reading projects, queries, products, pairs and labels: shapes, filters, pagination
and clear 400s for bad query parameters."""

import pytest

from annotation.models import Query, QueryImage

pytestmark = pytest.mark.django_db


def url(world, tail: str) -> str:
    return f"/api/projects/{world['project'].id}/{tail}"


def test_the_project_shows_its_scale_counts_and_the_callers_role(lead_api, world):
    data = lead_api.get(url(world, "")).json()

    assert (data["name"], data["role"], data["scale_name"]) == ("fashion-DE", "lead", "default")
    assert [(level["value"], level["name"]) for level in data["scale"]] == [
        (0, "irrelevant"),
        (1, "acceptable substitute"),
        (2, "highly relevant"),
    ]
    assert data["counts"] == {"queries": 2, "products": 3, "pairs": 3, "runs": 1, "labels": 4, "gold_pairs": 2}


def test_queries_filter_by_search_locale_and_tag(lead_api, world):
    def ids(query: str) -> list[str]:
        response = lead_api.get(url(world, f"queries/{query}"))
        assert response.status_code == 200
        return [q["external_id"] for q in response.json()["results"]]

    assert ids("") == ["q1", "q2"]  # heavier traffic first
    assert ids("?search=DRESS") == ["q1"]
    assert ids("?search=q2") == ["q2"]
    assert ids("?locale=en-GB") == ["q1"]
    assert ids("?locale=") == ["q2"]
    assert ids("?tag=style-sensitive") == ["q1"]
    assert ids("?tag=brand") == []


def test_queries_show_their_conditions_and_reference_images(lead_api, world):
    query = Query.objects.get(project=world["project"], external_id="q1")
    query.conditions = [{"text": "the pattern of"}, {"image": 0}, {"text": "in the colour of"}, {"image": 1}]
    query.save(update_fields=["conditions"])
    stored = QueryImage.objects.create(
        query=query, position=0, source="pattern.jpg", status="stored", stored_name="q/a.jpg", sha256="a" * 64
    )
    QueryImage.objects.create(query=query, position=1, source="https://example.com/c.jpg", status="remote")

    listed = {q["external_id"]: q for q in lead_api.get(url(world, "queries/")).json()["results"]}
    detail = lead_api.get(url(world, f"queries/{query.id}/")).json()

    for shown in (listed["q1"], detail):
        assert shown["conditions"] == query.conditions
        assert [(i["position"], i["status"], i["url"]) for i in shown["images"]] == [
            (0, "stored", f"/images/query/{stored.id}/"),
            (1, "remote", None),  # not served until fetched
        ]
    assert (listed["q2"]["conditions"], listed["q2"]["images"]) == ([], [])  # a plain text query


def test_products_filter_and_show_their_images(lead_api, world):
    data = lead_api.get(url(world, "products/?brand=acme")).json()

    assert [p["external_id"] for p in data["results"]] == ["p1"]
    image = data["results"][0]["images"][0]
    assert image["status"] == "stored"
    assert image["url"] == f"/images/{world['image'].id}/"
    shoes = lead_api.get(url(world, "products/?category=Shoes > Boots")).json()
    assert [p["external_id"] for p in shoes["results"]] == ["p3"]


def test_pairs_filter_by_gold_provenance_run_and_query(lead_api, world):
    pairs = world["pairs"]

    def ids(query: str) -> list[int]:
        response = lead_api.get(url(world, f"pairs/{query}"))
        assert response.status_code == 200, response.json()
        return [p["id"] for p in response.json()["results"]]

    assert ids("") == [p.id for p in pairs]
    assert ids("?has_gold=true") == [pairs[0].id, pairs[1].id]
    assert ids("?has_gold=false") == [pairs[2].id]
    assert ids("?provenance=llm-auto") == [pairs[1].id]
    assert ids(f"?run={world['run'].id}&query={pairs[0].query_id}") == [pairs[0].id, pairs[1].id]


def test_a_pair_shows_its_gold_and_every_label(lead_api, world):
    data = lead_api.get(url(world, f"pairs/{world['pairs'][0].id}/")).json()

    assert (data["gold_value"], data["gold_name"], data["gold_provenance"]) == (2, "highly relevant", "human")
    assert [(label["source"], label["rater"], label["value"]) for label in data["labels"]] == [
        ("llm", "gpt-x", 2),
        ("human", "ann", 2),
    ]


def test_labels_filter_by_source_rater_and_pair(lead_api, world):
    def raters(query: str) -> list[tuple]:
        return [
            (label["source"], label["value"]) for label in lead_api.get(url(world, f"labels/{query}")).json()["results"]
        ]

    assert raters("?source=human") == [("human", 2)]
    assert raters("?source=llm") == [("llm", 2), ("llm", 1), ("llm", 0)]
    assert raters("?rater=ann") == [("human", 2)]
    assert raters(f"?pair={world['pairs'][1].id}") == [("llm", 1)]


def test_lists_are_paginated_with_a_page_size_of_at_most_1000(lead_api, world):
    first = lead_api.get(url(world, "pairs/?page_size=2")).json()
    second = lead_api.get(url(world, "pairs/?page_size=2&page=2")).json()
    beyond = lead_api.get(url(world, "pairs/?page_size=2&page=3"))

    assert first["count"] == 3 and len(first["results"]) == 2
    assert first["next"].endswith("page=2&page_size=2")
    assert len(second["results"]) == 1 and second["next"] is None
    assert {p["id"] for p in first["results"] + second["results"]} == {p.id for p in world["pairs"]}
    assert beyond.status_code == 404


def test_the_default_page_holds_100(lead_api, world):
    project = world["project"]
    Query.objects.bulk_create(Query(project=project, external_id=f"bulk{i}", text=f"t{i}") for i in range(150))

    data = lead_api.get(url(world, "queries/")).json()

    assert data["count"] == 152 and len(data["results"]) == 100


@pytest.mark.parametrize(
    ("tail", "field", "message"),
    [
        ("pairs/?has_gold=perhaps", "has_gold", "Must be a valid boolean."),
        ("pairs/?provenance=robot", "provenance", '"robot" is not a valid choice.'),
        ("pairs/?run=abc", "run", "A valid integer is required."),
        ("pairs/?run=0", "run", "Ensure this value is greater than or equal to 1."),
        (
            "pairs/?query=99999999999999999999",
            "query",
            "Ensure this value is less than or equal to 9223372036854775807.",
        ),
        ("pairs/?product=424242", "product", "No product 424242 in this project."),
        ("labels/?source=robot", "source", '"robot" is not a valid choice.'),
        ("queries/?search=" + "x" * 201, "search", "Ensure this field has no more than 200 characters."),
    ],
)
def test_bad_query_parameters_are_400_naming_the_parameter(lead_api, world, tail, field, message):
    response = lead_api.get(url(world, tail))

    assert response.status_code == 400
    assert response.json() == {field: [message]}


def test_unknown_query_parameters_are_ignored_not_used_as_filters(lead_api, world):
    response = lead_api.get(url(world, "pairs/?gold_value=2&project__name=electronics-FR"))

    assert response.status_code == 200
    assert response.json()["count"] == 3


# --- annotators label blind: other raters' labels are for leads -----------------------


def test_annotators_see_a_pair_without_its_labels(annotator_api, world):
    data = annotator_api.get(url(world, f"pairs/{world['pairs'][2].id}/")).json()

    assert data["id"] == world["pairs"][2].id and data["labels"] == []


def test_annotators_may_not_list_or_export_labels(annotator_api, lead_api, world):
    assert annotator_api.get(url(world, "labels/")).status_code == 403
    assert annotator_api.get(url(world, "labels/?source=llm")).status_code == 403
    assert annotator_api.get(url(world, "exports/labels/")).status_code == 403
    assert lead_api.get(url(world, "labels/")).status_code == 200
