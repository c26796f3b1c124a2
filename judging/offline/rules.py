"""Which rules the offline judge cites: a heuristic, since it reads no rule text as an
LLM would. A rule is cited when it names an attribute the product failed (its label
below the top is then the rule's doing, as far as a keyword match can tell)."""

from ..contracts import RuleRef, Verdict

# Requirement attributes (checks.py labels "colour=black") and the words rules use for them.
_WORDS = {
    "product_type": ("category", "product type", "type"),
    "colour": ("colour", "color"),
    "brand": ("brand",),
    "material": ("material",),
    "size": ("size",),
    "price": ("price",),
    "gender": ("gender",),
    "style": ("style",),
}


def offline_applied_rules(rules: list[RuleRef], verdict: Verdict) -> list[str]:
    failed = {label.split("=", 1)[0].strip().lower() for label in verdict.requirements_unmet}
    words = [word for attribute in failed for word in _WORDS.get(attribute, (attribute,))]
    return [rule.rule_id for rule in rules if any(word in rule.text.lower() for word in words)]
