"""config/session_problems.py: an htmx request whose session ended, or whose CSRF token
went stale, hears so in a fragment whose login link returns to the page it came from."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from annotation.models import Membership, Role
from annotation.services import project_create

pytestmark = pytest.mark.django_db

PAGE = "http://testserver/projects/7/review/next/?reason=low-confidence"


@pytest.fixture
def project():
    return project_create(name="fashion-session")


def submit_url(project) -> str:
    return reverse("reviews:submit", args=[project.id, 1])


def test_an_htmx_post_without_a_session_gets_a_401_fragment_that_returns_to_its_page(client, project):
    response = client.post(submit_url(project), {"value": 1}, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=PAGE)

    html = response.content.decode()
    assert response.status_code == 401
    assert response["X-Qrelay-Session"] == "expired" and response["HX-Reswap"] == "innerHTML"
    assert "Your session ended — log in again" in html
    assert 'href="/accounts/login/?next=%2Fprojects%2F7%2Freview%2Fnext%2F%3Freason%3Dlow-confidence"' in html
    assert "<form" not in html, "no login form inside the card"


def test_the_return_page_is_never_another_site(client, project):
    response = client.post(
        submit_url(project), {"value": 1}, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="https://evil.example/x"
    )
    assert 'href="/accounts/login/?next=%2F"' in response.content.decode()


def test_a_plain_post_without_a_session_logs_in_back_to_the_form_page_not_the_post_url(client, project):
    response = client.post(submit_url(project), {"value": 1}, HTTP_REFERER=PAGE)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fprojects%2F7%2Freview%2Fnext%2F%3Freason%3Dlow-confidence"


def test_a_get_without_a_session_keeps_djangos_login_redirect(client, project):
    url = reverse("reviews:review", args=[project.id])
    response = client.get(url)
    assert response.status_code == 302 and response["Location"] == f"/accounts/login/?next={url}"


def test_logout_still_redirects_to_the_plain_login_page(client, project):
    user = get_user_model().objects.create_user(username="kim")
    client.force_login(user)
    response = client.post(reverse("logout"))
    assert response["Location"] == reverse("login")


def test_a_stale_csrf_token_gets_a_403_fragment_for_htmx_and_a_page_otherwise(project):
    user = get_user_model().objects.create_user(username="kim")
    Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(reverse("reviews:review", args=[project.id]))  # sets the CSRF cookie

    fragment = client.post(
        submit_url(project),
        {"value": 1},
        HTTP_HX_REQUEST="true",
        HTTP_X_CSRFTOKEN="stale" * 8,
        HTTP_HX_CURRENT_URL=PAGE,
    )
    page = client.post(submit_url(project), {"value": 1}, HTTP_REFERER=PAGE)

    assert fragment.status_code == 403 and fragment["X-Qrelay-Session"] == "csrf"
    assert "Your session changed" in fragment.content.decode()
    assert 'href="/projects/7/review/next/?reason=low-confidence"' in fragment.content.decode()
    assert page.status_code == 403 and "X-Qrelay-Session" not in page
    assert "Your session changed" in page.content.decode() and "<h1" in page.content.decode()


def test_the_404_page_is_styled_and_says_what_happened(client, project):
    user = get_user_model().objects.create_user(username="kim")
    client.force_login(user)
    response = client.get(reverse("project_detail", args=[project.id]))  # not a member
    html = response.content.decode()
    assert response.status_code == 404
    assert "Nothing here" in html and "favicon.svg" in html and 'class="skip-link"' in html
