"""Exports: gold labels (CSV, JSONL, TREC qrels), all labels (JSONL), a run (TREC run).

Every export is streamed: the function checks what it can up front (so a bad request
fails before the first byte), then returns a generator of text blocks, each made of
whole lines. Rows come from the database through server-side cursors
(`.iterator(chunk_size=…)`) of plain tuples, and the extra details of a pair (raters,
model) are read one chunk of pairs at a time, so memory stays flat whatever the size.
Hand the generator to a file, stdout or a StreamingHttpResponse.

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
from django.db.models import CharField, Func

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
# Columns of numbers qrelay writes itself: never neutralised (a negative number is data).
_OUR_NUMBERS = frozenset({"label", "policy_version", "label_id", "confidence", "guideline_version"})
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
        return self.as_sql(compiler, connection, template="strftime('%%%%Y-%%%%m-%%%%dT%%%%H:%%%%M:%%%%fZ', %(expressions)s)", **extra)


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
    """Rows as tuples, in chunks, with their column names; `text` names the columns
    whose values come from users, files or models (the ones CSV must neutralise)."""

    columns: tuple[str, ...]
    text: frozenset[str]
    chunks: Iterator[list[tuple]]


def _with_extra(table_columns: tuple[str, ...], extra: ExtraColumns | None) -> tuple[str, ...]:
    return table_columns + (extra.names if extra else ())


# --- gold ------------------------------------------------------------------------------


def _gold_pairs(project: Project):
    return Pair.objects.filter(project=project, gold_value__isnull=False).order_by("id")


def gold_table(project: Project, *, extra: ExtraColumns | None = None, chunk_size: int = CHUNK) -> Table:
    """The project's gold labels with provenance, in pair order (GOLD_COLUMNS + extra).

    raters: the human raters who labelled the pair, sorted, comma-separated.
    llm_model: the rater (model name) of the pair's newest LLM label, if any.
    Nothing is read until the first chunk is asked for."""
    return Table(
        _with_extra(GOLD_COLUMNS, extra),
        frozenset(GOLD_COLUMNS) - {"label", "policy_version"},
        _gold_chunks(project, extra, chunk_size),
    )


def _gold_chunks(project: Project, extra: ExtraColumns | None, chunk_size: int) -> Iterator[list[tuple]]:
    # Two cursors run side by side, the gold pairs and the project's labels, both in
    # pair id order, merged here: one pass over each table, not a lookup per pair.
    with _snapshot():
        names = dict(ScaleLevel.objects.filter(project=project).values_list("value", "name"))
        rows = _gold_pairs(project).values_list(
            "id",
            "query__external_id",
            "query__text",
            "product__external_id",
            "product__title",
            "gold_value",
            "gold_provenance",
            "gold_policy_version",
            IsoTimestamp("gold_updated_at"),
        )
        labels = iter(
            Label.objects.filter(project=project)
            .order_by("pair_id", "created_at", "id")
            .values_list("pair_id", "source", "rater")
            .iterator(chunk_size=chunk_size)
        )
        label = next(labels, None)
        human = LabelSource.HUMAN
        for batch in _batches(rows.iterator(chunk_size=chunk_size), chunk_size):
            more = extra.fetch([row[0] for row in batch]) if extra else {}
            out = []
            for pair_id, qid, query, pid, title, value, provenance, policy, updated in batch:
                while label is not None and label[0] < pair_id:  # labels of pairs without gold
                    label = next(labels, None)
                humans: set[str] = set()
                model = ""
                while label is not None and label[0] == pair_id:
                    if label[1] == human:
                        humans.add(label[2])
                    else:
                        model = label[2]  # ordered by time: the newest wins
                    label = next(labels, None)
                row = (qid, query, pid, title, value, names.get(value), provenance, policy, ",".join(sorted(humans)), model, updated)
                if extra:
                    found = more.get(pair_id, {})
                    row += tuple(found.get(name) for name in extra.names)
                out.append(row)
            yield out


def csv_blocks(table: Table) -> Iterator[str]:
    """A table as CSV text blocks, formula cells neutralised (see the module doc): every
    text column, and extra columns whenever their value is text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(table.columns)
    yield buffer.getvalue()
    text = [i for i, name in enumerate(table.columns) if name in table.text]
    unknown = [i for i, name in enumerate(table.columns) if name not in table.text and name not in _OUR_NUMBERS]
    starts = frozenset(_FORMULA_START)
    for chunk in table.chunks:
        buffer.seek(0)
        buffer.truncate()
        rows = []
        for row in chunk:
            row = list(row)
            for i in text:
                value = row[i]
                if value and value[0] in starts:
                    row[i] = "'" + value
            for i in unknown:
                row[i] = neutralise(row[i])
            rows.append(row)
        writer.writerows(rows)
        yield buffer.getvalue()


def jsonl_blocks(table: Table) -> Iterator[str]:
    columns = table.columns
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    for chunk in table.chunks:
        yield "".join(dumps(dict(zip(columns, row))) + "\n" for row in chunk)


def export_gold_csv(project: Project, *, extra: ExtraColumns | None = None, chunk_size: int = CHUNK) -> Iterator[str]:
    return csv_blocks(gold_table(project, extra=extra, chunk_size=chunk_size))


def export_gold_jsonl(project: Project, *, extra: ExtraColumns | None = None, chunk_size: int = CHUNK) -> Iterator[str]:
    return jsonl_blocks(gold_table(project, extra=extra, chunk_size=chunk_size))


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


def export_gold(project: Project, fmt: str, *, extra: ExtraColumns | None = None, chunk_size: int = CHUNK) -> Iterator[str]:
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
    return Table(
        _with_extra(LABEL_COLUMNS, extra),
        frozenset({"query_id", "product_id", "source", "rater", "label_name", "rationale", "created_at"}),
        _label_chunks(project, extra, chunk_size),
    )


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


def export_labels_jsonl(project: Project, *, extra: ExtraColumns | None = None, chunk_size: int = CHUNK) -> Iterator[str]:
    return jsonl_blocks(labels_table(project, extra=extra, chunk_size=chunk_size))


# --- a run as a TREC run file ------------------------------------------------------------


def _trec_keeps_order(results: list[tuple[str, float | None]]) -> bool:
    """Whether trec_eval, which sorts by score descending and then docno descending,
    reads these (docno, score) rows in the order given."""
    for (id_a, score_a), (id_b, score_b) in pairwise(results):
        if score_a is None or score_b is None:
            return False
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
