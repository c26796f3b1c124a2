"""Forms of the evaluate pages (run metrics, run comparison) and of "fill the holes".

They read query strings, so every field is optional with the default a first visit
needs; a value that is present but wrong is a form error (400), never silently replaced.
"""

from typing import Any

from django import forms

from .exports import GoldFilter
from .metrics import METRICS
from .models import GoldProvenance, SearchRun

DEFAULT_K = 10
# Beyond a few hundred, a cut-off says nothing about a ranked list a person looks at,
# and each step of k adds rows to the one big sort.
MAX_K = 1000
SOURCE_CHOICES = (
    ("gold", "Gold labels"),
    ("llm", "LLM labels (not gold)"),
    ("human", "Human labels (not gold)"),
    ("any", "Newest label of any source (not gold)"),
)
# An LLM judging job fills holes in gold (through routing), LLM and any-source labels;
# a missing human label needs a person.
FILLABLE_SOURCES = ("gold", "llm", "any")
METRIC_TITLES = {
    "ndcg": "nDCG@k",
    "precision": "P@k",
    "irrelevant": "irrelevant@k",
    "recall": "Recall@k",
    "mrr": "MRR",
    "coverage": "coverage@k",
}
METRIC_CHOICES = tuple((name, METRIC_TITLES[name]) for name in METRICS)
ORDER_CHOICES = (("worst", "worst first"), ("best", "best first"))


class MetricSettingsForm(forms.Form):
    """k and the label source: what fill-the-holes needs to name the same holes."""

    k = forms.IntegerField(min_value=1, max_value=MAX_K, required=False, label="k")
    source = forms.ChoiceField(choices=SOURCE_CHOICES, required=False, label="Labels")

    def clean_k(self) -> int:
        k = self.cleaned_data.get("k")
        return DEFAULT_K if k is None else k

    def clean_source(self) -> str:
        return self.cleaned_data.get("source") or "gold"


class RunMetricsForm(MetricSettingsForm):
    sort = forms.ChoiceField(choices=METRIC_CHOICES, required=False, label="Sort by")
    order = forms.ChoiceField(choices=ORDER_CHOICES, required=False, label="Order")

    def clean_sort(self) -> str:
        return self.cleaned_data.get("sort") or "ndcg"

    def clean_order(self) -> str:
        return self.cleaned_data.get("order") or "worst"


class CompareForm(MetricSettingsForm):
    a = forms.ModelChoiceField(queryset=SearchRun.objects.none(), label="Run A (baseline)")
    b = forms.ModelChoiceField(queryset=SearchRun.objects.none(), label="Run B")
    metric = forms.ChoiceField(choices=METRIC_CHOICES, required=False, label="Metric")

    field_order = ("a", "b", "metric", "k", "source")

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the project's runs are choices, so a foreign run id is a form error.
        runs = SearchRun.objects.filter(project=project).order_by("-created_at", "-id")
        for name in ("a", "b"):
            field = self.fields[name]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = runs

    def clean_metric(self) -> str:
        return self.cleaned_data.get("metric") or "ndcg"

    def clean(self) -> dict[str, Any]:
        super().clean()  # returns self.cleaned_data (typed Optional for overrides)
        cleaned = self.cleaned_data
        a, b = cleaned.get("a"), cleaned.get("b")
        if a is not None and a == b:
            self.add_error("b", "Choose two different runs.")
        return cleaned


class GoldDownloadForm(forms.Form):
    """Which gold rows a download holds (annotation.exports.GoldFilter), and whether the
    CSV is the Excel variant. Every field optional: no filter is the whole gold set."""

    run = forms.ModelChoiceField(
        queryset=SearchRun.objects.none(), required=False, label="Run", empty_label="all pairs"
    )
    provenance = forms.MultipleChoiceField(
        choices=GoldProvenance.choices, required=False, label="Provenance", widget=forms.CheckboxSelectMultiple
    )
    human_only = forms.BooleanField(required=False, label="Human gold only (no LLM auto-accepted)")
    excel = forms.BooleanField(required=False, label="CSV for Excel (UTF-8 with a byte-order mark)")

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["run"]
        assert isinstance(field, forms.ModelChoiceField)
        # Only the project's runs: a foreign run id is a form error.
        field.queryset = SearchRun.objects.filter(project=project).order_by("name")

    def gold_filter(self) -> GoldFilter:
        data = self.cleaned_data
        return GoldFilter(
            run_id=data["run"].id if data.get("run") else None,
            provenances=tuple(data.get("provenance") or ()),
            human_only=bool(data.get("human_only")),
        )
