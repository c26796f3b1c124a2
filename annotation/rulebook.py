"""The rulebook: reading rules files, the RAIR preset, edits that keep versions, and
which rules are in scope for a query or a pair.

Scope decides the cache keys (judging/services.py): the guideline step sees only the
universal rules (no category, no tag), because the guideline step itself sets the
query's tags and a tag-scoped rule in its key would make every first guideline stale at
once. The judge sees the universal rules plus those whose category matches the product
or whose tag the query carries, and its key holds exactly those rules' versions: editing
a rule scoped to "shoes" re-judges shoe pairs and nothing else.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from django.db import transaction

from .models import Pair, Project, Rule, ScaleLevel

RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
PRESETS = ("rair",)


class RuleError(ValueError):
    """A rules file or an edit that cannot be applied: says what to fix."""


@dataclass(frozen=True)
class RuleSpec:
    rule_id: str
    text: str
    category: str = ""
    query_tag: str = ""


# --- reading --------------------------------------------------------------------------


def parse_rules(data, *, source: str = "rules") -> list[RuleSpec]:
    """Rules from parsed YAML/JSON: a list (or {"rules": [...]}) of strings (ids R1, R2, …
    by position) or objects {id, text, category?, query_tag?}."""
    if isinstance(data, dict) and "rules" in data:
        data = data["rules"]
    if not isinstance(data, list):
        raise RuleError(f"{source}: expected a list of rules (or an object with 'rules')")
    specs: list[RuleSpec] = []
    for n, item in enumerate(data, start=1):
        where = f"{source}, rule {n}"
        if isinstance(item, str):
            item = {"id": f"R{n}", "text": item}
        if not isinstance(item, dict):
            raise RuleError(f"{where}: expected a string or an object")
        unknown = set(item) - {"id", "rule_id", "text", "category", "query_tag", "tag"}
        if unknown:
            raise RuleError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        spec = RuleSpec(
            rule_id=str(item.get("id") or item.get("rule_id") or f"R{n}").strip(),
            text=str(item.get("text") or "").strip(),
            category=str(item.get("category") or "").strip(),
            query_tag=str(item.get("query_tag") or item.get("tag") or "").strip(),
        )
        specs.append(validate_spec(spec, where=where))
    ids = [spec.rule_id for spec in specs]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise RuleError(f"{source}: rule id(s) used twice: {', '.join(repeated)}")
    return specs


def validate_spec(spec: RuleSpec, *, where: str = "rule") -> RuleSpec:
    if not RULE_ID.match(spec.rule_id):
        raise RuleError(f"{where}: id {spec.rule_id!r} must be 1-40 letters, digits, '-', '_' or '.'")
    if not spec.text:
        raise RuleError(f"{where}: the text is empty")
    if len(spec.category) > 200 or len(spec.query_tag) > 60:
        raise RuleError(f"{where}: category (200) or query tag (60) too long")
    return spec


def read_rules_file(path: str | Path) -> list[RuleSpec]:
    """A YAML or JSON rules file (JSON is YAML too, but its errors read better as JSON)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"{path}: cannot read: {exc}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise RuleError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}") from None
    return parse_rules(data, source=path.name)


# --- the RAIR preset ------------------------------------------------------------------


def rair_levels(levels: list[str]) -> dict[str, str]:
    """RAIR's L1–L4 on the project's scale (names, least relevant first). RAIR's levels
    are quarters of the scale: Li is the level at floor((i-1)·n/4), and L4 is always the
    top. Four levels map one to one; on irrelevant / acceptable / highly relevant, L1 and
    L2 are both "irrelevant" (RAIR counts L1–L2 as irrelevant)."""
    n = len(levels)
    if n == 0:
        raise RuleError("the project has no scale levels")
    mapped = {f"L{i}": levels[((i - 1) * n) // 4] for i in (1, 2, 3)}
    mapped["L4"] = levels[-1]
    return mapped


def rair_preset(levels: list[str]) -> list[RuleSpec]:
    """RAIR's universal rules, worded with the project's own level names."""
    L = {key: f'"{name}"' for key, name in rair_levels(levels).items()}
    return [
        RuleSpec(
            "rair-second-hand",
            f"Without explicit intent (used, pre-owned, vintage), a second-hand or refurbished product is {L['L1']}.",
        ),  # fmt: skip
        RuleSpec("rair-category", f"A product of another category than the one the query asks for is {L['L1']}."),
        RuleSpec(
            "rair-missing-attribute",
            f"A product that lacks or contradicts an attribute the query requires "
            f"(category, brand, colour, material, size, price) is at most {L['L2']}.",
        ),  # fmt: skip
        RuleSpec(
            "rair-brand",
            f"When the query names a brand explicitly, a product of another brand is at most "
            f"{L['L2']}; without a brand in the query, brand does not matter.",
        ),  # fmt: skip
        RuleSpec(
            "rair-negation",
            f'A product with an attribute the query excludes ("not white", "ohne Kapuze") is {L["L1"]}.',
            query_tag="negation",
        ),  # fmt: skip
        RuleSpec(
            "rair-alternatives",
            'When the query offers alternatives ("red or blue"), meeting any one of them meets that requirement.',
        ),  # fmt: skip
        RuleSpec(
            "rair-minor-mismatch",
            f"The right product type meeting every required attribute but missing a "
            f"preferred one (style, occasion) is {L['L3']}; meeting all of them is {L['L4']}.",
        ),  # fmt: skip
    ]


def preset_specs(project: Project, name: str) -> list[RuleSpec]:
    if name != "rair":
        raise RuleError(f"unknown rules preset {name!r}; choose one of {', '.join(PRESETS)}")
    names = list(ScaleLevel.objects.filter(project=project).order_by("value").values_list("name", flat=True))
    return rair_preset(names)


# --- edits ----------------------------------------------------------------------------


def rule_save(project: Project, spec: RuleSpec) -> tuple[Rule, str]:
    """Add the rule, or update the one with its id (a new version when text or scope
    changed; a retired rule comes back). Returns the rule and "added", "updated" or
    "unchanged"."""
    spec = validate_spec(spec)
    with transaction.atomic():
        rule = Rule.objects.select_for_update().filter(project=project, rule_id=spec.rule_id).first()
        if rule is None:
            rule = Rule.objects.create(
                project=project, rule_id=spec.rule_id, text=spec.text, category=spec.category, query_tag=spec.query_tag
            )
            return rule, "added"
        changed = (rule.text, rule.category, rule.query_tag) != (spec.text, spec.category, spec.query_tag)
        if not changed and not rule.retired:
            return rule, "unchanged"
        rule.text, rule.category, rule.query_tag = spec.text, spec.category, spec.query_tag
        if changed:
            rule.version += 1
        rule.retired = False
        rule.save()
        return rule, "updated"


def rules_import(project: Project, specs: list[RuleSpec]) -> dict[str, int]:
    """Save every rule of a file or preset (all or none); counts by outcome."""
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    with transaction.atomic():
        for spec in specs:
            counts[rule_save(project, spec)[1]] += 1
    return counts


def rule_retire(rule: Rule) -> Rule:
    """Out of every scope from now on (its keys change with the scope); kept for the
    judgments that cite it."""
    if not rule.retired:
        rule.retired = True
        rule.save(update_fields=["retired", "updated_at"])
    return rule


# --- scope ----------------------------------------------------------------------------


def active_rules(project_id: int) -> list[Rule]:
    return list(Rule.objects.filter(project_id=project_id, retired=False).order_by("rule_id"))


def category_matches(rule_category: str, product_category: str) -> bool:
    """ "shoes" matches "Shoes", "Women > Shoes > Boots" and "shoes/boots"; not "snowshoes"."""
    wanted = rule_category.strip().lower()
    if not wanted:
        return True
    have = product_category.strip().lower()
    return have == wanted or wanted in {part.strip() for part in re.split(r"[>/|,]", have)}


def in_scope(rule: Rule, *, tags=(), category: str | None = None) -> bool:
    """Whether the rule applies to a query with these tags and (when given) a product of
    this category. Without a category (the guideline step) category rules are out."""
    if rule.query_tag and rule.query_tag not in set(tags or ()):
        return False
    if rule.category:
        return category is not None and category_matches(rule.category, category)
    return True


def guideline_rules(rules: list[Rule]) -> list[Rule]:
    """The rules the guideline step sees: the universal ones (see the module's note)."""
    return [rule for rule in rules if not rule.category and not rule.query_tag]


def pair_rules(rules: list[Rule], *, tags, category: str) -> list[Rule]:
    return [rule for rule in rules if in_scope(rule, tags=tags, category=category)]


def fingerprint(rules: list[Rule]) -> list[tuple[str, int, str]]:
    """What a cache key holds of a set of rules: id, version and text, in id order."""
    return sorted((rule.rule_id, rule.version, rule.text) for rule in rules)


def pairs_reached_by_rule_changes(project_id: int, judged_at: dict) -> set[int]:
    """Of {pair id: when it was judged}, the pairs a rule changed or retired since then
    reaches (scope as the pair is now; a retired rule by the scope it had)."""
    if not judged_at:
        return set()
    oldest = min(judged_at.values())
    changed = list(Rule.objects.filter(project_id=project_id, updated_at__gt=oldest))
    if not changed:
        return set()
    reached = set()
    rows = Pair.objects.filter(id__in=list(judged_at)).values_list("id", "query__tags", "product__category")
    for pair_id, tags, category in rows.iterator(chunk_size=5000):
        if any(rule.updated_at > judged_at[pair_id] and in_scope(rule, tags=tags or [], category=category)
               for rule in changed):  # fmt: skip
            reached.add(pair_id)
    return reached
