"""SQL building blocks of the run metrics: a pair's label value, qrelay's result order
and PostgreSQL settings for one block. The exports share the order and the settings."""

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from django.db import connection, transaction
from django.db.models import F, IntegerField, OrderBy, OuterRef, Subquery
from django.db.models.functions import Collate

from ..models import Label


def label_value(label_source: str, *, gold: str, pair_id: str) -> F | Subquery:
    """An expression for a pair's label value: its gold value (field path `gold`), or the
    newest label of a source of the pair whose id is at `pair_id`."""
    if label_source == "gold":
        return F(gold)
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
