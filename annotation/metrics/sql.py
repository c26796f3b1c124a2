"""SQL building blocks of the run metrics: a pair's label value, qrelay's result order
and PostgreSQL settings for one block. The exports share the order and the settings."""

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

from django.db import connection, transaction
from django.db.models import F, FilteredRelation, IntegerField, Model, OrderBy, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Collate

from ..models import Label

M = TypeVar("M", bound=Model)


def annotate_label_value(queryset: QuerySet[M], label_source: str, *, pair: str = "", name: str = "v") -> QuerySet[Any]:
    """Annotate `name` with a pair's label value: its gold value, or the current label of
    a source (`CurrentLabel`: the newest per pair and source, or over all sources for
    "any"). `pair` is the path from the queryset's model to the pair ("" on Pair). The
    result is typed Any: mypy's Django plugin cannot see an annotation named at runtime.

    The current label is one LEFT JOIN on (pair, source), not a lookup of the newest
    label per row: a million results read it in one hash join."""
    prefix = f"{pair}__" if pair else ""
    if label_source == "gold":
        return queryset.annotate(**{name: F(f"{prefix}gold_value")})
    relation = f"{prefix}current_labels"
    return queryset.annotate(
        current_label=FilteredRelation(relation, condition=Q(**{f"{relation}__source": label_source}))
    ).annotate(**{name: F("current_label__value")})


def newest_label_value(label_source: str, *, pair_id: str) -> Subquery:
    """The newest label of a source (or "any") of the pair whose id is at `pair_id`, as
    a correlated subquery over the labels themselves: what the metrics read before
    CurrentLabel, kept as the reference the tests and the bench compare it with."""
    labels = Label.objects.filter(pair_id=OuterRef(pair_id))
    if label_source != "any":
        labels = labels.filter(source=label_source)
    return Subquery(labels.order_by("-created_at", "-id").values("value")[:1], output_field=IntegerField())


def binary_collation() -> str:
    # Code-point order, as trec_eval's strcmp and Python's str comparison.
    return "C" if connection.vendor == "postgresql" else "BINARY"


@contextmanager
def local_settings(**settings: str) -> Iterator[None]:
    """PostgreSQL settings for the block, inside a transaction: set_config(…, is_local)
    ends with the transaction, and the previous values are put back after the block, since
    a local setting would outlive a released savepoint and leak into an enclosing
    transaction. (After an error, the rollback restores them.) No-op elsewhere."""
    with transaction.atomic():
        if connection.vendor != "postgresql":
            yield
            return
        names = list(settings)
        with connection.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(names)), names)
            saved = cursor.fetchone()
            pairs = [value for name in names for value in (name, settings[name])]
            cursor.execute("SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(names)), pairs)
        yield
        with connection.cursor() as cursor:
            pairs = [value for name, old in zip(names, saved) for value in (name, old)]
            cursor.execute("SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(names)), pairs)


def big_sort() -> AbstractContextManager[None]:
    """Settings for sorting a whole run at once: enough work_mem to sort a million
    results in memory rather than on disk, and no JIT, whose compile time (seconds) the
    planner's cost estimate for such a sort always triggers but never earns back."""
    return local_settings(work_mem="64MB", jit="off")


def result_order(prefix: str = "") -> list[OrderBy]:
    """ORDER BY terms for a run's results within a query (see the package doc)."""
    return [
        F(f"{prefix}rank").asc(),
        F(f"{prefix}score").desc(nulls_last=True),
        Collate(F(f"{prefix}product__external_id"), binary_collation()).desc(),
    ]
