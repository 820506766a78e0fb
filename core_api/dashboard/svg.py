"""Small server-side SVG charts: horizontal bars and day columns, every label escaped.

Charts are drawn on the server so the page needs no charting script and no CDN; labels
can be citizen-derived text (ward names, descriptions), so each one goes through
``html.escape`` before it lands in the markup.
"""

from __future__ import annotations

from html import escape

BAR_HEIGHT = 22
LABEL_WIDTH = 190
CHART_WIDTH = 560
PALETTE = ("#008069", "#2f6fb0", "#b7791f", "#9b2c2c", "#6b46c1", "#2c7a7b", "#718096")


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _clip(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bar_chart(rows: list[tuple[str, float]], title: str,
              colours: tuple[str, ...] = PALETTE) -> str:
    """Horizontal bars, one per (label, value), longest first as given; ``colours`` by row
    when the colour carries meaning (good green, late amber, breached red)."""
    if not rows:
        return f'<p class="empty">{escape(title)}: no data in this range.</p>'
    top = max(value for _, value in rows) or 1
    height = BAR_HEIGHT * len(rows) + 8
    room = CHART_WIDTH - LABEL_WIDTH - 70
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {CHART_WIDTH} {height}" '
             f'width="{CHART_WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>"]
    for index, (label, value) in enumerate(rows):
        y = 4 + index * BAR_HEIGHT
        width = max(room * value / top, 1 if value else 0)
        colour = colours[index % len(colours)]
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 15}" text-anchor="end">'
            f"{escape(_clip(str(label)))}</text>"
            f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{width:.1f}" height="{BAR_HEIGHT - 6}"'
            f' fill="{colour}" rx="2"><title>{escape(str(label))}: {_number(value)}</title>'
            f"</rect>"
            f'<text x="{LABEL_WIDTH + width + 6:.1f}" y="{y + 15}">{_number(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def column_chart(rows: list[tuple[str, float]], title: str) -> str:
    """Vertical columns over days (labels ``YYYY-MM-DD``, shown as ``DD/MM``)."""
    if not rows:
        return f'<p class="empty">{escape(title)}: no data in this range.</p>'
    top = max(value for _, value in rows) or 1
    height, base = 190, 160
    step = max(min((CHART_WIDTH - 50) / len(rows), 40), 6)
    width = int(50 + step * len(rows))
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>",
             f'<text x="4" y="14">{_number(top)}</text>',
             f'<line x1="40" y1="{base}" x2="{width}" y2="{base}" stroke="#d8dde3"/>']
    for index, (label, value) in enumerate(rows):
        x = 44 + index * step
        bar = (base - 20) * value / top
        text = str(label)
        short = f"{text[8:10]}/{text[5:7]}" if len(text) == 10 else text
        parts.append(
            f'<rect x="{x:.1f}" y="{base - bar:.1f}" width="{max(step - 3, 2):.1f}" '
            f'height="{bar:.1f}" fill="{PALETTE[0]}"><title>{escape(text)}: {_number(value)}'
            f"</title></rect>")
        if len(rows) <= 16 or index % max(len(rows) // 8, 1) == 0:
            parts.append(f'<text x="{x:.1f}" y="{base + 16}" class="tick">{escape(short)}</text>')
    parts.append("</svg>")
    return "".join(parts)
