"""Exports: gold labels (CSV, JSONL, TREC qrels), all labels (JSONL), a run (TREC run).

Every export is streamed: the function checks what it can up front (so a bad request
fails before the first byte), then returns a generator of text blocks, each made of
whole lines, that reads nothing until it is iterated. Rows come through server-side
cursors (`.iterator(chunk_size=…)`, or on PostgreSQL a COPY stream), so memory stays flat
whatever the size. Hand the generator to a file (`write_file`), stdout or a
StreamingHttpResponse, and consume it in one go: it holds a transaction open meanwhile.

CSV cells are safe to open in a spreadsheet: a text cell starting with =, +, -, @, a tab
or a carriage return gets a leading single quote, so it is shown as text rather than run
as a formula. This applies to every text cell, ids included (a query id "-12" is written
"'-12"), but not to the numbers qrelay writes itself (label values, policy versions):
those are written as numbers, and a spreadsheet never runs a number.
JSONL and TREC files are for programs, not spreadsheets, and are written unchanged.

The LLM prompt version of a label lives in `judging`, which `annotation` does not import;
callers that know it pass it in through `ExtraColumns`.
"""

import csv
import io
import json
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice, pairwise
from pathlib import Path
from typing import Any, Literal

from django.db import connection, transaction
from django.db.models import Case, CharField, F, Func, Value, When
from django.db.models.functions import Concat

from .metrics import local_settings, result_order
from .models import Label, LabelSource, Pair, Product, Project, Query, ScaleLevel, SearchResult, SearchRun

CHUNK = 5000
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
LABEL_COLUMNS = (
    "label_id",
    "query_id",
    "product_id",
    "source",
    "rater",
    "label",
    "label_name",
    "confidence",
    "rationale",
    "guideline_version",
    "created_at",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_CHARS = frozenset(_FORMULA_START)
_FORMULA_REGEX = "^[-=+@\t\r]"
_WHITESPACE = r"\s"


class ExportError(ValueError):
    pass


@dataclass(frozen=True)
class ExtraColumns:
    """More columns from outside `annotation`, e.g. judging's prompt version.

    fetch gets the ids of one chunk of exported objects (pair ids for gold exports, label
    ids for the labels export) and returns {id: {column: value}}; missing ids or columns
    are left empty."""

    names: tuple[str, ...]
    fetch: Callable[[Sequence[int]], Mapping[int, Mapping[str, Any]]]


def neutralise(value: Any) -> Any:
    """A CSV cell safe from formula injection: text starting with a formula character
    gets a leading quote; numbers and None pass unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _batches(rows: Iterable, size: int) -> Iterator[list]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


class IsoTimestamp(Func):
    """A timestamp as ISO 8601 text in UTC, formatted by the database: turning a million
    timestamps into datetime objects and back costs more than the rest of an export."""

    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra):
        template = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler, connection, **extra):
        # Django stores UTC text in SQLite; %% survives the template, then the driver.
        return self.as_sql(
            compiler, connection, template="strftime('%%%%Y-%%%%m-%%%%dT%%%%H:%%%%M:%%%%fZ', %(expressions)s)", **extra
        )


@contextmanager
def _snapshot():
    """One transaction around an export's reads, because inside a transaction a
    server-side cursor hands rows over as the query produces them, while outside one
    PostgreSQL must first run the query to the end and store its result (WITH HOLD).
    When the export owns the transaction, it is REPEATABLE READ, so that all of its
    cursors see the same moment. The cursors are planned for reading everything
    (cursor_tuple_fraction 1: hash joins and one sort, 2x faster here than the nested
    loops PostgreSQL picks for a cursor's first rows), without JIT."""
    owner = not connection.in_atomic_block
    with transaction.atomic():
        if owner and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        with local_settings(cursor_tuple_fraction="1", jit="off"):
            yield


@dataclass(frozen=True)
class Table:
    """Rows as tuples, in chunks, with their column names."""

    columns: tuple[str, ...]
    chunks: Iterator[list[tuple]]


def _with_extra(table_columns: tuple[str, ...], extra: ExtraColumns | None) -> tuple[str, ...]:
    return table_columns + (extra.names if extra else ())


def _csv_safe(field: str):
    """The field's text, neutralised by the database (see neutralise)."""
    return Case(
        When(**{f"{field}__regex": _FORMULA_REGEX}, then=Concat(Value("'"), F(field))),
        default=F(field),
        output_field=CharField(),
    )


def _safe_text(value: str) -> str:
    return "'" + value if value and value[0] in _FORMULA_CHARS else value


# --- gold ------------------------------------------------------------------------------


def _gold_pairs(project: Project):
    return Pair.objects.filter(project=project, gold_value__isnull=False).order_by("id")


def gold_table(
    project: Project, *, extra: ExtraColumns | None = None, csv_safe: bool = False, chunk_size: int = CHUNK
) -> Table:
    """The project's gold labels with provenance, in pair order (GOLD_COLUMNS + extra).

    raters: the human raters who labelled the pair, sorted, comma-separated.
    llm_model: the rater (model name) of the pair's newest LLM label, if any.
    csv_safe: neutralise formula cells (see the module doc); the database does it for
    the columns it reads, which keeps a million-row export fast.
    Nothing is read until the first chunk is asked for."""
    return Table(_with_extra(GOLD_COLUMNS, extra), _gold_chunks(project, extra, csv_safe, chunk_size))


def _gold_chunks(
    project: Project, extra: ExtraColumns | None, csv_safe: bool, chunk_size: int
) -> Iterator[list[tuple]]:
    text = _csv_safe if csv_safe else F
    safe = _safe_text if csv_safe else str
    with _snapshot():
        names = {
            value: safe(name) for value, name in ScaleLevel.objects.filter(project=project).values_list("value", "name")
        }
        rows = _gold_pairs(project).values_list(
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
        details = _pair_details(_batches(labels, chunk_size))
        next(details)
        for batch in _batches(rows.iterator(chunk_size=chunk_size), chunk_size):
            found = details.send(batch[-1][0])
            more = extra.fetch([row[0] for row in batch]) if extra else {}
            out = []
            for pair_id, qid, query, pid, title, value, provenance, policy, updated in batch:
                humans, model = found.get(pair_id, _NO_DETAILS)
                row = (
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
                pending = next(label_chunks, None) or []
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


def csv_blocks(table: Table) -> Iterator[str]:
    """A table as CSV text blocks; the table's rows must be neutralised already."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")  # as PostgreSQL's COPY writes it
    writer.writerow(table.columns)
    yield buffer.getvalue()
    for chunk in table.chunks:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(chunk)
        yield buffer.getvalue()


def jsonl_blocks(table: Table) -> Iterator[str]:
    columns = table.columns
    dumps = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode
    for chunk in table.chunks:
        yield "".join([dumps(dict(zip(columns, row))) + "\n" for row in chunk])


def export_gold_csv(project: Project, *, extra: ExtraColumns | None = None, chunk_size: int = CHUNK) -> Iterator[str]:
    if extra is None and connection.vendor == "postgresql":
        return _copy_csv(_gold_sql(csv_safe=True), [project.id, project.id])
    return csv_blocks(gold_table(project, extra=extra, csv_safe=True, chunk_size=chunk_size))


def export_gold_jsonl(project: Project, *, extra: ExtraColumns | None = None, chunk_size: int = CHUNK) -> Iterator[str]:
    if extra is None and connection.vendor == "postgresql":
        return _json_lines(_gold_sql(as_json=True), [project.id, project.id], chunk_size)
    return jsonl_blocks(gold_table(project, extra=extra, chunk_size=chunk_size))


# --- the same, done by PostgreSQL ----------------------------------------------------------
#
# On PostgreSQL, without extra columns, the database builds the rows itself: it
# aggregates each pair's labels in one pass and writes CSV through COPY, or JSON text
# through a server-side cursor, leaving almost no work to Python. The Python paths above
# (gold_table, labels_table) are the reference; the tests check that both give the same
# rows.


def _iso_sql(column: str) -> str:
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def _safe_sql(expression: str) -> str:
    """The SQL of neutralise(): a leading quote before a formula character."""
    quote = "''''"
    starts = "('^[-=+@' || chr(9) || chr(13) || ']')"
    return f"CASE WHEN {expression} ~ {starts} THEN {quote} || {expression} ELSE {expression} END"


def _json_object(columns: dict[str, str]) -> str:
    return "json_build_object(" + ", ".join(f"'{name}', {sql}" for name, sql in columns.items()) + ")::text"


def _gold_sql(*, csv_safe: bool = False, as_json: bool = False) -> str:
    """SELECT of the gold rows (GOLD_COLUMNS, or one JSON object each); parameters: the
    project id, twice."""
    text = _safe_sql if csv_safe else str
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
        "gold_updated_at": _iso_sql("p.gold_updated_at"),
    }
    assert tuple(columns) == GOLD_COLUMNS
    select = _json_object(columns) if as_json else ", ".join(f'{sql} AS "{name}"' for name, sql in columns.items())
    pair, query, product = Pair._meta.db_table, Query._meta.db_table, Product._meta.db_table
    level, label = ScaleLevel._meta.db_table, Label._meta.db_table
    # raters: distinct, in code-point order as Python's sorted(); model: the newest LLM label's.
    return f"""
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
        WHERE p.project_id = %s AND p.gold_value IS NOT NULL
        ORDER BY p.id
    """


def _labels_sql() -> str:
    """SELECT of every label as one JSON object (LABEL_COLUMNS); parameter: the project id."""
    columns = {
        "label_id": "l.id",
        "query_id": "q.external_id",
        "product_id": "pr.external_id",
        "source": "l.source",
        "rater": "l.rater",
        "label": "l.value",
        "label_name": "s.name",
        "confidence": "l.confidence",
        "rationale": "l.rationale",
        "guideline_version": "l.guideline_version",
        "created_at": _iso_sql("l.created_at"),
    }
    assert tuple(columns) == LABEL_COLUMNS
    return f"""
        SELECT {_json_object(columns)}
        FROM {Label._meta.db_table} l
        JOIN {Pair._meta.db_table} p ON p.id = l.pair_id
        JOIN {Query._meta.db_table} q ON q.id = p.query_id
        JOIN {Product._meta.db_table} pr ON pr.id = p.product_id
        LEFT JOIN {ScaleLevel._meta.db_table} s ON s.project_id = l.project_id AND s.value = l.value
        WHERE l.project_id = %s
        ORDER BY l.id
    """


@contextmanager
def _pg_export():
    """_snapshot, plus settings for one big query: memory to sort and hash in RAM, and
    no parallel workers, which would each repeat the whole label aggregation."""
    with _snapshot(), local_settings(work_mem="128MB", max_parallel_workers_per_gather="0"):
        yield


def _copy_csv(sql: str, params: list, block_bytes: int = 1 << 16) -> Iterator[str]:
    """CSV with a header row, written by COPY and streamed as it comes."""
    with _pg_export(), connection.cursor() as wrapper:
        cursor = wrapper.cursor  # the psycopg cursor, for COPY
        with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)", params) as copy:
            parts: list[bytes] = []
            size = 0
            for data in copy:  # one row per message, so a block never splits a character
                parts.append(bytes(data))
                size += len(data)
                if size >= block_bytes:
                    yield b"".join(parts).decode()
                    parts, size = [], 0
            if parts:
                yield b"".join(parts).decode()


def _json_lines(sql: str, params: list, chunk_size: int) -> Iterator[str]:
    with _pg_export(), connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk_size):
            yield "".join([row[0] + "\n" for row in rows])


def _refuse_whitespace_ids(queries, products, what: str) -> None:
    """TREC files are split on whitespace, so an id containing any cannot be written."""
    query = queries.filter(external_id__regex=_WHITESPACE).values_list("external_id", flat=True).first()
    product = products.filter(external_id__regex=_WHITESPACE).values_list("external_id", flat=True).first()
    if query is not None or product is not None:
        which = f"query id {query!r}" if query is not None else f"product id {product!r}"
        raise ExportError(f"cannot write {what}: {which} contains whitespace, which the TREC format cannot hold")


def export_gold_qrels(project: Project, *, chunk_size: int = CHUNK) -> Iterator[str]:
    """TREC qrels, `query_id 0 product_id label_value`: the label values, not the gains
    (trec_eval takes the values as gains, which match ours on scales where gain == value)."""
    gold = _gold_pairs(project)
    _refuse_whitespace_ids(
        Query.objects.filter(project=project, id__in=gold.values("query_id")),
        Product.objects.filter(project=project, id__in=gold.values("product_id")),
        "qrels",
    )
    rows = gold.values_list("query__external_id", "product__external_id", "gold_value")

    def blocks() -> Iterator[str]:
        with _snapshot():
            for batch in _batches(rows.iterator(chunk_size=chunk_size), chunk_size):
                yield "".join(f"{qid} 0 {pid} {value}\n" for qid, pid, value in batch)

    return blocks()


def export_gold(
    project: Project, fmt: str, *, extra: ExtraColumns | None = None, chunk_size: int = CHUNK
) -> Iterator[str]:
    if fmt == "csv":
        return export_gold_csv(project, extra=extra, chunk_size=chunk_size)
    if fmt == "jsonl":
        return export_gold_jsonl(project, extra=extra, chunk_size=chunk_size)
    if fmt == "qrels":
        if extra:
            raise ExportError("qrels have a fixed set of columns; extra columns go into csv or jsonl")
        return export_gold_qrels(project, chunk_size=chunk_size)
    raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(GOLD_FORMATS)}")


# --- all labels ------------------------------------------------------------------------


def labels_table(project: Project, *, extra: ExtraColumns | None = None, chunk_size: int = CHUNK) -> Table:
    """Every label of the project (LLM and human, gold or not), oldest first
    (LABEL_COLUMNS + extra; extra.fetch gets label ids)."""
    return Table(_with_extra(LABEL_COLUMNS, extra), _label_chunks(project, extra, chunk_size))


def _label_chunks(project: Project, extra: ExtraColumns | None, chunk_size: int) -> Iterator[list[tuple]]:
    with _snapshot():
        names = dict(ScaleLevel.objects.filter(project=project).values_list("value", "name"))
        rows = (
            Label.objects.filter(project=project)
            .order_by("id")
            .values_list(
                "id",
                "pair__query__external_id",
                "pair__product__external_id",
                "source",
                "rater",
                "value",
                "confidence",
                "rationale",
                "guideline_version",
                IsoTimestamp("created_at"),
            )
        )
        for batch in _batches(rows.iterator(chunk_size=chunk_size), chunk_size):
            more = extra.fetch([row[0] for row in batch]) if extra else {}
            out = []
            for row in batch:
                row = row[:6] + (names.get(row[5]),) + row[6:]
                if extra:
                    found = more.get(row[0], {})
                    row += tuple(found.get(name) for name in extra.names)
                out.append(row)
            yield out


def export_labels_jsonl(
    project: Project, *, extra: ExtraColumns | None = None, chunk_size: int = CHUNK
) -> Iterator[str]:
    if extra is None and connection.vendor == "postgresql":
        return _json_lines(_labels_sql(), [project.id], chunk_size)
    return jsonl_blocks(labels_table(project, extra=extra, chunk_size=chunk_size))


# --- a run as a TREC run file ------------------------------------------------------------


def _trec_keeps_order(results: list[tuple[str, float | None]]) -> bool:
    """Whether trec_eval, which sorts by score descending and then docno descending,
    reads these (docno, score) rows in the order given."""
    # A missing score cannot be written, even for a query with a single result.
    if any(score is None for _, score in results):
        return False
    for (id_a, score_a), (id_b, score_b) in pairwise(results):
        if score_a < score_b or (score_a == score_b and id_a < id_b):
            return False
    return True


def _score_text(score: float) -> str:
    return repr(float(score))  # the shortest text that reads back as the same float


def export_run_trec(
    run: SearchRun, *, tag: str | None = None, scores: Literal["auto", "rank"] = "auto", chunk_size: int = CHUNK
) -> Iterator[str]:
    """The run as `query_id Q0 product_id rank score tag`, in qrelay's order per query.

    rank is the position in that order (1, 2, …). trec_eval ignores it and orders by
    score, so with scores="auto" a query's stored scores are written only where they
    give trec_eval the same order; elsewhere (missing scores, scores that disagree with
    the ranks) the query gets scores n, n−1, …, 1 from its positions, and "rank" does that
    for every query. Either way trec_eval scores the file as qrelay does.
    """
    if scores not in ("auto", "rank"):
        raise ExportError(f"unknown scores mode {scores!r}; choose auto or rank")
    tag = re.sub(r"\s+", "_", (tag or run.name).strip()) or "qrelay"
    results = SearchResult.objects.filter(run=run)
    _refuse_whitespace_ids(
        Query.objects.filter(id__in=results.values("query_id")),
        Product.objects.filter(id__in=results.values("product_id")),
        "a TREC run",
    )
    rows = results.order_by("query__external_id", "query_id", *result_order()).values_list(
        "query_id", "query__external_id", "product__external_id", "score"
    )

    def write_query(qid: str, ranked: list[tuple[str, float | None]]) -> str:
        keep = scores == "auto" and _trec_keeps_order(ranked)
        n = len(ranked)
        return "".join(
            f"{qid} Q0 {pid} {position} {_score_text(score) if keep else n - position + 1} {tag}\n"
            for position, (pid, score) in enumerate(ranked, start=1)
        )

    def blocks() -> Iterator[str]:
        # One query's results are held at a time: a list is short, the run can be huge.
        current: int | None = None
        qid = ""
        ranked: list[tuple[str, float | None]] = []
        out: list[str] = []
        pending = 0
        with _snapshot():
            for query_id, external_id, pid, score in rows.iterator(chunk_size=chunk_size):
                if query_id != current:
                    if ranked:
                        out.append(write_query(qid, ranked))
                        pending += len(ranked)
                        if pending >= chunk_size:
                            yield "".join(out)
                            out, pending = [], 0
                    current, qid, ranked = query_id, external_id, []
                ranked.append((pid, score))
        if ranked:
            out.append(write_query(qid, ranked))
        if out:
            yield "".join(out)

    return blocks()


# --- writing ----------------------------------------------------------------------------


def write_file(blocks: Iterable[str], path: str | os.PathLike) -> int:
    """Write an export to path through a temporary file in the same folder, renamed into
    place at the end: a failed export never leaves half a file under the real name.
    Returns the number of characters written."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    written = 0
    try:
        # Mode "x" and the umask, as for any file the user creates.
        with partial.open("x", encoding="utf-8", newline="") as handle:
            for block in blocks:
                written += handle.write(block)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return written
