"""Label scales: ordered labels from least to most relevant, each with a gain.

A project copies one of these (or a custom list) into its own ScaleLevel rows when it
is created, so the database can check every label value against the project's scale.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Level:
    value: int
    name: str
    gain: float
    definition: str = ""  # one line on the review card's label button


BUILTIN_SCALES: dict[str, list[Level]] = {
    "default": [
        Level(0, "irrelevant", 0.0, "Not what the shopper asked for: another product type, or it breaks a must-have."),
        Level(
            1,
            "acceptable substitute",
            1.0,
            "Could serve the shopper: a close product type, or one secondary requirement unmet.",
        ),
        Level(2, "highly relevant", 2.0, "What the shopper asked for: meets every important requirement."),
    ],
    "esci": [
        Level(0, "Irrelevant", 0.0, "Not relevant to the query in any way."),
        Level(1, "Complement", 1.0, "Not what was asked for, but used together with it (e.g. a case for a phone)."),
        Level(2, "Substitute", 2.0, "Fails some aspects of the query but can serve in its place."),
        Level(3, "Exact", 3.0, "Relevant and meets every specification in the query."),
    ],
    "rair": [
        Level(1, "L1", 0.0),
        Level(2, "L2", 1.0),
        Level(3, "L3", 2.0),
        Level(4, "L4", 3.0),
    ],
    "binary": [
        Level(0, "irrelevant", 0.0, "Does not serve the query."),
        Level(1, "relevant", 1.0, "Serves the query."),
    ],
}


class ScaleError(ValueError):
    pass


def parse_custom_scale(spec: str) -> list[Level]:
    """Parse "Bad:0,Fair:1,Good:2" (name:value, gain = value) into levels.

    An optional third part sets the gain: "Good:2:3.5".
    """
    levels: list[Level] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        pieces = [p.strip() for p in part.split(":")]
        if len(pieces) not in (2, 3) or not pieces[0]:
            raise ScaleError(f"expected NAME:VALUE[:GAIN], got {part!r}")
        try:
            value = int(pieces[1])
            gain = float(pieces[2]) if len(pieces) == 3 else float(value)
        except ValueError:
            raise ScaleError(f"value must be an integer and gain a number in {part!r}") from None
        if value < 0:
            raise ScaleError(f"label values must be >= 0, got {value} in {part!r}")
        levels.append(Level(value, pieces[0], gain))
    return validate_levels(levels)


def validate_levels(levels: list[Level]) -> list[Level]:
    if len(levels) < 2:
        raise ScaleError("a scale needs at least two labels")
    values = [level.value for level in levels]
    names = [level.name.lower() for level in levels]
    if len(set(values)) != len(values):
        raise ScaleError("label values must be unique")
    if len(set(names)) != len(names):
        raise ScaleError("label names must be unique (case-insensitive)")
    return sorted(levels, key=lambda level: level.value)
