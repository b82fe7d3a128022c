"""The scorecard outside the HTML page: Markdown for the Dagster UI, text for terminals and
e-mail. Each output escapes ticket-derived text in its own way (Markdown punctuation is
backslash-escaped; control characters never reach a terminal or a mail body).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from .formatting import Badge, format_value, status_badge, status_counts, trend_badge
from .report_model import KpiCard

_MARKDOWN_SPECIAL = frozenset("\\`*_{}[]<>()#+-!|~&")


def _markdown_cell(text: str) -> str:
    """Make text inert inside a Markdown table cell: one line, punctuation backslash-escaped."""
    one_line = " ".join(text.split())
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in one_line)


def _scorecard_rows(cards: Sequence[KpiCard]) -> list[tuple[str, str, str, Badge, Badge]]:
    """Shared cell values of the Markdown and text scorecards."""
    return [
        (
            card.name,
            format_value(card.value, card.unit),
            format_value(card.target, card.unit),
            status_badge(card.status),
            trend_badge(card.trend, card.direction),
        )
        for card in cards
    ]


def _trend_text(trend: Badge) -> str:
    """Join a trend's arrow and word, leaving out the arrow when there is none."""
    return f"{trend.glyph} {trend.words}".strip()


def scorecard_markdown(cards: Sequence[KpiCard]) -> str:
    """Render the scorecard as a Markdown table for Dagster asset metadata."""
    if not cards:
        return "_No KPIs were computed for this period._"
    lines = ["| KPI | Value | Target | Status | Trend |", "| --- | ---: | ---: | --- | --- |"]
    for name, value, target, status, trend in _scorecard_rows(cards):
        cells = [name, value, target, f"{status.glyph} {status.words}", _trend_text(trend)]
        lines.append("| " + " | ".join(_markdown_cell(cell) for cell in cells) + " |")
    return "\n".join(lines)


def _terminal_safe(text: str) -> str:
    """Replace control and format characters with spaces.

    ANSI escapes, newlines and bidi overrides in ticket text could otherwise rewrite or spoof
    the terminal output.
    """
    return "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)


def _width(text: str) -> int:
    """Terminal columns of text: wide East Asian characters take two, combining marks none."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def _fit(text: str, columns: int) -> str:
    """Cut text to at most ``columns`` terminal columns, marking the cut with an ellipsis."""
    if _width(text) <= columns:
        return text
    kept, used = [], 0
    for ch in text:  # one pass: ticket text can be very long
        used += _width(ch)
        if used > columns - 1:
            break
        kept.append(ch)
    return "".join(kept) + "…"


def scorecard_text(cards: Sequence[KpiCard]) -> str:
    """Render the scorecard as a plain, column-aligned text table for a terminal."""
    if not cards:
        return "No KPIs were computed for this period."
    header = ("KPI", "Value", "Target", "Status", "Trend")
    rows = [
        tuple(
            _terminal_safe(cell)
            for cell in (_fit(name, 40), value, target, status.words, trend.words)
        )
        for name, value, target, status, trend in _scorecard_rows(cards)
    ]
    widths = [max(_width(row[i]) for row in [header, *rows]) for i in range(len(header))]
    right_aligned = {1, 2}

    def line(cells: Sequence[str]) -> str:
        padded = [
            " " * (widths[i] - _width(cell)) + cell
            if i in right_aligned
            else cell + " " * (widths[i] - _width(cell))
            for i, cell in enumerate(cells)
        ]
        return "  ".join(padded).rstrip()

    return "\n".join(
        [line(header), line(["-" * width for width in widths]), *(line(row) for row in rows)]
    )


def summary_text(title: str, cards: Sequence[KpiCard], attachment: str) -> str:
    """The plain-text body of the report e-mail: the headline counts and the scorecard."""
    counts = ", ".join(f"{n} {badge.words.lower()}" for badge, n in status_counts(
        [card.status for card in cards]))
    return (
        f"{_terminal_safe(title)}\n\n"
        f"KPIs: {counts or 'none computed'}.\n\n"
        f"{scorecard_text(cards)}\n\n"
        f"The full report is attached ({_terminal_safe(attachment)}); it opens in any browser "
        "without a network connection.\n"
    )
