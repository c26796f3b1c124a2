"""Turn a file into rows of canonical columns, or a list of problems naming line and column.
Files are read as a stream (`RowStream`): one line in memory at a time, whatever the size.

Formats: CSV (header row; `.tsv` is tab-separated), JSONL (one JSON object per line),
and TREC run (`qid Q0 docno rank score tag`) / qrels (`qid iter docno rel`) files.
"""

import codecs
import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .errors import ImportFailed, ImportProblem, Problems

FORMATS = ("csv", "tsv", "jsonl", "trec")
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".run": "trec",
    ".trec": "trec",
    ".qrels": "trec",
    ".txt": "trec",
}


@dataclass(frozen=True)
class ColumnSpec:
    """Canonical column names of one file kind, the required ones, and known aliases."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    aliases: dict[str, str]
    # Column names for TREC files, in field order; None if the kind has no TREC form.
    trec_fields: tuple[str, ...] | None = None

    def canonical(self, name: str) -> str | None:
        key = name.strip().lower().replace(" ", "_").replace("-", "_")
        key = self.aliases.get(key, key)
        return key if key in self.required or key in self.optional else None


@dataclass(frozen=True)
class Row:
    line: int
    values: dict[str, Any]


def detect_format(path: Path, requested: str | None) -> str:
    if requested:
        if requested not in FORMATS:
            raise ImportFailed([ImportProblem(path.name, None, None, f"unknown format {requested!r}")])
        return requested
    fmt = _EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise ImportFailed(
            [
                ImportProblem(
                    path.name,
                    None,
                    None,
                    f"cannot tell the format from the extension {path.suffix!r}; use --format {'|'.join(FORMATS)}",
                )
            ]
        )
    return fmt


_BOM = b"\xef\xbb\xbf"
# Universal newlines as io.StringIO(newline="") splits them: a lone \r ends a line too.
_LONE_CR = re.compile(r"(?<=\r)(?!\n)")


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise ImportFailed([ImportProblem(path.name, None, None, f"cannot read file: {exc.strerror}")]) from None


def _is_blank(path: Path) -> bool:
    """True if the file holds only whitespace; stops at the first chunk with text in it."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with _open(path) as handle:
        chunk = handle.read(1 << 16).removeprefix(_BOM)
        while chunk:
            if decoder.decode(chunk).strip():
                return False
            chunk = handle.read(1 << 16)
    return not decoder.decode(b"", final=True).strip()


def text_lines(path: Path) -> Iterator[str]:
    """The file's lines (split on "\n", which is kept), decoded as UTF-8 one at a time (a
    BOM is accepted), refusing NUL bytes and bad bytes with the line they are on. Only
    one line is ever in memory: UTF-8 never has a 0x0A byte inside a character."""
    name = path.name
    if _is_blank(path):
        raise ImportFailed([ImportProblem(name, None, None, "file is empty")])
    offset = 0
    with _open(path) as handle:
        for line_no, data in enumerate(handle, start=1):
            if line_no == 1:
                data = data.removeprefix(_BOM)
            if b"\x00" in data:
                raise ImportFailed(
                    [ImportProblem(name, line_no, None, "NUL byte in file (is it a binary or UTF-16 file?)")]
                )
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                at = offset + exc.start
                raise ImportFailed(
                    [ImportProblem(name, line_no, None, f"invalid UTF-8 at byte {at}; save the file as UTF-8")]
                ) from None
            offset += len(data)
            yield text


class RowStream:
    """The rows of a file, parsed lazily one at a time. Problems of single rows (a wrong
    field count, malformed JSON) are collected in `problems` while iterating; problems
    that make the rest unreadable (NUL bytes, bad UTF-8, a bad header) raise ImportFailed
    at once. After iterating, `finish()` raises what was collected, or that there were no
    rows; `rows` counts the rows read."""

    def __init__(self, path: Path, spec: ColumnSpec, fmt: str | None = None):
        self.path = Path(path)
        self.spec = spec
        self.fmt = detect_format(self.path, fmt)
        if self.fmt == "trec" and spec.trec_fields is None:
            raise ImportFailed(
                [ImportProblem(self.path.name, None, None, "TREC format is only for runs and labels (qrels)")]
            )
        self.problems = Problems(self.path.name)
        self.rows = 0

    def __iter__(self) -> Iterator[Row]:
        name, lines = self.path.name, text_lines(self.path)
        if self.fmt in ("csv", "tsv"):
            rows = _read_csv(name, lines, self.spec, "\t" if self.fmt == "tsv" else ",", self.problems)
        elif self.fmt == "jsonl":
            rows = _read_jsonl(name, lines, self.spec, self.problems)
        else:
            rows = _read_trec(name, lines, self.spec, self.problems)
        for row in rows:
            self.rows += 1
            yield row

    def finish(self) -> None:
        if self.problems:
            raise self.problems.failure()
        if not self.rows:
            raise ImportFailed([ImportProblem(self.path.name, None, None, "file has a header but no rows")])


def read_rows(path: Path, spec: ColumnSpec, fmt: str | None = None) -> list[Row]:
    """Every row of a small file as a list (the embedded database's import path)."""
    stream = RowStream(path, spec, fmt)
    rows = list(stream)
    stream.finish()
    return rows


def _map_header(name: str, header: list[str], spec: ColumnSpec, line: int) -> list[str | None]:
    problems = []
    mapped: list[str | None] = []
    seen: dict[str, str] = {}
    for raw in header:
        canonical = spec.canonical(raw)
        if canonical is not None and canonical in seen:
            problems.append(
                ImportProblem(
                    name, line, raw, f"duplicate column: '{raw}' and '{seen[canonical]}' both mean '{canonical}'"
                )
            )
        if canonical is not None:
            seen[canonical] = raw
        mapped.append(canonical)
    for column in spec.required:
        if column not in seen:
            aliases = sorted(alias for alias, target in spec.aliases.items() if target == column)
            hint = f" (or {', '.join(aliases)})" if aliases else ""
            problems.append(ImportProblem(name, line, column, f"missing required column '{column}'{hint}"))
    if problems:
        raise ImportFailed(problems)
    return mapped


def _csv_lines(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        if "\r" in line:
            yield from (part for part in _LONE_CR.split(line) if part)
        else:
            yield line


def _read_csv(name: str, lines: Iterator[str], spec: ColumnSpec, delimiter: str, problems: Problems) -> Iterator[Row]:
    reader = csv.reader(_csv_lines(lines), delimiter=delimiter, strict=True)
    # The csv module reports errors on the line where it gave up (for an unclosed quote,
    # the last line of the file); the record that caused it starts after the previous one.
    previous_end = 0
    try:
        header = next(reader)
        header_line = previous_end = reader.line_num
        columns = _map_header(name, header, spec, header_line)
        for fields in reader:
            # A record is named by the line it starts on (a quoted field may span lines).
            line, previous_end = previous_end + 1, reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(fields) != len(columns):
                problems.add(line, None, f"expected {len(columns)} fields as in the header, got {len(fields)}")
                continue
            yield Row(line, {col: value for col, value in zip(columns, fields) if col is not None})
    except csv.Error as exc:
        message = f"malformed CSV: {exc}"
        if str(exc) == "unexpected end of data":
            message = "malformed CSV: a quoted field in the record starting on this line is never closed"
        problems.add(previous_end + 1, None, message)


def _read_jsonl(name: str, lines: Iterator[str], spec: ColumnSpec, problems: Problems) -> Iterator[Row]:
    # Lines split on "\n" only: JSON strings may hold U+2028, U+0085, form feeds, ...
    for line_no, line in enumerate(lines, start=1):
        line = line.removesuffix("\n")  # else an error at the end of the line is placed on the next
        if not line.strip():
            continue
        try:
            obj = json.loads(line, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            problems.add(line_no, None, f"malformed JSON at character {exc.colno}: {exc.msg}")
            continue
        except _Constant as exc:
            problems.add(line_no, None, f"{exc} is not valid JSON; use null or a number")
            continue
        except RecursionError:
            problems.add(line_no, None, f"JSON nested more than {MAX_JSON_DEPTH} levels deep")
            continue
        if not isinstance(obj, dict):
            problems.add(line_no, None, "each line must be a JSON object")
            continue
        unusable = _unusable_json(obj)
        if unusable:
            problems.add(line_no, None, unusable)
            continue
        values = {}
        for key, value in obj.items():
            canonical = spec.canonical(str(key))
            if canonical is not None:
                values[canonical] = value
        missing = [col for col in spec.required if col not in values]
        if missing:
            problems.add(line_no, missing[0], f"missing required field '{missing[0]}'")
            continue
        yield Row(line_no, values)


# Deeper documents would overflow whatever walks them later (the JSON encoder that
# stores attributes); no catalogue needs this many levels.
MAX_JSON_DEPTH = 64


class _Constant(ValueError):
    pass


def _no_constant(text: str) -> Any:
    # NaN and Infinity: Python's json accepts them, JSON (and PostgreSQL's jsonb) does not.
    raise _Constant(text)


def _unusable_json(value: Any) -> str | None:
    """Why a decoded line cannot be stored, or None: too deep, or a string (key or value)
    holding NUL or a lone surrogate, which PostgreSQL and UTF-8 refuse. Iterative, so a
    deep document cannot overflow the stack here."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"JSON nested more than {MAX_JSON_DEPTH} levels deep"
        if isinstance(item, dict):
            stack += [(key, depth) for key in item] + [(sub, depth + 1) for sub in item.values()]
        elif isinstance(item, list):
            stack += [(sub, depth + 1) for sub in item]
        elif isinstance(item, str):
            if "\x00" in item:
                return "a JSON string holds a NUL character (\\u0000), which cannot be stored"
            if any("\ud800" <= c <= "\udfff" for c in item):
                return "a JSON string holds a lone surrogate (\\ud800-\\udfff), which is not valid Unicode"
    return None


def _read_trec(name: str, lines: Iterator[str], spec: ColumnSpec, problems: Problems) -> Iterator[Row]:
    fields_spec = spec.trec_fields or ()
    width = len(fields_spec)
    for line_no, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != width:
            problems.add(
                line_no,
                None,
                f"expected {width} whitespace-separated fields ({' '.join(fields_spec)}), got {len(fields)}",
            )
            continue
        yield Row(line_no, {col: value for col, value in zip(fields_spec, fields) if not col.startswith("_")})
