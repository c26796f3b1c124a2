"""Keyboard-only review on a phone (390×844) and a short laptop screen (1280×680): the
sticky label bar never covers the product image or the LLM's label (issue 14, must fix 4),
and the progress line follows submits and undos."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from annotation.models import Label, LabelSource, Membership, Role
from annotation.services import project_create
from tests.builders import review_queue

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-layout-123"


def box(page, selector: str) -> dict:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is shown"
    return found


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1280, 680)])
def test_keyboard_review_keeps_the_image_and_the_llm_label_clear_of_the_label_bar(
    live_server, browser, login, width, height
):
    project = project_create(name="fashion-layout")
    user = get_user_model().objects.create_user(username="kim", password=PASSWORD)
    Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
    review_queue(project, 3, images=True, rationale="Linen and blue as asked; the query's season is unclear. " * 3)
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        login(page, "kim", PASSWORD)
        page.goto(f"{live_server.url}{reverse('reviews:review', args=[project.id])}")

        # The first Tab reaches the skip link, which takes the focus past the top bar.
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.className") == "skip-link"
        page.keyboard.press("Enter")
        assert page.evaluate("() => document.activeElement.id") == "main"

        for step in range(3):
            page.locator("#review-card img.rv-image").first.wait_for()
            page.wait_for_function("() => [...document.images].every(image => image.complete)")
            bar, image, llm = box(page, ".rv-actions"), box(page, ".rv-image"), box(page, "[data-llm-label]")
            assert bar["y"] + bar["height"] <= height + 1, "the label bar is in view without scrolling"
            assert bar["height"] <= 0.2 * height, f"the label bar takes {bar['height']:.0f} of {height} px"
            assert image["y"] >= 0 and image["y"] + image["height"] <= bar["y"], (image, bar)
            if width > 900:  # side by side: the LLM's label is in view beside the image
                assert llm["y"] + llm["height"] <= bar["y"], (llm, bar)
            assert page.locator("[data-left]").inner_text() == str(3 - step)

            task_id = page.locator("#review-card").get_attribute("data-task")
            page.keyboard.press("1")
            page.wait_for_function("id => document.querySelector('#review-card').dataset.task !== id", arg=task_id)
            if step == 0:
                # Undo: the pair comes back with the earlier label shown, the count goes up again.
                assert page.locator("[data-left]").inner_text() == "2"
                page.keyboard.press("u")
                page.wait_for_function("id => document.querySelector('#review-card').dataset.task === id", arg=task_id)
                assert "irrelevant" in page.locator("[data-earlier]").inner_text()
                assert page.locator("[data-left]").inner_text() == "3"
                assert "Next pair" in page.locator("#rv-announce").inner_text(), "the new card is announced"
                page.keyboard.press("1")
                page.wait_for_function("id => document.querySelector('#review-card').dataset.task !== id", arg=task_id)

        assert "The queue is empty" in page.locator("#review-card").inner_text()
        assert page.locator("[data-empty-reason]").inner_text() == "Every pair routed to reviewers has its labels."
        labels = Label.objects.filter(user=user, source=LabelSource.HUMAN)
        assert labels.count() == 4 and set(labels.values_list("value", flat=True)) == {0}  # one undone and redone
    finally:
        context.close()
