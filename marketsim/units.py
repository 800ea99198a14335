"""Unit conversions and number formatting: one home for both.

Constants are exact definitions (SI prefixes, calendar), except the month and year lengths,
which are the mean Julian year (365.25 days) the whole model uses: a monthly step is a twelfth
of it. Plain Python only: importing this loads neither numpy nor pandas.

Formatters turn a number into the text people read in a summary, report or dashboard; NaN
reads as ``n/a`` (or the en dash in ``outcomes.format_value``), never as ``nan``.
"""

from __future__ import annotations

import math

KW_PER_MW = 1000.0
W_PER_MW = 1e6  # TH/s per MW = W_PER_MW / (J/TH)
PH_PER_EH = 1000.0
TH_PER_EH = 1_000_000.0
MONTHS_PER_YEAR = 12.0
HOURS_PER_DAY = 24.0
DAYS_PER_WEEK = 7.0
DAYS_PER_YEAR = 365.25  # mean Julian year
DAYS_PER_MONTH = DAYS_PER_YEAR / MONTHS_PER_YEAR  # 30.4375, one model step
HOURS_PER_MONTH = DAYS_PER_MONTH * HOURS_PER_DAY

MONEY_SUFFIXES = (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3))


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x)) or x != x


def format_money(x: float, *, cents: bool = False) -> str:
    """``$1.23M``, ``-$451.83M``: the sign before the currency (as accountants write it), two
    decimals with a T/B/M/k suffix from a thousand up; below that whole dollars (or cents)."""
    if _missing(x):
        return "n/a"
    x = float(x)
    sign = "-" if x < 0 else ""
    x = abs(x)
    for suffix, size in MONEY_SUFFIXES:
        if x >= size:
            return f"{sign}${x / size:,.2f}{suffix}"
    small = f"{x:,.2f}" if cents else f"{x:,.0f}"
    if float(small.replace(",", "")) == 0:
        sign = ""
    return f"{sign}${small}"


def format_share(x: float, *, signed: bool = False) -> str:
    """A 0..1 share or a relative change as a percentage: 0.123 -> ``12.3%`` (``+12.3%`` signed)."""
    if _missing(x):
        return "n/a"
    return f"{float(x):+.1%}" if signed else f"{float(x):.1%}"


def format_number(value) -> str:
    """A table cell: floats to four significant digits (NaN as ``-``), anything else as ``str``."""
    if isinstance(value, float) or type(value).__name__.startswith("float"):
        value = float(value)
        return "-" if math.isnan(value) else f"{value:.4g}"
    return str(value)
