"""The validation of rows into typed records.

Validation collects every problem (file, line, column) instead of stopping at the first,
and de-duplicates rows by their key: an exact repeat is reported and skipped, a
conflicting repeat is an error.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

from .columns import PRODUCT_TEXT_COLUMNS
from .errors import Problems
from .reading import Row

# Limits of the database columns (annotation/models.py), checked here so that a value that
# does not fit is reported on its line like any other problem, not as a database error.
MAX_LENGTH = {"product_id": 200, "query_id": 200, "brand": 200, "category": 300, "locale": 20, "rater": 200}
MAX_RANK = 2**31 - 1
MAX_TRAFFIC = 2**63 - 1


def text_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    return str(value)


def too_long(problems: Problems, line: int, values: dict[str, str]) -> bool:
    """Report the first of values (column: text) longer than its column; True if there was one."""
    for column, value in values.items():
        if len(value) > MAX_LENGTH[column]:
            problems.add(line, column, f"longer than {MAX_LENGTH[column]} characters")
            return True
    return False


def dedupe(
    rows: list[tuple[int, tuple, Any]], problems: Problems, what: str, *, text_fields: tuple[str, ...] = ()
) -> list[tuple[int, Any]]:
    """Keep the first row per key; skip exact repeats (noted), flag conflicting ones by
    column with both values. A repeat that differs only in `text_fields` (product text: real
    ESCI files list a pair once per product locale, the title in that locale's language)
    is skipped too, keeping the first row's text, and noted. (The staged imports do the
    same in SQL: importers/staging.py, with repeat_kind and conflict_problem below.)"""
    first: dict[tuple, tuple[int, Any]] = {}
    kept: list[tuple[int, Any]] = []
    repeats = text_repeats = 0
    for line, key, record in rows:
        if key in first:
            first_line, first_record = first[key]
            kind = repeat_kind(first_record, record, text_fields)
            if kind == "exact":
                repeats += 1
            elif kind == "text":
                text_repeats += 1
            else:
                conflict_problem(problems, what, key, first_line, first_record, line, record, text_fields)
            continue
        first[key] = (line, record)
        kept.append((line, record))
    repeat_notes(problems, what, repeats, text_repeats)
    return kept


def repeat_kind(first: Any, record: Any, text_fields: tuple[str, ...]) -> str:
    """ "exact", "text" (only product text differs) or "conflict"."""
    differing = [f.name for f in fields(record) if getattr(record, f.name) != getattr(first, f.name)]
    if not differing:
        return "exact"
    return "text" if all(name in text_fields for name in differing) else "conflict"


def conflict_problem(
    problems: Problems,
    what: str,
    key: tuple,
    first_line: int,
    first: Any,
    line: int,
    record: Any,
    text_fields: tuple[str, ...],
) -> None:
    conflicts = [
        f.name
        for f in fields(record)
        if f.name not in text_fields and getattr(record, f.name) != getattr(first, f.name)
    ]
    column = _COLUMN_NAMES.get(conflicts[0], conflicts[0])
    problems.add(line, column, _conflict(what, key, first_line, first, record, conflicts))


def repeat_notes(problems: Problems, what: str, repeats: int, text_repeats: int) -> None:
    if repeats:
        problems.notes.append(f"{repeats} exact repeated row(s) skipped")
    if text_repeats:
        problems.notes.append(
            f"{text_repeats} row(s) repeat a {what} with other product text (e.g. another product_locale): "
            "the first row's text was kept"
        )


def _conflict(what: str, key: tuple, first_line: int, first: Any, record: Any, columns: list[str]) -> str:
    def shown(value: Any) -> str:
        text = repr(getattr(value, "name", value))
        return text if len(text) <= 60 else text[:57] + "…'"

    differences = "; ".join(
        f"{_COLUMN_NAMES.get(c, c)} {shown(getattr(first, c))} there, {shown(getattr(record, c))} here" for c in columns
    )
    return f"conflicts with line {first_line}: same {what} {_show(key)} with a different {differences}"


# Record fields under the file's column names, for messages.
_COLUMN_NAMES = {"value": "label", "text": "query", "query_text": "query"}


def _show(key: tuple) -> str:
    return "/".join(str(part) for part in key)


# --- products -----------------------------------------------------------------------


@dataclass(frozen=True)
class ProductRecord:
    product_id: str
    title: str
    brand: str
    category: str
    description: str
    attributes: dict
    images: tuple[str, ...]


PRODUCT_KEY = "product_id"


def product_record(row: Row, problems: Problems) -> ProductRecord | None:
    """One row as a record, or None with its problem added."""
    v = row.values
    product_id = text_value(v.get("product_id"))
    title = text_value(v.get("title"))
    if not product_id:
        problems.add(row.line, "product_id", "empty product_id")
        return None
    if not title:
        problems.add(row.line, "title", "empty title")
        return None
    brand, category = text_value(v.get("brand")), text_value(v.get("category"))
    if too_long(problems, row.line, {"product_id": product_id, "brand": brand, "category": category}):
        return None
    attributes = _attributes(v.get("attributes"), row.line, problems)
    if attributes is None:
        return None
    image_list = image_sources(v.get("image"))
    return ProductRecord(
        product_id=product_id,
        title=title,
        brand=brand,
        category=category,
        description=text_value(v.get("description")),
        attributes=attributes,
        images=image_list,
    )


def product_records(rows: Iterable[Row], problems: Problems) -> list[tuple[int, ProductRecord]]:
    parsed = [(row.line, (r.product_id,), r) for row in rows if (r := product_record(row, problems)) is not None]
    return dedupe(parsed, problems, PRODUCT_KEY)


def image_sources(images: Any) -> tuple[str, ...]:
    """An image cell: a JSON list (JSONL) or `|`-separated URLs or paths (CSV/TSV)."""
    if isinstance(images, list):
        return tuple(text_value(i) for i in images if text_value(i))
    return tuple(part.strip() for part in text_value(images).split("|") if part.strip())


def _attributes(raw: Any, line: int, problems: Problems) -> dict | None:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.add(line, "attributes", f"not valid JSON ({exc.msg} at character {exc.pos + 1})")
            return None
        if isinstance(value, dict):
            return value
    problems.add(line, "attributes", 'must be a JSON object, e.g. {"colour": "red"}')
    return None


# --- queries ------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryRecord:
    query_id: str
    text: str
    locale: str
    traffic: int | None
    images: tuple[str, ...] = ()
    conditions: tuple = ()  # ({"text": ...} | {"image": position}, ...), validated


QUERY_KEY = "query_id"


def query_record(row: Row, problems: Problems) -> QueryRecord | None:
    v = row.values
    query_id = text_value(v.get("query_id"))
    text = text_value(v.get("query"))
    if not query_id:
        problems.add(row.line, "query_id", "empty query_id")
        return None
    if not text:
        problems.add(row.line, "query", "empty query text")
        return None
    locale = text_value(v.get("locale"))
    if too_long(problems, row.line, {"query_id": query_id, "locale": locale}):
        return None
    traffic = None
    raw_traffic = text_value(v.get("traffic"))
    if raw_traffic:
        try:
            traffic = int(raw_traffic)
            if traffic < 0:
                raise ValueError
        except ValueError:
            problems.add(row.line, "traffic", f"must be a whole number >= 0, got {raw_traffic!r}")
            return None
        if traffic > MAX_TRAFFIC:
            problems.add(row.line, "traffic", f"must be at most {MAX_TRAFFIC}, got {raw_traffic!r}")
            return None
    images = image_sources(v.get("image"))
    conditions = query_conditions(v.get("conditions"), len(images), row.line, problems)
    if conditions is None:
        return None
    if images and not conditions:  # the text, then each image, as MERIT writes them
        conditions = ({"text": text}, *({"image": i} for i in range(len(images))))
    return QueryRecord(query_id, text, locale, traffic, images, conditions)


def query_records(rows: Iterable[Row], problems: Problems) -> list[tuple[int, QueryRecord]]:
    parsed = [(row.line, (r.query_id,), r) for row in rows if (r := query_record(row, problems)) is not None]
    return dedupe(parsed, problems, QUERY_KEY)


def query_conditions(raw: Any, image_count: int, line: int, problems: Problems) -> tuple | None:
    """MERIT's interleaved conditions: a JSON list of {"text": "..."} and {"image": i}
    (i = position in the query's image list, from 0). None after reporting a problem."""
    if raw is None or raw == "" or raw == []:
        return ()
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.add(line, "conditions", f"not valid JSON ({exc.msg} at character {exc.pos + 1})")
            return None
    example = '[{"text": "the pattern of"}, {"image": 0}]'
    if not isinstance(raw, list):
        problems.add(line, "conditions", f"must be a JSON list, e.g. {example}")
        return None
    conditions: list[dict[str, str | int]] = []
    for item in raw:
        if isinstance(item, dict) and set(item) == {"text"} and isinstance(item["text"], str) and item["text"].strip():
            conditions.append({"text": item["text"].strip()})
        elif isinstance(item, dict) and set(item) == {"image"} and type(item["image"]) is int:
            if not 0 <= item["image"] < image_count:
                problems.add(
                    line, "conditions", f"image {item['image']} is not one of the query's {image_count} image(s)"
                )
                return None
            conditions.append({"image": item["image"]})
        else:
            problems.add(line, "conditions", 'each condition is {"text": ...} or {"image": n}, e.g. ' + example)
            return None
    return tuple(conditions)


# --- runs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductText:
    """What a run or label file says about a product it names."""

    title: str = ""
    brand: str = ""
    description: str = ""
    bullets: str = ""
    colour: str = ""


def product_text(values: dict) -> ProductText:
    return ProductText(*(text_value(values.get(column)) for column in PRODUCT_TEXT_COLUMNS))


@dataclass(frozen=True)
class ResultRecord:
    query_id: str
    product_id: str
    rank: int
    score: float | None
    query_text: str
    product: ProductText
    locale: str


RESULT_KEY = "query_id/product_id"
# Fields whose differences make a repeat a "text repeat" (noted), not a conflict.
PAIR_TEXT_FIELDS = ("product", "locale")


def result_record(row: Row, problems: Problems) -> ResultRecord | None:
    v = row.values
    ids = _pair_ids(row, problems)
    if ids is None:
        return None
    raw_rank = text_value(v.get("rank"))
    try:
        rank = int(raw_rank)
        if rank < 1:
            raise ValueError
    except ValueError:
        problems.add(row.line, "rank", f"must be a whole number >= 1, got {raw_rank!r}")
        return None
    if rank > MAX_RANK:
        problems.add(row.line, "rank", f"must be at most {MAX_RANK}, got {raw_rank!r}")
        return None
    score = None
    raw_score = text_value(v.get("score"))
    if raw_score:
        try:
            score = float(raw_score)
        except ValueError:
            problems.add(row.line, "score", f"must be a number, got {raw_score!r}")
            return None
    return ResultRecord(
        ids[0], ids[1], rank, score, text_value(v.get("query")), product_text(v), text_value(v.get("locale"))
    )


def result_records(rows: Iterable[Row], problems: Problems) -> list[tuple[int, ResultRecord]]:
    parsed = [
        (row.line, (r.query_id, r.product_id), r) for row in rows if (r := result_record(row, problems)) is not None
    ]
    return dedupe(parsed, problems, RESULT_KEY, text_fields=PAIR_TEXT_FIELDS)


def _pair_ids(row: Row, problems: Problems) -> tuple[str, str] | None:
    query_id = text_value(row.values.get("query_id"))
    product_id = text_value(row.values.get("product_id"))
    if not query_id:
        problems.add(row.line, "query_id", "empty query_id")
        return None
    if not product_id:
        problems.add(row.line, "product_id", "empty product_id")
        return None
    locale = text_value(row.values.get("locale"))
    if too_long(problems, row.line, {"query_id": query_id, "product_id": product_id, "locale": locale}):
        return None
    return query_id, product_id


# --- labels -------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelRecord:
    query_id: str
    product_id: str
    rater: str
    value: int
    query_text: str
    product: ProductText
    locale: str


class LabelResolver:
    """Maps a label given by name ("Exact", "irrelevant"), one-letter code ("E") or
    value ("3") to a value of the project's scale."""

    def __init__(self, levels: list[tuple[int, str]]):
        self.by_value = dict(levels)
        self.by_name = {name.lower(): value for value, name in levels}
        initials: dict[str, list[int]] = {}
        for value, name in levels:
            initials.setdefault(name[:1].lower(), []).append(value)
        # A one-letter code is accepted only where it names exactly one level (ESCI's E/S/C/I).
        self.by_initial = {k: v[0] for k, v in initials.items() if len(v) == 1 and k not in self.by_name}

    def resolve(self, raw: str) -> int | None:
        key = raw.strip().lower()
        if key in self.by_name:
            return self.by_name[key]
        try:
            number = float(key)
        except ValueError:
            return self.by_initial.get(key) if len(key) == 1 else None
        if number.is_integer() and int(number) in self.by_value:
            return int(number)
        return None

    def describe(self) -> str:
        return ", ".join(f"{name} ({value})" for value, name in sorted(self.by_value.items()))


LABEL_KEY = "query_id/product_id/rater"


def label_record(
    row: Row, problems: Problems, *, resolver: LabelResolver, default_rater: str | None
) -> LabelRecord | None:
    v = row.values
    ids = _pair_ids(row, problems)
    if ids is None:
        return None
    rater = text_value(v.get("rater")) or (default_rater or "")
    if not rater:
        problems.add(row.line, "rater", "no rater: add a 'rater' column or pass --rater NAME")
        return None
    if too_long(problems, row.line, {"rater": rater}):
        return None
    raw_label = text_value(v.get("label"))
    value = resolver.resolve(raw_label)
    if value is None:
        problems.add(row.line, "label", f"unknown label {raw_label!r}; the project's scale is: {resolver.describe()}")
        return None
    return LabelRecord(
        ids[0], ids[1], rater, value, text_value(v.get("query")), product_text(v), text_value(v.get("locale"))
    )


def label_records(
    rows: Iterable[Row], problems: Problems, *, resolver: LabelResolver, default_rater: str | None
) -> list[tuple[int, LabelRecord]]:
    parsed = [
        (row.line, (r.query_id, r.product_id, r.rater), r)
        for row in rows
        if (r := label_record(row, problems, resolver=resolver, default_rater=default_rater)) is not None
    ]
    return dedupe(parsed, problems, LABEL_KEY, text_fields=PAIR_TEXT_FIELDS)
