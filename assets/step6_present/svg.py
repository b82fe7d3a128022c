"""Hand-written inline SVG charts for the offline report.

The report must open without network access and print well, so charts are plain SVG markup
built here rather than produced by a JavaScript library. Every piece of text that ends up in
the markup goes through ``markupsafe.escape`` and every number through ``_n``; the result is
returned as ``Markup`` only once it has been assembled from those safe parts, which is what lets
the templates embed it without ``|safe``.

Charts do not rely on colour alone: the data line is solid, the target line dashed and labelled,
and signal markers are triangles with a dotted drop line, so they survive grey printing.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable, Iterable, Sequence

from markupsafe import Markup, escape

Series = Sequence[tuple[datetime.date, float | None]]
Formatter = Callable[[float], str]

_INK = "#222222"
_MUTED = "#767676"
_GRID = "#dddddd"
_TARGET = "#0072B2"
_SIGNAL = "#D55E00"
_FORECAST = "#009E73"
_BAND = "#eeeeee"
_SIZE = re.compile(r'<svg[^>]*? width="([\d.]+)" height="([\d.]+)"')


def plain_number(value: float) -> str:
    """Format a value for an axis or label when the caller has no unit-aware formatter."""
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _n(x: float) -> str:
    """Format a coordinate with one decimal: precise enough on screen and paper, and small."""
    text = f"{x:.1f}".removesuffix(".0")
    return "0" if text == "-0" else text


def _clean(series: Series) -> list[tuple[datetime.date, float | None]]:
    """Sort by day and turn NaN/inf (as pandas may hand over) into gaps."""
    return [
        (day, value if value is not None and math.isfinite(value) else None)
        for day, value in sorted(series, key=lambda point: point[0])
    ]


def _value_range(values: Sequence[float]) -> tuple[float, float]:
    """Return a y range that never has zero height, so constant series plot mid-height."""
    lo, hi = min(values), max(values)
    if lo == hi:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
        if min(values) >= 0:
            lo = max(lo, 0.0)
    return lo, hi


def _x_scale(
    days: Sequence[datetime.date], x0: float, x1: float
) -> Callable[[datetime.date], float]:
    """Map days to x positions by calendar distance, so missing days keep their width."""
    first = days[0]
    span = (days[-1] - first).days
    if span == 0:
        return lambda _day: (x0 + x1) / 2
    return lambda day: x0 + (day - first).days / span * (x1 - x0)


def _y_scale(lo: float, hi: float, y_top: float, y_bottom: float) -> Callable[[float], float]:
    """Map values to y positions (SVG y grows downwards)."""
    return lambda value: y_bottom - (value - lo) / (hi - lo) * (y_bottom - y_top)


def _line(
    points: Sequence[tuple[float, float] | None], *, stroke: str, stroke_width: float
) -> list[str]:
    """Draw a polyline broken at ``None`` so gaps in the data stay visible as gaps.

    Points with no neighbour on either side would be invisible as a path, so they get a dot.
    """
    segments: list[list[tuple[float, float]]] = [[]]
    for point in points:
        if point is None:
            segments.append([])
        else:
            segments[-1].append(point)
    parts: list[str] = []
    paths = [
        "M" + " L".join(f"{_n(x)} {_n(y)}" for x, y in segment)
        for segment in segments
        if len(segment) > 1
    ]
    if paths:
        parts.append(
            f'<path d="{" ".join(paths)}" fill="none" stroke="{stroke}" '
            f'stroke-width="{_n(stroke_width)}" stroke-linejoin="round" stroke-linecap="round"/>'
        )
    parts.extend(
        f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(stroke_width)}" fill="{stroke}"/>'
        for segment in segments
        if len(segment) == 1
        for x, y in segment
    )
    return parts


def _svg(css_class: str, width: float, height: float, label: str, body: Iterable[str]) -> Markup:
    """Wrap chart parts in an accessible ``<svg>`` (role, aria-label and ``<title>``).

    No ``xmlns`` attribute: inline SVG in HTML does not need it, and the page must not contain
    any URL at all (``standalone`` adds it for SVG files).
    """
    safe_label = escape(label)
    return Markup(
        f'<svg class="{css_class}" role="img" aria-label="{safe_label}" width="{_n(width)}" '
        f'height="{_n(height)}" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'font-family="system-ui, sans-serif"><title>{safe_label}</title>{"".join(body)}</svg>'
    )


def _describe(
    cleaned: Sequence[tuple[datetime.date, float | None]], values: Sequence[float], fmt: Formatter
) -> str:
    """Summarise a series in words for screen readers and tooltips."""
    latest = next(value for _day, value in reversed(cleaned) if value is not None)
    return (
        f"{len(values)} of {len(cleaned)} days with data, "
        f"{cleaned[0][0].isoformat()} to {cleaned[-1][0].isoformat()}; "
        f"lowest {fmt(min(values))}, highest {fmt(max(values))}, latest {fmt(latest)}"
    )


def sparkline(
    series: Series,
    *,
    width: int = 120,
    height: int = 28,
    label: str = "Daily values",
    fmt: Formatter = plain_number,
) -> Markup:
    """Draw a small axis-less trend line for a scorecard row.

    ``label`` names the KPI in the accessible description and ``fmt`` formats values in it
    (both optional extras beyond the charting data). An empty or all-gap series draws a dashed
    baseline and says "no data" rather than nothing, so the cell is not mistaken for a glitch.
    """
    pad = 2.0
    cleaned = _clean(series)
    values = [value for _day, value in cleaned if value is not None]
    if not values:
        mid = height / 2
        body = [
            f'<line x1="{_n(pad)}" y1="{_n(mid)}" x2="{_n(width - pad)}" y2="{_n(mid)}" '
            f'stroke="{_MUTED}" stroke-dasharray="2 3"/>'
        ]
        return _svg("sparkline", width, height, f"{label}: no data", body)
    to_x = _x_scale([day for day, _value in cleaned], pad, width - pad)
    to_y = _y_scale(*_value_range(values), pad, height - pad)
    points = [None if value is None else (to_x(day), to_y(value)) for day, value in cleaned]
    last_x, last_y = next(point for point in reversed(points) if point is not None)
    body = _line(points, stroke="currentColor", stroke_width=1.5)
    body.append(f'<circle cx="{_n(last_x)}" cy="{_n(last_y)}" r="2.2" fill="currentColor"/>')
    return _svg("sparkline", width, height, f"{label}: {_describe(cleaned, values, fmt)}", body)


DECIMAL_STEPS = (1.0, 2.0, 2.5, 5.0)
"""Tick steps (times a power of ten) for plain numbers."""

MINUTE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 180, 240, 360, 720, 1440, 2880, 4320, 7200, 10080,
                20160, 43200)
"""Tick steps for durations in minutes: whole minutes, hours, days and weeks."""


def nice_ticks(lo: float, hi: float, *, steps: Sequence[float] = (), count: int = 4) -> list[float]:
    """About ``count`` evenly spaced round values covering [lo, hi].

    ``steps`` lists the allowed spacings in the data's unit (e.g. MINUTE_STEPS, so duration
    axes read 1 h, 2 h, ...); without it the spacing is 1, 2, 2.5 or 5 times a power of ten.
    """
    if hi <= lo:
        hi = lo + (abs(lo) * 0.1 or 1.0)
    rough = (hi - lo) / count
    if steps and rough <= max(steps):
        step = float(next(s for s in sorted(steps) if s >= rough))
    else:
        power = 10 ** math.floor(math.log10(rough))
        step = next((m * power for m in DECIMAL_STEPS if m * power >= rough), 10 * power)
    first = math.floor(lo / step + 1e-9) * step
    last = math.ceil(hi / step - 1e-9) * step
    return [first + i * step for i in range(round((last - first) / step) + 1)]


def _label_width(labels: Iterable[str], font_size: float = 11) -> float:
    """Room for the widest axis label (an estimate: no fonts are measured offline)."""
    return max((len(label) for label in labels), default=0) * font_size * 0.58


def line_chart(
    series: Series,
    *,
    target: float | None = None,
    markers: Iterable[tuple[datetime.date, str]] = (),
    highlight: tuple[datetime.date, datetime.date] | None = None,
    forecast: Sequence[tuple[datetime.date, float, float | None, float | None]] = (),
    bounds: tuple[float | None, float | None] = (None, None),
    steps: Sequence[float] = (),
    width: int = 640,
    height: int = 200,
    title: str = "",
    fmt: Formatter = plain_number,
) -> Markup:
    """Draw a daily line chart with an optional target, period band, signals and forecast.

    ``markers`` are ``(day, label)`` pairs, e.g. findings; each becomes a triangle with a dotted
    drop line and a tooltip, and markers outside the chart's days are left out. ``highlight``
    shades the report period. ``forecast`` rows are ``(day, value, lower, upper)``: a dashed
    line and, where both bounds are known, a shaded prediction interval. ``bounds`` clips the
    axis to values the KPI can take (0..1 for a ratio); ``steps`` and ``fmt`` make the axis read
    in the KPI's unit.
    """
    top = 30.0 if title else 12.0
    right, bottom = 16.0, 26.0
    cleaned = _clean(series)
    values = [value for _day, value in cleaned if value is not None]
    ahead = sorted((p for p in forecast if math.isfinite(p[1])), key=lambda p: p[0])
    name = title or "Chart"
    body: list[str] = []
    if title:
        body.append(
            f'<text x="4" y="18" font-size="13" font-weight="bold" fill="{_INK}">'
            f"{escape(title)}</text>"
        )
    if not values and not ahead:
        x0, x1, y0, y1 = 40.0, width - right, top, height - bottom
        body.append(
            f'<path d="M{_n(x0)} {_n(y0)} V{_n(y1)} H{_n(x1)}" fill="none" stroke="{_MUTED}"/>'
            f'<text x="{_n((x0 + x1) / 2)}" y="{_n((y0 + y1) / 2)}" text-anchor="middle" '
            f'font-size="13" fill="{_MUTED}">No data</text>'
        )
        return _svg("line-chart", width, height, f"{name}: no data", body)

    bands = [v for _d, _v, lo, hi in ahead for v in (lo, hi) if v is not None and math.isfinite(v)]
    span = [*values, *(p[1] for p in ahead), *bands, *([] if target is None else [target])]
    ticks = nice_ticks(min(span), max(span), steps=steps)
    low, high = bounds
    ticks = [t for t in ticks if (low is None or t >= low - 1e-9)
             and (high is None or t <= high + 1e-9)] or ticks
    lo, hi = min(ticks[0], min(span)), max(ticks[-1], max(span))
    labels = [fmt(tick) for tick in ticks]
    x0 = max(40.0, _label_width(labels) + 12)
    x1, y0, y1 = width - right, top, height - bottom
    days = [day for day, _value in cleaned] + [p[0] for p in ahead]
    first_day, last_day = min(days), max(days)
    to_x = _x_scale([first_day, last_day], x0, x1)
    to_y = _y_scale(lo, hi, y0, y1)

    if highlight is not None:
        start, end = max(highlight[0], first_day), min(highlight[1], last_day)
        if start <= end:
            half = (x1 - x0) / max((last_day - first_day).days, 1) / 2
            left, right_edge = max(x0, to_x(start) - half), min(x1, to_x(end) + half)
            body.append(
                f'<rect x="{_n(left)}" y="{_n(y0)}" width="{_n(right_edge - left)}" '
                f'height="{_n(y1 - y0)}" fill="{_BAND}"/>'
            )
    for tick, label in zip(ticks, labels, strict=True):
        y = to_y(tick)
        body.append(
            f'<line x1="{_n(x0)}" y1="{_n(y)}" x2="{_n(x1)}" y2="{_n(y)}" stroke="{_GRID}"/>'
            f'<text x="{_n(x0 - 6)}" y="{_n(y + 4)}" text-anchor="end" font-size="11" '
            f'fill="{_INK}">{escape(label)}</text>'
        )
    body.append(f'<path d="M{_n(x0)} {_n(y0)} V{_n(y1)} H{_n(x1)}" fill="none" stroke="{_MUTED}"/>')
    date_labels = [(x0, "start", first_day)] + (
        [] if first_day == last_day else [(x1, "end", last_day)]
    )
    body.extend(
        f'<text x="{_n(x)}" y="{_n(height - 8)}" text-anchor="{anchor}" font-size="11" '
        f'fill="{_INK}">{escape(day.isoformat())}</text>'
        for x, anchor, day in date_labels
    )

    description = f"{name}: " + (
        _describe(cleaned, values, fmt) if values else "no history"
    )
    labels_on_top = []
    if target is not None:
        y = to_y(target)
        body.append(
            f'<line x1="{_n(x0)}" y1="{_n(y)}" x2="{_n(x1)}" y2="{_n(y)}" stroke="{_TARGET}" '
            f'stroke-width="1.5" stroke-dasharray="6 4"/>'
        )
        labels_on_top.append(  # drawn last, with a white halo, so the data never hides it
            f'<text x="{_n(x1)}" y="{_n(y - 4)}" text-anchor="end" font-size="11" '
            f'fill="{_TARGET}" stroke="#ffffff" stroke-width="3" paint-order="stroke">'
            f"Target {escape(fmt(target))}</text>"
        )
        description += f"; target {fmt(target)}"

    if ahead:
        interval = [(d, lo_, hi_) for d, _v, lo_, hi_ in ahead
                    if lo_ is not None and hi_ is not None
                    and math.isfinite(lo_) and math.isfinite(hi_)]
        if interval:
            outline = [(to_x(d), to_y(h)) for d, _l, h in interval]
            outline += [(to_x(d), to_y(low_)) for d, low_, _h in reversed(interval)]
            body.append(
                '<polygon points="' + " ".join(f"{_n(x)},{_n(y)}" for x, y in outline)
                + f'" fill="{_FORECAST}" fill-opacity="0.2" stroke="none"/>'
            )
        path = " L".join(f"{_n(to_x(d))} {_n(to_y(v))}" for d, v, _l, _h in ahead)
        body.append(
            f'<path d="M{path}" fill="none" stroke="{_FORECAST}" stroke-width="2" '
            f'stroke-dasharray="5 3"/>'
        )
        end_day, end_value, end_lo, end_hi = ahead[-1]
        description += f"; forecast {fmt(end_value)} on {end_day.isoformat()}"
        if end_lo is not None and end_hi is not None:
            description += f" (interval {fmt(end_lo)} to {fmt(end_hi)})"

    points = [None if value is None else (to_x(day), to_y(value)) for day, value in cleaned]
    body.extend(_line(points, stroke=_INK, stroke_width=2))

    by_day = dict(cleaned)
    shown = [(day, text) for day, text in markers if first_day <= day <= last_day]
    for day, text in shown:
        x = to_x(day)
        value = by_day.get(day)
        ring = (
            ""
            if value is None
            else f'<circle cx="{_n(x)}" cy="{_n(to_y(value))}" r="4.5" fill="none" '
            f'stroke="{_SIGNAL}" stroke-width="2"/>'
        )
        body.append(
            f"<g><title>{escape(day.isoformat())}: {escape(text)}</title>"
            f'<line x1="{_n(x)}" y1="{_n(y0)}" x2="{_n(x)}" y2="{_n(y1)}" stroke="{_SIGNAL}" '
            f'stroke-dasharray="2 3"/>'
            f'<polygon points="{_n(x - 5)},{_n(y0 - 8)} {_n(x + 5)},{_n(y0 - 8)} {_n(x)},{_n(y0)}" '
            f'fill="{_SIGNAL}"/>{ring}</g>'
        )
    if shown:
        marked = ", ".join(sorted({day.isoformat() for day, _text in shown}))
        description += f"; {len(shown)} signal(s) marked on {marked}"
    return _svg("line-chart", width, height, description, [*body, *labels_on_top])


def standalone(charts: Sequence[Markup], *, columns: int = 2, title: str = "") -> str:
    """Lay charts out in a grid as one SVG document (for a file or an image in the Dagster UI).

    Each chart keeps its own size; the document is as wide as ``columns`` of the widest chart.
    """
    sizes = [(float(match[1]), float(match[2]))
             for match in (_SIZE.search(chart) for chart in charts) if match]
    cell_w = max((w for w, _h in sizes), default=320.0)
    cell_h = max((h for _w, h in sizes), default=40.0)
    top = 28.0 if title else 0.0
    rows = max(1, math.ceil(len(charts) / columns))
    width, height = cell_w * min(columns, max(len(charts), 1)), top + cell_h * rows
    body = [f'<rect width="{_n(width)}" height="{_n(height)}" fill="#ffffff"/>']
    if title:
        body.append(f'<text x="4" y="20" font-size="16" font-weight="bold" fill="{_INK}">'
                    f"{escape(title)}</text>")
    for index, chart in enumerate(charts):
        x, y = (index % columns) * cell_w, top + (index // columns) * cell_h
        body.append(f'<g transform="translate({_n(x)} {_n(y)})">{chart}</g>')
    if not charts:
        body.append(f'<text x="8" y="{_n(top + 24)}" font-size="13" fill="{_MUTED}">'
                    "No KPIs were computed.</text>")
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{_n(width)}" height="{_n(height)}" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'font-family="system-ui, sans-serif">{"".join(body)}</svg>'
    )
