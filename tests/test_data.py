"""The shipped data loads, bad copies are rejected loudly, heights and step sums match known facts."""

from pathlib import Path

import pandas as pd
import pytest

from marketsim.data import (
    ANCHOR_DATE,
    ANCHOR_FIRST_HEIGHT,
    BTC_DAILY_COLUMNS,
    HALVING_DAYS,
    STEP_COLUMNS,
    DataError,
    aggregate_steps,
    block_height_at_start_of,
    load_btc_daily,
    load_price_csv,
    pre_halving_blocks,
)

PACKAGED_CSV = Path(__file__).resolve().parents[1] / "marketsim" / "data" / "btc_daily.csv"


@pytest.fixture(scope="module")
def daily() -> pd.DataFrame:
    return load_btc_daily()


def _row(daily: pd.DataFrame, date: str) -> pd.Series:
    return daily.loc[daily["date"] == pd.Timestamp(date)].iloc[0]


# --- loader --------------------------------------------------------------------------------------------
def test_shipped_file_validates(daily):
    assert tuple(daily.columns) == BTC_DAILY_COLUMNS
    assert daily["date"].iloc[0] == pd.Timestamp("2020-01-01")
    assert daily["date"].iloc[-1] == pd.Timestamp("2025-12-29")
    assert len(daily) == 2190
    assert daily["blocks"].dtype == "int64"
    assert daily.loc[daily["date"] >= "2023-01-01", "hashrate_ths"].isna().all()
    assert daily.loc[daily["date"] < "2023-01-01", "hashrate_ths"].notna().all()


def test_returns_independent_copies(daily):
    first = load_btc_daily()
    first.loc[0, "price_usd"] = -1.0
    assert load_btc_daily().loc[0, "price_usd"] == daily.loc[0, "price_usd"] > 0


def _corrupt(tmp_path: Path, old: str, new: str) -> Path:
    text = PACKAGED_CSV.read_text()
    assert text.count(old) == 1, old
    path = tmp_path / "btc_daily.csv"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("date,blocks,fees_btc", "date,blocks,fee_btc", r"columns .*expected exactly"),
        ("2021-06-27,58,", "2021-06-27,-58,", r"line \d+ \(date 2021-06-27\), column 'blocks'.*>= 0"),
        ("2021-06-27,58,", "2021-06-27,0,", r"date 2021-06-27\), column 'blocks'.*whole number > 0"),
        ("2021-06-27,58,", "2021-06-27,abc,", r"column 'blocks': value 'abc'"),
        ("\n2022-02-02,", "\n2022-02-03,", r"date 2022-02-03\), column 'date': expected the day after 2022-02-01"),
        ("\n2022-02-02,", "\n2022/02/02,", r"column 'date': value '2022/02/02'"),
    ],
)
def test_corrupted_copy_is_rejected(tmp_path, old, new, expected):
    with pytest.raises(DataError, match=expected):
        load_btc_daily(_corrupt(tmp_path, old, new))


def test_wrong_issuance_is_rejected_naming_date_and_column(tmp_path, daily):
    row = _row(daily, "2022-02-02")
    path = _corrupt(tmp_path, f"2022-02-02,{row['blocks']},", f"2022-02-02,{row['blocks'] + 1},")
    with pytest.raises(DataError, match=r"date 2022-02-02\), column 'issuance_btc'.*6\.25") as info:
        load_btc_daily(path)
    assert str(path) in str(info.value)


def test_empty_price_is_rejected_but_empty_hashrate_is_allowed(tmp_path, daily):
    row = _row(daily, "2024-03-15")
    price_txt = f"{row['price_usd']:.2f}"
    text = PACKAGED_CSV.read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("2024-03-15,"))
    path = tmp_path / "btc_daily.csv"
    path.write_text(text.replace(line, line.removesuffix(price_txt)))
    with pytest.raises(DataError, match=r"date 2024-03-15\), column 'price_usd'"):
        load_btc_daily(path)


def test_halving_day_must_straddle_the_halving(tmp_path, daily):
    row = _row(daily, "2024-04-19")
    path = _corrupt(tmp_path, f"2024-04-19,{row['blocks']},", f"2024-04-19,{row['blocks'] - 10},")
    with pytest.raises(DataError, match=r"date 2024-04-19\), column 'issuance_btc'.*halving at height 840000"):
        load_btc_daily(path)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot be read"):
        load_btc_daily(tmp_path / "nope.csv")


# --- price CSV ---------------------------------------------------------------------------------------------
def test_price_csv_accepts_monthly_and_rejects_bad_rows(tmp_path):
    good = tmp_path / "p.csv"
    good.write_text("date,price_usd\n2024-01-01,42000\n2024-02-01,43000.5\n")
    prices = load_price_csv(good)
    assert list(prices["price_usd"]) == [42000.0, 43000.5]
    assert prices["date"].iloc[1] == pd.Timestamp("2024-02-01")

    cases = {
        "date,price\n2024-01-01,1\n": r"expected exactly \['date', 'price_usd'\]",
        "date,price_usd\n2024-02-01,1\n2024-01-01,2\n": r"date 2024-01-01\), column 'date'.*increasing",
        "date,price_usd\n2024-01-01,1\n2024-01-01,2\n": r"column 'date'.*increasing",
        "date,price_usd\n2024-01-01,0\n": r"date 2024-01-01\), column 'price_usd'.*> 0",
        "date,price_usd\nJan 1,1\n": r"column 'date': value 'Jan 1'",
        "date,price_usd\n2024-01-01,nan\n": r"column 'price_usd'.*finite",
        "date,price_usd\n": "no data rows",
    }
    for text, expected in cases.items():
        good.write_text(text)
        with pytest.raises(DataError, match=expected):
            load_price_csv(good)


# --- block heights -------------------------------------------------------------------------------------
def test_anchor_follows_from_issuance(daily):
    # 931.25 BTC from 151 blocks = 147 x 6.25 + 4 x 3.125.
    row = _row(daily, ANCHOR_DATE)
    assert (row["blocks"], row["issuance_btc"]) == (151, 931.25)
    n_old = pre_halving_blocks(row["issuance_btc"], int(row["blocks"]), HALVING_DAYS[ANCHOR_DATE])
    assert n_old == 147
    assert ANCHOR_FIRST_HEIGHT == 840_000 - n_old == 839_853
    assert block_height_at_start_of("2024-04-19") == 839_853


def test_heights_consistent_with_2020_halving(daily):
    # 1,781.25 BTC from 157 blocks = 128 x 12.5 + 29 x 6.25 => first block 629,872. The cumulative
    # block counts from the 2024 anchor give exactly that (tolerance 0: no discrepancy in the data).
    row = _row(daily, "2020-05-11")
    n_old = pre_halving_blocks(row["issuance_btc"], int(row["blocks"]), 630_000)
    assert n_old == 128
    assert block_height_at_start_of(pd.Timestamp("2020-05-11")) == 630_000 - n_old == 629_872


def test_height_range_and_bad_dates():
    assert block_height_at_start_of("2024-04-20") == 839_853 + 151
    assert block_height_at_start_of("2025-12-30") - block_height_at_start_of("2025-12-29") == 154
    with pytest.raises(DataError, match="outside the data"):
        block_height_at_start_of("2019-12-31")
    with pytest.raises(DataError, match="time of day"):
        block_height_at_start_of("2024-04-19 12:00")


# --- step aggregation ----------------------------------------------------------------------------------
def test_monthly_revenue_matches_readme(daily):
    steps = aggregate_steps(daily, pd.date_range("2024-03-01", "2024-09-01", freq="MS"))
    assert tuple(steps.columns) == STEP_COLUMNS
    assert steps.index.tolist() == list(range(6))
    assert steps["start"].tolist() == list(pd.date_range("2024-03-01", "2024-08-01", freq="MS"))
    revenue_busd = steps.set_index("start")["revenue_usd"] / 1e9
    assert revenue_busd[pd.Timestamp("2024-03-01")] == pytest.approx(2.02, abs=0.005)
    assert revenue_busd[pd.Timestamp("2024-07-01")] == pytest.approx(0.95, abs=0.005)
    assert revenue_busd[pd.Timestamp("2024-08-01")] == pytest.approx(0.85, abs=0.005)
    march = steps.iloc[0]
    assert march["days"] == 31
    assert (march["issuance_btc"] + march["fees_btc"]) * march["price_usd"] == pytest.approx(
        march["revenue_usd"], rel=1e-12
    )
    assert 60_000 < march["price_mean_usd"] < 75_000
    assert steps["hashrate_ehs"].isna().all()  # hashrate withheld from 2023 on


def test_step_sums_equal_daily_sums(daily):
    steps = aggregate_steps(daily, [pd.Timestamp("2022-01-01"), pd.Timestamp("2022-01-11"), pd.Timestamp("2023-01-01")])
    window = daily[(daily["date"] >= "2022-01-01") & (daily["date"] < "2023-01-01")]
    assert steps["blocks"].sum() == window["blocks"].sum()
    assert steps["days"].tolist() == [10, 355]
    assert steps["issuance_btc"].sum() == pytest.approx(window["issuance_btc"].sum(), rel=1e-12)
    first10 = window.iloc[:10]
    assert steps["hashrate_ehs"].iloc[0] == pytest.approx(first10["hashrate_ths"].mean() / 1e6, rel=1e-12)


def test_step_straddling_the_hashrate_gap_has_no_hashrate(daily):
    steps = aggregate_steps(daily, pd.date_range("2022-12-01", "2023-02-01", freq="MS"))
    assert steps["hashrate_ehs"].notna().tolist() == [True, False]
    straddling = aggregate_steps(daily, [pd.Timestamp("2022-12-15"), pd.Timestamp("2023-01-15")])
    assert straddling["hashrate_ehs"].isna().all()


def test_uncovered_step_raises(daily):
    with pytest.raises(DataError, match=r"step 2025-12-01 to 2026-01-01.*29 of its 31 days.*2020-01-01 to 2025-12-29"):
        aggregate_steps(daily, [pd.Timestamp("2025-12-01"), pd.Timestamp("2026-01-01")])
    with pytest.raises(DataError, match=r"step 2019-12-01"):
        aggregate_steps(daily, [pd.Timestamp("2019-12-01"), pd.Timestamp("2020-01-01")])
    with pytest.raises(DataError, match="increase"):
        aggregate_steps(daily, [pd.Timestamp("2024-02-01"), pd.Timestamp("2024-01-01")])
