"""Plain data passed between the judging steps and the backends (OpenAI-compatible or
offline). No Django here: backends, prompts and the fake LLM server share these."""

from dataclasses import asdict, dataclass, field

# Query tags the guideline step may set (the routing policy keys on them).
QUERY_TAGS = (
    "style-sensitive",
    "brand",
    "negation",
    "knowledge-dependent",
    "multi-attribute",
    "colour",
    "size",
    "gender",
    # RAIR's other intent types (judging/intents.py)
    "alternatives",
    "reasoning-dependent",
)

# Attributes a requirement may name; free text is allowed, these are the usual ones.
REQUIREMENT_ATTRIBUTES = (
    "product_type",
    "brand",
    "colour",
    "gender",
    "size",
    "material",
    "style",
    "price",
    "occasion",
    "feature",
)


@dataclass(frozen=True)
class Requirement:
    attribute: str  # e.g. "colour"
    value: str  # e.g. "red"
    importance: float  # 0..1: 1 = must have, 0.3 = nice to have
    negated: bool = False  # "not white": the product must NOT have it


@dataclass(frozen=True)
class GuidelineDraft:
    requirements: list[Requirement]
    text: str  # short annotation guideline shown to the LLM and to reviewers
    tags: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "GuidelineDraft":
        return cls(
            requirements=[Requirement(**r) for r in data.get("requirements", [])],
            text=data.get("text", ""),
            tags=list(data.get("tags", [])),
        )


@dataclass(frozen=True)
class RuleRef:
    """A rule of the project's rulebook as the prompts show it (annotation.Rule)."""

    rule_id: str
    text: str


@dataclass(frozen=True)
class QueryContext:
    text: str
    locale: str = ""
    rulebook: list[str] = field(default_factory=list)
    # The rules in scope, with the ids the judge cites (applied_rules).
    rules: list[RuleRef] = field(default_factory=list)
    # Catalogue vocabulary hints (brands, colours, product types) for grounding.
    vocabulary: dict[str, list[str]] = field(default_factory=dict)
    reference_images: list[str] = field(default_factory=list)  # data: or http(s) URLs
    # MERIT: the query's ordered conditions, [{"text": ...} | {"image": position}], and in
    # caption mode the descriptions of its reference images (by position).
    conditions: list[dict] = field(default_factory=list)
    reference_descriptions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ProductContext:
    external_id: str
    title: str
    brand: str = ""
    category: str = ""
    description: str = ""
    attributes: dict = field(default_factory=dict)
    # caption mode: descriptions of the product's images written by the vision model
    image_descriptions: list[str] = field(default_factory=list)
    # vision mode: the images themselves (data: URLs of the stored JPEG, or http(s) URLs)
    images: list[str] = field(default_factory=list)

    def text_dict(self) -> dict:
        """What the prompt shows of the product as JSON (never the image bytes)."""
        data = {
            "product_id": self.external_id,
            "title": self.title,
            "brand": self.brand,
            "category": self.category,
            "description": self.description,
            "attributes": self.attributes,
        }
        if self.image_descriptions:
            data["image_descriptions"] = self.image_descriptions
        return data


@dataclass(frozen=True)
class LevelInfo:
    value: int
    name: str


@dataclass(frozen=True)
class Verdict:
    value: int
    rationale: str
    confidence: float | None = None
    requirements_met: list[str] = field(default_factory=list)
    requirements_unmet: list[str] = field(default_factory=list)
    samples: list[int] = field(default_factory=list)  # label values of the k samples (k > 1)
    applied_rules: list[str] = field(default_factory=list)  # rule ids (k > 1: named by >= 2 samples)
    rule_note: str = ""  # e.g. cited ids that were not in scope and were dropped


@dataclass(frozen=True)
class Usage:
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: int = 0
    calls: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            self.tokens_in + other.tokens_in,
            self.tokens_out + other.tokens_out,
            self.latency_ms + other.latency_ms,
            self.calls + other.calls,
        )
