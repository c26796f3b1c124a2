"""Label imports: ESCI flat files, TREC qrels, several raters, gold and its provenance."""

from pathlib import Path

import pytest

from annotation.importers import labels_import
from annotation.models import GoldProvenance, Label, LabelSource, Pair, Product, Query
from annotation.services import project_create

pytestmark = pytest.mark.django_db

PROJECT = "fashion-DE"

ESCI = """query_id,query,product_id,product_title,esci_label
1,revent 80 cfm,B000MOO21W,Panasonic FV-20VQ3,E
1,revent 80 cfm,B07X3Y6B1V,Aero Pure AP80,exact
1,revent 80 cfm,B07WDM7MQQ,Delta Breez,S
2,bathroom fan without light,B000MOO21W,Panasonic FV-20VQ3,Irrelevant
2,bathroom fan without light,B075ZBF9HG,Broan 688,C
2,bathroom fan without light,B01N0FUY6S,Fan cover,0
3,!qscreen fence,B07DBL1BS6,Amgo 6' x 50',substitute
3,!qscreen fence,B07X3Y6B1V,Aero Pure AP80,i
"""

ESCI_GOLD = {
    ("1", "B000MOO21W"): 3,
    ("1", "B07X3Y6B1V"): 3,
    ("1", "B07WDM7MQQ"): 2,
    ("2", "B000MOO21W"): 0,
    ("2", "B075ZBF9HG"): 1,
    ("2", "B01N0FUY6S"): 0,
    ("3", "B07DBL1BS6"): 2,
    ("3", "B07X3Y6B1V"): 0,
}


def gold_by_key(project=None) -> dict[tuple[str, str], tuple]:
    pairs = Pair.objects.all() if project is None else Pair.objects.filter(project=project)
    return {
        (q, p): (value, provenance)
        for q, p, value, provenance in pairs.values_list(
            "query__external_id", "product__external_id", "gold_value", "gold_provenance"
        )
    }


def labels_by_key() -> list[tuple]:
    return sorted(
        Label.objects.values_list("pair__query__external_id", "pair__product__external_id", "rater", "value", "source")
    )


@pytest.fixture
def catalogue(default_project, command, write):
    command("import_queries", write("queries.csv", "query_id,query\nq1,red dress\nq2,winter boots\n"), project=PROJECT)
    command(
        "import_products",
        write("products.csv", "product_id,title\np1,Red dress\np2,Boots\np3,Scarf\n"),
        project=PROJECT,
    )
    return default_project


# --- ESCI ---------------------------------------------------------------------------


def test_it_loads_an_esci_flat_file_with_gold(esci_project, write, command, counts):
    out = command("import_labels", write("esci.csv", ESCI), project="esci-us", rater="amazon", gold=True)

    assert (
        "esci.csv: 8 row(s) read; labels added 8; unchanged 0; new pairs 8; queries created 3; products created 6; "
        "gold set 8; gold unchanged 0; gold kept (human/adjudicated) 0"
    ) in out
    assert counts() == {
        "Query": 3,
        "Product": 6,
        "ProductImage": 0,
        "Pair": 8,
        "Label": 8,
        "SearchRun": 0,
        "SearchResult": 0,
    }
    assert dict(Query.objects.values_list("external_id", "text")) == {
        "1": "revent 80 cfm",
        "2": "bathroom fan without light",
        "3": "!qscreen fence",
    }
    assert Product.objects.get(external_id="B07DBL1BS6").title == "Amgo 6' x 50'"
    assert gold_by_key() == {key: (value, GoldProvenance.IMPORTED) for key, value in ESCI_GOLD.items()}
    assert labels_by_key() == sorted((q, p, "amazon", value, LabelSource.HUMAN) for (q, p), value in ESCI_GOLD.items())
    assert Pair.objects.exclude(gold_updated_at=None).count() == 8
    assert set(Pair.objects.values_list("gold_policy_version", flat=True)) == {None}


def test_a_second_esci_import_adds_nothing(esci_project, write, command, snapshot):
    path = write("esci.csv", ESCI)
    command("import_labels", path, project="esci-us", rater="amazon", gold=True)
    before = snapshot()

    out = command("import_labels", path, project="esci-us", rater="amazon", gold=True)

    assert (
        "labels added 0; unchanged 8; new pairs 0; queries created 0; products created 0; gold set 0; gold unchanged 8"
        in out
    )
    assert snapshot() == before


@pytest.mark.parametrize(
    ("given", "value"),
    [
        ("Exact", 3),
        ("exact", 3),
        ("EXACT", 3),
        (" Substitute ", 2),
        ("complement", 1),
        ("Irrelevant", 0),
        ("E", 3),
        ("s", 2),
        ("C", 1),
        ("i", 0),
        ("3", 3),
        ("0", 0),
        ("2.0", 2),
    ],
)
def test_esci_labels_resolve_by_name_code_and_value(esci_project, write, given, value):
    path = Path(write("labels.csv", f"query_id,query,product_id,product_title,label\n1,fan,B1,Fan,{given}\n"))

    labels_import(project=esci_project, path=path, rater="amazon")

    assert Label.objects.get().value == value


@pytest.mark.parametrize(
    ("given", "value"), [("Highly Relevant", 2), ("acceptable substitute", 1), ("h", 2), ("A", 1), ("1", 1)]
)
def test_default_scale_labels_resolve_by_name_code_and_value(catalogue, write, given, value):
    path = Path(write("labels.csv", f"query_id,product_id,label\nq1,p1,{given}\n"))

    labels_import(project=catalogue, path=path, rater="ann")

    assert Label.objects.get().value == value


def test_an_ambiguous_one_letter_code_is_not_guessed(db, write, command_error):
    project_create(name="shops", labels="Bad:0,Borderline:1,Good:2")
    path = write("labels.csv", "query_id,query,product_id,product_title,label\nq1,x,p1,y,B\n")

    message = command_error("import_labels", path, project="shops", rater="ann")

    assert (
        "labels.csv, line 2, column 'label': unknown label 'B'; the project's scale is: Bad (0), Borderline (1), Good (2)"
        in message
    )
    assert Label.objects.count() == 0


# --- TREC qrels ---------------------------------------------------------------------


def test_it_imports_trec_qrels_with_values_by_number(catalogue, write, command):
    out = command(
        "import_labels", write("judged.qrels", "q1 0 p1 2\nq1 0 p2 0\nq2 0 p1 1\n"), project=PROJECT, rater="trec"
    )

    assert "judged.qrels: 3 row(s) read; labels added 3; unchanged 0; new pairs 3" in out
    assert labels_by_key() == [
        ("q1", "p1", "trec", 2, "human"),
        ("q1", "p2", "trec", 0, "human"),
        ("q2", "p1", "trec", 1, "human"),
    ]
    assert set(Pair.objects.values_list("gold_value", flat=True)) == {None}


def test_it_imports_qrels_from_a_txt_file_and_as_gold(catalogue, write, command):
    command("import_labels", write("qrels.txt", "q1 0 p1 2\nq2 0 p3 0\n"), project=PROJECT, rater="trec", gold=True)

    assert gold_by_key() == {("q1", "p1"): (2, "imported"), ("q2", "p3"): (0, "imported")}


# --- raters -------------------------------------------------------------------------


def test_a_rater_column_gives_several_labels_per_pair(catalogue, write, command):
    path = write(
        "labels.csv",
        "query_id,product_id,label,annotator\nq1,p1,2,ann\nq1,p1,1,bob\nq1,p1,2,cem\nq2,p2,0,ann\n",
    )

    out = command("import_labels", path, project=PROJECT)

    assert "labels added 4; unchanged 0; new pairs 2" in out
    assert labels_by_key() == [
        ("q1", "p1", "ann", 2, "human"),
        ("q1", "p1", "bob", 1, "human"),
        ("q1", "p1", "cem", 2, "human"),
        ("q2", "p2", "ann", 0, "human"),
    ]
    assert Pair.objects.count() == 2


def test_the_rater_column_wins_over_the_rater_option_where_it_is_filled(catalogue, write, command):
    command(
        "import_labels",
        write("labels.csv", "query_id,product_id,label,rater\nq1,p1,2,ann\nq1,p2,1,\n"),
        project=PROJECT,
        rater="fallback",
    )

    assert labels_by_key() == [("q1", "p1", "ann", 2, "human"), ("q1", "p2", "fallback", 1, "human")]


def test_a_changed_label_is_appended_and_the_old_one_kept(catalogue, write, command):
    command(
        "import_labels", write("a.csv", "query_id,product_id,label\nq1,p1,2\nq1,p2,1\n"), project=PROJECT, rater="ann"
    )

    out = command(
        "import_labels", write("b.csv", "query_id,product_id,label\nq1,p1,0\nq1,p2,1\n"), project=PROJECT, rater="ann"
    )

    assert "labels added 1; unchanged 1" in out
    assert list(
        Label.objects.filter(pair__product__external_id="p1").order_by("id").values_list("value", flat=True)
    ) == [2, 0]


def test_llm_labels_are_kept_apart_from_human_ones(catalogue, write, command):
    path = write("labels.csv", "query_id,product_id,label\nq1,p1,2\n")
    command("import_labels", path, project=PROJECT, rater="gpt-x", source="llm")

    out = command("import_labels", path, project=PROJECT, rater="gpt-x")

    assert "labels added 1" in out
    assert labels_by_key() == [("q1", "p1", "gpt-x", 2, "human"), ("q1", "p1", "gpt-x", 2, "llm")]


def test_labels_reuse_the_pairs_of_runs(catalogue, write, command):
    command("import_run", write("bm25.run", "q1 Q0 p1 1 2 x\nq1 Q0 p2 2 1 x\n"), project=PROJECT, run="bm25")

    out = command("import_labels", write("l.qrels", "q1 0 p2 1\n"), project=PROJECT, rater="trec")

    assert "new pairs 0" in out
    assert Pair.objects.count() == 2
    assert Label.objects.get().pair.results.get().rank == 2


# --- gold ---------------------------------------------------------------------------


def test_gold_agreed_by_several_raters_is_set_once(catalogue, write, command):
    path = write("labels.csv", "query_id,product_id,label,rater\nq1,p1,2,ann\nq1,p1,2,bob\n")

    out = command("import_labels", path, project=PROJECT, gold=True)

    assert "labels added 2" in out
    assert "gold set 1" in out
    assert gold_by_key() == {("q1", "p1"): (2, "imported")}


def test_a_later_gold_import_replaces_imported_gold(catalogue, write, command):
    command(
        "import_labels",
        write("a.csv", "query_id,product_id,label\nq1,p1,2\nq1,p2,1\n"),
        project=PROJECT,
        rater="ann",
        gold=True,
    )

    out = command(
        "import_labels",
        write("b.csv", "query_id,product_id,label\nq1,p1,0\nq1,p2,1\n"),
        project=PROJECT,
        rater="bob",
        gold=True,
    )

    assert "gold set 1; gold unchanged 1; gold kept (human/adjudicated) 0" in out
    assert gold_by_key() == {("q1", "p1"): (0, "imported"), ("q1", "p2"): (1, "imported")}


@pytest.mark.parametrize("provenance", [GoldProvenance.HUMAN, GoldProvenance.ADJUDICATED])
def test_gold_set_by_people_is_kept_when_a_gold_import_disagrees(catalogue, write, command, provenance):
    command("import_run", write("bm25.run", "q1 Q0 p1 1 2 x\nq1 Q0 p2 2 1 x\n"), project=PROJECT, run="bm25")
    Pair.objects.filter(product__external_id="p1").update(
        gold_value=1, gold_provenance=provenance, gold_policy_version=3
    )
    reviewed = Pair.objects.filter(product__external_id="p1").values().get()

    out = command(
        "import_labels",
        write("gold.csv", "query_id,product_id,label\nq1,p1,2\nq1,p2,0\n"),
        project=PROJECT,
        rater="vendor",
        gold=True,
    )

    assert "labels added 2" in out
    assert "gold set 1; gold unchanged 0; gold kept (human/adjudicated) 1" in out
    assert Pair.objects.filter(product__external_id="p1").values().get() == reviewed
    assert gold_by_key() == {("q1", "p1"): (1, provenance), ("q1", "p2"): (0, "imported")}
    assert Label.objects.filter(pair__product__external_id="p1", rater="vendor").get().value == 2


def test_labels_without_gold_leave_gold_alone(catalogue, write, command):
    command(
        "import_labels", write("a.csv", "query_id,product_id,label\nq1,p1,2\n"), project=PROJECT, rater="ann", gold=True
    )

    command("import_labels", write("b.csv", "query_id,product_id,label\nq1,p1,0\n"), project=PROJECT, rater="bob")

    assert gold_by_key() == {("q1", "p1"): (2, "imported")}


# --- real ESCI files: every column, products in several locales -------------------------

ESCI_FULL = """example_id,query,query_id,product_id,product_locale,esci_label,small_version,large_version,product_title,product_description,product_bullet_point,product_brand,product_color,product_text,language
11,jeans for men,7,B01,us,E,1,1,"Levi's 501 Original Jeans","<b>Classic</b> straight fit<br/>","Button fly
100% cotton",Levi's,Dark Stonewash,ignored,en
12,jeans for men,7,B01,es,E,1,1,"Vaqueros Levi's 501 para hombre",,,Levi's,,ignored,es
13,jeans for men,7,B02,us,S,1,1,"Wrangler Relaxed Jeans",,,Wrangler,Blue,ignored,en
"""


def test_a_full_esci_file_imports_as_it_is_with_products_seen_in_several_locales(esci_project, write, command):
    out = command("import_labels", write("esci.csv", ESCI_FULL), project="esci-us", rater="esci")

    assert "3 row(s) read; labels added 2" in out
    assert "1 row(s) repeat a query_id/product_id/rater with other product text" in out
    levis = Product.objects.get(external_id="B01")
    assert levis.title == "Levi's 501 Original Jeans" and levis.brand == "Levi's"
    assert levis.description == "Classic straight fit\nButton fly\n100% cotton"  # HTML gone
    assert levis.attributes == {
        "colour": "Dark Stonewash",
        "titles": {"us": "Levi's 501 Original Jeans", "es": "Vaqueros Levi's 501 para hombre"},
    }
    assert Product.objects.get(external_id="B02").attributes == {"colour": "Blue"}
    assert Query.objects.get(external_id="7").locale == "us"


def test_the_same_pair_with_another_label_is_an_error_naming_the_column_and_both_values(
    esci_project, write, command_error, snapshot
):
    conflicting = ESCI_FULL.replace("12,jeans for men,7,B01,es,E,", "12,jeans for men,7,B01,es,S,")

    message = command_error("import_labels", write("esci.csv", conflicting), project="esci-us", rater="esci")

    # The first record spans lines 2-3 (its bullet points hold a line break): lines are where records start.
    assert (
        "esci.csv, line 4, column 'label': conflicts with line 2: same query_id/product_id/rater 7/B01/esci" in message
    )
    assert "with a different label 3 there, 2 here" in message
    assert not Label.objects.exists()
