"""Management commands: create_project, add_member, and the help of the import commands."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import load_command_class

from annotation.models import Membership, Project, ScaleLevel
from annotation.scales import ScaleError
from annotation.services import project_create

pytestmark = pytest.mark.django_db


def levels(name: str) -> list[tuple[int, str, float]]:
    return list(ScaleLevel.objects.filter(project__name=name).order_by("value").values_list("value", "name", "gain"))


# --- create_project -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("scale", "expected"),
    [
        ("default", [(0, "irrelevant", 0.0), (1, "acceptable substitute", 1.0), (2, "highly relevant", 2.0)]),
        ("esci", [(0, "Irrelevant", 0.0), (1, "Complement", 1.0), (2, "Substitute", 2.0), (3, "Exact", 3.0)]),
        ("rair", [(1, "L1", 0.0), (2, "L2", 1.0), (3, "L3", 2.0), (4, "L4", 3.0)]),
        ("binary", [(0, "irrelevant", 0.0), (1, "relevant", 1.0)]),
    ],
)
def test_it_creates_a_project_with_a_built_in_scale(command, scale, expected):
    out = command("create_project", "shop", scale=scale)

    project = Project.objects.get()
    assert (project.name, project.scale_name) == ("shop", scale)
    assert levels("shop") == expected
    assert f"created project 'shop' (id {project.id}) with scale {scale}:" in out


def test_it_creates_a_project_with_the_default_scale_when_none_is_given(command):
    out = command("create_project", "shop", "--description", "Fashion, Germany", "--locales", "de-DE, en-GB,")

    project = Project.objects.get()
    assert (project.scale_name, project.description, project.locales) == (
        "default",
        "Fashion, Germany",
        ["de-DE", "en-GB"],
    )
    assert "irrelevant=0 (gain 0), acceptable substitute=1 (gain 1), highly relevant=2 (gain 2)" in out


def test_it_creates_a_project_with_a_custom_scale(command):
    out = command("create_project", "shop", labels="Bad:0,Fair:1,Good:2,Excellent:3,Perfect:4")

    assert Project.objects.get().scale_name == "custom"
    assert levels("shop") == [
        (0, "Bad", 0.0),
        (1, "Fair", 1.0),
        (2, "Good", 2.0),
        (3, "Excellent", 3.0),
        (4, "Perfect", 4.0),
    ]
    assert "Bad=0 (gain 0), Fair=1 (gain 1), Good=2 (gain 2), Excellent=3 (gain 3), Perfect=4 (gain 4)" in out


def test_a_custom_scale_may_give_gains_and_come_in_any_order(command):
    command("create_project", "shop", "--labels", " Good : 2 : 7.5 , Bad:0 ,Okay:1:0.5,")

    assert levels("shop") == [(0, "Bad", 0.0), (1, "Okay", 0.5), (2, "Good", 7.5)]


def test_it_refuses_a_second_project_of_the_same_name(command, command_error):
    command("create_project", "shop")

    message = command_error("create_project", "shop", scale="esci")

    assert message == "a project named 'shop' exists already"
    assert Project.objects.get().scale_name == "default"
    assert ScaleLevel.objects.count() == 3


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ("Bad,Good", "expected NAME:VALUE[:GAIN], got 'Bad'"),
        ("Bad:0,:1", "expected NAME:VALUE[:GAIN], got ':1'"),
        ("Bad:0:1:2,Good:1", "expected NAME:VALUE[:GAIN], got 'Bad:0:1:2'"),
        ("Bad:x,Good:1", "value must be an integer and gain a number in 'Bad:x'"),
        ("Bad:0,Good:1:lots", "value must be an integer and gain a number in 'Good:1:lots'"),
        ("Bad:-1,Good:1", "label values must be >= 0, got -1 in 'Bad:-1'"),
        ("Good:1", "a scale needs at least two labels"),
        (" , ", "a scale needs at least two labels"),
        ("Bad:0,Good:0", "label values must be unique"),
        ("Good:0,good:1", "label names must be unique (case-insensitive)"),
    ],
)
def test_it_rejects_a_bad_custom_scale_and_creates_nothing(command_error, labels, expected):
    message = command_error("create_project", "shop", labels=labels)

    assert message == expected
    assert Project.objects.count() == 0
    assert ScaleLevel.objects.count() == 0


def test_it_rejects_an_unknown_scale_name(command_error):
    message = command_error("create_project", "shop", "--scale", "likert")

    assert "invalid choice: 'likert'" in message
    assert Project.objects.count() == 0


def test_it_rejects_a_scale_and_labels_together(command_error):
    message = command_error("create_project", "shop", "--scale", "esci", "--labels", "Bad:0,Good:1")

    assert "not allowed with argument" in message
    assert Project.objects.count() == 0


def test_the_service_rejects_a_blank_name_and_an_unknown_scale(db):
    with pytest.raises(ScaleError, match="a project needs a name"):
        project_create(name="  ")
    with pytest.raises(
        ScaleError, match="unknown scale 'likert'; choose one of default, esci, rair, binary or pass --labels"
    ):
        project_create(name="shop", scale="likert")
    assert Project.objects.count() == 0


# --- add_member ---------------------------------------------------------------------


def test_it_adds_an_existing_user_as_annotator_by_default(command, default_project, django_user_model):
    django_user_model.objects.create_user(username="ann", password="pw-ann-123")

    out = command("add_member", "ann", project="fashion-DE")

    assert "ann is annotator in fashion-DE" in out
    assert Membership.objects.values_list("project__name", "user__username", "role").get() == (
        "fashion-DE",
        "ann",
        "annotator",
    )


def test_it_changes_the_role_of_a_member_instead_of_adding_twice(command, default_project, django_user_model):
    django_user_model.objects.create_user(username="ann", password="pw-ann-123")
    command("add_member", "ann", project="fashion-DE")

    command("add_member", "ann", project=str(default_project.id), role="lead")

    assert Membership.objects.values_list("role", flat=True).get() == "lead"


def test_it_creates_a_user_with_create_and_password(command, default_project):
    command("add_member", "bob", "--create", "--password", "s3cret-pw", project="fashion-DE", role="admin")

    user = get_user_model().objects.get(username="bob")
    assert user.check_password("s3cret-pw")
    assert Membership.objects.get(user=user).role == "admin"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["ghost"], "no user 'ghost'; pass --create --password ... to make one"),
        (["ghost", "--create"], "--create needs --password"),
    ],
)
def test_it_refuses_a_missing_user_without_create_and_password(command_error, default_project, args, expected):
    message = command_error("add_member", *args, project="fashion-DE")

    assert message == expected
    assert not get_user_model().objects.exists()
    assert Membership.objects.count() == 0


def test_it_refuses_an_unknown_project_or_role(command_error, default_project, django_user_model):
    django_user_model.objects.create_user(username="ann", password="pw-ann-123")

    assert "no project 'nope' (projects: fashion-DE)" in command_error("add_member", "ann", project="nope")
    assert "invalid choice: 'boss'" in command_error("add_member", "ann", "--role", "boss", project="fashion-DE")
    assert Membership.objects.count() == 0


# --- help ---------------------------------------------------------------------------


def help_text(name: str) -> str:
    return load_command_class("annotation", name).create_parser("manage.py", name).format_help()


@pytest.mark.parametrize(
    ("name", "words"),
    [
        (
            "import_products",
            ["product_id", "title", "brand", "category", "description", "attributes", "image", "'|'", "--format"],
        ),
        ("import_queries", ["query_id", "query", "locale", "traffic", "qid", "--format"]),
        (
            "import_run",
            ["query_id", "product_id", "rank", "score", "product_title", "qid Q0 docno rank score tag", "--run"],
        ),
        (
            "import_labels",
            [
                "query_id",
                "product_id",
                "label",
                "rater",
                "esci_label",
                "qid iteration docno relevance",
                "--gold",
                "--rater",
            ],
        ),
    ],
)
def test_the_help_of_each_import_command_names_its_columns(name, words):
    text = help_text(name)

    missing = [word for word in words if word not in text]
    assert missing == []


def test_the_import_help_keeps_its_line_breaks(db):
    text = help_text("import_products")

    assert "\nColumns: product_id, title (required); brand, category, description, attributes (a JSON\n" in text


def test_the_create_project_help_lists_the_built_in_scales():
    text = help_text("create_project")

    for word in ["default", "esci", "rair", "binary", "--labels", "Bad:0,Fair:1,Good:2"]:
        assert word in text
