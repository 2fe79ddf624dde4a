"""Server-rendered SVG charts (the CSP forbids inline script, so no chart library runs in
the page). Every label is escaped; the result is markup safe to place in a template."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

CHART_WIDTH = 640
CHART_HEIGHT = 220
MARGIN_LEFT = 48
MARGIN_BOTTOM = 36
MARGIN_TOP = 28
LEGEND_STEP = 150  # px from one legend entry to the next
CODE_COLOURS = {"VALID": "#1f7a3a"}
OTHER_COLOURS = ("#b42318", "#d97706", "#7c3aed", "#0e7490", "#be185d", "#4b5563")


def colour_of(code: str, codes: Sequence[str]) -> str:
    if code in CODE_COLOURS:
        return CODE_COLOURS[code]
    others = [c for c in codes if c not in CODE_COLOURS]
    return OTHER_COLOURS[others.index(code) % len(OTHER_COLOURS)] if code in others else OTHER_COLOURS[-1]


def _frame(title: str, chart_id: str, unit: str, bar_values: Sequence[float], label_count: int) -> tuple[float, int, float, list[str]]:
    """What every bar chart starts with: the scale's top (the tallest bar, 1 when there is none,
    so an empty chart divides by nothing), the plot's height, the width each label gets, and
    the SVG opened with its title, scale and axis."""
    top = max(bar_values, default=0) or 1
    plot_w = CHART_WIDTH - MARGIN_LEFT - 8
    plot_h = CHART_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    slot = plot_w / max(label_count, 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{escape(chart_id)}" class="chart" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" role="img" aria-label="{escape(title)}">',
        f'<text x="4" y="16" font-size="13">{escape(title)}</text>',
        f'<text x="4" y="{MARGIN_TOP + 10}" font-size="10">{top:g}{escape(unit)}</text>',
        f'<line x1="{MARGIN_LEFT}" y1="{MARGIN_TOP + plot_h}" x2="{CHART_WIDTH - 8}" y2="{MARGIN_TOP + plot_h}" stroke="#999"/>',
    ]
    return top, plot_h, slot, parts


def _legend(entries: Sequence[tuple[str, str]]) -> list[str]:
    """The legend under a chart: a swatch and a name per (name, colour), side by side."""
    parts = []
    for n, (name, colour) in enumerate(entries):
        x = MARGIN_LEFT + n * LEGEND_STEP
        parts.append(f'<rect x="{x}" y="{CHART_HEIGHT - 14}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{CHART_HEIGHT - 5}" font-size="10">{escape(name)}</text>')
    return parts


def stacked_bars(title: str, labels: Sequence[str], series: dict[str, Sequence[float]], chart_id: str, unit: str = "") -> Markup:
    """One bar per label, stacked by series (e.g. minutes × validation codes), with a legend."""
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    top, plot_h, slot, parts = _frame(title, chart_id, unit, totals, len(labels))
    codes = list(series)
    for i, label in enumerate(labels):
        x = MARGIN_LEFT + i * slot
        y = float(MARGIN_TOP + plot_h)
        for code in codes:
            value = series[code][i]
            if value <= 0:
                continue
            height = plot_h * value / top
            y -= height
            parts.append(
                f'<rect class="bar" data-series="{escape(code)}" x="{x + slot * 0.1:.1f}" y="{y:.1f}" width="{slot * 0.8:.1f}" height="{height:.1f}" '
                f'fill="{colour_of(code, codes)}"><title>{escape(label)}: {value:g}{escape(unit)} {escape(code)}</title></rect>'
            )
    step = max(1, len(labels) // 6)
    for i in range(0, len(labels), step):
        parts.append(f'<text x="{MARGIN_LEFT + i * slot:.1f}" y="{CHART_HEIGHT - MARGIN_BOTTOM + 14}" font-size="10">{escape(labels[i])}</text>')
    parts.extend(_legend([(code, colour_of(code, codes)) for code in codes]))
    parts.append("</svg>")
    return Markup("".join(parts))


def bars(title: str, labels: Sequence[str], values: Sequence[float], chart_id: str, unit: str = "", name: str = "value") -> Markup:
    return stacked_bars(title, labels, {name: values}, chart_id, unit)


def grouped_bars(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]], chart_id: str, unit: str = "") -> Markup:
    """Bars side by side per label, one per series (e.g. a month this year and the year before)."""
    top, plot_h, slot, parts = _frame(title, chart_id, unit, [v for values in series.values() for v in values], len(labels))
    names = list(series)
    width = slot * 0.8 / max(len(names), 1)
    for i, label in enumerate(labels):
        for n, name in enumerate(names):
            value = series[name][i]
            if value <= 0:
                continue
            height = plot_h * value / top
            parts.append(
                f'<rect class="bar" data-series="{escape(name)}" data-label="{escape(label)}" x="{MARGIN_LEFT + i * slot + slot * 0.1 + n * width:.1f}" y="{MARGIN_TOP + plot_h - height:.1f}" '
                f'width="{width:.1f}" height="{height:.1f}" fill="{OTHER_COLOURS[n % len(OTHER_COLOURS)] if n else "#2f6fab"}"><title>{escape(label)} {escape(name)}: {value:g}{escape(unit)}</title></rect>'
            )
        parts.append(f'<text x="{MARGIN_LEFT + i * slot:.1f}" y="{CHART_HEIGHT - MARGIN_BOTTOM + 14}" font-size="10">{escape(label)}</text>')
    parts.extend(_legend([(name, OTHER_COLOURS[n % len(OTHER_COLOURS)] if n else "#2f6fab") for n, name in enumerate(names)]))
    parts.append("</svg>")
    return Markup("".join(parts))
