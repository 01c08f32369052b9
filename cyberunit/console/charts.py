"""Charts as inline SVG, drawn on the server: no chart library, no script, every label escaped.

Each bar is a <rect class="bar"> carrying data-label and data-value (and a <title> tooltip), so a test,
a screen reader or a curious analyst can read the numbers behind the picture.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta

from markupsafe import Markup, escape

WIDTH = 440
ROW = 26
BAR = 16
LABEL = 160  # room for 20 characters of 12px text (`_short`): 138 clipped the first letters
VALUE = 46

Item = tuple[str, float]


def _number(value: float) -> str:
    return f"{value:.1f}" if value and value != int(value) else str(int(value))


def _short(label: str, size: int = 20) -> str:
    return label if len(label) <= size else label[: size - 1] + "…"


def _frame(chart_id: str, title: str, height: int, body: list[str], summary: str) -> Markup:
    head = (
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-labelledby="{escape(chart_id)}-t {escape(chart_id)}-d" '
        f'preserveAspectRatio="xMinYMin meet">'
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-d">{escape(summary)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every interpolated text is escaped above


def bars(
    chart_id: str, title: str, items: Sequence[Item], unit: str = "", empty: str = "No data yet."
) -> Markup:
    """Horizontal bars, one row per item, largest scale to the full width; `empty` when there are none."""
    if not items:
        return Markup(f'<p class="empty">{escape(empty)}</p>')  # noqa: S704 - escaped
    top = max(value for _, value in items) or 1
    room = WIDTH - LABEL - VALUE
    body: list[str] = []
    for row, (label, value) in enumerate(items):
        y = 4 + row * ROW
        width = round(room * value / top, 1)
        text = f"{label}: {_number(value)}{' ' + unit if unit else ''}"
        body.append(
            f'<text class="label" x="{LABEL - 8}" y="{y + BAR - 3}" text-anchor="end">'
            f"{escape(_short(label))}</text>"
        )
        if value > 0:
            body.append(
                f'<rect class="bar" x="{LABEL}" y="{y}" width="{max(width, 2)}" height="{BAR}" rx="2" '
                f'data-label="{escape(label)}" data-value="{_number(value)}">'
                f"<title>{escape(text)}</title></rect>"
            )
        body.append(
            f'<text class="value" x="{LABEL + max(width, 0) + 6}" y="{y + BAR - 3}">{_number(value)}</text>'
        )
    summary = "; ".join(f"{label}: {_number(value)}" for label, value in items)
    return _frame(chart_id, title, 8 + len(items) * ROW, body, summary)


def _step(top: float) -> int:
    """A round gridline step that gives two to five lines up to `top`."""
    if top <= 4:
        return 1
    magnitude: int = 10 ** int(math.log10(top))
    for factor in (1, 2, 5, 10):
        if top / (magnitude * factor / 2) <= 5:
            return max(1, int(magnitude * factor / 2))
    return magnitude * 10  # pragma: no cover - the loop always returns


def columns(chart_id: str, title: str, items: Sequence[Item], unit: str = "") -> Markup:
    """Vertical bars over time (one per day), with a y axis and thinned x labels."""
    if not items:
        return Markup('<p class="empty">No data yet.</p>')
    height, left, bottom, top_pad = 200, 34, 24, 10
    plot_w, plot_h = WIDTH - left - 6, height - bottom - top_pad
    top = max(value for _, value in items) or 1
    step = _step(top)
    ceiling = max(step, math.ceil(top / step) * step)
    body: list[str] = []
    for tick in range(0, int(ceiling) + 1, step):
        y = top_pad + plot_h - plot_h * tick / ceiling
        body.append(f'<line class="grid" x1="{left}" x2="{WIDTH - 6}" y1="{y:.1f}" y2="{y:.1f}"/>')
        body.append(f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    slot = plot_w / len(items)
    every = max(1, math.ceil(len(items) / 7))
    for i, (label, value) in enumerate(items):
        x = left + i * slot
        if value > 0:
            h = plot_h * value / ceiling
            text = f"{label}: {_number(value)}{' ' + unit if unit else ''}"
            body.append(
                f'<rect class="bar" x="{x + slot * 0.15:.1f}" y="{top_pad + plot_h - h:.1f}" '
                f'width="{max(slot * 0.7, 1):.1f}" height="{h:.1f}" '
                f'data-label="{escape(label)}" data-value="{_number(value)}">'
                f"<title>{escape(text)}</title></rect>"
            )
        if (len(items) - 1 - i) % every == 0:  # today always labelled, flush with the right edge
            last = i == len(items) - 1
            body.append(
                f'<text class="axis" x="{x + (slot if last else slot / 2):.1f}" y="{height - 6}" '
                f'text-anchor="{"end" if last else "middle"}">'
                f"{escape(label[5:] if len(label) == 10 else label)}</text>"
            )
    base = top_pad + plot_h
    body.append(f'<line class="baseline" x1="{left}" x2="{WIDTH - 6}" y1="{base}" y2="{base}"/>')
    total = sum(value for _, value in items)
    summary = f"{_number(total)} {unit} over {len(items)} days".strip()
    return _frame(chart_id, title, height, body, summary)


def last_days(per_day: dict[str, int], today: date, days: int = 30) -> list[Item]:
    """The last `days` days up to today, zeros included, oldest first."""
    start = today - timedelta(days=days - 1)
    return [
        ((start + timedelta(days=i)).isoformat(), per_day.get((start + timedelta(days=i)).isoformat(), 0))
        for i in range(days)
    ]


BUCKETS = (
    ("under 1 hour", 1.0),
    ("1 to 4 hours", 4.0),
    ("4 to 24 hours", 24.0),
    ("1 to 3 days", 72.0),
    ("3 to 7 days", 168.0),
    ("over 7 days", math.inf),
)


def hours_histogram(hours: Sequence[float]) -> list[Item]:
    counts = [0] * len(BUCKETS)
    for value in hours:
        for i, (_, limit) in enumerate(BUCKETS):
            if value < limit:
                counts[i] += 1
                break
    return [(label, count) for (label, _), count in zip(BUCKETS, counts, strict=True)]


# A removal bar's figures beside it ("12.5 h · 3 removed · 2 waiting") need more room than a count.
TIMED_VALUE = 150
Timed = tuple[str, float | None, int, int]  # label, median hours (None: none removed), removed, waiting


def _hours(value: float) -> str:
    return f"{value:.1f} h" if value < 100 else f"{value:.0f} h"


def timed_bars(chart_id: str, title: str, items: Sequence[Timed]) -> Markup:
    """Horizontal bars of median hours (time to removal), one row per platform or agency, each with the
    cases it is the median of and the cases still waiting, so a short bar over one case is not read as
    a platform that acts fast. A row with nothing removed yet has no bar, only its waiting count."""
    if not items:
        return Markup('<p class="empty">No referral or check recorded yet.</p>')
    top = max((hours or 0.0) for _, hours, _, _ in items) or 1.0
    room = WIDTH - LABEL - TIMED_VALUE
    body: list[str] = []
    said: list[str] = []
    for row, (label, hours, removed, waiting) in enumerate(items):
        y = 4 + row * ROW
        width = round(room * (hours or 0.0) / top, 1)
        counts = f"{removed} removed" + (f" · {waiting} waiting" if waiting else "")
        figure = f"{_hours(hours)} · {counts}" if hours is not None else f"none removed · {waiting} waiting"
        said.append(f"{label}: {figure}")
        body.append(
            f'<text class="label" x="{LABEL - 8}" y="{y + BAR - 3}" text-anchor="end">'
            f"{escape(_short(label))}</text>"
        )
        if hours is not None:
            body.append(
                f'<rect class="bar" x="{LABEL}" y="{y}" width="{max(width, 2)}" height="{BAR}" rx="2" '
                f'data-label="{escape(label)}" data-value="{hours:.1f}" data-removed="{removed}" '
                f'data-waiting="{waiting}"><title>{escape(label)}: median {escape(figure)}</title></rect>'
            )
        body.append(
            f'<text class="value" x="{LABEL + max(width, 0) + 6}" y="{y + BAR - 3}">{escape(figure)}</text>'
        )
    return _frame(chart_id, title, 8 + len(items) * ROW, body, "; ".join(said))
