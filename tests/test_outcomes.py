"""Declared outcomes: every recorded column has a label, unit, format and aggregate; formats
and aggregates give hand-worked figures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from marketsim import IndustryModel, metrics, outcomes


def test_every_column_the_model_records_is_declared():
    m = IndustryModel("baseline", n_firms=20, months=2, rng=1)
    m.step()
    recorded = list(m.datacollector.get_model_vars_dataframe().columns)
    assert set(recorded) | set(m.outcome) | set(metrics.INDUSTRY_COLUMNS) <= set(outcomes.OUTCOMES), (
        "declare these columns in marketsim/outcomes.py (_DISPLAY): "
        f"{sorted((set(recorded) | set(m.outcome) | set(metrics.INDUSTRY_COLUMNS)) - set(outcomes.OUTCOMES))}")
    assert outcomes.UNDECLARED == []
    for o in outcomes.OUTCOMES.values():
        assert o.fmt in outcomes.FORMATS and o.aggregate in outcomes.AGGREGATES and o.label and o.description


def test_descriptions_come_from_the_metrics_docs():
    assert outcomes.OUTCOMES["mw_ai"].description == metrics.COLUMN_DOCS["mw_ai"]
    assert outcomes.title("mw_ai") == "AI-leased MW (MW)"
    assert outcomes.title("top5_share_hashrate") == "top-5 share of hashrate (%)"


@pytest.mark.parametrize("name, value, text", [
    ("top5_share_hashrate", 0.1234, "12.3%"),
    ("revenue_mining_usd", 1.5e9, "$1.50B"),
    ("btc_price_usd", 27_312.5, "$27.31k"),
    ("hhi_hashrate", 0.01349, "0.013"),
    ("firms_active", 812.0, "812"),
    ("network_hashrate_ehs", 412.7, "413 EH/s"),
    ("mw_ai", 1665.2, "1,665 MW"),
    ("mw_ai", float("nan"), "–"),
])
def test_values_are_formatted_by_their_declared_format(name, value, text):
    assert outcomes.outcome(name).format(value) == text


def test_a_run_reduces_to_one_figure_by_the_declared_aggregate():
    steps = [1.0, 2.0, 6.0]
    assert outcomes.aggregate(steps, "mw_ai") == 6.0            # stock: the end
    assert outcomes.aggregate(steps, "revenue_ai_usd") == 9.0   # flow: the total
    assert outcomes.aggregate(steps, "btc_price_usd") == 3.0    # price: the mean
    assert math.isnan(outcomes.aggregate([], "mw_ai"))


def test_an_undeclared_column_is_guessed_from_its_name():
    o = outcomes.outcome("new_thing_share_mw")
    assert (o.fmt, o.unit) == ("pct", "%")
    assert outcomes.outcome("mw_whatever").unit == "MW"
    assert outcomes.outcome("foo_usd").format(2e6) == "$2.00M"


def test_ai_share_of_live_mw():
    rows = pd.DataFrame({"mw_mining": [80.0, 0.0], "mw_idle": [0.0, 0.0], "mw_converting": [10.0, 0.0],
                         "mw_ai": [5.0, 0.0], "mw_ai_empty": [5.0, 0.0], "mw_shutdown": [50.0, 10.0]})
    assert np.allclose(outcomes.ai_share_mw(rows), [0.2, 0.0])
