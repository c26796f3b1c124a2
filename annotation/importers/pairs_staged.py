"""Runs and labels on the staged path (PostgreSQL; see staging.py): the same checks,
messages and writes as pairs.py's in-memory path, with the rows in a temporary table
instead of Python lists, so a file of any size imports in bounded memory."""

from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotation.models import GoldProvenance, Label, Pair, Product, Project, Query, SearchResult, SearchRun

from .columns import LABEL_SPEC, RUN_SPEC
from .errors import Problems
from .reading import Row, RowStream
from .records import (
    LABEL_KEY,
    PAIR_TEXT_FIELDS,
    RESULT_KEY,
    LabelRecord,
    LabelResolver,
    ProductText,
    ResultRecord,
    label_record,
    result_record,
)
from .staging import Dedupe, Stage, batches, dedupe, execute, fetchone, scalar, stream
from .summary import ImportSummary, fail_if

Progress = Callable[[int], None] | None

_TEXT = (("query_text", "text"), *((c, "text") for c in ("title", "brand", "description", "bullets", "colour")))
_TEXT_COLUMNS = ("title", "brand", "description", "bullets", "colour", "locale")
RESULT_COLUMNS = (
    ("query_id", "text"),
    ("product_id", "text"),
    ("rank", "integer"),
    ("score", "double precision"),
    *_TEXT,
    ("locale", "text"),
)
LABEL_COLUMNS = (
    ("query_id", "text"),
    ("product_id", "text"),
    ("rater", "text"),
    ("value", "smallint"),
    *_TEXT,
    ("locale", "text"),
)


def _text(p: ProductText) -> tuple:
    return (p.title, p.brand, p.description, p.bullets, p.colour)


def _result_values(r: ResultRecord) -> tuple:
    return (r.query_id, r.product_id, r.rank, r.score, r.query_text, *_text(r.product), r.locale)


def _result(v: tuple) -> ResultRecord:
    return ResultRecord(v[0], v[1], v[2], v[3], v[4], ProductText(*v[5:10]), v[10])


def _label_values(r: LabelRecord) -> tuple:
    return (r.query_id, r.product_id, r.rater, r.value, r.query_text, *_text(r.product), r.locale)


def _label(v: tuple) -> LabelRecord:
    return LabelRecord(v[0], v[1], v[2], v[3], v[4], ProductText(*v[5:10]), v[10])


RESULT_DEDUPE = Dedupe(
    RESULT_KEY, ("query_id", "product_id"), ("rank", "score", "query_text"), _TEXT_COLUMNS, _result, PAIR_TEXT_FIELDS
)
LABEL_DEDUPE = Dedupe(
    LABEL_KEY, ("query_id", "product_id", "rater"), ("value", "query_text"), _TEXT_COLUMNS, _label, PAIR_TEXT_FIELDS
)

Q, P, PAIR = Query._meta.db_table, Product._meta.db_table, Pair._meta.db_table


def _stage_file(stream_: "_Records", columns, to_values, problems: Problems, progress: Progress) -> Stage:
    """Validate every row into the stage; once a problem is known, rows are only checked
    (the import will fail, so staging them is wasted work)."""
    stage = Stage("import_rows", columns)
    batch = stage.batch_size
    for row, record in stream_.records():
        if record is not None and not problems and not stream_.problems:
            stage.add(row.line, to_values(record))
        if progress is not None and stream_.rows % batch == 0:
            progress(stream_.rows)
    stage.flush()
    if progress is not None:
        progress(stream_.rows)
    return stage


class _Records(RowStream):
    """A RowStream yielding (row, record or None), validating as it reads."""

    def __init__(self, path: Path, spec, fmt: str | None, validate: Callable[[Row], object]):
        super().__init__(path, spec, fmt)
        self.validate = validate

    def records(self) -> Iterator[tuple[Row, object]]:
        for row in self:
            yield row, self.validate(row)


# --- queries and products the rows name: found, or created from the file's text ------


def _resolve(project: Project, stage: Stage, kept: str, problems: Problems) -> None:
    """Plan the queries and products to create (temporary tables import_new_queries and
    import_new_products: the first row with text per unknown id) and report rows naming
    an unknown id before any row gives its text, in line order, as pairs.py does."""
    execute("DROP TABLE IF EXISTS import_new_queries")
    execute(
        f"CREATE TEMPORARY TABLE import_new_queries ON COMMIT DROP AS "
        f"SELECT DISTINCT ON (k.query_id) k.query_id, k.query_text, k.locale, k.line FROM {kept} k "
        f"WHERE k.query_text <> '' AND NOT EXISTS "
        f"(SELECT 1 FROM {Q} q WHERE q.project_id = %s AND q.external_id = k.query_id) "
        f"ORDER BY k.query_id, k.line",
        [project.id],
    )
    execute("DROP TABLE IF EXISTS import_new_products")
    execute(
        f"CREATE TEMPORARY TABLE import_new_products ON COMMIT DROP AS "
        f"SELECT DISTINCT ON (k.product_id) k.product_id, k.title, k.brand, k.description, k.bullets, k.colour, "
        f"k.line FROM {kept} k WHERE k.title <> '' AND NOT EXISTS "
        f"(SELECT 1 FROM {P} p WHERE p.project_id = %s AND p.external_id = k.product_id) "
        f"ORDER BY k.product_id, k.line",
        [project.id],
    )
    unknown = stream(
        f"SELECT k.line, 0, k.query_id FROM {kept} k LEFT JOIN import_new_queries n USING (query_id) "
        f"WHERE k.query_text = '' AND (n.line IS NULL OR k.line < n.line) AND NOT EXISTS "
        f"(SELECT 1 FROM {Q} q WHERE q.project_id = %s AND q.external_id = k.query_id) "
        f"UNION ALL "
        f"SELECT k.line, 1, k.product_id FROM {kept} k LEFT JOIN import_new_products n USING (product_id) "
        f"WHERE k.title = '' AND (n.line IS NULL OR k.line < n.line) AND NOT EXISTS "
        f"(SELECT 1 FROM {P} p WHERE p.project_id = %s AND p.external_id = k.product_id) "
        f"ORDER BY 1, 2",
        [project.id, project.id],
    )
    for line, kind, external_id in unknown:
        if kind == 0:
            problems.add(
                line, "query_id", f"unknown query_id {external_id!r}: import the queries first or add a 'query' column"
            )
        else:
            problems.add(
                line,
                "product_id",
                f"unknown product_id {external_id!r}: import the products first or add a 'product_title' column",
            )


def _create_entities(project: Project, stage: Stage) -> tuple[int, int]:
    """Create the planned queries and products, a batch at a time; (queries, products) created."""
    from .pairs import _product  # the product built from a file's text, as on the in-memory path

    batch = settings.QRELAY_IMPORT_BATCH_SIZE
    queries = products = 0
    for rows in batches(stream("SELECT query_id, query_text, locale FROM import_new_queries ORDER BY line")):
        Query.objects.bulk_create(
            [Query(project=project, external_id=q, text=text, locale=locale) for q, text, locale in rows],
            batch_size=batch,
        )
        queries += len(rows)
    # Per new product, its titles per locale over every row (repeats too), first row's first.
    titles = (
        f"SELECT product_id, array_agg(locale ORDER BY line) AS locales, array_agg(title ORDER BY line) AS titles "
        f"FROM (SELECT DISTINCT ON (s.product_id, s.locale) s.product_id, s.locale, s.title, s.line "
        f"FROM {stage.name} s JOIN import_new_products USING (product_id) WHERE s.locale <> '' AND s.title <> '' "
        f"ORDER BY s.product_id, s.locale, s.line) AS x GROUP BY product_id"
    )
    planned = stream(
        f"SELECT n.product_id, n.title, n.brand, n.description, n.bullets, n.colour, t.locales, t.titles "
        f"FROM import_new_products n LEFT JOIN ({titles}) AS t USING (product_id) ORDER BY n.line"
    )
    for rows in batches(planned):
        new = []
        for product_id, title, brand, description, bullets, colour, locales, locale_titles in rows:
            text = ProductText(title, brand, description, bullets, colour)
            new.append(_product(project, product_id, text, dict(zip(locales or (), locale_titles or ()))))
        Product.objects.bulk_create(new, batch_size=batch)
        products += len(new)
    return queries, products


def _pairs(project: Project, kept: str) -> int:
    """Create the missing pairs and stage `import_resolved`: the kept rows with their query,
    product and pair ids. The number of pairs created."""
    joins = (
        f"FROM {kept} k JOIN {Q} q ON q.project_id = %s AND q.external_id = k.query_id "
        f"JOIN {P} p ON p.project_id = %s AND p.external_id = k.product_id"
    )
    created = execute(
        f"INSERT INTO {PAIR} (project_id, query_id, product_id, gold_provenance, created_at) "
        f"SELECT DISTINCT %s::bigint, q.id, p.id, '', %s::timestamptz {joins} ON CONFLICT DO NOTHING",
        [project.id, timezone.now(), project.id, project.id],
    )
    execute("DROP TABLE IF EXISTS import_resolved")
    execute(
        f"CREATE TEMPORARY TABLE import_resolved ON COMMIT DROP AS "
        f"SELECT k.*, q.id AS qpk, p.id AS ppk, x.id AS pair_id {joins} "
        f"JOIN {PAIR} x ON x.project_id = %s AND x.query_id = q.id AND x.product_id = p.id",
        [project.id, project.id, project.id],
    )
    return created


# --- runs ---------------------------------------------------------------------------


def run_import_staged(
    *, project: Project, run_name: str, path: Path, fmt: str | None, description: str, progress: Progress
) -> ImportSummary:
    with transaction.atomic():
        problems = Problems(path.name)
        rows = _Records(path, RUN_SPEC, fmt, lambda row: result_record(row, problems))
        stage = _stage_file(rows, RESULT_COLUMNS, _result_values, problems, progress)
        rows.finish()
        fail_if(problems)
        kept = dedupe(stage, RESULT_DEDUPE, problems)
        fail_if(problems)
        _resolve(project, stage, kept, problems)
        fail_if(problems)

        run, run_created = SearchRun.objects.get_or_create(
            project=project, name=run_name, defaults={"description": description}
        )
        queries_created, products_created = _create_entities(project, stage)
        pairs_created = _pairs(project, kept)
        results = SearchResult._meta.db_table
        same = "x.run_id = %s AND x.query_id = r.qpk AND x.product_id = r.ppk"
        matched = scalar(f"SELECT count(*) FROM import_resolved r JOIN {results} x ON {same}", [run.id])
        updated = execute(
            f"UPDATE {results} x SET rank = r.rank, score = r.score FROM import_resolved r "
            f"WHERE {same} AND ROW(x.rank, x.score) IS DISTINCT FROM ROW(r.rank, r.score)",
            [run.id],
        )
        created = execute(
            f"INSERT INTO {results} (run_id, query_id, product_id, pair_id, rank, score) "
            f"SELECT %s, r.qpk, r.ppk, r.pair_id, r.rank, r.score FROM import_resolved r "
            f"WHERE NOT EXISTS (SELECT 1 FROM {results} x WHERE {same}) ORDER BY r.line",
            [run.id, run.id],
        )
    counts = {
        "run": "created" if run_created else "existing",
        "results created": created,
        "updated": updated,
        "unchanged": matched - updated,
        "new pairs": pairs_created,
        "queries created": queries_created,
        "products created": products_created,
    }
    return ImportSummary(rows.path.name, rows.rows, counts, problems.notes)


# --- labels -------------------------------------------------------------------------


def labels_import_staged(
    *, project: Project, path: Path, rater: str | None, gold: bool, source: str, fmt: str | None, progress: Progress
) -> ImportSummary:
    resolver = LabelResolver(list(project.levels.values_list("value", "name")))
    with transaction.atomic():
        problems = Problems(path.name)
        rows = _Records(
            path, LABEL_SPEC, fmt, lambda row: label_record(row, problems, resolver=resolver, default_rater=rater)
        )
        stage = _stage_file(rows, LABEL_COLUMNS, _label_values, problems, progress)
        rows.finish()
        fail_if(problems)
        kept = dedupe(stage, LABEL_DEDUPE, problems)
        fail_if(problems)
        if gold:
            _check_one_gold_per_pair(kept, problems)
        _resolve(project, stage, kept, problems)
        fail_if(problems)

        queries_created, products_created = _create_entities(project, stage)
        pairs_created = _pairs(project, kept)
        labels = Label._meta.db_table
        execute("DROP TABLE IF EXISTS import_latest")
        execute(
            f"CREATE TEMPORARY TABLE import_latest ON COMMIT DROP AS "
            f"SELECT DISTINCT ON (l.pair_id, l.rater) l.pair_id, l.rater, l.value FROM {labels} l "
            f"WHERE l.source = %s AND l.pair_id IN (SELECT pair_id FROM import_resolved) "
            f"ORDER BY l.pair_id, l.rater, l.id DESC",
            [source],
        )
        total = scalar("SELECT count(*) FROM import_resolved")
        added = execute(
            f"INSERT INTO {labels} (project_id, pair_id, source, rater, value, rationale, created_at) "
            f"SELECT %s, r.pair_id, %s, r.rater, r.value, '', %s FROM import_resolved r "
            f"LEFT JOIN import_latest x ON x.pair_id = r.pair_id AND x.rater = r.rater "
            f"WHERE x.value IS DISTINCT FROM r.value ORDER BY r.line",
            [project.id, source, timezone.now()],
        )
        gold_counts = _gold_apply() if gold else {}
    counts: dict[str, int | str] = {
        "labels added": added,
        "unchanged": total - added,
        "new pairs": pairs_created,
        "queries created": queries_created,
        "products created": products_created,
        **gold_counts,
    }
    return ImportSummary(rows.path.name, rows.rows, counts, problems.notes)


def _check_one_gold_per_pair(kept: str, problems: Problems) -> None:
    firsts = (
        f"SELECT DISTINCT ON (query_id, product_id) query_id, product_id, line, value FROM {kept} "
        f"ORDER BY query_id, product_id, line"
    )
    for line, first_line, query_id, product_id in stream(
        f"SELECT k.line, f.line, k.query_id, k.product_id FROM {kept} k JOIN ({firsts}) AS f "
        f"USING (query_id, product_id) WHERE k.line <> f.line AND k.value <> f.value ORDER BY k.line"
    ):
        problems.add(
            line,
            "label",
            f"--gold needs one label per pair, but line {first_line} gives {query_id}/{product_id} another label",
        )


def _gold_apply() -> dict[str, int]:
    # The last row per pair wins, as on the in-memory path (the check above made them agree).
    wanted = "SELECT DISTINCT ON (pair_id) pair_id, value FROM import_resolved ORDER BY pair_id, line DESC"
    # Gold settled by people in qrelay outranks a file; keep it.
    reviewed = [GoldProvenance.HUMAN.value, GoldProvenance.ADJUDICATED.value]
    unchanged, kept_reviewed = fetchone(
        f"SELECT count(*) FILTER (WHERE p.gold_value = w.value), "
        f"count(*) FILTER (WHERE p.gold_value IS DISTINCT FROM w.value AND p.gold_provenance = ANY(%s)) "
        f"FROM ({wanted}) AS w JOIN {PAIR} p ON p.id = w.pair_id",
        [reviewed],
    )
    changed = execute(
        f"UPDATE {PAIR} p SET gold_value = w.value, gold_provenance = %s, gold_policy_version = NULL, "
        f"gold_updated_at = %s FROM ({wanted}) AS w WHERE p.id = w.pair_id "
        f"AND p.gold_value IS DISTINCT FROM w.value AND NOT (p.gold_provenance = ANY(%s))",
        [GoldProvenance.IMPORTED.value, timezone.now(), reviewed],
    )
    return {"gold set": changed, "gold unchanged": unchanged, "gold kept (human/adjudicated)": kept_reviewed}
