"""Formula injection in CSV cells (see the package doc): the same rule in Python, as an
ORM expression and as SQL text, so that every export path neutralises alike."""

from typing import Any

from django.db.models import Case, CharField, F, Value, When
from django.db.models.functions import Concat

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_CHARS = frozenset(_FORMULA_START)
_FORMULA_REGEX = "^[-=+@\t\r]"


def neutralise(value: Any) -> Any:
    """A CSV cell safe from formula injection: text starting with a formula character
    gets a leading quote; numbers and None pass unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_safe_expression(field: str):
    """The field's text, neutralised by the database (see neutralise)."""
    return Case(
        When(**{f"{field}__regex": _FORMULA_REGEX}, then=Concat(Value("'"), F(field))),
        default=F(field),
        output_field=CharField(),
    )


def safe_text(value: str) -> str:
    return "'" + value if value and value[0] in _FORMULA_CHARS else value


def safe_sql(expression: str) -> str:
    """The SQL of neutralise(): a leading quote before a formula character."""
    quote = "''''"
    starts = "('^[-=+@' || chr(9) || chr(13) || ']')"
    return f"CASE WHEN {expression} ~ {starts} THEN {quote} || {expression} ELSE {expression} END"
