"""The review card shows a query's reference images and conditions in order (MERIT), next
to the product: the images come through the real query import and are served by URL."""

import io
import json
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image

from annotation.importers import queries_import
from annotation.models import Pair, Product, Query, QueryImage
from reviews.models import ReviewTask
from reviews.services.route import route_pairs


def _png(colour) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (12, 12), colour).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def card(project, policy, judge, member, tmp_path):
    """An annotator's client and the open task of a pair whose query has two reference
    images (one stored, one remote) and interleaved conditions."""
    (tmp_path / "pattern.png").write_bytes(_png((200, 0, 0)))
    row = {
        "query_id": "m1",
        "query": "a scarf with this pattern in this colour",
        "locale": "en-GB",
        "image": ["pattern.png", "https://cdn.example/colour.png"],
        "conditions": [{"text": "the pattern of"}, {"image": 0}, {"text": "in the colour of"}, {"image": 1}],
    }
    (tmp_path / "q.jsonl").write_text(json.dumps(row) + "\n")
    queries_import(project=project, path=tmp_path / "q.jsonl")
    query = Query.objects.get(external_id="m1")
    product = Product.objects.create(project=project, external_id="scarf", title="Red scarf", content_hash="0" * 64)
    pair = Pair.objects.create(project=project, query=query, product=product)
    judge(value=1, confidence=0.3, pair=pair)
    route_pairs(project=project, pair_ids=[pair.id])
    assert ReviewTask.objects.filter(pair=pair).exists()
    client = Client()
    client.force_login(member("ann"))
    return client, QueryImage.objects.get(query=query, position=0)


def test_the_card_shows_the_conditions_in_order_with_the_reference_images(project, card):
    client, stored = card

    content = client.get(reverse("reviews:review", args=[project.id]), HTTP_HX_REQUEST="true").content.decode()

    image_url = reverse("query_image", args=[stored.id])
    assert 'aria-label="The query\'s conditions, in order"' in content
    order = [content.index(s) for s in ("the pattern of", image_url, "in the colour of", "image 2 (not fetched yet)")]
    assert order == sorted(order)
    assert f'<img class="rv-image rv-ref-image" src="{image_url}"' in content
    # The card's image URL is one the annotator may load.
    assert client.get(image_url).status_code == 200


def test_a_card_of_a_plain_text_query_has_no_conditions_block(project, policy, judge, member):
    plain = judge(value=1, confidence=0.3, query_text="red dress")
    route_pairs(project=project, pair_ids=[plain.pair.id])
    client = Client()
    client.force_login(member("ann"))

    content = client.get(reverse("reviews:review", args=[project.id]), HTTP_HX_REQUEST="true").content.decode()

    assert "red dress" in content and "rv-ref" not in content


def test_reference_images_are_not_served_to_members_of_another_project(project, card, member):
    from annotation.services import project_create

    _, stored = card
    other = project_create(name="other-project")
    outsider = Client()
    outsider.force_login(member("otto", of=other))

    assert outsider.get(reverse("query_image", args=[stored.id])).status_code == 404
    assert Path(stored.stored_name).suffix == ".jpg"
