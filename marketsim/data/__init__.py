"""Shipped daily Bitcoin network data (Coin Metrics, CC BY-NC 4.0) and the checks that guard it.

The model is calibrated and replayed against this file, so it is validated where it enters: a wrong
column, a gap in days or an issuance that disagrees with the protocol raises :class:`DataError` naming
the file, line, date, column and what was expected, instead of surfacing later as a wrong revenue.
See README.md in this folder for provenance.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from marketsim.errors import MarketsimError
from marketsim.protocol import SAT_PER_BTC, subsidy_sat

__all__ = [
    "DataError",
    "BTC_DAILY_COLUMNS",
    "HALVING_DAYS",
    "ANCHOR_DATE",
    "ANCHOR_FIRST_HEIGHT",
    "load_btc_daily",
    "load_price_csv",
    "pre_halving_blocks",
    "block_height_at_start_of",
    "aggregate_steps",
    "STEP_COLUMNS",
]

BTC_DAILY_FILE = "btc_daily.csv"
BTC_DAILY_COLUMNS = ("date", "blocks", "fees_btc", "hashrate_ths", "issuance_btc", "price_usd")
NUMERIC_COLUMNS = BTC_DAILY_COLUMNS[1:]
# Hashrate is deliberately absent from 2023-01-01 on (the model must produce it); no other gaps allowed.
NULLABLE_COLUMNS = frozenset({"hashrate_ths"})
PRICE_COLUMNS = ("date", "price_usd")
DATE_FORMAT = "%Y-%m-%d"
ONE_DAY = pd.Timedelta(days=1)
from marketsim.units import TH_PER_EH  # noqa: E402
# CSV line of the first data row: line 1 is the header.
FIRST_DATA_LINE = 2

# Days on which the data mixes two subsidies, with the halving height that falls inside them. The real
# block 840,000 was mined 2024-04-20 00:09 UTC, but Coin Metrics already counts it (and 3 more) on
# 2024-04-19; the data is kept as it is, so the halving day is the data's day, not the wall-clock one.
HALVING_DAYS: dict[pd.Timestamp, int] = {
    pd.Timestamp("2020-05-11"): 630_000,
    pd.Timestamp("2024-04-19"): 840_000,
}

# Height anchor: 2024-04-19 issued 931.25 BTC in 151 blocks = 147 x 6.25 + 4 x 3.125, so its first block
# is 840,000 - 147. Checked against the data by tests (and by pre_halving_blocks on every load).
ANCHOR_DATE = pd.Timestamp("2024-04-19")
ANCHOR_FIRST_HEIGHT = 839_853


class DataError(MarketsimError, ValueError):
    """A data file (shipped or user-supplied) breaks a documented invariant."""


def _where(source: str, df: pd.DataFrame, row: int) -> str:
    """Locate a row for an error message the way a user would find it in the file."""
    date = df["date"].iloc[row]
    date_txt = date.strftime(DATE_FORMAT) if isinstance(date, pd.Timestamp) else str(date)
    return f"{source}: line {row + FIRST_DATA_LINE} (date {date_txt})"


def _read_csv_text(handle, source: str, expected_columns: Sequence[str]) -> pd.DataFrame:
    """Read everything as text so parse failures can be reported per cell, not as a pandas traceback."""
    try:
        raw = pd.read_csv(handle, dtype=str, keep_default_na=False)
    except UnicodeDecodeError as exc:
        raise DataError(f"{source}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise DataError(f"{source}: not a readable CSV file ({' '.join(str(exc).split())})") from None
    if tuple(raw.columns) != tuple(expected_columns):
        shown = [str(c)[:40] for c in raw.columns[:6]] + (["..."] if len(raw.columns) > 6 else [])
        raise DataError(f"{source}: columns are {shown}; expected exactly {list(expected_columns)}")
    if raw.empty:
        raise DataError(f"{source}: has a header but no data rows")
    return raw


def _parse_dates(raw: pd.DataFrame, source: str) -> pd.Series:
    dates = pd.to_datetime(raw["date"], format=DATE_FORMAT, errors="coerce")
    bad = dates.isna()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{source}: line {row + FIRST_DATA_LINE}, column 'date': value {raw['date'].iloc[row]!r}; "
            f"expected a day as YYYY-MM-DD"
        )
    return dates


def _parse_number(raw: pd.DataFrame, column: str, source: str, nullable: bool) -> pd.Series:
    text = raw[column].str.strip()
    values = pd.to_numeric(text, errors="coerce")
    empty = text == ""
    unparsable = values.isna() & ~empty
    if not nullable:
        unparsable |= empty
    bad = unparsable | (values.notna() & ~np.isfinite(values.astype(float)))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{_where(source, raw, row)}, column '{column}': value {raw[column].iloc[row]!r}; "
            f"expected a finite number{' or empty' if nullable else ''}"
        )
    return values.astype(float)


def _check_increasing(df: pd.DataFrame, source: str, contiguous: bool) -> None:
    steps = df["date"].diff().iloc[1:]
    bad = steps != ONE_DAY if contiguous else steps <= pd.Timedelta(0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0]) + 1
        previous = df["date"].iloc[row - 1].strftime(DATE_FORMAT)
        expected = (
            f"the day after {previous} (dates strictly daily and contiguous)"
            if contiguous
            else f"a day after {previous} (dates strictly increasing)"
        )
        raise DataError(f"{_where(source, df, row)}, column 'date': expected {expected}")


def _era_subsidy_sat(dates: pd.Series) -> np.ndarray:
    """Subsidy (sat) in force on each non-halving day, from the halving days that precede it."""
    halving_days = np.array(sorted(HALVING_DAYS), dtype="datetime64[ns]")
    heights = [HALVING_DAYS[day] for day in sorted(HALVING_DAYS)]
    # The era before the first known halving day pays the subsidy of the block just before it.
    era_heights = np.array([heights[0] - 1, *heights])
    n_halvings_before = np.searchsorted(halving_days, dates.to_numpy(dtype="datetime64[ns]"), side="left")
    return np.array([subsidy_sat(int(h)) for h in era_heights[n_halvings_before]], dtype=np.int64)


def pre_halving_blocks(issuance_btc: float, blocks: int, halving_height: int) -> int:
    """Blocks at the old subsidy on a day that straddles ``halving_height``, solved from issuance.

    issuance = n_old x old + (blocks - n_old) x new, in exact satoshis; raises DataError when no whole
    n_old in [0, blocks) fits, i.e. the day cannot contain that halving.
    """
    old_sat = subsidy_sat(halving_height - 1)
    new_sat = subsidy_sat(halving_height)
    issuance_sat = round(issuance_btc * SAT_PER_BTC)
    n_old, remainder = divmod(issuance_sat - blocks * new_sat, old_sat - new_sat)
    if remainder != 0 or not (0 <= n_old < blocks):
        raise DataError(
            f"issuance {issuance_btc} BTC from {blocks} blocks is not n x {old_sat / SAT_PER_BTC} + "
            f"({blocks} - n) x {new_sat / SAT_PER_BTC} for a whole n in [0, {blocks}) "
            f"(halving at height {halving_height})"
        )
    return int(n_old)


def _check_issuance(df: pd.DataFrame, source: str) -> None:
    issuance_sat = np.round(df["issuance_btc"].to_numpy() * SAT_PER_BTC).astype(np.int64)
    expected_sat = df["blocks"].to_numpy(dtype=np.int64) * _era_subsidy_sat(df["date"])
    halving_day = df["date"].isin(list(HALVING_DAYS)).to_numpy()
    bad = (issuance_sat != expected_sat) & ~halving_day
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        per_block = expected_sat[row] / df["blocks"].iloc[row] / SAT_PER_BTC
        raise DataError(
            f"{_where(source, df, row)}, column 'issuance_btc': value {df['issuance_btc'].iloc[row]}; "
            f"expected blocks x protocol subsidy = {df['blocks'].iloc[row]} x {per_block} = "
            f"{expected_sat[row] / SAT_PER_BTC} (halving days allowed to mix: "
            f"{[d.strftime(DATE_FORMAT) for d in HALVING_DAYS]})"
        )
    for row in np.flatnonzero(halving_day):
        date = df["date"].iloc[row]
        try:
            pre_halving_blocks(df["issuance_btc"].iloc[row], int(df["blocks"].iloc[row]), HALVING_DAYS[date])
        except DataError as exc:
            raise DataError(f"{_where(source, df, row)}, column 'issuance_btc': {exc}") from None


def _validate_btc_daily(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    df = pd.DataFrame({"date": _parse_dates(raw, source)})
    for column in NUMERIC_COLUMNS:
        df[column] = _parse_number(raw, column, source, nullable=column in NULLABLE_COLUMNS)
    _check_increasing(df, source, contiguous=True)
    for column in NUMERIC_COLUMNS:
        negative = df[column] < 0
        if negative.any():
            row = int(np.flatnonzero(negative)[0])
            raise DataError(f"{_where(source, df, row)}, column '{column}': value {df[column].iloc[row]}; expected >= 0")
    blocks = df["blocks"]
    bad_blocks = (blocks <= 0) | (blocks != np.floor(blocks))
    if bad_blocks.any():
        row = int(np.flatnonzero(bad_blocks)[0])
        raise DataError(f"{_where(source, df, row)}, column 'blocks': value {blocks.iloc[row]}; expected a whole number > 0")
    df["blocks"] = blocks.astype(np.int64)
    _check_issuance(df, source)
    return df


def read_packaged_table(file_name: str, required_columns: Sequence[str], error: type[Exception] = DataError,
                        **read_csv: object) -> pd.DataFrame:
    """A CSV table shipped in this folder, with its required columns checked (the calibration
    tables: public miners, their sites, their order books). ``error`` is what a broken file raises.

    Each file is parsed once per process (``_parsed_packaged_table``; a model's construction read
    four of them, ~1.4 ms each, every run of a sweep) and every call returns its own deep copy, so
    callers may change what they get."""
    table = _parsed_packaged_table(file_name, tuple(sorted((k, repr(v)) for k, v in read_csv.items())),
                                   read_csv).copy(deep=True)
    missing = [c for c in required_columns if c not in table.columns]
    if missing:
        raise error(f"{file_name}: missing columns {missing}")
    return table


_PACKAGED_TABLES: dict[tuple, pd.DataFrame] = {}


def _parsed_packaged_table(file_name: str, key: tuple, read_csv: dict) -> pd.DataFrame:
    """The shipped CSV ``file_name`` as ``pd.read_csv`` parses it with ``read_csv``, kept by
    (file, options: ``key``). The files ship with the package and are never written at run time."""
    cached = _PACKAGED_TABLES.get((file_name, key))
    if cached is None:
        with resources.files(__name__).joinpath(file_name).open() as fh:
            cached = _PACKAGED_TABLES[(file_name, key)] = pd.read_csv(fh, **read_csv)
    return cached


@functools.lru_cache(maxsize=1)
def _load_packaged() -> pd.DataFrame:
    resource = resources.files(__name__).joinpath(BTC_DAILY_FILE)
    with resource.open("r", encoding="utf-8") as handle:
        raw = _read_csv_text(handle, f"marketsim/data/{BTC_DAILY_FILE}", BTC_DAILY_COLUMNS)
    return _validate_btc_daily(raw, f"marketsim/data/{BTC_DAILY_FILE}")


def load_btc_daily(path: str | Path | None = None, *, copy: bool = True) -> pd.DataFrame:
    """The validated daily series: date (datetime64), blocks (int), fees_btc, hashrate_ths (NaN from
    2023), issuance_btc, price_usd.

    The packaged file is parsed once and cached; each call returns a fresh copy so callers may mutate
    it (``copy=False``: the cached table itself, for callers that only read it). ``path`` reads and
    validates another file with the same layout (not cached).
    """
    if path is None:
        return _load_packaged().copy() if copy else _load_packaged()
    source = str(path)
    return _validate_btc_daily(_read_user_csv(path, BTC_DAILY_COLUMNS), source)


def _read_user_csv(path: str | Path, expected_columns: Sequence[str]) -> pd.DataFrame:
    """A CSV file of the user's, as text columns; an unreadable file is a `DataError` naming it."""
    try:
        # utf-8-sig: a byte-order mark (spreadsheets on Windows write one) is not part of the header
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return _read_csv_text(handle, str(path), expected_columns)
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a CSV file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def load_price_csv(path: str | Path) -> pd.DataFrame:
    """A user's own price path (columns ``date,price_usd``; daily or coarser, gaps allowed).

    Returns columns date (datetime64) and price_usd (float). Dates must be YYYY-MM-DD days, strictly
    increasing (so at most one price per day), prices finite and > 0.
    """
    source = str(path)
    raw = _read_user_csv(path, PRICE_COLUMNS)
    df = pd.DataFrame({"date": _parse_dates(raw, source)})
    df["price_usd"] = _parse_number(raw, "price_usd", source, nullable=False)
    _check_increasing(df, source, contiguous=False)
    non_positive = df["price_usd"] <= 0
    if non_positive.any():
        row = int(np.flatnonzero(non_positive)[0])
        raise DataError(f"{_where(source, df, row)}, column 'price_usd': value {df['price_usd'].iloc[row]}; expected > 0")
    return df


@functools.lru_cache(maxsize=1)
def _first_heights() -> pd.Series:
    """Height of the first block of every day in the data, plus the day after the last one."""
    daily = _load_packaged()
    blocks = daily["blocks"].to_numpy(dtype=np.int64)
    blocks_before = np.concatenate([[0], np.cumsum(blocks)])
    dates = pd.DatetimeIndex([*daily["date"], daily["date"].iloc[-1] + ONE_DAY])
    anchor_offset = ANCHOR_FIRST_HEIGHT - int(blocks_before[dates.get_loc(ANCHOR_DATE)])
    return pd.Series(blocks_before + anchor_offset, index=dates)


def _as_day(value, name: str) -> pd.Timestamp:
    """Dates cross into this module as days; a time of day would silently be truncated otherwise."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} {value!r} is not a date") from exc
    if stamp is pd.NaT:
        raise DataError(f"{name} {value!r} is not a date")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    if stamp != stamp.normalize():
        raise DataError(f"{name} {value!r} has a time of day; expected a UTC day (midnight)")
    return stamp


def block_height_at_start_of(date) -> int:
    """Height of the first block mined on UTC day ``date`` (Coin Metrics' day assignment).

    Cumulative daily block counts anchored on 2024-04-19 (first block 839,853). Cross-check: it gives
    629,872 for 2020-05-11, exactly the 630,000 - 128 implied by that day's issuance (no discrepancy, so
    the daily counts are complete between the two halvings). Valid from the first day of the data to
    the day after the last.
    """
    day = _as_day(date, "date")
    heights = _first_heights()
    if day not in heights.index:
        raise DataError(
            f"date {day.strftime(DATE_FORMAT)} outside the data: expected "
            f"{heights.index[0].strftime(DATE_FORMAT)} to {heights.index[-1].strftime(DATE_FORMAT)}"
        )
    return int(heights[day])


AGGREGATE_INPUT_COLUMNS = ("date", "blocks", "fees_btc", "hashrate_ths", "issuance_btc", "price_usd")
STEP_COLUMNS = (
    "start",
    "days",
    "blocks",
    "issuance_btc",
    "fees_btc",
    "revenue_usd",
    "price_usd",
    "price_mean_usd",
    "hashrate_ehs",
)


def _step_boundaries(step_starts: Sequence[pd.Timestamp]) -> pd.DatetimeIndex:
    boundaries = pd.DatetimeIndex([_as_day(s, "step start") for s in step_starts])
    if len(boundaries) < 2:
        raise DataError(f"aggregate_steps: need at least 2 step boundaries (starts + final end), got {len(boundaries)}")
    backwards = np.flatnonzero(np.diff(boundaries.asi8) <= 0)
    if backwards.size:
        i = int(backwards[0])
        raise DataError(
            f"aggregate_steps: step boundaries must increase; {boundaries[i + 1].date()} follows {boundaries[i].date()}"
        )
    return boundaries


def aggregate_steps(daily: pd.DataFrame, step_starts: Sequence[pd.Timestamp]) -> pd.DataFrame:
    """Sum the daily data into model steps [start_i, start_{i+1}); the last boundary is the end.

    One row per step, index 0..n-1 (step number), columns ``STEP_COLUMNS``. revenue_usd is the sum of
    daily (issuance + fees) x price -- the data's own arithmetic, so monthly totals match the README --
    and price_usd is revenue-weighted so that (issuance + fees) x price_usd == revenue_usd: a model that
    multiplies its step's coins by one price then earns exactly what the data says. price_mean_usd is
    the plain daily mean, for comparison. hashrate_ehs is the mean over the step's days, NaN unless every
    day has a hashrate, so a step never mixes observed and withheld (2023+) days.
    """
    missing = [c for c in AGGREGATE_INPUT_COLUMNS if c not in daily.columns]
    if missing:
        raise DataError(f"aggregate_steps: daily data lacks columns {missing}")
    boundaries = _step_boundaries(step_starts)
    dates = pd.DatetimeIndex(daily["date"])
    if not dates.is_monotonic_increasing or dates.has_duplicates:
        raise DataError("aggregate_steps: daily dates must be strictly increasing")

    covered = f"{dates[0].date()} to {dates[-1].date()}" if len(dates) else "nothing"
    positions = dates.searchsorted(boundaries, side="left")
    days_in_data = np.diff(positions)
    days = ((boundaries[1:] - boundaries[:-1]) / ONE_DAY).astype(np.int64)
    uncovered = np.flatnonzero(days_in_data != days)
    if uncovered.size:
        i = int(uncovered[0])
        raise DataError(
            f"aggregate_steps: step {boundaries[i].date()} to {boundaries[i + 1].date()} (exclusive) has "
            f"{days_in_data[i]} of its {days[i]} days in the data; data covers {covered}"
        )

    issuance = daily["issuance_btc"].to_numpy(dtype=float)
    fees = daily["fees_btc"].to_numpy(dtype=float)
    price = daily["price_usd"].to_numpy(dtype=float)
    hashrate_ths = daily["hashrate_ths"].to_numpy(dtype=float)
    blocks = daily["blocks"].to_numpy(dtype=np.int64)
    revenue = (issuance + fees) * price
    segments = [slice(lo, hi) for lo, hi in zip(positions[:-1], positions[1:])]

    def step_sums(values: np.ndarray) -> np.ndarray:
        # fsum: step totals independent of summation order, so splitting a range never changes a sum
        return np.array([math.fsum(values[seg]) for seg in segments])

    issuance_btc = step_sums(issuance)
    fees_btc = step_sums(fees)
    revenue_usd = step_sums(revenue)
    hashrate_sum_ths = step_sums(hashrate_ths)  # NaN as soon as one day lacks a hashrate
    return pd.DataFrame(
        {
            "start": boundaries[:-1],
            "days": days,
            "blocks": np.array([blocks[seg].sum() for seg in segments], dtype=np.int64),
            "issuance_btc": issuance_btc,
            "fees_btc": fees_btc,
            "revenue_usd": revenue_usd,
            "price_usd": revenue_usd / (issuance_btc + fees_btc),
            "price_mean_usd": step_sums(price) / days,
            "hashrate_ehs": hashrate_sum_ths / days / TH_PER_EH,
        },
        columns=list(STEP_COLUMNS),
    )
