"""What a model's construction reads of the shipped data is parsed once per process and handed
out as copies: a caller that changes its copy changes nobody else's (speed round 3, issue 14)."""

import numpy as np

from marketsim.data import load_btc_daily, read_packaged_table
from marketsim.firms.population import PUBLIC_COLUMNS, PUBLIC_MINERS_FILE
from marketsim.market.engine import Market
from marketsim.scenario import load_scenario


def test_packaged_table_is_a_fresh_copy_each_call():
    first = read_packaged_table(PUBLIC_MINERS_FILE, PUBLIC_COLUMNS)
    original_mw = first["mw"].to_numpy().copy()
    first.loc[:, "mw"] = -1.0
    first["extra"] = 1
    again = read_packaged_table(PUBLIC_MINERS_FILE, PUBLIC_COLUMNS)
    assert "extra" not in again.columns
    np.testing.assert_array_equal(again["mw"].to_numpy(), original_mw)


def test_replay_table_and_hashrate_history_are_copies():
    scenario = load_scenario("baseline", n_firms=4, months=12)
    a = Market(scenario, np.random.default_rng(0))
    assert a.replay is not None  # the baseline replays the 2023 history it starts in
    price = a.replay["price_usd"].to_numpy().copy()
    a.replay["price_usd"] = 0.0
    b = Market(scenario, np.random.default_rng(0))
    np.testing.assert_array_equal(b.replay["price_usd"].to_numpy(), price)
    assert (price > 0).all()
    history = a.hashrate_before_start(6)
    assert len(history) == 6 and (history > 0).all()
    expected = history.copy()
    history[:] = 0.0
    np.testing.assert_array_equal(a.hashrate_before_start(6), expected)


def test_read_only_daily_table_is_the_cached_one_and_the_default_a_copy():
    assert load_btc_daily(copy=False) is load_btc_daily(copy=False)
    assert load_btc_daily() is not load_btc_daily(copy=False)
