"""What every export is made of: rows as tuples in chunks (`Table`), columns from outside
`annotation` (`ExtraColumns`), and the one transaction its reads share (`snapshot`)."""

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import Any

from django.db import connection, transaction
from django.db.models import CharField, Func

from ..metrics import local_settings

CHUNK = 5000


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


def batches(rows: Iterable, size: int) -> Iterator[list]:
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
def snapshot():
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


def with_extra(table_columns: tuple[str, ...], extra: ExtraColumns | None) -> tuple[str, ...]:
    return table_columns + (extra.names if extra else ())
