"""How a label is shown to people: by its key and its name, never by its stored value.

The n-th level of a project's scale (least relevant first) is key n, 1-based: the
number a reviewer presses on the review card. Stored values are data (imports, exports,
the API, form posts); a value 10 on a 10/20/30 scale is still key 1 on every page.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from .models import Project, ScaleLevel


@dataclass(frozen=True)
class ShownLabel:
    key: int
    name: str

    def __str__(self) -> str:
        # Plain text (option labels, messages, chart axes): "1 · irrelevant".
        return f"{self.key} · {self.name}"


def keyed_levels(levels: Iterable[tuple[int, str]]) -> dict[int, ShownLabel]:
    """{stored value: ShownLabel} for (value, name) levels of one scale, in any order."""
    ordered = sorted(levels)
    return {value: ShownLabel(key, name) for key, (value, name) in enumerate(ordered, start=1)}


def label_keys(project: Project) -> dict[int, ShownLabel]:
    """{stored value: ShownLabel} for the project's scale, in scale order (one query)."""
    return keyed_levels(project.levels.values_list("value", "name"))


def keyed_scale(project: Project) -> list[tuple[int, ScaleLevel]]:
    """The project's levels in scale order, each with its key: [(1, level), (2, level), …]."""
    return list(enumerate(project.levels.order_by("value"), start=1))


def shown_named(labels: dict[int, ShownLabel], name: str | None) -> ShownLabel | None:
    """The level called `name` (names are unique in a scale, case aside), for reports that
    name a level rather than give its value (e.g. where acc@2's "relevant" starts)."""
    if name is None:
        return None
    return next((shown for shown in labels.values() if shown.name.lower() == name.lower()), None)
