"""Small SVG charts, built as strings: what the dashboard redraws after every step.

Redrawing a dozen matplotlib figures costs a few hundred milliseconds each on a small machine;
writing the same chart as SVG markup costs a millisecond or two, and the browser draws it
crisply at any size. Hover texts are SVG ``<title>`` elements: native tooltips, no script, no
CDN. Everything here is pure (numbers in, markup out) and knows nothing about the model.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence

import numpy as np

WIDTH, HEIGHT = 480, 390
MARGINS = (58, 26, 28, 38)  # left, right, top, bottom
LEGEND_ROW_PX = 16
FONT = "font-family:Roboto,Arial,sans-serif"


def fmt_number(v: float) -> str:
    """Compact tick label: 1.2k, 3.4M, 5B, 0.25."""
    if v is None or not np.isfinite(v):
        return ""
    a = abs(v)
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{v / div:.3g}{unit}"
    return f"{v:.3g}"


def fmt_money(v: float) -> str:
    text = fmt_number(abs(v))
    return ("-$" if v < 0 else "$") + text if text else ""


def fmt_share(v: float) -> str:
    return f"{v:.0%}" if np.isfinite(v) else ""


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (about ``n`` of them)."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(t, 12) for t in np.arange(first, hi + step * 1e-6, step)]


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)


class Chart:
    """An SVG canvas with one pair of axes; data coordinates in, pixels out."""

    def __init__(self, x_range, y_range, *, title: str = "", xlabel: str = "", ylabel: str = "",
                 logy: bool = False, css_class: str = "chart", width: int = WIDTH, height: int = HEIGHT,
                 margins=MARGINS, pad_y: float = 0.05, legend: Sequence[tuple[str, str]] = (),
                 legend_columns: int = 3, max_height: int = 380):
        self.width, self.height = width, height
        self.left, self.right, self.top, self.bottom = margins
        self.legend_items, self.legend_columns = list(legend), legend_columns
        self.top += math.ceil(len(self.legend_items) / legend_columns) * LEGEND_ROW_PX
        self.logy = logy
        x_lo, x_hi = (float(v) for v in x_range)
        y_lo, y_hi = (float(v) for v in y_range)
        if logy:
            y_lo, y_hi = math.log10(max(y_lo, 1e-12)), math.log10(max(y_hi, 1e-12))
        if not np.isfinite(x_lo) or not np.isfinite(x_hi):
            x_lo, x_hi = 0.0, 1.0
        if not np.isfinite(y_lo) or not np.isfinite(y_hi):
            y_lo, y_hi = 0.0, 1.0
        if x_hi <= x_lo:
            x_lo, x_hi = x_lo - 0.5, x_hi + 0.5
        if y_hi <= y_lo:
            span = abs(y_lo) * 0.1 or 1.0
            y_lo, y_hi = y_lo - span, y_hi + span
        pad = (y_hi - y_lo) * pad_y
        self.x_lo, self.x_hi, self.y_lo, self.y_hi = x_lo, x_hi, y_lo - (pad if y_lo != 0 or logy else 0), y_hi + pad
        self.parts: list[str] = []
        self.overlay: list[str] = []
        self.css_class = css_class
        self.max_height = max_height
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel

    # --- coordinates ------------------------------------------------------------------------
    def sx(self, x):
        x = np.asarray(x, dtype=float)
        return self.left + (x - self.x_lo) / (self.x_hi - self.x_lo) * (self.width - self.left - self.right)

    def sy(self, y):
        y = np.asarray(y, dtype=float)
        if self.logy:
            y = np.log10(np.maximum(y, 1e-12))
        return self.height - self.bottom - (y - self.y_lo) / (self.y_hi - self.y_lo) * (
            self.height - self.top - self.bottom)

    @property
    def plot_box(self):
        return self.left, self.top, self.width - self.right, self.height - self.bottom

    # --- axes -------------------------------------------------------------------------------
    def x_axis(self, ticks: Sequence[float] | None = None, fmt: Callable[[float], str] = fmt_number,
               grid: bool = False) -> Chart:
        x0, y0, x1, y1 = self.plot_box
        ticks = nice_ticks(self.x_lo, self.x_hi, 6) if ticks is None else ticks
        for t in ticks:
            if self.x_lo <= t <= self.x_hi:
                px = float(self.sx(t))
                if grid:
                    self.parts.append(f'<line x1="{px:.1f}" y1="{y0}" x2="{px:.1f}" y2="{y1}" stroke="#eee"/>')
                self.parts.append(f'<line x1="{px:.1f}" y1="{y1}" x2="{px:.1f}" y2="{y1 + 4}" stroke="#999"/>'
                                  f'<text x="{px:.1f}" y="{y1 + 15}" text-anchor="middle" font-size="11">'
                                  f"{_esc(fmt(t))}</text>")
        return self

    def y_axis(self, fmt: Callable[[float], str] = fmt_number) -> Chart:
        x0, y0, x1, y1 = self.plot_box
        if self.logy:
            ticks = [m * 10.0 ** e for e in range(math.floor(self.y_lo), math.ceil(self.y_hi) + 1) for m in (1, 3)]
            ticks = [t for t in ticks if self.y_lo <= math.log10(t) <= self.y_hi]
        else:
            ticks = [t for t in nice_ticks(self.y_lo, self.y_hi, 5) if self.y_lo <= t <= self.y_hi]
        for t in ticks:
            py = float(self.sy(t))
            self.parts.append(f'<line x1="{x0}" y1="{py:.1f}" x2="{x1}" y2="{py:.1f}" stroke="#eee"/>'
                              f'<text x="{x0 - 5}" y="{py + 4:.1f}" text-anchor="end" font-size="11">'
                              f"{_esc(fmt(t))}</text>")
        return self

    # --- marks ------------------------------------------------------------------------------
    def line(self, x, y, colour: str, width: float = 1.8, label: str = "", dash: str = "") -> Chart:
        px, py = self.sx(x), self.sy(y)
        ok = np.isfinite(px) & np.isfinite(py)
        if ok.sum() == 1:  # one point: a dot, so a single step shows
            i = int(np.flatnonzero(ok)[0])
            self.parts.append(f'<circle cx="{px[i]:.1f}" cy="{py[i]:.1f}" r="2.5" fill="{colour}"/>')
        elif ok.any():
            points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px[ok], py[ok]))
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            self.parts.append(f'<polyline class="series" points="{points}" fill="none" stroke="{colour}" '
                              f'stroke-width="{width}"{dash_attr}><title>{_esc(label)}</title></polyline>')
        return self

    def area(self, x, y_low, y_high, colour: str, label: str = "", opacity: float = 0.85) -> Chart:
        px, lo, hi = self.sx(x), self.sy(y_low), self.sy(y_high)
        if len(px) == 0:
            return self
        if len(px) == 1:  # one step: a bar a few pixels wide
            px = np.array([px[0] - 3, px[0] + 3])
            lo, hi = np.repeat(lo, 2), np.repeat(hi, 2)
        upper = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, hi))
        lower = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px[::-1], lo[::-1]))
        self.parts.append(f'<polygon class="layer" points="{upper} {lower}" fill="{colour}" '
                          f'fill-opacity="{opacity}" stroke="none"><title>{_esc(label)}</title></polygon>')
        return self

    def bars(self, x0, x1, heights, colour: str, tips: Sequence[str] | None = None) -> Chart:
        base = float(self.sy(max(self.y_lo, 0.0)))
        for i, (a, b, h) in enumerate(zip(self.sx(x0), self.sx(x1), self.sy(heights))):
            tip = f"<title>{_esc(tips[i])}</title>" if tips else ""
            self.parts.append(f'<rect class="bar" x="{a:.1f}" y="{min(h, base):.1f}" width="{max(b - a - 1, 0.5):.1f}" '
                              f'height="{abs(base - h):.1f}" fill="{colour}">{tip}</rect>')
        return self

    def hline(self, y: float, colour: str = "#000", label: str = "", dash: str = "5,4") -> Chart:
        if not np.isfinite(y):
            return self
        x0, _, x1, _ = self.plot_box
        py = float(self.sy(y))
        self.parts.append(f'<line class="hline" x1="{x0}" y1="{py:.1f}" x2="{x1}" y2="{py:.1f}" stroke="{colour}" '
                          f'stroke-width="1.2" stroke-dasharray="{dash}"><title>{_esc(label)}</title></line>')
        if label:
            self.parts.append(f'<text x="{x1 - 4}" y="{py - 5:.1f}" text-anchor="end" font-size="11">'
                              f"{_esc(label)}</text>")
        return self

    def hover_columns(self, x, tips: Sequence[str]) -> Chart:
        """Invisible full-height bands, one per x value, each with its own tooltip."""
        px = np.asarray(self.sx(x), dtype=float)
        if not len(px):
            return self
        half = np.diff(px) / 2 if len(px) > 1 else np.array([])
        lefts = np.r_[px[0] - (half[0] if len(half) else 4), px[1:] - half]
        rights = np.r_[px[:-1] + half, px[-1] + (half[-1] if len(half) else 4)]
        _, y0, _, y1 = self.plot_box
        for a, b, tip in zip(lefts, rights, tips):
            self.overlay.append(f'<rect class="hover" x="{a:.1f}" y="{y0}" width="{b - a:.1f}" height="{y1 - y0}" '
                                f'fill="transparent"><title>{_esc(tip)}</title></rect>')
        return self

    def _legend(self) -> list[str]:
        """The legend, in rows between the title and the plot (room made in ``__init__``)."""
        x0, y0, x1, _ = self.plot_box
        rows = math.ceil(len(self.legend_items) / self.legend_columns)
        col_w = (x1 - x0) / self.legend_columns
        out = []
        for i, (label, colour) in enumerate(self.legend_items):
            lx = x0 + 4 + (i % self.legend_columns) * col_w
            ly = y0 - (rows - i // self.legend_columns) * LEGEND_ROW_PX + 6
            out.append(f'<rect x="{lx:.1f}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
                       f'<text x="{lx + 14:.1f}" y="{ly}" font-size="11">{_esc(label)}</text>')
        return out

    def text(self, x_px: float, y_px: float, text: str, anchor: str = "start", size: int = 11) -> Chart:
        self.overlay.append(f'<text x="{x_px:.1f}" y="{y_px:.1f}" text-anchor="{anchor}" font-size="{size}">'
                            f"{_esc(text)}</text>")
        return self

    # --- output -----------------------------------------------------------------------------
    def svg(self) -> str:
        x0, y0, x1, y1 = self.plot_box
        w, h = self.width, self.height
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" '
                f'class="{self.css_class}" style="height:auto;max-height:{self.max_height}px;{FONT}">'
                f'<rect width="{w}" height="{h}" fill="white"/>')
        frame = (f'<line x1="{x0}" y1="{y1}" x2="{x1}" y2="{y1}" stroke="#999"/>'
                 f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#999"/>')
        labels = []
        if self.title:
            labels.append(f'<text x="{w / 2}" y="18" text-anchor="middle" font-size="14" font-weight="500">'
                          f"{_esc(self.title)}</text>")
        if self.xlabel:
            labels.append(f'<text x="{(x0 + x1) / 2}" y="{h - 6}" text-anchor="middle" font-size="12">'
                          f"{_esc(self.xlabel)}</text>")
        if self.ylabel:
            my = (y0 + y1) / 2
            labels.append(f'<text x="14" y="{my}" text-anchor="middle" font-size="12" '
                          f'transform="rotate(-90 14 {my})">{_esc(self.ylabel)}</text>')
        return "".join([head, *self.parts, frame, *labels, *self._legend(), *self.overlay, "</svg>"])


def time_ticks(dates: Sequence, n: int = 6) -> tuple[list[float], Callable[[float], str]]:
    """Tick positions (step numbers 1..len(dates)) and a formatter that shows their dates."""
    count = len(dates)
    ticks = [t for t in nice_ticks(1, max(count, 1), n) if float(t).is_integer() and 1 <= t <= count]

    def fmt(t: float) -> str:
        i = int(t) - 1
        return f"{dates[i]:%Y-%m}" if 0 <= i < count else ""
    return ticks, fmt


def histogram(values, title: str, *, bins: int = 20, colour: str = "#607d8b", fmt=fmt_number,
              width: int = 240, height: int = 160, css_class: str = "histogram", clip: float = 0.98) -> str:
    """A histogram as SVG (empty axes when there is nothing to count). Values above the ``clip``
    quantile are counted in the last bin, so one outlier does not squeeze the rest into a bar."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v):
        hi = float(np.quantile(v, clip)) if len(v) > 20 else float(v.max())
        lo = float(v.min())
        counts, edges = np.histogram(np.minimum(v, hi), bins=bins, range=(lo, max(hi, lo + 1e-9)))
    else:
        counts, edges = np.zeros(1), np.array([0.0, 1.0])
    chart = Chart((edges[0], edges[-1]), (0, max(counts.max(), 1)), title=title, css_class=css_class,
                  width=width, height=height, margins=(34, 12, 22, 22), pad_y=0.0, max_height=170)
    chart.y_axis().x_axis(ticks=nice_ticks(edges[0], edges[-1], 4), fmt=fmt)
    tips = [f"{fmt(a)} to {fmt(b)}: {int(c)} firms" for a, b, c in zip(edges[:-1], edges[1:], counts)]
    if len(v) and v.max() > edges[-1]:
        tips[-1] = f"{fmt(edges[-2])} or more: {int(counts[-1])} firms"
    chart.bars(edges[:-1], edges[1:], counts, colour, tips)
    return chart.svg()
