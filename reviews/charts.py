"""Tiny server-rendered SVG charts for the dashboard: no JavaScript, no CDN.

Each function takes plain numbers and labels and returns an SVG string. Every piece of
text (labels come from users: segment names, scale names, raters) is escaped here, so
the result may be marked safe in a template; numbers are formatted, never interpolated
from input as text.
"""

from html import escape

WIDTH = 560
# Series colours live in static/css/app.css (--series-0 … --series-5, light and dark values
# at 3:1 or more against the card, WCAG 1.4.11): a mark gets the class series-k, which sets
# `color`, and paints with currentColor, so dark mode needs no second SVG.
SERIES = 6
RING = 4  # the series colour of the ringed current point (red)
# Heatmap cells: the count is written on the cell, so a cell is either light (dark text)
# or strong (white text), never the mid shade where neither reaches 4.5:1.
CELL_RIGHT, CELL_WRONG = "#166534", "#991b1b"
STRONG_SHARE = 0.5


def series_class(k: int) -> str:
    return f"series-{k % SERIES}"


def cell_shade(share: float) -> tuple[float, str]:
    """(fill opacity, text class) of a heatmap cell holding `share` of its row: a weak cell
    stays pale under dark text, a strong one is dark under white text."""
    if share < STRONG_SHARE:
        return 0.08 + 0.6 * share, "chart-count"
    return 0.85 + 0.3 * (share - STRONG_SHARE), "chart-count chart-count-strong"


def _t(text) -> str:
    return escape(str(text), quote=True)


def _svg(width: float, height: float, title: str, body: list[str]) -> str:
    # A chart with links in it (points to pick) is a group: an image holds no controls.
    role = "group" if any("<a " in part for part in body) else "img"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="100%" role="{role}" aria-label="{_t(title)}"><title>{_t(title)}</title>{"".join(body)}</svg>'
    )


def line_chart(points: list[tuple[str, float | None]], *, title: str, y_max: float = 1.0, height: int = 200) -> str:
    """A line of values in [0, y_max] over labelled x positions (e.g. weeks)."""
    left, right, top, bottom = 40, 10, 10, 40
    inner_w, inner_h = WIDTH - left - right, height - top - bottom
    body = [f'<line x1="{left}" y1="{top + inner_h}" x2="{WIDTH - right}" y2="{top + inner_h}" class="chart-axis"/>']
    for tick in (0, 0.5, 1):
        y = top + inner_h * (1 - tick)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}" class="chart-grid"/>')
        body.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="chart-tick">{tick * y_max:g}</text>'
        )
    if not points:
        body.append(
            f'<text x="{WIDTH / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" class="chart-empty">no data yet</text>'
        )
        return _svg(WIDTH, height, title, body)
    step = inner_w / max(len(points) - 1, 1)
    coords = []
    for i, (label, value) in enumerate(points):
        x = left + (i * step if len(points) > 1 else inner_w / 2)
        if value is not None:
            y = top + inner_h * (1 - max(0.0, min(value / y_max, 1.0)))
            coords.append((x, y, label, value))
        if len(points) <= 12 or i % max(len(points) // 8, 1) == 0:
            body.append(
                f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle" class="chart-tick">{_t(label)}</text>'
            )
    if len(coords) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in coords)
        body.append(
            f'<polyline points="{path}" class="{series_class(0)}" fill="none" stroke="currentColor" stroke-width="2"/>'
        )
    for x, y, label, value in coords:
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" class="{series_class(0)}" fill="currentColor">'
            f"<title>{_t(label)}: {value:.3f}</title></circle>"
        )
    return _svg(WIDTH, height, title, body)


def wrap(text: str, width: int = 11) -> list[str]:
    """Words into lines of at most `width` characters (a longer word gets a line of its
    own), so neighbouring axis labels never run into each other."""
    lines: list[str] = []
    for word in str(text).split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def _lines(x: float, y: float, lines: list[str], css: str, anchor: str = "middle") -> str:
    spans = "".join(f'<tspan x="{x:.0f}" dy="{0 if i == 0 else 13}">{_t(line)}</tspan>' for i, line in enumerate(lines))
    return f'<text x="{x:.0f}" y="{y:.0f}" text-anchor="{anchor}" class="{css}">{spans}</text>'


def heatmap(
    matrix: list[list[int]], *, rows: list[str], columns: list[str], title: str, row_title: str, column_title: str
) -> str:
    """A confusion matrix: cell shade by its share of the row, the count written in it.
    Column names are wrapped to the cell's width and row names to the margin's, so long
    names never overlap."""
    n = len(rows)
    cell, left = 76, 150
    column_lines = [wrap(name) for name in columns]
    depth = max((len(lines) for lines in column_lines), default=1)
    top = 30 + 13 * depth
    width, height = left + cell * len(columns) + 10, top + cell * n + 30
    body = [
        f'<text x="{left + cell * len(columns) / 2:.0f}" y="14" text-anchor="middle" class="chart-label">{_t(column_title)} →</text>',
        f'<text x="10" y="{top + cell * n + 22}" class="chart-label">↓ {_t(row_title)}</text>',
    ]
    for j, lines in enumerate(column_lines):
        # Bottom-aligned: the last line sits just above the cells.
        body.append(_lines(left + cell * j + cell / 2, top - 8 - 13 * (len(lines) - 1), lines, "chart-tick"))
    for i, name in enumerate(rows):
        row = matrix[i] if i < len(matrix) else []
        total = sum(row) or 1
        y = top + cell * i
        lines = wrap(name, 22)
        body.append(_lines(left - 8, y + cell / 2 + 4 - 6.5 * (len(lines) - 1), lines, "chart-tick", anchor="end"))
        for j in range(len(columns)):
            count = int(row[j]) if j < len(row) else 0
            opacity, text_class = cell_shade(count / total)
            colour = CELL_RIGHT if i == j else CELL_WRONG
            x = left + cell * j
            body.append(
                f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{colour}" fill-opacity="{opacity:.3f}">'
                f"<title>{_t(name)} → {_t(columns[j])}: {count}</title></rect>"
            )
            body.append(
                f'<text x="{x + cell / 2 - 1:.0f}" y="{y + cell / 2 + 4:.0f}" text-anchor="middle" class="{text_class}">{count}</text>'
            )
    return _svg(width, height, title, body)


def grouped_bars(groups: list[tuple[str, list[int]]], *, series: list[str], title: str, height: int = 220) -> str:
    """Shares per group (e.g. a source), one bar per series (e.g. a label), and a legend
    below with one line per series: its colour, its name and its count and share in
    every group, so the figures read without hovering."""
    left, top, bottom = 40, 14, 30
    inner_h = height - top - bottom
    group_w = (WIDTH - left - 10) / max(len(groups), 1)
    bar_w = max(group_w * 0.8 / max(len(series), 1), 2)
    body = [f'<line x1="{left}" y1="{top + inner_h}" x2="{WIDTH - 10}" y2="{top + inner_h}" class="chart-axis"/>']
    for g, (group, counts) in enumerate(groups):
        total = sum(counts) or 1
        x0 = left + g * group_w + group_w * 0.1
        for k, count in enumerate(counts):
            share = count / total
            bar_h = inner_h * share
            bar_x = x0 + k * bar_w
            body.append(
                f'<rect x="{bar_x:.1f}" y="{top + inner_h - bar_h:.1f}" width="{bar_w - 1:.1f}" height="{bar_h:.1f}" '
                f'class="{series_class(k)}" fill="currentColor"><title>{_t(group)} · {_t(series[k] if k < len(series) else k)}: '
                f"{count} ({share:.0%})</title></rect>"
            )
        body.append(
            f'<text x="{left + g * group_w + group_w / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" class="chart-tick">'
            f"{_t(group)}</text>"
        )
    totals = [sum(counts) or 1 for _, counts in groups]
    for k, name in enumerate(series):
        y = height + 8 + 18 * k
        values = " · ".join(
            f"{group} {counts[k] if k < len(counts) else 0} ({(counts[k] if k < len(counts) else 0) / total:.0%})"
            for (group, counts), total in zip(groups, totals, strict=True)
        )
        body.append(f'<rect x="{left}" y="{y}" width="11" height="11" class="{series_class(k)}" fill="currentColor"/>')
        body.append(
            f'<text x="{left + 16}" y="{y + 10}" class="chart-tick chart-legend">'
            f'<tspan class="chart-count">{_t(name)}</tspan>: {_t(values)}</text>'
        )
    return _svg(WIDTH, height + 14 + 18 * len(series), title, body)


def routing_curve(points: list[dict], *, title: str, link: str = "", current: float | None = None) -> str:
    """The routing-value curve: x = share of pairs sent to humans, y = share of the judge's
    errors among them (and, dashed, the accuracy of what is auto-accepted). Each point links
    to `link` + its threshold (e.g. a policy form pre-filled with it); the point of the
    `current` threshold is ringed."""
    height, left, right, top, bottom = 260, 44, 12, 12, 44
    inner_w, inner_h = WIDTH - left - right, height - top - bottom
    body = [
        f'<line x1="{left}" y1="{top + inner_h}" x2="{WIDTH - right}" y2="{top + inner_h}" class="chart-axis"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + inner_h}" class="chart-axis"/>',
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        x, y = left + inner_w * tick, top + inner_h * (1 - tick)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}" class="chart-grid"/>')
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="chart-tick">{tick:.0%}</text>')
        body.append(
            f'<text x="{x:.1f}" y="{top + inner_h + 16}" text-anchor="middle" class="chart-tick">{tick:.0%}</text>'
        )
    body.append(
        f'<text x="{left + inner_w / 2:.0f}" y="{height - 6}" text-anchor="middle" class="chart-tick">'
        "pairs sent to humans</text>"
    )
    usable = [p for p in points if p["errors_caught"] is not None]
    if not usable:
        body.append(
            f'<text x="{WIDTH / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" class="chart-empty">'
            "no judge errors to catch yet</text>"
        )
        return _svg(WIDTH, height, title, body)

    def xy(share: float, value: float) -> tuple[float, float]:
        return left + inner_w * share, top + inner_h * (1 - value)

    caught = " ".join("{:.1f},{:.1f}".format(*xy(p["to_humans"], p["errors_caught"])) for p in usable)
    body.append(
        f'<polyline points="{caught}" class="{series_class(0)}" fill="none" stroke="currentColor" stroke-width="2"/>'
    )
    accurate = [p for p in usable if p["auto_accuracy"] is not None]
    if len(accurate) > 1:
        line = " ".join("{:.1f},{:.1f}".format(*xy(p["to_humans"], p["auto_accuracy"])) for p in accurate)
        body.append(
            f'<polyline points="{line}" class="{series_class(1)}" fill="none" stroke="currentColor" stroke-width="1.5" '
            'stroke-dasharray="4 3"/>'
        )
    for p in usable:
        x, y = xy(p["to_humans"], p["errors_caught"])
        threshold = p["threshold"]
        label = "everything to humans" if threshold is None else f"min confidence {threshold:.3f}"
        tip = f"{label}: {p['to_humans']:.0%} to humans, {p['errors_caught']:.0%} of errors caught" + (
            "" if p["auto_accuracy"] is None else f", auto-accepted accuracy {p['auto_accuracy']:.0%}"
        )
        ring = current is not None and threshold is not None and abs(threshold - current) < 1e-9
        dot = (
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{6 if ring else 3.5}" class="{series_class(RING if ring else 0)}" '
            f'fill="currentColor"><title>{_t(tip)}</title></circle>'
        )
        if link and threshold is not None:
            dot = f'<a href="{_t(link)}{threshold:.4f}" aria-label="{_t(tip)}">{dot}</a>'
        body.append(dot)
    legend_y = top + 10
    body.append(
        f'<line x1="{WIDTH - 210}" y1="{legend_y}" x2="{WIDTH - 190}" y2="{legend_y}" class="{series_class(0)}" '
        'stroke="currentColor" stroke-width="2"/>'
        f'<text x="{WIDTH - 186}" y="{legend_y + 4}" class="chart-tick">errors caught</text>'
        f'<line x1="{WIDTH - 210}" y1="{legend_y + 16}" x2="{WIDTH - 190}" y2="{legend_y + 16}" class="{series_class(1)}" '
        'stroke="currentColor" '
        f'stroke-width="1.5" stroke-dasharray="4 3"/>'
        f'<text x="{WIDTH - 186}" y="{legend_y + 20}" class="chart-tick">auto-accepted accuracy</text>'
    )
    return _svg(WIDTH, height, title, body)
