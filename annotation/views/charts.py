"""Server-rendered SVG charts of the evaluate pages: no JavaScript, no inline script or
style (CSP), classes styled at the end of app.css under "charts".

Each function takes plain numbers and returns markup that is safe to insert: the only
text from users (run names) is escaped here, numbers are formatted.
"""

from collections.abc import Sequence
from html import escape

from django.utils.safestring import SafeString, mark_safe

from ..comparison import paired_bootstrap_ci

WIDTH = 560


def _t(text) -> str:
    return escape(str(text), quote=True)


def _svg(height: float, title: str, body: list[str], css: str) -> SafeString:
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {css}" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'width="100%" role="img" aria-label="{_t(title)}"><title>{_t(title)}</title>{"".join(body)}</svg>'
    )


def histogram_bins(values: Sequence[float], bins: int = 10) -> list[int]:
    """Counts of values in [0, 1] over `bins` equal bins; 1.0 falls in the last one."""
    counts = [0] * bins
    for value in values:
        counts[min(int(max(0.0, min(value, 1.0)) * bins), bins - 1)] += 1
    return counts


def histogram(values: Sequence[float], *, title: str, x_title: str, bins: int = 10) -> SafeString:
    """How many queries fall in each tenth of [0, 1]: bars with their counts on top."""
    left, right, top, bottom, height = 36, 10, 18, 42, 220
    inner_w, inner_h = WIDTH - left - right, height - top - bottom
    counts = histogram_bins(values, bins)
    peak = max(counts) or 1
    step = inner_w / bins
    base = top + inner_h
    body = [f'<line x1="{left}" y1="{base}" x2="{WIDTH - right}" y2="{base}" class="chart-axis"/>']
    for i, count in enumerate(counts):
        x = left + i * step
        bar_h = inner_h * count / peak
        lo, hi = i / bins, (i + 1) / bins
        body.append(
            f'<rect x="{x + 2:.1f}" y="{base - bar_h:.1f}" width="{step - 4:.1f}" height="{bar_h:.1f}" '
            f'class="ev-bar"><title>{lo:.1f}–{hi:.1f}: {count} quer{"y" if count == 1 else "ies"}</title></rect>'
        )
        if count:
            body.append(
                f'<text x="{x + step / 2:.1f}" y="{base - bar_h - 4:.1f}" text-anchor="middle" '
                f'class="chart-count">{count}</text>'
            )
    for i in range(0, bins + 1, 2):  # every other edge: 0, 0.2, … 1, never crowded
        x = left + i * step
        body.append(f'<text x="{x:.1f}" y="{base + 14}" text-anchor="middle" class="chart-tick">{i / bins:g}</text>')
    body.append(
        f'<text x="{left + inner_w / 2:.0f}" y="{height - 8}" text-anchor="middle" class="chart-label">'
        f"{_t(x_title)} ({len(values)} quer{'y' if len(values) == 1 else 'ies'})</text>"
    )
    if not values:
        body.append(
            f'<text x="{WIDTH / 2:.0f}" y="{top + inner_h / 2:.0f}" text-anchor="middle" class="chart-empty">'
            "no query has this figure defined</text>"
        )
    return _svg(height, title, body, "ev-histogram")


def mean_interval(values: Sequence[float], *, seed: int = 0) -> tuple[float, float] | None:
    """Percentile bootstrap interval (95%) of the mean of per-query values; None for
    fewer than two queries."""
    if len(values) < 2:
        return None
    return paired_bootstrap_ci(values, seed=seed)


def intervals(rows: Sequence[dict], *, title: str, x_max: float = 1.0) -> SafeString:
    """One line per run: its mean as a dot, its bootstrap interval as a whisker, the
    figures written beside it. rows: {"label", "mean", "ci": (lo, hi) | None}."""
    label_w, right, top, row_h = 150, 150, 14, 34
    height = top + row_h * len(rows) + 24
    inner_w = WIDTH - label_w - right

    def x_of(value: float) -> float:
        return label_w + inner_w * max(0.0, min(value / x_max, 1.0))

    axis_y = top + row_h * len(rows)
    body = [f'<line x1="{label_w}" y1="{axis_y}" x2="{label_w + inner_w}" y2="{axis_y}" class="chart-axis"/>']
    for tick in (0, 0.25, 0.5, 0.75, 1):
        x = x_of(tick * x_max)
        body.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{axis_y}" class="chart-grid"/>')
        body.append(
            f'<text x="{x:.1f}" y="{axis_y + 14}" text-anchor="middle" class="chart-tick">{tick * x_max:g}</text>'
        )
    for i, row in enumerate(rows):
        y = top + row_h * i + row_h / 2
        body.append(
            f'<text x="{label_w - 8}" y="{y + 4:.1f}" text-anchor="end" class="chart-label">{_t(row["label"])}</text>'
        )
        mean, ci = row["mean"], row["ci"]
        if mean is None:
            body.append(f'<text x="{label_w + 4}" y="{y + 4:.1f}" class="chart-empty">undefined</text>')
            continue
        if ci is not None:
            x1, x2 = x_of(ci[0]), x_of(ci[1])
            body.append(f'<line x1="{x1:.1f}" y1="{y:.1f}" x2="{x2:.1f}" y2="{y:.1f}" class="ev-whisker ev-run-{i}"/>')
            for x in (x1, x2):
                body.append(
                    f'<line x1="{x:.1f}" y1="{y - 6:.1f}" x2="{x:.1f}" y2="{y + 6:.1f}" class="ev-whisker ev-run-{i}"/>'
                )
        body.append(f'<circle cx="{x_of(mean):.1f}" cy="{y:.1f}" r="5" class="ev-dot ev-run-{i}"/>')
        figures = f"{mean:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
        body.append(
            f'<text x="{label_w + inner_w + 8}" y="{y + 4:.1f}" class="chart-count ev-ci-text">{figures}</text>'
        )
    return _svg(height, title, body, "ev-intervals")
