"""Turn a file into rows of canonical columns, or a list of problems naming line and column.

Formats: CSV (header row; `.tsv` is tab-separated), JSONL (one JSON object per line),
and TREC run (`qid Q0 docno rank score tag`) / qrels (`qid iter docno rel`) files.
"""

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ImportFailed, ImportProblem

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


def read_text(path: Path) -> str:
    """Read a whole file as UTF-8 (a BOM is accepted), refusing NUL bytes and bad bytes."""
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFailed([ImportProblem(name, None, None, f"cannot read file: {exc.strerror}")]) from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise ImportFailed([ImportProblem(name, line, None, "NUL byte in file (is it a binary or UTF-16 file?)")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportFailed(
            [ImportProblem(name, line, None, f"invalid UTF-8 at byte {exc.start}; save the file as UTF-8")]
        ) from None
    if not text.strip():
        raise ImportFailed([ImportProblem(name, None, None, "file is empty")])
    return text


def read_rows(path: Path, spec: ColumnSpec, fmt: str | None = None) -> list[Row]:
    fmt = detect_format(path, fmt)
    text = read_text(path)
    if fmt in ("csv", "tsv"):
        rows = _read_csv(path.name, text, spec, "\t" if fmt == "tsv" else ",")
    elif fmt == "jsonl":
        rows = _read_jsonl(path.name, text, spec)
    else:
        rows = _read_trec(path.name, text, spec)
    if not rows:
        raise ImportFailed([ImportProblem(path.name, None, None, "file has a header but no rows")])
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


def _read_csv(name: str, text: str, spec: ColumnSpec, delimiter: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[Row] = []
    problems: list[ImportProblem] = []
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
                problems.append(
                    ImportProblem(
                        name, line, None, f"expected {len(columns)} fields as in the header, got {len(fields)}"
                    )
                )
                continue
            values = {col: value for col, value in zip(columns, fields) if col is not None}
            rows.append(Row(line, values))
    except csv.Error as exc:
        message = f"malformed CSV: {exc}"
        if str(exc) == "unexpected end of data":
            message = "malformed CSV: a quoted field in the record starting on this line is never closed"
        problems.append(ImportProblem(name, previous_end + 1, None, message))
    if problems:
        raise ImportFailed(problems)
    return rows


def _read_jsonl(name: str, text: str, spec: ColumnSpec) -> list[Row]:
    rows: list[Row] = []
    problems: list[ImportProblem] = []
    # split("\n"), not splitlines(): JSON strings may hold U+2028, U+0085, form feeds, ...
    for line_no, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            problems.append(ImportProblem(name, line_no, None, f"malformed JSON at character {exc.colno}: {exc.msg}"))
            continue
        except _Constant as exc:
            problems.append(ImportProblem(name, line_no, None, f"{exc} is not valid JSON; use null or a number"))
            continue
        except RecursionError:
            problems.append(ImportProblem(name, line_no, None, f"JSON nested more than {MAX_JSON_DEPTH} levels deep"))
            continue
        if not isinstance(obj, dict):
            problems.append(ImportProblem(name, line_no, None, "each line must be a JSON object"))
            continue
        unusable = _unusable_json(obj)
        if unusable:
            problems.append(ImportProblem(name, line_no, None, unusable))
            continue
        values = {}
        for key, value in obj.items():
            canonical = spec.canonical(str(key))
            if canonical is not None:
                values[canonical] = value
        missing = [col for col in spec.required if col not in values]
        if missing:
            problems.append(ImportProblem(name, line_no, missing[0], f"missing required field '{missing[0]}'"))
            continue
        rows.append(Row(line_no, values))
    if problems:
        raise ImportFailed(problems)
    return rows


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


def _read_trec(name: str, text: str, spec: ColumnSpec) -> list[Row]:
    if spec.trec_fields is None:
        raise ImportFailed([ImportProblem(name, None, None, "TREC format is only for runs and labels (qrels)")])
    width = len(spec.trec_fields)
    rows: list[Row] = []
    problems: list[ImportProblem] = []
    for line_no, line in enumerate(text.split("\n"), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != width:
            problems.append(
                ImportProblem(
                    name,
                    line_no,
                    None,
                    f"expected {width} whitespace-separated fields ({' '.join(spec.trec_fields)}), got {len(fields)}",
                )
            )
            continue
        values = {col: value for col, value in zip(spec.trec_fields, fields) if not col.startswith("_")}
        rows.append(Row(line_no, values))
    if problems:
        raise ImportFailed(problems)
    return rows
