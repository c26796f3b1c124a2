"""Reads the lead-action forms (reviews/_lead_actions.html) out of a page, for the tests of
the two pages that include them: the hard disagreements and the flagged tasks."""

from html.parser import HTMLParser


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.labels: dict[str, str] = {}  # label `for` → its text
        self._form: dict | None = None
        self._label_for: str | None = None
        self._option: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = {"attrs": attrs, "inputs": {}, "buttons": [], "selects": {}}
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag == "input":
            self._form["inputs"][attrs.get("name")] = attrs.get("value", "")
        elif tag == "button":
            self._form["buttons"].append((attrs.get("name"), attrs.get("value")))
        elif tag == "select":
            self._select = attrs.get("id") or attrs.get("name", "")
            self._form["selects"][self._select] = []
        elif tag == "option":
            self._option = {"value": attrs.get("value", ""), "text": ""}
            self._form["selects"][self._select].append(self._option)
        elif tag == "label":
            self._label_for = attrs.get("for")
            self.labels[self._label_for] = ""

    def handle_data(self, data):
        if self._option is not None:
            self._option["text"] += data
        elif self._label_for is not None:
            self.labels[self._label_for] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "option":
            self._option = None
        elif tag == "label":
            self._label_for = None


def forms_posting_to(html: str, url: str) -> tuple[list[dict], dict[str, str]]:
    """The forms whose action is `url` (each: attrs, inputs, buttons, selects), and the page's labels."""
    parser = _Forms()
    parser.feed(html)
    return [f for f in parser.forms if f["attrs"].get("action") == url], parser.labels


def assert_lead_actions(html: str, url: str, row_id: str, levels: dict[int, str], *, adjudicating=False) -> None:
    """Both pages offer the same answer to a pair: its forms post to `url`, plainly and by
    htmx, replace the row `row_id`, carry the CSRF token, and override with a labelled
    choice of every level that posts its stored value and shows "key · name" (the n-th
    level is key n, as on the review card)."""
    forms, labels = forms_posting_to(html, url)
    assert len(forms) == (1 if adjudicating else 2), forms
    for form in forms:
        attrs = form["attrs"]
        assert (attrs["method"], attrs["hx-post"], attrs["hx-target"]) == ("post", url, f"#{row_id}")
        assert (attrs["hx-swap"], attrs["hx-disabled-elt"]) == ("outerHTML", "find button")
        assert form["inputs"]["csrfmiddlewaretoken"]
    *adjudicate, override = forms
    assert [f["buttons"] for f in adjudicate] == ([] if adjudicating else [[("action", "adjudicate")]])
    assert override["inputs"]["action"] == "override"
    [(select_id, options)] = override["selects"].items()
    assert labels[select_id] == "New gold label"
    assert [(o["value"], o["text"]) for o in options] == [("", "gold…")] + [
        (str(v), f"{key} · {n}") for key, (v, n) in enumerate(sorted(levels.items()), start=1)
    ]
