"""Imports whose rows name a pair (query id × product id): a run's results, and labels
(optionally as gold). Queries and products they name but the project lacks are created
from the file's text columns. As for the catalogue: validate everything, then one
transaction of bulk writes; re-importing the same file changes nothing. On PostgreSQL
the rows are staged in a temporary table instead (pairs_staged.py), in bounded memory."""

from collections.abc import Callable, Sequence
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.html import strip_tags

from annotation.bulk import bulk_insert_rows, bulk_update_rows
from annotation.models import GoldProvenance, Label, LabelSource, Pair, Product, Project, Query, SearchResult, SearchRun
from annotation.services import chunked, external_ids_map, pairs_ensure, product_content_hash

from .columns import LABEL_SPEC, RUN_SPEC
from .errors import ImportFailed, ImportProblem
from .pairs_staged import labels_import_staged, run_import_staged
from .reading import Row, read_rows
from .records import (
    LabelRecord,
    LabelResolver,
    Problems,
    ProductText,
    ResultRecord,
    label_records,
    result_records,
    text_value,
)
from .staging import staged
from .summary import ImportSummary, fail_if

# --- shared by runs and labels: queries and products named by id, created from text ---


def _locale_titles(rows: list[Row]) -> dict[str, dict[str, str]]:
    """product id → {locale: title} over every row, the repeats de-duplication skipped too."""
    titles: dict[str, dict[str, str]] = {}
    for row in rows:
        product_id, locale = text_value(row.values.get("product_id")), text_value(row.values.get("locale"))
        title = text_value(row.values.get("product_title"))
        if product_id and locale and title:
            titles.setdefault(product_id, {}).setdefault(locale, title)
    return titles


def _resolve_entities(
    project: Project,
    records: Sequence[tuple[int, ResultRecord | LabelRecord]],
    problems: Problems,
    locale_titles: dict[str, dict[str, str]],
) -> tuple[dict[str, int], dict[str, int], dict[str, Query], dict[str, Product]]:
    """Find the queries and products the records name; plan the creation of missing
    ones from the file's `query` and product text columns (`product_title`, brand,
    description, bullet points, colour). Returns (query ids, product ids, queries to create,
    products to create), ids keyed by external id.

    A product the file shows in several locales (ESCI lists a pair once per product
    locale, the title in that locale's language) becomes one product with the text of its
    first row; the other locales' titles are kept in `attributes["titles"]`."""
    query_ids = external_ids_map(Query, project, {r.query_id for _, r in records})
    product_ids = external_ids_map(Product, project, {r.product_id for _, r in records})
    new_queries: dict[str, Query] = {}
    texts: dict[str, ProductText] = {}
    for line, r in records:
        if r.query_id not in query_ids and r.query_id not in new_queries:
            if r.query_text:
                new_queries[r.query_id] = Query(
                    project=project, external_id=r.query_id, text=r.query_text, locale=r.locale
                )
            else:
                problems.add(
                    line,
                    "query_id",
                    f"unknown query_id {r.query_id!r}: import the queries first or add a 'query' column",
                )
        if r.product_id in product_ids:
            continue
        if r.product_id in texts:
            continue
        if r.product.title:
            texts[r.product_id] = r.product
        else:
            problems.add(
                line,
                "product_id",
                f"unknown product_id {r.product_id!r}: import the products first or add a 'product_title' column",
            )
    new_products = {pid: _product(project, pid, text, locale_titles.get(pid, {})) for pid, text in texts.items()}
    return query_ids, product_ids, new_queries, new_products


def _product(project: Project, external_id: str, text: ProductText, titles: dict[str, str]) -> Product:
    attributes: dict = {}
    if text.colour:
        attributes["colour"] = text.colour
    if len(titles) > 1:
        attributes["titles"] = titles
    # ESCI's descriptions carry HTML (<b>, <br/>): the judge reads text.
    description = "\n".join(strip_tags(part).strip() for part in (text.description, text.bullets) if part)
    brand = text.brand[: Product._meta.get_field("brand").max_length]
    return Product(
        project=project,
        external_id=external_id,
        title=text.title,
        brand=brand,
        description=description,
        attributes=attributes,
        content_hash=product_content_hash(
            title=text.title, brand=brand, description=description, attributes=attributes
        ),
    )


def _create_entities(project, query_ids, product_ids, new_queries, new_products) -> None:
    batch = settings.QRELAY_IMPORT_BATCH_SIZE
    Query.objects.bulk_create(new_queries.values(), batch_size=batch)
    Product.objects.bulk_create(new_products.values(), batch_size=batch)
    query_ids.update(external_ids_map(Query, project, new_queries))
    product_ids.update(external_ids_map(Product, project, new_products))


# --- runs ---------------------------------------------------------------------------


def run_import(
    *,
    project: Project,
    run_name: str,
    path: Path,
    fmt: str | None = None,
    description: str = "",
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import a run's results; `progress` is told the number of rows read, now and then."""
    path = Path(path)
    name_limit = SearchRun._meta.get_field("name").max_length or 0
    if not run_name.strip() or len(run_name) > name_limit:
        problem = (
            "the run needs a name" if not run_name.strip() else f"the run name is longer than {name_limit} characters"
        )
        raise ImportFailed([ImportProblem(path.name, None, None, problem)])
    if staged():
        return run_import_staged(
            project=project, run_name=run_name, path=path, fmt=fmt, description=description, progress=progress
        )
    rows = read_rows(path, RUN_SPEC, fmt)
    problems = Problems(path.name)
    records = result_records(rows, problems)
    fail_if(problems)
    query_ids, product_ids, new_queries, new_products = _resolve_entities(
        project, records, problems, _locale_titles(rows)
    )
    fail_if(problems)

    with transaction.atomic():
        run, run_created = SearchRun.objects.get_or_create(
            project=project, name=run_name, defaults={"description": description}
        )
        _create_entities(project, query_ids, product_ids, new_queries, new_products)
        keys = [(query_ids[r.query_id], product_ids[r.product_id]) for _, r in records]
        pairs, pairs_created = pairs_ensure(project=project, keys=keys)
        existing = {
            (res.query_id, res.product_id): res
            for res in SearchResult.objects.filter(run=run).only("id", "query_id", "product_id", "rank", "score")
        }
        new, changed, unchanged = [], [], 0
        for (_, r), key in zip(records, keys):
            current = existing.get(key)
            if current is None:
                new.append((run.id, key[0], key[1], pairs[key], r.rank, r.score))
            elif (current.rank, current.score) != (r.rank, r.score):
                current.rank, current.score = r.rank, r.score
                changed.append(current)
            else:
                unchanged += 1
        bulk_insert_rows(SearchResult, ["run", "query", "product", "pair", "rank", "score"], new)
        bulk_update_rows(SearchResult, changed, ["rank", "score"])
    counts = {
        "run": "created" if run_created else "existing",
        "results created": len(new),
        "updated": len(changed),
        "unchanged": unchanged,
        "new pairs": pairs_created,
        "queries created": len(new_queries),
        "products created": len(new_products),
    }
    return ImportSummary(path.name, len(rows), counts, problems.notes)


# --- labels -------------------------------------------------------------------------


def labels_import(
    *,
    project: Project,
    path: Path,
    rater: str | None = None,
    gold: bool = False,
    source: str = LabelSource.HUMAN,
    fmt: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    path = Path(path)
    if staged():
        return labels_import_staged(
            project=project, path=path, rater=rater, gold=gold, source=source, fmt=fmt, progress=progress
        )
    rows = read_rows(path, LABEL_SPEC, fmt)
    problems = Problems(path.name)
    resolver = LabelResolver(list(project.levels.values_list("value", "name")))
    records = label_records(rows, problems, resolver=resolver, default_rater=rater)
    fail_if(problems)
    if gold:
        _check_one_gold_per_pair(records, problems)
    query_ids, product_ids, new_queries, new_products = _resolve_entities(
        project, records, problems, _locale_titles(rows)
    )
    fail_if(problems)

    with transaction.atomic():
        _create_entities(project, query_ids, product_ids, new_queries, new_products)
        keys = [(query_ids[r.query_id], product_ids[r.product_id]) for _, r in records]
        pairs, pairs_created = pairs_ensure(project=project, keys=keys)
        pair_ids = [pairs[key] for key in keys]
        latest: dict[tuple[int, str], int] = {}
        for chunk in chunked(sorted(set(pair_ids))):
            for pair_id, label_rater, value in (
                Label.objects.filter(pair_id__in=chunk, source=source)
                .order_by("id")
                .values_list("pair_id", "rater", "value")
            ):
                latest[(pair_id, label_rater)] = value  # ordered by id: the last one wins
        new_labels, unchanged = [], 0
        now = timezone.now()
        for (_, r), pair_id in zip(records, pair_ids):
            if latest.get((pair_id, r.rater)) == r.value:
                unchanged += 1
                continue
            new_labels.append((project.id, pair_id, source, r.rater, r.value, "", now))
        bulk_insert_rows(Label, ["project", "pair", "source", "rater", "value", "rationale", "created_at"], new_labels)
        gold_counts = _gold_apply(records, pair_ids) if gold else {}
    counts: dict[str, int | str] = {
        "labels added": len(new_labels),
        "unchanged": unchanged,
        "new pairs": pairs_created,
        "queries created": len(new_queries),
        "products created": len(new_products),
        **gold_counts,
    }
    return ImportSummary(path.name, len(rows), counts, problems.notes)


def _check_one_gold_per_pair(records, problems: Problems) -> None:
    first: dict[tuple[str, str], tuple[int, int]] = {}
    for line, r in records:
        key = (r.query_id, r.product_id)
        if key in first and first[key][1] != r.value:
            problems.add(
                line,
                "label",
                f"--gold needs one label per pair, but line {first[key][0]} gives {r.query_id}/{r.product_id} another label",
            )
        first.setdefault(key, (line, r.value))


def _gold_apply(records, pair_ids: list[int]) -> dict[str, int]:
    wanted = {pair_id: r.value for (_, r), pair_id in zip(records, pair_ids)}
    now = timezone.now()
    changed, unchanged, kept_reviewed = [], 0, 0
    for chunk in chunked(sorted(wanted)):
        for pair in Pair.objects.filter(id__in=chunk).only("id", "gold_value", "gold_provenance"):
            value = wanted[pair.id]
            if pair.gold_value == value:
                unchanged += 1
            elif pair.gold_provenance in (GoldProvenance.HUMAN, GoldProvenance.ADJUDICATED):
                # Gold settled by people in qrelay outranks a file; keep it.
                kept_reviewed += 1
            else:
                pair.gold_value, pair.gold_provenance, pair.gold_policy_version, pair.gold_updated_at = (
                    value,
                    GoldProvenance.IMPORTED,
                    None,
                    now,
                )
                changed.append(pair)
    bulk_update_rows(Pair, changed, ["gold_value", "gold_provenance", "gold_policy_version", "gold_updated_at"])
    return {"gold set": len(changed), "gold unchanged": unchanged, "gold kept (human/adjudicated)": kept_reviewed}
