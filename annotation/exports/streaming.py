"""Exports as text: a table as CSV or JSONL blocks, PostgreSQL's own CSV (COPY) and JSON
streams, and `write_file`, which puts an export on disk whole or not at all."""

import csv
import io
import json
import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from ..metrics import local_settings
from .tables import Table, snapshot


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


# On PostgreSQL, without extra columns, the database builds the rows itself: it
# aggregates each pair's labels in one pass and writes CSV through COPY, or JSON text
# through a server-side cursor, leaving almost no work to Python. The Python paths
# (gold_table, labels_table) are the reference; the tests check that both give the same
# rows.


def iso_sql(column: str) -> str:
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def json_object(columns: dict[str, str]) -> str:
    return "json_build_object(" + ", ".join(f"'{name}', {sql}" for name, sql in columns.items()) + ")::text"


@contextmanager
def pg_export():
    """snapshot, plus settings for one big query: memory to sort and hash in RAM, and
    no parallel workers, which would each repeat the whole label aggregation."""
    with snapshot(), local_settings(work_mem="128MB", max_parallel_workers_per_gather="0"):
        yield


def copy_csv(sql: str, params: list, block_bytes: int = 1 << 16) -> Iterator[str]:
    """CSV with a header row, written by COPY and streamed as it comes."""
    with pg_export(), connection.cursor() as wrapper:
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


def json_lines(sql: str, params: list, chunk_size: int) -> Iterator[str]:
    with pg_export(), connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk_size):
            yield "".join([row[0] + "\n" for row in rows])


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
