"""The staged import path (PostgreSQL): validated rows go in batches, by COPY, into a
TEMPORARY table inside the import's transaction; the checks across rows (repeats and
conflicting repeats, unknown ids) run in SQL over it, and the real tables are written
from it with INSERT … SELECT. Python holds one batch of rows at a time, whatever the
file's size; a problem anywhere rolls the whole transaction back.

The embedded database (SQLite) keeps the in-memory path: its files are small.
"""

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection

from .errors import Problems
from .records import conflict_problem, repeat_notes


def staged() -> bool:
    """True where imports stage in a temporary table (PostgreSQL); QRELAY_IMPORT_STAGED=False
    forces the in-memory path (the benchmark compares the two)."""
    return connection.vendor == "postgresql" and getattr(settings, "QRELAY_IMPORT_STAGED", True)


def execute(sql: str, params: Sequence[Any] = ()) -> int:
    """Run one statement; the number of rows it touched."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def fetchone(sql: str, params: Sequence[Any] = ()) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def scalar(sql: str, params: Sequence[Any] = ()) -> Any:
    return fetchone(sql, params)[0]


def stream(sql: str, params: Sequence[Any] = ()) -> Iterator[tuple]:
    """The rows of a query through a server-side cursor: one batch in memory at a time.
    Only inside a transaction (the cursor lives until its end or until exhausted)."""
    connection.ensure_connection()
    with connection.connection.cursor(name=f"import_{uuid.uuid4().hex[:12]}") as cursor:
        cursor.itersize = settings.QRELAY_IMPORT_BATCH_SIZE
        cursor.execute(sql, params)
        yield from cursor


def batches(rows: Iterator[tuple], size: int | None = None) -> Iterator[list[tuple]]:
    size = size or settings.QRELAY_IMPORT_BATCH_SIZE
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class Stage:
    """A temporary table of rows (a `line` column first, then `columns`), filled by COPY
    one batch at a time. Dropped at commit, or when the import's savepoint rolls back."""

    def __init__(self, name: str, columns: Sequence[tuple[str, str]]):
        assert connection.in_atomic_block, "a stage lives inside the import's transaction"
        self.name = name
        self.columns = ["line", *(column for column, _ in columns)]
        self.batch_size = settings.QRELAY_IMPORT_BATCH_SIZE
        self.buffer: list[tuple] = []
        self.rows = 0
        definition = ", ".join(["line integer", *(f"{column} {sql_type}" for column, sql_type in columns)])
        execute(f"DROP TABLE IF EXISTS {name}")
        execute(f"CREATE TEMPORARY TABLE {name} ({definition}) ON COMMIT DROP")

    def add(self, line: int, values: Sequence[Any]) -> None:
        self.buffer.append((line, *values))
        if len(self.buffer) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            sql = f"COPY {self.name} ({', '.join(self.columns)}) FROM STDIN"
            with connection.cursor() as wrapper, wrapper.cursor.copy(sql) as copy:
                for row in self.buffer:
                    copy.write_row(row)
            self.rows += len(self.buffer)
            self.buffer = []


@dataclass(frozen=True)
class Dedupe:
    """How the rows of one file kind repeat: the key, the columns a repeat must agree on
    (else it conflicts), the product-text columns it may differ in (noted), and how to
    turn staged columns (after `line`) back into a record for the conflict message."""

    what: str
    key: tuple[str, ...]
    compared: tuple[str, ...]
    text: tuple[str, ...]
    record: Callable[[tuple], Any]
    text_fields: tuple[str, ...] = ()


def _distinct(columns: Sequence[str]) -> str:
    if not columns:
        return "FALSE"
    left = ", ".join(f"s.{c}" for c in columns)
    right = ", ".join(f"k.{c}" for c in columns)
    return f"ROW({left}) IS DISTINCT FROM ROW({right})"


def dedupe(stage: Stage, spec: Dedupe, problems: Problems) -> str:
    """Keep the first row per key in `<stage>_kept` (its name is returned); count exact
    and text-only repeats into notes, and add a problem per conflicting repeat, in line
    order, with the same message as the in-memory path."""
    kept = f"{stage.name}_kept"
    key = ", ".join(spec.key)
    execute(f"DROP TABLE IF EXISTS {kept}")
    execute(
        f"CREATE TEMPORARY TABLE {kept} ON COMMIT DROP AS "
        f"SELECT DISTINCT ON ({key}) * FROM {stage.name} ORDER BY {key}, line"
    )
    execute(f"CREATE INDEX ON {kept} ({key})")
    execute(f"ANALYZE {kept}")
    join = f"FROM {stage.name} s JOIN {kept} k USING ({key}) WHERE s.line <> k.line"
    conflicting, text_differs = _distinct(spec.compared), _distinct(spec.text)
    exact, text_only = fetchone(
        f"SELECT count(*) FILTER (WHERE NOT ({conflicting}) AND NOT ({text_differs})), "
        f"count(*) FILTER (WHERE NOT ({conflicting}) AND ({text_differs})) {join}"
    )
    repeat_notes(problems, spec.what, exact, text_only)
    values = [c for c in stage.columns if c != "line"]
    here = ", ".join(f"s.{c}" for c in values)
    there = ", ".join(f"k.{c}" for c in values)
    width = len(values)
    for row in stream(f"SELECT s.line, k.line, {here}, {there} {join} AND {conflicting} ORDER BY s.line"):
        line, first_line = row[0], row[1]
        record, first = spec.record(row[2 : 2 + width]), spec.record(row[2 + width :])
        key_values = tuple(getattr(record, name) for name in spec.key)
        conflict_problem(problems, spec.what, key_values, first_line, first, line, record, spec.text_fields)
    return kept
