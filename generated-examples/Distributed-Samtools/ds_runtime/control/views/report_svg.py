"""The run report's pictures as inline SVG text: no script, no font or file from elsewhere."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from html import escape

from ...outcomes import Outcome

WIDTH = 1000  # drawing units; the page scales the picture to its width
LABEL = 190  # room for the row labels on the left
ROW = 18
AXIS = 28
TICKS = 6


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def worker_of(outcome: Outcome) -> str:
    """The timeline row of an attempt: its worker process (host/pid), or its host in older records."""
    return outcome.worker or outcome.host or "unknown"


def _duration_text(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _axis(x0: float, span: float, y: float, count: int = TICKS) -> list[str]:
    """Tick marks and labels along the bottom, for `span` seconds from x0."""
    parts = [f'<line class="axis" x1="{x0}" y1="{y}" x2="{WIDTH}" y2="{y}"/>']
    for i in range(count):
        x = x0 + (WIDTH - x0 - 1) * i / (count - 1)
        parts.append(f'<line class="axis" x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}"/>')
        anchor = "start" if i == 0 else "end" if i == count - 1 else "middle"
        label = escape(_duration_text(span * i / (count - 1)))
        parts.append(f'<text class="tick" x="{x:.1f}" y="{y + 16}" text-anchor="{anchor}">{label}</text>')
    return parts


def timeline(attempts: Sequence[Outcome]) -> str:
    """One row per worker, one bar per attempt from its start to its end, coloured by its state."""
    if not attempts:
        return '<p class="empty">No attempt recorded yet.</p>'
    start = min(_seconds(a.started_at) for a in attempts)
    span = max(max(_seconds(a.finished_at) for a in attempts) - start, 1e-3)
    rows = sorted({worker_of(a) for a in attempts})
    index = {w: i for i, w in enumerate(rows)}
    height = len(rows) * ROW + AXIS
    scale = (WIDTH - LABEL - 1) / span
    parts = [
        f'<svg class="timeline" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-label="timeline of {len(attempts)} attempts on {len(rows)} workers">'
    ]
    for worker, i in index.items():
        y = i * ROW
        parts.append(f'<rect class="row{i % 2}" x="0" y="{y}" width="{WIDTH}" height="{ROW}"/>')
        parts.append(f'<text class="label" x="4" y="{y + ROW - 5}">{escape(worker[-30:])}</text>')
    for a in sorted(attempts, key=lambda o: o.started_at):
        x = LABEL + (_seconds(a.started_at) - start) * scale
        w = max(1.0, (_seconds(a.finished_at) - _seconds(a.started_at)) * scale)
        tip = f"{a.job_id} attempt {a.attempt}: {a.state}, {_duration_text(a.duration_seconds)}"
        if a.exit_code is not None:
            tip += f", exit code {a.exit_code}"
        parts.append(
            f'<rect class="attempt {escape(a.state)}" data-job="{escape(a.job_id)}" data-attempt="{a.attempt:d}" '
            f'x="{x:.2f}" y="{index[worker_of(a)] * ROW + 3}" width="{w:.2f}" height="{ROW - 6}">'
            f"<title>{escape(tip)}</title></rect>"
        )
    parts += _axis(LABEL, span, len(rows) * ROW + 2)
    parts.append("</svg>")
    return "\n".join(parts)


def histogram(seconds: Sequence[float], bins: int = 20) -> str:
    """How many attempts took how long: `bins` equal steps from 0 to the longest."""
    if not seconds:
        return '<p class="empty">No attempt recorded yet.</p>'
    longest = max(max(seconds), 1e-3)
    step = longest / bins
    counts = [0] * bins
    for value in seconds:
        counts[min(bins - 1, int(value / step))] += 1
    top, height, left = max(counts), 160, 40
    bar = (WIDTH - left) / bins
    parts = [
        f'<svg class="histogram" viewBox="0 0 {WIDTH} {height + AXIS}" width="100%" role="img" '
        f'aria-label="histogram of {len(seconds)} attempt durations">',
        f'<text class="tick" x="{left - 6}" y="12" text-anchor="end">{top}</text>',
        f'<text class="tick" x="{left - 6}" y="{height}" text-anchor="end">0</text>',
    ]
    for i, count in enumerate(counts):
        h = height * count / top
        low, high = _duration_text(i * step), _duration_text((i + 1) * step)
        parts.append(
            f'<rect class="bin" x="{left + i * bar + 1:.1f}" y="{height - h:.1f}" width="{bar - 2:.1f}" '
            f'height="{h:.1f}"><title>{count} attempt(s) of {escape(low)} to {escape(high)}</title></rect>'
        )
    parts += _axis(left, longest, height + 2, count=min(TICKS, bins + 1))
    parts.append("</svg>")
    return "\n".join(parts)


def nice_number(value: float) -> str:
    """Hours or dollars in a few digits."""
    if value == 0 or math.isnan(value):
        return "0"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.4f}"
