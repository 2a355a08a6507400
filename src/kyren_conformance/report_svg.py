"""A small inline SVG of the latency distribution, for the sign-off report.

Static markup with presentation attributes only (no script, no style element), so it renders
offline and under a Content-Security-Policy that blocks scripts and inline styles. The x axis is
logarithmic: a fast target's milliseconds and a slow answer's seconds both stay readable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 640, 170
LEFT, RIGHT, TOP, BOTTOM = 44, 16, 22, 36  # plot margins, px
BINS_PER_DECADE = 10
FLOOR_MS = 0.01  # a 0 ms latency (a clock's resolution) is drawn here on the log axis
MARK_COLOURS = {"p50": "#2b6cb0", "p95": "#c05621", "p99": "#9b2c2c", "max": "#4a5568"}
INK, BAR = "#2d3748", "#63b3ed"


@dataclass(frozen=True)
class _Axis:
    low: int  # log10 of the first decade shown
    high: int  # log10 of the last

    @classmethod
    def spanning(cls, values: Sequence[float]) -> _Axis:
        low = math.floor(math.log10(max(min(values), FLOOR_MS)))
        high = math.ceil(math.log10(max(max(values), FLOOR_MS)))
        return cls(low, max(high, low + 1))

    @property
    def bins(self) -> int:
        return (self.high - self.low) * BINS_PER_DECADE

    def position(self, ms: float) -> float:
        """0 at the left edge of the plot, 1 at the right."""
        return (math.log10(max(ms, FLOOR_MS)) - self.low) / (self.high - self.low)

    def x(self, ms: float) -> float:
        return LEFT + self.position(ms) * (WIDTH - LEFT - RIGHT)


def _histogram(values: Sequence[float], axis: _Axis) -> list[int]:
    counts = [0] * axis.bins
    for v in values:
        counts[min(int(axis.position(v) * axis.bins), axis.bins - 1)] += 1
    return counts


def _tick_label(ms: float) -> str:
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"


def _bars(counts: Sequence[int]) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    width, tallest = plot_w / len(counts), max(counts)
    out = []
    for i, count in enumerate(counts):
        if count:
            h = max(count / tallest * plot_h, 1.5)
            tip = f"{count} request{'s' if count != 1 else ''}"
            out.append(
                f'<rect x="{LEFT + i * width:.1f}" y="{TOP + plot_h - h:.1f}" width="{max(width - 1, 1):.1f}" '
                f'height="{h:.1f}" fill="{BAR}"><title>{tip}</title></rect>'
            )
    return out


def _axes(axis: _Axis, tallest: int) -> list[str]:
    bottom = HEIGHT - BOTTOM
    out = [
        f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{bottom - TOP}" fill="#f7fafc" '
        'stroke="#cbd5e0"/>'
    ]
    for decade in range(axis.low, axis.high + 1):
        x = axis.x(10.0**decade)
        out.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="{INK}"/>')
        out.append(
            f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle" fill="{INK}">{_tick_label(10.0**decade)}</text>'
        )
    out.append(f'<text x="{LEFT - 6}" y="{TOP + 9}" text-anchor="end" fill="{INK}">{tallest}</text>')
    out.append(f'<text x="{LEFT - 6}" y="{bottom}" text-anchor="end" fill="{INK}">0</text>')
    out.append(
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{HEIGHT - 4}" text-anchor="middle" fill="{INK}">'
        "latency per request (log scale); bar height: number of requests</text>"
    )
    return out


def _marks(marks: Mapping[str, float], axis: _Axis) -> list[str]:
    out = []
    last_x, row = -1000.0, 0
    for name, ms in marks.items():
        x, colour, label = axis.x(ms), MARK_COLOURS.get(name, INK), escape(f"{name} {ms:.1f} ms")
        # Close marks (p99 and max are often equal) get their labels on the next row, not overprinted.
        row = row + 1 if x - last_x < 80 else 0
        last_x = x
        out.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" stroke="{colour}" '
            f'stroke-width="1.5" stroke-dasharray="4 2"><title>{label}</title></line>'
        )
        out.append(f'<text x="{x + 3:.1f}" y="{TOP - 8 + row * 13}" fill="{colour}">{label}</text>')
    return out


def latency_svg(latencies_ms: Sequence[float], marks: Mapping[str, float]) -> str:
    """The distribution of answered requests' latencies, with the percentile marks drawn on it."""
    if not latencies_ms:
        return ""
    axis = _Axis.spanning(latencies_ms)
    counts = _histogram(latencies_ms, axis)
    summary = escape(
        f"latency of {len(latencies_ms)} answered requests (log scale): "
        + ", ".join(f"{k} {v:.1f} ms" for k, v in marks.items())
    )
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{summary}" font-family="sans-serif" '
        f'font-size="11"><title>{summary}</title>'
    )
    return "".join([head, *_axes(axis, max(counts)), *_bars(counts), *_marks(marks, axis), "</svg>"])
