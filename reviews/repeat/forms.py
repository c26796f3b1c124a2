"""Forms of the "Retrieve & Repeat" page: a search-engine connector and a schedule.

Everything a connector will send is checked here, before it is saved: a base URL that is
only scheme://host[:port], a path that looks like a search for its preset and method
(annotation/connectors/presets.py), a body template that is JSON, headers that are
tokens with Latin-1 values (not Host, Content-Length…), and a secret named by an
environment variable the operator bound to this project and origin, never stored."""

import json
from typing import Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from annotation.connectors.endpoints import ENV_NAME, SECRET_ENV_PREFIX, FetchError, Origin
from annotation.connectors.headers import header_problem, secret_problem
from annotation.connectors.presets import PRESETS, SpecError, check_path_template, parse_body_template, spec_for
from annotation.models import RepeatSchedule, SearchConnector

MAX_HEADERS = 20


def _bounds(field: forms.Field, low, high=None) -> None:
    # Model fields give a form field no range; adding the validators (and the widget's
    # min/max for the browser) after construction is what min_value= would have done.
    field.validators.append(MinValueValidator(low))
    field.widget.attrs["min"] = low
    if high is not None:
        field.validators.append(MaxValueValidator(high))
        field.widget.attrs["max"] = high


class ConnectorForm(forms.ModelForm):
    headers = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='JSON object of extra headers (not secret), e.g. {"X-Team": "search"}',
    )

    class Meta:
        model = SearchConnector
        fields = [
            "name",
            "preset",
            "base_url",
            "method",
            "path_template",
            "body_template",
            "hits_path",
            "id_path",
            "score_path",
            "headers",
            "secret_header",
            "secret_env",
            "k",
            "timeout_seconds",
        ]
        widgets = {"body_template": forms.Textarea(attrs={"rows": 6, "spellcheck": "false"})}

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        method = self.fields["method"]
        assert isinstance(method, forms.ChoiceField)  # the model field has choices
        method.required = False
        method.choices = [("", "preset's")] + list(SearchConnector.Method.choices)
        _bounds(self.fields["k"], 1, 1000)
        _bounds(self.fields["timeout_seconds"], 1, 120)
        generic, es = PRESETS["generic"], PRESETS["elasticsearch"]
        hints = {
            "path_template": f"generic: {generic.path_template} · Elasticsearch: /<index>/_search",
            "hits_path": f"generic: {generic.hits_path} · Elasticsearch: {es.hits_path}",
            "id_path": f"generic: {generic.id_path} · Elasticsearch: {es.id_path} (or _source.<field>)",
            "score_path": f"generic: {generic.score_path} · Elasticsearch: {es.score_path} · - for none",
        }
        for name, placeholder in hints.items():
            self.fields[name].widget.attrs["placeholder"] = placeholder
        self.fields["body_template"].widget.attrs["placeholder"] = (
            "empty: the preset's (Elasticsearch: a multi_match query)"
        )
        if self.instance.pk and not self.is_bound:
            self.initial["headers"] = json.dumps(self.instance.headers or {})

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        taken = SearchConnector.objects.filter(project=self.project, name=name).exclude(pk=self.instance.pk)
        if not name:
            raise forms.ValidationError("A connector needs a name.")
        if taken.exists():
            raise forms.ValidationError("The project has a connector with this name already.")
        return name

    def clean_base_url(self) -> str:
        url = self.cleaned_data["base_url"].strip().rstrip("/")
        try:
            Origin.of(url)
        except FetchError as exc:
            raise forms.ValidationError(str(exc)) from None
        scheme_host = url.split("://", 1)[1]
        if "/" in scheme_host or "?" in scheme_host or "#" in scheme_host:
            raise forms.ValidationError("Only scheme://host[:port]; put the path in the path template.")
        return url

    def clean_path_template(self) -> str:
        path = self.cleaned_data["path_template"].strip()
        if path and not path.startswith("/"):
            raise forms.ValidationError("The path template starts with /.")
        return path

    def clean_body_template(self) -> str:
        body = self.cleaned_data["body_template"].strip()
        if body:
            try:
                parse_body_template(body)
            except SpecError as exc:
                raise forms.ValidationError(str(exc)) from None
        return body

    def clean_headers(self) -> dict:
        raw = (self.cleaned_data.get("headers") or "").strip()
        if not raw:
            return {}
        try:
            headers = json.loads(raw)
        except (ValueError, RecursionError):
            raise forms.ValidationError("Headers are a JSON object of names to text values.") from None
        if not isinstance(headers, dict) or len(headers) > MAX_HEADERS:
            raise forms.ValidationError(f"Headers are a JSON object of at most {MAX_HEADERS} names to text values.")
        for name, value in headers.items():
            problem = header_problem(name, value)
            if problem is None and len(value) > 2000:
                problem = f"the value of {name} is longer than 2000 characters"
            if problem:
                raise forms.ValidationError(f"Header: {problem}.")
        return headers

    def clean(self) -> dict[str, Any]:
        super().clean()  # returns self.cleaned_data (typed Optional for overrides)
        data = self.cleaned_data
        header, env = data.get("secret_header", "").strip(), data.get("secret_env", "").strip()
        problem = header_problem(header, "") if header else None
        if problem:
            self.add_error("secret_header", f"Not a valid header name: {problem}.")
        if env and not ENV_NAME.match(env):
            self.add_error("secret_env", "An environment variable name: letters, digits and _.")
        elif env and not env.startswith(SECRET_ENV_PREFIX):
            self.add_error(
                "secret_env",
                f"Connector secrets are the variables the operator named {SECRET_ENV_PREFIX}…; others are not sent.",
            )
        elif env and data.get("base_url"):
            # Bound by the operator to this project and to this origin, or refused now
            # (and again by the fetcher on every request).
            bound = secret_problem(project=self.project, env=env, origin=Origin.of(data["base_url"]))
            if bound:
                self.add_error("secret_env", bound[0].upper() + bound[1:] + ".")
        if bool(header) != bool(env):
            self.add_error(
                "secret_env" if header else "secret_header", "Give both the header and the variable, or neither."
            )
        if "path_template" in data and "preset" in data:
            draft = SearchConnector(
                preset=data["preset"], method=data.get("method") or "", path_template=data["path_template"]
            )
            spec = spec_for(draft)
            try:
                check_path_template(draft.preset, spec.method, spec.path_template)
            except SpecError as exc:
                self.add_error("path_template", str(exc)[0].upper() + str(exc)[1:] + ".")
        return data

    def save(self, commit: bool = True) -> SearchConnector:
        connector = super().save(commit=False)
        connector.project = self.project
        if commit:
            connector.save()
        return connector


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = RepeatSchedule
        fields = ["connector", "top_n", "k", "interval_minutes", "margin", "label_source", "enabled"]
        labels = {
            "top_n": "Top N queries by traffic",
            "k": "k (results and nDCG cut-off)",
            "interval_minutes": "Every (minutes)",
        }

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        connector = self.fields["connector"]
        assert isinstance(connector, forms.ModelChoiceField)
        connector.queryset = SearchConnector.objects.filter(project=project)
        _bounds(self.fields["top_n"], 1, 100_000)
        _bounds(self.fields["k"], 1, 1000)
        _bounds(self.fields["interval_minutes"], 5)
        _bounds(self.fields["margin"], 0, 1)
        self.fields["margin"].widget.attrs["step"] = "0.01"


class ProbeForm(forms.Form):
    query = forms.CharField(max_length=500, strip=True)
