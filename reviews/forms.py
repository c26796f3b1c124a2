from typing import TYPE_CHECKING, Any

from django import forms
from django.db import models

from .models import RoutingPolicy
from .routing import SEGMENT_DIMENSIONS, PolicyView, segment_set
from .services.policies import POLICY_FIELDS

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

MAX_TIME_SPENT_MS = 24 * 3600 * 1000
MAX_KEYWORDS = 100
MAX_SEGMENTS = 200


def segment_dicts(rules) -> list[dict]:
    return [{"by": by, "key": key} for by, key in segment_set(rules)]


class SubmitForm(forms.Form):
    value = forms.IntegerField(min_value=0, max_value=32767)
    # Measured by the browser from card render to submit; a missing or odd figure is
    # dropped rather than failing the label.
    time_spent_ms = forms.CharField(required=False)

    def clean_time_spent_ms(self) -> int | None:
        raw = self.cleaned_data.get("time_spent_ms") or ""
        try:
            value = int(float(raw))
        except (TypeError, ValueError, OverflowError):
            return None
        return value if 0 <= value <= MAX_TIME_SPENT_MS else None


class FlagForm(forms.Form):
    comment = forms.CharField(max_length=2000, strip=True)


class KeywordsField(forms.CharField):
    """Comma- or newline-separated words, stored as a lower-case list."""

    def prepare_value(self, value):
        if isinstance(value, (list, tuple)):
            return ", ".join(value)
        return value

    def clean(self, value):
        text = super().clean(value) or ""
        words = []
        for part in text.replace("\n", ",").split(","):
            word = part.strip().lower()
            if word and word not in words:
                words.append(word)
        if len(words) > MAX_KEYWORDS:
            raise forms.ValidationError(f"At most {MAX_KEYWORDS} keywords.")
        if any(len(word) > 60 for word in words):
            raise forms.ValidationError("A keyword is at most 60 characters long.")
        return words


class SegmentsField(forms.CharField):
    """One segment per line as "dimension: key" (e.g. "tag: brand"), stored as
    [{"by": "tag", "key": "brand"}, …]. "tag:" alone is the untagged segment."""

    widget = forms.Textarea(attrs={"rows": 3, "placeholder": "tag: brand\ncategory: shoes"})

    def prepare_value(self, value):
        if isinstance(value, (list, tuple)):
            return "\n".join(f"{rule['by']}: {rule['key']}" for rule in value if isinstance(rule, dict))
        return value

    def clean(self, value):
        text = super().clean(value) or ""
        rules = []
        for line in text.splitlines():
            if not line.strip():
                continue
            by, sep, key = line.partition(":")
            by, key = by.strip().lower(), key.strip()
            if not sep or by not in SEGMENT_DIMENSIONS:
                raise forms.ValidationError(
                    f"Write each segment as “dimension: key”, the dimension one of {', '.join(SEGMENT_DIMENSIONS)}."
                )
            if len(key) > 300:
                raise forms.ValidationError("A segment key is at most 300 characters long.")
            rule = {"by": by, "key": key}
            if rule not in rules:
                rules.append(rule)
        if len(rules) > MAX_SEGMENTS:
            raise forms.ValidationError(f"At most {MAX_SEGMENTS} segments.")
        # Stable order: the same set of rules compares equal to the saved version.
        return sorted(rules, key=lambda r: (r["by"], r["key"]))


def _help(name: str) -> "StrOrPromise":
    field = RoutingPolicy._meta.get_field(name)
    if not isinstance(field, models.Field):  # the form's fields mirror columns, not relations
        raise TypeError(f"RoutingPolicy.{name} is not a column")
    return field.help_text


class PolicyForm(forms.Form):
    min_confidence = forms.FloatField(
        min_value=0,
        max_value=1,
        widget=forms.NumberInput(attrs={"step": "0.05"}),
        help_text=_help("min_confidence"),
    )
    route_sample_disagreement = forms.BooleanField(required=False, label="Route sample disagreement")
    route_style_sensitive = forms.BooleanField(required=False, label="Route style-sensitive queries")
    style_keywords = KeywordsField(
        required=False,
        max_length=5000,
        widget=forms.TextInput(attrs={"placeholder": "e.g. elegant, boho, casual"}),
        help_text="Comma-separated; a query containing one of these words is style-sensitive",
    )
    route_invalid = forms.BooleanField(required=False, label="Route invalid LLM output")
    audit_rate = forms.FloatField(
        min_value=0, max_value=1, widget=forms.NumberInput(attrs={"step": "0.01"}), help_text=_help("audit_rate")
    )
    humans_per_pair = forms.IntegerField(min_value=1, max_value=3, help_text="Independent human labels per routed pair")
    adjudicate_human_vs_llm = forms.BooleanField(
        required=False,
        label="Adjudicate human vs. confident LLM",
        help_text=_help("adjudicate_human_vs_llm"),
    )
    # The fields below came with the dashboard; a client that does not send one (an older
    # form, a script) keeps the current version's value instead of failing.
    route_segments = SegmentsField(
        required=False, max_length=20000, label="Segments routed to humans", help_text=_help("route_segments")
    )
    target_alpha = forms.FloatField(
        required=False,
        min_value=-1,
        max_value=1,
        label="Target α",
        widget=forms.NumberInput(attrs={"step": "0.05"}),
        help_text=_help("target_alpha"),
    )
    min_segment_n = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=1_000_000,
        label="Minimum pairs per segment",
        help_text=_help("min_segment_n"),
    )
    hourly_rate = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=8,
        decimal_places=2,
        label="Hourly rate (EUR)",
        help_text=_help("hourly_rate"),
    )
    note = forms.CharField(required=False, max_length=300, help_text="Why this change (kept with the version)")

    @classmethod
    def for_policy(cls, policy: RoutingPolicy, data=None) -> "PolicyForm":
        initial = {name: getattr(policy, name) for name in POLICY_FIELDS}
        initial["route_segments"] = sorted(segment_dicts(policy.route_segments), key=lambda r: (r["by"], r["key"]))
        return cls(data=data, initial=initial)

    KEEP_WHEN_MISSING = ("route_segments", "target_alpha", "min_segment_n", "hourly_rate")

    def clean(self) -> dict[str, Any]:
        super().clean()  # returns self.cleaned_data (typed Optional for overrides)
        data = self.cleaned_data
        for name in self.KEEP_WHEN_MISSING:
            if name not in self.data or (data.get(name) is None and name not in self.errors):
                data[name] = self.initial.get(name)
        return data

    def changes(self) -> dict:
        """The policy fields whose value differs from the current version."""
        data = self.cleaned_data
        return {name: data[name] for name in POLICY_FIELDS if data[name] != self.initial.get(name)}

    def policy_view(self, version: int) -> PolicyView:
        data = self.cleaned_data
        return PolicyView(
            version=version,
            min_confidence=data["min_confidence"],
            route_sample_disagreement=data["route_sample_disagreement"],
            route_style_sensitive=data["route_style_sensitive"],
            style_keywords=tuple(data["style_keywords"]),
            route_invalid=data["route_invalid"],
            audit_rate=data["audit_rate"],
            humans_per_pair=data["humans_per_pair"],
            route_segments=segment_set(data["route_segments"]),
        )
