"""Issue 14, fifth round (records, exits, entry, construction): the shortcuts give the long way's answers.

- the event log writes a vector of events' one-value columns (step, date, kind, defaults) as runs
  that the next vector extends, and keeps each step's counts as events come in;
- the firm recorder keeps its float columns as the rows of one block (one take, one write a step);
- the industry row reads the step's tally instead of counting it again;
- the screen draws its firms first and values nothing when none is drawn;
- the public miners' columns are read from the shipped tables once per process.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from marketsim import IndustryModel, consolidation, load_scenario, metrics
from marketsim.firms import population
from marketsim.records import EVENT_COLUMNS, INITIAL_ROWS, EventLog, FirmRecorder


class _Stub:
    """Just what an event log reads from a model: the step and its date."""

    def __init__(self):
        self.steps_done = 0
        self.market = type("M", (), {"state": type("S", (), {"date": pd.Timestamp("2024-01-01")})()})()


def _reference_rows(calls) -> list[tuple]:
    """The rows the calls make, one by one, as Python tuples (the long way)."""
    rows = []
    for step, date, call, args, kwargs in calls:
        if call == "add":
            kind, firm_id, site_id, mw = args
            rows.append((step, date, kind, int(firm_id), int(kwargs.get("counterparty_id", -1)), int(site_id),
                         float(mw), float(kwargs.get("hashrate_ehs", 0.0)), float(kwargs.get("value_usd", 0.0)),
                         kwargs.get("detail", "")))
            continue
        kind, firms, sites, mw = args
        n = min(len(firms), len(sites), len(mw))
        value = kwargs.get("value_usd")
        n = n if value is None else min(n, len(value))
        cp, hr, detail = kwargs.get("counterparty_ids", -1), kwargs.get("hashrate_ehs", 0.0), kwargs.get("detail", "")
        for i in range(n):
            rows.append((step, date, kind, int(firms[i]), int(np.broadcast_to(cp, (n,))[i]), int(sites[i]),
                         float(mw[i]), float(np.broadcast_to(hr, (n,))[i]),
                         0.0 if value is None else float(value[i]),
                         detail if isinstance(detail, str) else detail[i]))
    return rows


def test_runs_of_one_value_give_the_rows_written_one_by_one_to_the_bit():
    """Many vectors across steps (past the buffer's first capacity, so it grows with runs still
    waiting), single events between them, defaults and explicit values that equal them, a -0.0
    after 0.0 (equal, but not the same bits), NaN, numpy scalars, per-event details: the table
    and the rows are those of the events written one by one."""
    model, log = _Stub(), EventLog(_Stub())
    log.model = model
    rng = np.random.default_rng(0)
    calls = []
    for step in range(40):
        model.steps_done = step
        model.market.state.date = pd.Timestamp("2024-01-01") + pd.Timedelta(days=30 * step)
        for j in range(6):
            k = int(rng.integers(1, 12))
            firms, sites, mw = rng.integers(0, 50, k), rng.integers(0, 80, k), rng.random(k)
            kwargs = {}
            pick = int(rng.integers(0, 9))
            if pick == 1:
                kwargs["hashrate_ehs"] = -0.0
            elif pick == 2:
                kwargs["hashrate_ehs"] = np.float64(0.0)
            elif pick == 3:
                kwargs["value_usd"] = rng.random(k)
            elif pick == 4:
                kwargs["counterparty_ids"] = rng.integers(0, 50, k)
            elif pick == 5:
                kwargs["detail"] = [f"d{i}" for i in range(k)]
            elif pick == 6:
                kwargs["hashrate_ehs"] = float("nan")
            elif pick == 7:
                kwargs["counterparty_ids"] = 3
            kind = ["curtailment", "upgrade", "expansion"][j % 3]
            log.add_many(kind, firms, sites, mw, **kwargs)
            calls.append((step, model.market.state.date, "add_many", (kind, firms, sites, mw), kwargs))
            if rng.random() < 0.3:
                log.add("acquisition", 7, 3, 1.5, value_usd=-0.0, detail="x")
                calls.append((step, model.market.state.date, "add", ("acquisition", 7, 3, 1.5),
                               {"value_usd": -0.0, "detail": "x"}))
        if step == 20:  # a read in the middle: what waits is written, and later runs start anew
            assert list(log.rows)[-1] == _reference_rows(calls)[-1]
    expected = _reference_rows(calls)
    assert len(expected) > INITIAL_ROWS
    got = list(log.rows)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert a[:7] == b[:7] and a[9] == b[9]
        for x, y in zip(a[7:9], b[7:9]):  # the floats to the bit: signs of zeros, NaN
            assert (math.isnan(x) and math.isnan(y)) or (x == y and math.copysign(1, x) == math.copysign(1, y))
    frame = log.frame()
    ref = pd.DataFrame(expected, columns=EVENT_COLUMNS)
    ref["date"] = pd.to_datetime(ref["date"])
    pd.testing.assert_frame_equal(frame, ref, check_exact=True)
    assert np.array_equal(np.signbit(frame["hashrate_ehs"]), np.signbit(ref["hashrate_ehs"]))
    for step in (0, 20, 39, 40):  # the counts kept as events came in: those of the rows
        rows = [r for r in expected if r[0] == step]
        counts = {}
        for r in rows:
            counts[r[2]] = counts.get(r[2], 0) + 1
        assert log.counts_at(step) == counts
        assert log.value_at(step, "acquisition") == float(sum(r[8] for r in reversed(rows) if r[2] == "acquisition"))


def test_the_float_block_grows_and_gives_the_columns_of_a_recorder_made_big_enough():
    model = IndustryModel(load_scenario("bear-consolidation", n_firms=300, months=6), rng=4)
    small, big = FirmRecorder(1), FirmRecorder(300 * 8)
    for _ in range(6):
        model.step()
        small.record(model)
        big.record(model)
    assert small.buffer.capacity > INITIAL_ROWS  # it grew
    a, b = small.frame(), big.frame()
    assert len(a) > INITIAL_ROWS
    pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.fixture(scope="module")
def stepped_model():
    model = IndustryModel(load_scenario("bear-consolidation", n_firms=60, months=10), rng=3)
    for _ in range(8):
        model.step()
    return model


def test_the_industry_row_from_the_tally_is_the_row_counted_afresh(stepped_model):
    model = stepped_model
    with_tally, fresh = metrics.industry_outcome(model, model.tally), metrics.industry_outcome(model)
    assert with_tally.keys() == fresh.keys()
    for k in fresh:
        assert repr(with_tally[k]) == repr(fresh[k]), k


def test_concentration_helpers_keep_their_answers():
    x = np.array([5.0, 1.0, 3.0, 0.0, 2.0, 4.0])
    assert metrics.top_n_share(x, 4) == float(np.sort(x)[-4:].sum() / x.sum())
    assert metrics.top_n_share(x, 10) == 1.0 and metrics.top_n_share(np.zeros(3), 2) == 0.0
    assert metrics.hhi(x) == float(((x / x.sum()) ** 2).sum())


def test_a_screen_that_draws_no_firm_values_nothing_and_draws_as_the_long_way(stepped_model, monkeypatch):
    """With no firm drawn the screen returns no target without valuing anything, and the firms'
    stream moves exactly as when it valued every firm (the one draw per firm is made first)."""
    model = stepped_model
    monkeypatch.setattr(model.config, "ma_review_probability_per_step", 0.0, raising=False)
    state = model.firm_rng.bit_generator.state
    called = []
    monkeypatch.setattr(consolidation, "replacement_value_usd", lambda m: called.append(1))
    assert len(consolidation.screen_targets(model)) == 0 and not called
    after = model.firm_rng.bit_generator.state
    model.firm_rng.bit_generator.state = state
    model.firm_rng.random(len(model.firms))
    assert model.firm_rng.bit_generator.state == after


def test_a_screen_that_draws_firms_finds_the_weak_or_cheap_ones_as_before(stepped_model):
    model = stepped_model
    state = model.firm_rng.bit_generator.state
    got = consolidation.screen_targets(model)
    model.firm_rng.bit_generator.state = state
    # the long way: every test on every firm, then the draw
    s, firms = model.config, model.firms
    from marketsim.firms import finance
    assets = finance.asset_value_usd(model, model.seen)
    weak = (firms.profit_usd < 0) | (firms.debt_usd > firms.debt_ceiling_usd)
    cheap = assets - firms.debt_usd < s.takeover_value_ratio * consolidation.replacement_value_usd(model)
    drawn = model.firm_rng.random(len(firms)) < s.ma_review_probability_per_step
    expected = firms.active & drawn & (weak | cheap)
    expected[model.payments.insolvent] = False
    assert np.array_equal(got, expected.nonzero()[0])


def test_public_columns_are_read_once_and_are_the_tables_values():
    public = population._public_columns(True)
    assert population._public_columns(True) is public
    table = population.load_public_miners()
    assert list(public.name) == list(table["name"])
    assert np.array_equal(public.mw, table["mw"].to_numpy(float))
    assert np.array_equal(public.efficiency_j_per_th, table["efficiency_j_per_th"].to_numpy(float))
    assert public.mw_total == table["mw"].sum() and public.hashrate_ehs_total == table["hashrate_ehs"].sum()
    assert not public.mw.flags.writeable  # shared by every construction: nobody may write it
    assert len(population._public_columns(False).name) == 0


def test_lognormal_parameters_kept_give_the_same_draws():
    mean, sd = 61.7, 23.3
    population._LOGNORMAL_PARAMETERS.pop((mean, sd), None)
    first = population.lognormal_with_moments(np.random.default_rng(5), mean, sd, 50)  # computes and keeps
    again = population.lognormal_with_moments(np.random.default_rng(5), mean, sd, 50)  # from what was kept
    sigma2 = np.log1p((sd / mean) ** 2)
    by_hand = np.random.default_rng(5).lognormal(np.log(mean) - sigma2 / 2, np.sqrt(sigma2), 50)
    assert np.array_equal(first, by_hand) and np.array_equal(again, by_hand)


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 127, 128, 129, 1000, 8191, 8192, 8193, 20001])
def test_the_rows_of_a_block_sum_as_each_array_alone_to_the_bit(n):
    """What the industry row's totals rest on: ``np.add.reduce(block, axis=1)`` over a C-ordered
    (k, n) block gives each row's ``sum()`` exactly (numpy's pairwise sum over contiguous values,
    beyond its 8,192-value buffer too), so one reduction serves eight totals."""
    rng = np.random.default_rng(n)
    arrays = [rng.standard_normal(n) * 10.0 ** int(rng.integers(-6, 9)) for _ in range(8)]
    arrays[3][::3] = -0.0
    block = np.concatenate(arrays).reshape(8, -1)
    together = np.add.reduce(block, axis=1).tolist()
    for total, a in zip(together, arrays):
        alone = a.sum()
        assert total == alone and math.copysign(1.0, total) == math.copysign(1.0, alone)
