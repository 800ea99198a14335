"""Scenario loading and validation: every bad value is rejected with its field named."""

from __future__ import annotations

import datetime as dt

import pytest

from marketsim.errors import ScenarioError
from marketsim.scenario import Scenario, load_scenario, parse_override, shipped_scenarios

REQUIRED = {"baseline", "halving-2024-replay", "ai-pivot-20pct", "ai-boom-bust"}


def test_every_required_scenario_is_shipped_and_valid():
    shipped = shipped_scenarios()
    assert REQUIRED <= set(shipped)
    for name in shipped:
        scenario = load_scenario(name)
        assert scenario.name == name


def test_replay_scenario_uses_the_data_for_price_fees_and_blocks():
    s = load_scenario("halving-2024-replay")
    assert (s.price_model, s.fee_model, s.blocks_model) == ("replay", "replay", "replay")
    assert s.start_date == dt.date(2023, 1, 1)


def _write(tmp_path, text):
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


def test_unknown_key_is_rejected_by_name(tmp_path):
    with pytest.raises(ScenarioError, match=r"price_volatilty.*unknown parameter"):
        load_scenario(_write(tmp_path, "price_volatilty = 0.5\n"))


def test_out_of_range_value_names_field_value_and_range(tmp_path):
    with pytest.raises(ScenarioError) as err:
        load_scenario(_write(tmp_path, "ai_pue = 0.5\n"))
    assert "ai_pue" in str(err.value) and "0.5" in str(err.value) and "greater than or equal to 1" in str(err.value)


def test_wrong_type_is_rejected(tmp_path):
    with pytest.raises(ScenarioError, match="n_firms"):
        load_scenario(_write(tmp_path, 'n_firms = "many"\n'))


@pytest.mark.parametrize(
    "text, field",
    [
        ("start_date = 2008-06-01\n", "start_date"),
        ("start_date = 2023-01-15\n", "start_date"),
        ('price_model = "csv"\n', "price_csv_path"),
        ('decision_rule_mix = {npv = 0.0, myopic = 0.0}\n', "decision_rule_mix"),
        ('decision_rule_mix = {npv = 0.5, oracle = 0.5}\n', "decision_rule_mix"),
        ("price_shocks = [{step = 3, change = -1.5}]\n", "price_shocks"),
        ("ai_demand_path = [{date = 2024-01-01, mw = 5.0}]\n", "ai_demand_path.*at least 2"),
        ("ai_demand_path = [{date = 2024-06-01, mw = 5.0}, {date = 2024-01-01, mw = 6.0}]\n",
         "ai_demand_path.*increase"),
        ("ai_demand_path = [{date = 2024-06-01, mw = -5.0}, {date = 2025-01-01, mw = 6.0}]\n", "ai_demand_path.*mw"),
    ],
)
def test_impossible_values_are_rejected(tmp_path, text, field):
    with pytest.raises(ScenarioError, match=field):
        load_scenario(_write(tmp_path, text))


def test_impossible_calendar_date_is_a_clear_error(tmp_path):
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(_write(tmp_path, "start_date = 2023-02-30\n"))


def test_missing_scenario_lists_the_shipped_ones():
    with pytest.raises(ScenarioError, match="baseline"):
        load_scenario("no-such-scenario")


def test_overrides_parse_as_toml_values():
    assert parse_override("price_volatility_per_year=0.8") == ("price_volatility_per_year", 0.8)
    assert parse_override("price_model=regime") == ("price_model", "regime")
    assert parse_override("start_date=2023-06-01") == ("start_date", dt.date(2023, 6, 1))
    key, shocks = parse_override("price_shocks=[{step=6, change=-0.5}]")
    assert shocks == [{"step": 6, "change": -0.5}]
    with pytest.raises(ScenarioError, match="unknown parameter"):
        parse_override("nope=1")


def test_toml_round_trip_is_exact():
    s = load_scenario("ai-boom-bust", price_shocks=[{"step": 6, "change": -0.5}])
    import tomllib

    again = Scenario.model_validate(tomllib.loads(s.to_toml()))
    assert again == s


def test_with_overrides_validates():
    s = Scenario()
    assert s.with_overrides(n_firms=50).n_firms == 50
    with pytest.raises(ScenarioError, match="n_firms"):
        s.with_overrides(n_firms=0)
