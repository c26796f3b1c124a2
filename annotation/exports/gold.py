"""Gold labels with provenance: CSV, JSONL (built by PostgreSQL when it can) and TREC qrels."""

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection
from django.db.models import F

from ..models import GoldProvenance, Label, LabelSource, Pair, Product, Project, Query, ScaleLevel, SearchResult
from .csv_safety import csv_safe_expression, neutralise, safe_sql, safe_text
from .streaming import copy_csv, csv_blocks, iso_sql, json_lines, json_object, jsonl_blocks
from .tables import CHUNK, ExportError, ExtraColumns, IsoTimestamp, Table, batches, snapshot, with_extra
from .trec import refuse_whitespace_ids

GOLD_FORMATS = ("csv", "jsonl", "qrels")
GOLD_COLUMNS = (
    "query_id",
    "query",
    "product_id",
    "product_title",
    "label",
    "label_name",
    "provenance",
    "policy_version",
    "raters",
    "llm_model",
    "gold_updated_at",
)


# Excel reads a CSV without a byte-order mark as the system's code page ("Größe" shows
# as "GrÃ¶ÃŸe"); with one it reads UTF-8. Other programs do not need it.
EXCEL_BOM = "\ufeff"
# Gold that people gave: everything but the LLM's auto-accepted labels.
HUMAN_PROVENANCES = tuple(value for value in GoldProvenance.values if value != GoldProvenance.LLM_AUTO)


@dataclass(frozen=True)
class GoldFilter:
    """Which gold rows an export holds: the pairs of one run (its results), some
    provenances (none named: all), and human_only (no llm-auto gold)."""

    run_id: int | None = None
    provenances: tuple[str, ...] = ()
    human_only: bool = False

    def provenance_values(self) -> list[str] | None:
        """The provenances to keep, or None for all of them."""
        values = set(self.provenances or GoldProvenance.values)
        if self.human_only:
            values &= set(HUMAN_PROVENANCES)
        return None if values == set(GoldProvenance.values) else sorted(values)


NO_FILTER = GoldFilter()


def _gold_pairs(project: Project, gold_filter: GoldFilter = NO_FILTER):
    pairs = Pair.objects.filter(project=project, gold_value__isnull=False)
    if gold_filter.run_id is not None:
        pairs = pairs.filter(id__in=SearchResult.objects.filter(run_id=gold_filter.run_id).values("pair_id"))
    provenances = gold_filter.provenance_values()
    if provenances is not None:
        pairs = pairs.filter(gold_provenance__in=provenances)
    return pairs.order_by("id")


def gold_table(
    project: Project,
    *,
    extra: ExtraColumns | None = None,
    csv_safe: bool = False,
    chunk_size: int = CHUNK,
    gold_filter: GoldFilter = NO_FILTER,
) -> Table:
    """The project's gold labels with provenance, in pair order (GOLD_COLUMNS + extra).

    raters: the human raters who labelled the pair, sorted, comma-separated.
    llm_model: the rater (model name) of the pair's newest LLM label, if any.
    csv_safe: neutralise formula cells (see the package doc); the database does it for
    the columns it reads, which keeps a million-row export fast.
    Nothing is read until the first chunk is asked for."""
    return Table(with_extra(GOLD_COLUMNS, extra), _gold_chunks(project, extra, csv_safe, chunk_size, gold_filter))


def _gold_chunks(
    project: Project, extra: ExtraColumns | None, csv_safe: bool, chunk_size: int, gold_filter: GoldFilter
) -> Iterator[list[tuple]]:
    text = csv_safe_expression if csv_safe else F
    safe = safe_text if csv_safe else str
    with snapshot():
        names = {
            value: safe(name) for value, name in ScaleLevel.objects.filter(project=project).values_list("value", "name")
        }
        rows = _gold_pairs(project, gold_filter).values_list(
            "id",
            text("query__external_id"),
            text("query__text"),
            text("product__external_id"),
            text("product__title"),
            "gold_value",
            "gold_provenance",
            "gold_policy_version",
            IsoTimestamp("gold_updated_at"),
        )
        labels = (
            Label.objects.filter(project=project)
            .order_by("pair_id", "created_at", "id")
            .values_list("pair_id", "source", "rater")
            .iterator(chunk_size=chunk_size)
        )
        details = _pair_details(batches(labels, chunk_size))
        next(details)
        for batch in batches(rows.iterator(chunk_size=chunk_size), chunk_size):
            found = details.send(batch[-1][0])
            more = extra.fetch([row[0] for row in batch]) if extra else {}
            out = []
            for pair_id, qid, query, pid, title, value, provenance, policy, updated in batch:
                humans, model = found.get(pair_id, _NO_DETAILS)
                row: tuple = (
                    qid,
                    query,
                    pid,
                    title,
                    value,
                    names.get(value),
                    provenance,
                    policy,
                    safe(humans),
                    safe(model),
                    updated,
                )
                if extra:
                    values = more.get(pair_id, {})
                    row += tuple(neutralise(values.get(name)) if csv_safe else values.get(name) for name in extra.names)
                out.append(row)
            yield out


_NO_DETAILS = ("", "")


def _pair_details(label_chunks: Iterator[list[tuple[int, str, str]]]):
    """A coroutine over labels ordered by pair id: send it a pair id, get back
    {pair id: (human raters "a,b", newest LLM model)} for every pair up to that id.
    Labels are consumed a chunk at a time, so this is one pass over the label cursor
    alongside the pair cursor, never a query per pair."""
    human = LabelSource.HUMAN
    pending: list[tuple[int, str, str]] = []
    upto = yield None
    while True:
        raters: dict[int, set[str]] = {}
        models: dict[int, str] = {}
        while True:
            if not pending:
                pending = next(label_chunks, [])
                if not pending:
                    break
            if pending[-1][0] <= upto:
                chunk, pending = pending, []
            else:
                cut = next(i for i, label in enumerate(pending) if label[0] > upto)
                chunk, pending = pending[:cut], pending[cut:]
            for pair_id, source, rater in chunk:
                if source == human:
                    raters.setdefault(pair_id, set()).add(rater)
                else:
                    models[pair_id] = rater  # ordered by time: the newest wins
            if pending:
                break
        found = {pair_id: (",".join(sorted(names)), models.get(pair_id, "")) for pair_id, names in raters.items()}
        for pair_id, model in models.items():
            if pair_id not in found:
                found[pair_id] = ("", model)
        upto = yield found


def export_gold_csv(
    project: Project,
    *,
    extra: ExtraColumns | None = None,
    chunk_size: int = CHUNK,
    gold_filter: GoldFilter = NO_FILTER,
    excel: bool = False,
) -> Iterator[str]:
    """excel: start with a UTF-8 byte-order mark, so Excel reads the text as UTF-8."""
    if extra is None and connection.vendor == "postgresql":
        blocks = copy_csv(*_gold_sql(project, gold_filter, csv_safe=True))
    else:
        blocks = csv_blocks(
            gold_table(project, extra=extra, csv_safe=True, chunk_size=chunk_size, gold_filter=gold_filter)
        )
    return itertools.chain([EXCEL_BOM], blocks) if excel else blocks


def export_gold_jsonl(
    project: Project, *, extra: ExtraColumns | None = None, chunk_size: int = CHUNK, gold_filter: GoldFilter = NO_FILTER
) -> Iterator[str]:
    if extra is None and connection.vendor == "postgresql":
        sql, params = _gold_sql(project, gold_filter, as_json=True)
        return json_lines(sql, params, chunk_size)
    return jsonl_blocks(gold_table(project, extra=extra, chunk_size=chunk_size, gold_filter=gold_filter))


def _gold_sql(
    project: Project, gold_filter: GoldFilter, *, csv_safe: bool = False, as_json: bool = False
) -> tuple[str, list]:
    """SELECT of the gold rows (GOLD_COLUMNS, or one JSON object each), and its parameters."""
    text = safe_sql if csv_safe else str
    columns = {
        "query_id": text("q.external_id"),
        "query": text("q.text"),
        "product_id": text("pr.external_id"),
        "product_title": text("pr.title"),
        "label": "p.gold_value",
        "label_name": text("s.name"),
        "provenance": "p.gold_provenance",
        "policy_version": "p.gold_policy_version",
        "raters": text("coalesce(d.raters, '')"),
        "llm_model": text("coalesce(d.model, '')"),
        "gold_updated_at": iso_sql("p.gold_updated_at"),
    }
    assert tuple(columns) == GOLD_COLUMNS
    select = json_object(columns) if as_json else ", ".join(f'{sql} AS "{name}"' for name, sql in columns.items())
    pair, query, product = Pair._meta.db_table, Query._meta.db_table, Product._meta.db_table
    level, label = ScaleLevel._meta.db_table, Label._meta.db_table
    params: list = [project.id, project.id]
    where = ""
    if gold_filter.run_id is not None:
        where += f" AND p.id IN (SELECT pair_id FROM {SearchResult._meta.db_table} WHERE run_id = %s)"
        params.append(gold_filter.run_id)
    provenances = gold_filter.provenance_values()
    if provenances is not None:
        where += " AND p.gold_provenance = ANY(%s)"
        params.append(provenances)
    # raters: distinct, in code-point order as Python's sorted(); model: the newest LLM label's.
    sql = f"""
        SELECT {select}
        FROM {pair} p
        JOIN {query} q ON q.id = p.query_id
        JOIN {product} pr ON pr.id = p.product_id
        LEFT JOIN {level} s ON s.project_id = p.project_id AND s.value = p.gold_value
        LEFT JOIN (
            SELECT pair_id,
                string_agg(DISTINCT rater, ',' ORDER BY rater) FILTER (WHERE source = '{LabelSource.HUMAN.value}') AS raters,
                (array_agg(rater ORDER BY created_at DESC, id DESC) FILTER (WHERE source = '{LabelSource.LLM.value}'))[1] AS model
            FROM (
                SELECT pair_id, source, rater COLLATE "C" AS rater, created_at, id FROM {label} WHERE project_id = %s
            ) l
            GROUP BY pair_id
        ) d ON d.pair_id = p.id
        WHERE p.project_id = %s AND p.gold_value IS NOT NULL{where}
        ORDER BY p.id
    """
    return sql, params


def export_gold_qrels(
    project: Project, *, chunk_size: int = CHUNK, gold_filter: GoldFilter = NO_FILTER
) -> Iterator[str]:
    """TREC qrels, `query_id 0 product_id label_value`: the label values, not the gains
    (trec_eval takes the values as gains, which match ours on scales where gain == value)."""
    gold = _gold_pairs(project, gold_filter)
    refuse_whitespace_ids(
        Query.objects.filter(project=project, id__in=gold.values("query_id")),
        Product.objects.filter(project=project, id__in=gold.values("product_id")),
        "qrels",
    )
    rows = gold.values_list("query__external_id", "product__external_id", "gold_value")

    def blocks() -> Iterator[str]:
        with snapshot():
            for batch in batches(rows.iterator(chunk_size=chunk_size), chunk_size):
                yield "".join(f"{qid} 0 {pid} {value}\n" for qid, pid, value in batch)

    return blocks()


def export_gold(
    project: Project,
    fmt: str,
    *,
    extra: ExtraColumns | None = None,
    chunk_size: int = CHUNK,
    gold_filter: GoldFilter = NO_FILTER,
    excel: bool = False,
) -> Iterator[str]:
    """excel: a CSV that Excel opens as UTF-8 (a byte-order mark first); csv only."""
    if excel and fmt != "csv":
        raise ExportError("the excel variant is a CSV option; choose format csv")
    if fmt == "csv":
        return export_gold_csv(project, extra=extra, chunk_size=chunk_size, gold_filter=gold_filter, excel=excel)
    if fmt == "jsonl":
        return export_gold_jsonl(project, extra=extra, chunk_size=chunk_size, gold_filter=gold_filter)
    if fmt == "qrels":
        if extra:
            raise ExportError("qrels have a fixed set of columns; extra columns go into csv or jsonl")
        return export_gold_qrels(project, chunk_size=chunk_size, gold_filter=gold_filter)
    raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(GOLD_FORMATS)}")
