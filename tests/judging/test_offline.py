"""The offline judge: guideline extraction, judging, image description, vocabulary.

Pure Python: no database. The demo test judges the demo catalogue end to end."""

import csv
import io
import json
from collections import Counter

import pytest
from PIL import Image, ImageDraw

from annotation.demo_data import write_demo_files
from annotation.scales import BUILTIN_SCALES
from judging.contracts import (
    QUERY_TAGS,
    GuidelineDraft,
    LevelInfo,
    ProductContext,
    QueryContext,
    Requirement,
)
from judging.offline import (
    OFFLINE_MODEL,
    offline_describe,
    offline_guideline,
    offline_judge,
    vocabulary_from_products,
)
from judging.offline.text import normalise

SCALES = {name: [LevelInfo(level.value, level.name) for level in levels] for name, levels in BUILTIN_SCALES.items()}
DEFAULT = SCALES["default"]  # irrelevant 0, acceptable substitute 1, highly relevant 2
VOCABULARY = {"brands": ["nordvik", "kestrel sport", "alba & co"]}


def guideline(text: str, vocabulary: dict | None = None) -> GuidelineDraft:
    return offline_guideline(QueryContext(text=text, vocabulary=vocabulary or VOCABULARY))


def product(title: str, category: str = "", brand: str = "", description: str = "", **attributes) -> ProductContext:
    return ProductContext("p1", title, brand=brand, category=category, description=description, attributes=attributes)


def judge(query: str, item: ProductContext, levels=DEFAULT):
    return offline_judge(guideline=guideline(query), product=item, levels=levels)


RED_DRESS = product(
    "Maison Verel Silk Evening Dress – Red",
    "Clothing > Dresses",
    "Maison Verel",
    colour="red",
    gender="women",
    material="silk",
    style="elegant",
    size="M",
)
BLACK_DRESS = product(
    "Rivabella Velvet Evening Dress – Black",
    "Clothing > Dresses",
    "Rivabella",
    colour="black",
    gender="women",
    material="velvet",
    style="elegant",
    size="S",
)
BLACK_BOOTS = product(
    "Nordvik Leather Ankle Boots – Black",
    "Shoes > Boots",
    "Nordvik",
    colour="black",
    gender="women",
    material="leather",
    style="elegant",
    size="38",
)
WHITE_RUNNERS = product(
    "Kestrel Sport Mesh Running Shoes – White",
    "Shoes > Running Shoes",
    "Kestrel Sport",
    colour="white",
    gender="men",
    material="mesh",
    style="sporty",
    size="43",
)
BLUE_RUNNERS = product(
    "Kestrel Sport Mesh Running Shoes – Blue",
    "Shoes > Running Shoes",
    "Kestrel Sport",
    colour="blue",
    gender="women",
    material="mesh",
    style="sporty",
    size="38",
)


def test_the_model_name_marks_labels_as_the_offline_baseline():
    assert OFFLINE_MODEL == "offline-baseline-v2"


# --- guideline ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, requirements, tags",
    [
        ("sneakers", {("product_type", "sneakers", False)}, []),
        ("Stiefel", {("product_type", "boots", False)}, []),
        ("nordvik boots", {("brand", "nordvik", False), ("product_type", "boots", False)}, ["brand"]),
        # The brand wins over the style word "sport" inside it; the German compound splits.
        (
            "Kestrel Sport Laufschuhe",
            {("brand", "kestrel sport", False), ("product_type", "running shoes", False)},
            ["brand"],
        ),
        ("schwarze Stiefel", {("colour", "black", False), ("product_type", "boots", False)}, ["colour"]),
        (
            "running shoes not white",
            {("product_type", "running shoes", False), ("colour", "white", True)},
            ["negation", "colour"],
        ),
        ("Jacke ohne Kapuze", {("product_type", "jacket", False), ("feature", "hood", True)}, ["negation"]),
        ("handbag not leather", {("product_type", "handbag", False), ("material", "leather", True)}, ["negation"]),
        (
            "Sneaker nicht schwarz",
            {("product_type", "sneakers", False), ("colour", "black", True)},
            ["negation", "colour"],
        ),
        (
            "boots not black or brown",
            {("product_type", "boots", False), ("colour", "black", True), ("colour", "brown", True)},
            ["negation", "multi-attribute", "colour"],
        ),
        (
            "elegant evening dress",
            {("style", "elegant", False), ("product_type", "evening dress", False)},
            ["style-sensitive"],
        ),
        (
            "minimalistischer Rucksack",
            {("style", "minimalist", False), ("product_type", "backpack", False)},
            ["style-sensitive"],
        ),
        (
            "Vintage Lederjacke",
            {("style", "vintage", False), ("product_type", "leather jacket", False)},
            ["style-sensitive"],
        ),
        (
            "women's black leather ankle boots size 38",
            {
                ("gender", "women", False),
                ("colour", "black", False),
                ("material", "leather", False),
                ("product_type", "ankle boots", False),
                ("size", "38", False),
            },
            ["multi-attribute", "colour", "size", "gender"],
        ),
        (
            "Herren Winterstiefel braun Größe 43",
            {
                ("gender", "men", False),
                ("product_type", "winter boots", False),
                ("colour", "brown", False),
                ("size", "43", False),
            },
            ["multi-attribute", "colour", "size", "gender"],
        ),
        (
            "Kleid Damen unter 50 €",
            {("product_type", "dress", False), ("gender", "women", False), ("price", "under 50", False)},
            ["multi-attribute", "gender"],
        ),
        ("rain jacket with hood", {("product_type", "rain jacket", False), ("feature", "hood", False)}, []),
        # After a negation "heel" is the feature, not the product type "heels".
        (
            "leather boots without heel",
            {("product_type", "boots", False), ("material", "leather", False), ("feature", "heel", True)},
            ["negation", "multi-attribute"],
        ),
        ("Kunstlederjacke", {("material", "faux leather", False), ("product_type", "jacket", False)}, []),
        ("gift for dad", {("gender", "men", False)}, ["knowledge-dependent", "gender", "reasoning-dependent"]),
        (
            "Outfit für Hochzeit",
            {("occasion", "wedding", False)},
            ["style-sensitive", "knowledge-dependent", "reasoning-dependent"],
        ),
    ],
)
def test_it_extracts_requirements_and_tags_from_english_and_german_queries(query, requirements, tags):
    draft = guideline(query)
    assert {(r.attribute, r.value, r.negated) for r in draft.requirements} == requirements
    assert draft.tags == tags


def test_it_weights_requirements_by_attribute_and_lists_the_most_important_first():
    draft = guideline("women's black leather ankle boots size 38 by nordvik not suede")
    importance = {r.attribute if not r.negated else "negation": r.importance for r in draft.requirements}
    assert importance == {
        "product_type": 1.0,
        "negation": 0.9,
        "brand": 0.8,
        "colour": 0.7,
        "gender": 0.6,
        "size": 0.5,
        "material": 0.5,
    }
    assert [r.importance for r in draft.requirements] == sorted(
        (r.importance for r in draft.requirements), reverse=True
    )
    assert guideline("boho summer dress").requirements[-1] == Requirement("style", "boho", 0.4, False)


def test_it_only_uses_tags_the_routing_policy_knows():
    for query in ("nordvik boots not black size 40 for women", "gift for dad", "elegant dress"):
        assert set(guideline(query).tags) <= set(QUERY_TAGS)


def test_the_guideline_text_names_the_must_haves_and_the_exclusions():
    text = guideline("running shoes not white").text
    assert "running shoes" in text and "colour white" in text and "excluded" in text
    assert 2 <= text.count(". ") + 1 <= 4


def test_a_vague_query_gets_a_guideline_that_says_so():
    draft = guideline("gift for dad")
    assert "no product type" in draft.text
    assert not any(r.attribute == "product_type" for r in draft.requirements)


def test_the_catalogue_vocabulary_adds_words_the_lexicon_lacks():
    draft = guideline("mint espadrilles", {"colours": ["mint"], "product_types": ["espadrilles"]})
    assert {(r.attribute, r.value) for r in draft.requirements} == {("colour", "mint"), ("product_type", "espadrilles")}


def test_the_rulebook_is_mentioned_when_there_is_one():
    draft = offline_guideline(QueryContext(text="boots", rulebook=["'new' means released this season"]))
    assert "rulebook" in draft.text


# --- judging ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, item, expected",
    [
        ("red dress", RED_DRESS, 2),  # exact match
        ("red dress", BLACK_DRESS, 1),  # wrong colour: a substitute
        ("red dress", BLACK_BOOTS, 0),  # wrong product type
        ("running shoes not white", WHITE_RUNNERS, 0),  # negation violated
        ("running shoes not white", BLUE_RUNNERS, 2),  # negation respected
        ("schwarze Stiefel", BLACK_BOOTS, 2),  # German query, English product
        ("Kestrel Sport Laufschuhe", BLUE_RUNNERS, 2),
        ("nordvik boots", BLACK_BOOTS, 2),
        ("alba & co boots", BLACK_BOOTS, 1),  # another brand's boots substitute
        ("women's black leather ankle boots size 38", BLACK_BOOTS, 2),
        ("sneakers", BLUE_RUNNERS, 1),  # a related type substitutes at best
    ],
)
def test_it_judges_hand_made_products(query, item, expected):
    assert judge(query, item).value == expected


def test_an_english_query_meets_a_german_product():
    stiefeletten = product("Damen Leder Stiefeletten schwarz", "Damen > Schuhe > Stiefel", "Nordvik")
    assert judge("women's black ankle boots", stiefeletten).value == 2


def test_a_modifier_does_not_make_a_product_type():
    # A shirt dress is a dress, not a shirt.
    shirt_dress = product("Lumen Studio Linen Shirt Dress – Beige", "Clothing > Dresses", "Lumen Studio")
    assert judge("shirt", shirt_dress).value == 0
    assert judge("dress", shirt_dress).value == 2


@pytest.mark.parametrize(
    "material, expected",
    [("canvas", 2), ("faux leather", 2), ("leather", 0), ("suede", 0)],
)
def test_faux_leather_is_not_leather_but_suede_is(material, expected):
    bag = product(f"Alba & Co {material.title()} Tote Bag – Black", "Bags > Handbags", "Alba & Co", material=material)
    assert judge("handbag not leather", bag).value == expected


def test_an_explicit_feature_flag_decides_a_negated_feature():
    hooded = product("Fjellvind Nylon Rain Jacket – Navy", "Clothing > Jackets", "Fjellvind", hood=True)
    plain = product("Fjellvind Nylon Puffer Jacket – Navy", "Clothing > Jackets", "Fjellvind", hood=False)
    unknown = product("Wrenfield Leather Jacket – Brown", "Clothing > Jackets", "Wrenfield")
    worded = product("Hooded Jacket – Grey", "Clothing > Jackets")
    assert judge("Jacke ohne Kapuze", hooded).value == 0
    assert judge("Jacke ohne Kapuze", plain).value == 2
    assert judge("Jacke ohne Kapuze", unknown).value == 2
    assert judge("Jacke ohne Kapuze", worded).value == 0
    assert judge("rain jacket with hood", hooded).value == 2


def test_unisex_products_serve_women_and_men():
    beanie = product("Nordvik Wool Beanie – Grey", "Accessories > Hats", "Nordvik", gender="unisex")
    assert judge("women's beanie", beanie).value == 2
    assert judge("Herren Mütze", beanie).value == 2


def test_sizes_and_prices_are_read_from_the_attributes():
    boots = product("Nordvik Chelsea Boots", "Shoes > Boots", "Nordvik", size="36-41", price_eur=89.95)
    assert judge("boots size 39", boots).requirements_unmet == []
    assert judge("boots size 44", boots).requirements_unmet == ["size=44"]
    assert judge("boots under 100 €", boots).requirements_unmet == []
    assert judge("Stiefel unter 50 Euro", boots).requirements_unmet == ["price=under 50"]


def test_it_judges_a_guideline_written_by_an_llm():
    draft = GuidelineDraft(
        requirements=[
            Requirement("Product Type", "Ankle Boots", 1.0),
            Requirement("Color", "Black", 0.7),
            Requirement("material", "not suede", 0.9, negated=True),
        ],
        text="Black ankle boots, not suede.",
    )
    verdict = offline_judge(guideline=draft, product=BLACK_BOOTS, levels=DEFAULT)
    assert verdict.value == 2
    assert verdict.requirements_met == ["product_type=Ankle Boots", "colour=Black", "material=not suede"]


def test_several_product_types_are_alternatives():
    draft = guideline("boots or sneakers")
    assert offline_judge(guideline=draft, product=BLACK_BOOTS, levels=DEFAULT).value == 2


def test_the_rationale_names_met_and_unmet_requirements():
    verdict = judge("red dress", BLACK_DRESS)
    assert verdict.requirements_met == ["product_type=dress"]
    assert verdict.requirements_unmet == ["colour=red"]
    assert "Met: product_type=dress" in verdict.rationale
    assert "colour=red (product: black)" in verdict.rationale
    assert "acceptable substitute" in verdict.rationale


def test_a_query_without_requirements_gets_the_middle_label_with_low_confidence():
    empty = GuidelineDraft(requirements=[], text="")
    for name, levels in SCALES.items():
        verdict = offline_judge(guideline=empty, product=RED_DRESS, levels=levels)
        assert verdict.value == levels[len(levels) // 2].value, name
        assert verdict.confidence == pytest.approx(0.3)


def test_an_open_ended_query_is_judged_on_its_hints_with_low_confidence():
    belt = product("Wrenfield Leather Belt – Brown", "Accessories > Belts", "Wrenfield", gender="men")
    fits, misses = judge("gift for dad", belt), judge("gift for dad", RED_DRESS)
    assert (fits.value, misses.value) == (1, 0)
    assert fits.confidence < 0.5 and misses.confidence < 0.5


@pytest.mark.parametrize(
    "scale, exact, wrong_colour, wrong_type",
    [
        ("default", 2, 1, 0),
        ("esci", 3, 2, 0),  # Exact, Substitute, Irrelevant
        ("rair", 4, 3, 1),  # values 1..4
        ("binary", 1, 0, 0),
    ],
)
def test_it_maps_onto_any_scale(scale, exact, wrong_colour, wrong_type):
    levels = SCALES[scale]
    assert judge("red dress", RED_DRESS, levels).value == exact
    assert judge("red dress", BLACK_DRESS, levels).value == wrong_colour
    assert judge("red dress", BLACK_BOOTS, levels).value == wrong_type


def test_a_weak_match_is_irrelevant_on_a_four_level_scale_and_goes_to_a_human():
    # Only the type of five requirements, and the product states another colour, gender,
    # material and size. The judge grades irrelevant / partial / exact and never says
    # Complement: on real ESCI data a complement is an accessory, not a weaker match.
    brown_boots = product(
        "Fjellvind Rubber Winter Boots – Brown",
        "Shoes > Boots",
        "Fjellvind",
        colour="brown",
        gender="men",
        material="rubber",
        size="44",
    )
    verdict = judge("women's black leather boots size 38", brown_boots, SCALES["esci"])
    assert verdict.value == 0  # Irrelevant
    assert verdict.confidence < 0.7  # below the default policy's min_confidence


def test_confidence_is_a_probability_and_a_near_miss_goes_to_a_human():
    items = [RED_DRESS, BLACK_DRESS, BLACK_BOOTS, WHITE_RUNNERS, BLUE_RUNNERS]
    queries = ["red dress", "running shoes not white", "gift for dad", "women's black leather ankle boots size 38"]
    for levels in SCALES.values():
        for query in queries:
            for item in items:
                assert 0.0 <= judge(query, item, levels).confidence <= 1.0
    # Everything but the size: a substitute, and not one to accept unseen.
    other_size = product(
        "Nordvik Leather Ankle Boots – Black",
        "Shoes > Boots",
        "Nordvik",
        colour="black",
        gender="women",
        material="leather",
        size="41",
    )
    near = judge("women's black leather ankle boots size 38", other_size)
    exact = judge("women's black leather ankle boots size 38", BLACK_BOOTS)
    assert near.value == 1
    assert near.confidence < 0.7 <= exact.confidence  # 0.7: the default policy's min_confidence


def test_it_is_deterministic():
    for query in ("red dress", "Jacke ohne Kapuze", "gift for dad"):
        assert guideline(query) == guideline(query)
        assert judge(query, RED_DRESS) == judge(query, RED_DRESS)


def test_it_rejects_a_scale_with_one_level():
    with pytest.raises(ValueError):
        judge("red dress", RED_DRESS, [LevelInfo(0, "only")])


# --- image description ----------------------------------------------------------------


def png(width: int, height: int, fill, background=(242, 240, 236), mode="RGB") -> bytes:
    image = Image.new(mode, (width, height), background)
    ImageDraw.Draw(image).rectangle((width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=fill)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_it_describes_the_dominant_colour_shape_and_type():
    text = offline_describe(RED_DRESS, png(60, 120, (196, 30, 40)))
    assert "Dominant colour: red" in text
    assert "portrait" in text
    assert "evening dress" in text
    assert "landscape" in offline_describe(BLACK_BOOTS, png(120, 60, (30, 30, 30)))


def test_it_finds_a_white_product_on_a_light_backdrop_inside_its_outline():
    image = Image.new("RGB", (96, 96), (242, 240, 236))
    ImageDraw.Draw(image).rectangle((20, 20, 76, 76), fill=(247, 247, 245), outline=(135, 135, 134), width=2)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    assert "Dominant colour: white" in offline_describe(RED_DRESS, out.getvalue())


def test_transparent_pixels_count_as_backdrop():
    text = offline_describe(RED_DRESS, png(80, 80, (40, 130, 70, 255), background=(0, 0, 0, 0), mode="RGBA"))
    assert "Dominant colour: green" in text


def test_it_describes_a_product_without_a_readable_image():
    assert offline_describe(RED_DRESS, None).startswith("No image available")
    assert offline_describe(RED_DRESS, b"<svg>not an image</svg>").startswith("The image could not be read")


def test_the_description_is_deterministic():
    data = png(96, 96, (52, 104, 190))
    assert offline_describe(BLUE_RUNNERS, data) == offline_describe(BLUE_RUNNERS, data)


# --- vocabulary -----------------------------------------------------------------------


def test_it_collects_the_catalogue_vocabulary():
    products = [
        product(
            "Nordvik Leather Chelsea Boots – Black",
            "Shoes > Boots",
            "Nordvik",
            colour="Black",
            material="Leather",
            style="minimalist",
            gender="men",
        ),
        product(
            "Okra & Oak Boho Linen Summer Dress",
            "Clothing > Dresses",
            "Okra & Oak",
            color="Red/White",
            material="linen",
            gender="women",
        ),
        product("Nordvik Wool Beanie", "Accessories > Hats", "NORDVIK", gender="unisex", hood=False),
    ]
    vocabulary = vocabulary_from_products(products)
    assert vocabulary == {
        "brands": ["nordvik", "okra & oak"],
        "colours": ["black", "red", "white"],
        "product_types": ["beanie", "boots", "chelsea boots", "dresses", "hats", "summer dress"],
        "materials": ["leather", "linen", "wool"],
        "styles": ["boho", "minimalist"],
        "genders": ["men", "unisex", "women"],
    }


def test_an_empty_catalogue_has_an_empty_vocabulary():
    assert vocabulary_from_products([]) == {
        key: [] for key in ("brands", "colours", "product_types", "materials", "styles", "genders")
    }


# --- the demo catalogue ---------------------------------------------------------------


def _read(path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    paths = write_demo_files(tmp_path_factory.mktemp("demo"))
    products = {
        row["product_id"]: ProductContext(
            row["product_id"],
            row["title"],
            row["brand"],
            row["category"],
            row["description"],
            json.loads(row["attributes"]),
        )
        for row in _read(paths["products"])
    }
    vocabulary = vocabulary_from_products(products.values())
    guidelines = {
        row["query_id"]: offline_guideline(QueryContext(row["query"], row["locale"], vocabulary=vocabulary))
        for row in _read(paths["queries"])
    }

    def judged(run: str) -> list[tuple[dict, int]]:
        return [
            (
                row,
                offline_judge(
                    guideline=guidelines[row["query_id"]], product=products[row["product_id"]], levels=DEFAULT
                ).value,
            )
            for row in _read(paths[f"run_{run}"])
        ]

    return guidelines, judged


def test_it_judges_the_demo_runs_sensibly(demo):
    guidelines, judged = demo
    semantic, baseline = judged("semantic"), judged("baseline")
    assert set(Counter(value for _, value in semantic)) == {0, 1, 2}
    # Plain product-type queries ("Stiefel", "backpack"): the semantic run's top 3 are hits.
    plain = {qid for qid, g in guidelines.items() if [r.attribute for r in g.requirements] == ["product_type"]}
    assert len(plain) >= 8
    top3 = [value for row, value in semantic if row["query_id"] in plain and int(row["rank"]) <= 3]
    assert sum(value == 2 for value in top3) >= 0.9 * len(top3)

    # The baseline misses German and negated queries: it must come out worse.
    def mean(pairs):
        return sum(value for _, value in pairs) / len(pairs)

    assert mean(semantic) > mean(baseline) + 0.2


def test_a_brand_query_rejects_other_brands():
    assert judge("nordvik", BLACK_BOOTS).value == 2
    assert judge("nordvik", BLUE_RUNNERS).value == 0


def test_requirements_an_llm_left_empty_or_overweighted_are_tamed():
    draft = GuidelineDraft(
        requirements=[
            Requirement("product_type", "dress", 5.0),
            Requirement("colour", "", 0.7),
            Requirement("colour", "red", 0.0),
            Requirement("style", "boho", 0.4),
        ],
        text="",
    )
    verdict = offline_judge(guideline=draft, product=RED_DRESS, levels=DEFAULT)
    assert verdict.requirements_met == ["product_type=dress"]
    assert verdict.requirements_unmet == ["style=boho"]
    # 1 / 1.4: the style still counts against a capped type weight (uncapped: 5 / 5.4).
    assert "Weighted match 0.71" in verdict.rationale
    assert verdict.value == 1  # the product's own style (elegant) is not the one asked for


# --- real shopper text ------------------------------------------------------------------


def test_a_negation_covers_the_phrase_after_it_up_to_punctuation():
    draft = guideline("reading glasses without blue light blocking")
    assert {(r.attribute, r.value, r.negated) for r in draft.requirements} == {
        ("keyword", "reading", False),
        ("keyword", "glass", False),
        ("keyword", "blue light blocking", True),
    }
    draft = guideline("clamp without stud, includes wedge")
    assert ("keyword", "stud", True) in {(r.attribute, r.value, r.negated) for r in draft.requirements}
    assert ("keyword", "wedge", False) in {(r.attribute, r.value, r.negated) for r in draft.requirements}
    blocking = product("JJWELL Blue Light Blocking Reading Glasses for Women")
    plain = product("Foster Grant Reading Glasses +1.75 Tortoise")
    assert judge("reading glasses without blue light blocking", blocking).value == 0
    assert judge("reading glasses without blue light blocking", plain).value == 2


def test_english_plurals_meet_their_singulars():
    assert normalise("boxes accessories hoodies Hoody ladies") == ("box", "accessory", "hoody", "hoody", "women")
    assert judge("wooden boxes", product("Rustic Wooden Display Box")).requirements_unmet == []


def test_a_title_naming_another_colour_makes_a_product_at_best_a_substitute():
    masks = product("AIMIKE 2Pcs Superhero Masks, Black Felt Eye Masks")
    verdict = judge("red masquerade mask", masks)
    assert verdict.value < 2
    assert "colour=red (product: black)" in verdict.rationale
    assert judge("red masquerade mask", product("Red Venetian Masquerade Mask for Women")).value == 2


def test_japanese_terms_are_found_inside_unspaced_titles():
    earbuds = product("Anker Soundcore ワイヤレスイヤホン Bluetooth 5.0")
    knife = product("貝印 KAI 三徳包丁 関孫六 ステンレス 165mm 日本製")
    assert judge("ワイヤレス イヤホン", earbuds).requirements_unmet == []
    assert (judge("ワイヤレス イヤホン", earbuds).value, judge("ワイヤレス イヤホン", knife).value) == (2, 0)


def test_spanish_function_words_ask_for_nothing_and_sin_excludes():
    draft = guideline("zapatillas sin cordones para hombre")
    assert {(r.value, r.negated) for r in draft.requirements} == {
        ("zapatilla", False),
        ("cordone", True),
        ("hombre", False),
    }


def test_the_guideline_text_names_only_the_default_scales_labels():
    # Issue 14: reviewers read "partial match", a grade no scale of theirs has.
    text = guideline("red summer dress").text
    assert "partial match" not in text
    assert "acceptable substitute" in text and "highly relevant" in text.lower()
