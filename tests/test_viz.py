"""The dashboard: its views and controls for small models, its components rendered into widgets,
the sweep explorer on a real (tiny) sweep, and the real app in headless Chromium, offline.

The browser tests (marked slow and browser) share one `solara run` server; they save
screenshots under test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import re
import shutil
import sys
import textwrap
from pathlib import Path

import ipyvuetify
import numpy as np
import pandas as pd
import pytest
import solara
import solara.widgets
from mesa.visualization.solara_viz import _build_model_init_kwargs, _check_model_params, split_model_params
from mesa.visualization.utils import update_counter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from marketsim import IndustryModel, load_scenario  # noqa: E402
from marketsim.experiments import sweep  # noqa: E402
from viz import charts, explorer, views  # noqa: E402
from viz.app import (  # noqa: E402
    CONTROLS, Dashboard, DashboardModel, apply_controls, control_values, dashboard, model_params_for, parse_seed,
    pending_changes,
)
from viz.components import COMPONENTS, TABS  # noqa: E402

ARTIFACTS = ROOT / "test-artifacts"
GRID_SWEEP = """
name = "viz-test-grid"
description = "two-parameter grid for the sweep explorer's tests"
base = "baseline"
months = 4
replications = 2
master_seed = 7

[set]
n_firms = 20

[design]
method = "grid"

[parameters]
power_price_multiplier = [1.0, 1.5]
conversion_capex_usd_per_mw = [2000000.0, 6000000.0]

[record]
industry = "every_step"
firms = false
events = false

[report]
outcomes = ["hhi_hashrate", "network_hashrate_ehs", "mw_mining"]
"""


@pytest.fixture(scope="module")
def model():
    m = DashboardModel("bear-consolidation", n_firms=40, months=10, rng=3)
    for _ in range(8):
        m.step()
    return m


@pytest.fixture(scope="module")
def sweep_dirs(tmp_path_factory):
    """A two-parameter grid sweep and the one-parameter smoke sweep, run once for the module."""
    root = tmp_path_factory.mktemp("sweeps")
    (root / "grid.toml").write_text(GRID_SWEEP)
    sweep(root / "grid.toml", out=root / "grid", workers=1, progress=False)
    sweep("smoke", out=root / "smoke", workers=1, progress=False, months=3)
    return {"grid": root / "grid", "smoke": root / "smoke"}


@pytest.fixture(scope="module")
def pivot_model():
    """A scenario with AI leases (cheap conversions, strong AI demand): converters to find."""
    m = DashboardModel("ai-pivot-20pct", n_firms=40, months=14, rng=2, capex_scale=0.25, ai_demand_scale=5.0)
    for _ in range(12):
        m.step()
    return m


@pytest.fixture(autouse=True)
def validated_figures(monkeypatch):
    """Every figure a test builds is checked against Plotly's schema (the app skips the check)."""
    monkeypatch.setattr(charts, "VALIDATE", True)


def _trace(fig, name_start):
    return next(t for t in fig.data if (t.name or "").startswith(name_start))


# --- views: what the dashboard shows --------------------------------------------------------------
def test_market_map_colours_firms_by_ai_share_and_sets_converters_apart(pivot_model):
    table = views.firm_table(pivot_model)
    fig = views.market_map_figure(pivot_model)
    miners, converters = _trace(fig, "miners"), _trace(fig, "converters")
    assert len(miners.x) + len(converters.x) == int(pivot_model.firms.active.sum()) == len(table)
    conv = table[table["ai_share"] > 0]
    assert len(conv) > 0 and len(converters.x) == len(conv)  # the scenario has converters, all findable
    assert converters.marker.symbol == "diamond" and converters.name == f"converters (AI MW): {len(conv)}"
    # colour = the firm's AI share (AI MW / live MW), on a fixed 0..1 scale
    row = conv.iloc[0]
    assert row["ai_share"] == pytest.approx(row["ai_mw"] / row["mw"])
    assert list(converters.marker.color) == pytest.approx(conv["ai_share"].tolist())
    assert (converters.marker.cmin, converters.marker.cmax) == (0, 1)
    assert converters.customdata[0][0] == row["name"]


def test_firm_table_lists_active_firms_by_size_with_ai_columns_first(model):
    table = views.firm_table(model)
    assert len(table) == int(model.firms.active.sum())
    assert table["mw"].is_monotonic_decreasing
    live = table[["mw"]].to_numpy().ravel()
    assert live.sum() == pytest.approx(
        (model.sites.capacity_mw - model.sites.mw_shutdown)[model.firms.active[model.sites.owner]].sum())
    headers, items = views.table_items(table)
    assert [h["value"] for h in headers][:4] == ["name", "ai_share", "ai_mw", "mw_ai"]  # visible without scrolling
    assert len(items) == len(table)
    assert items[0]["cash_usd"] == round(table["cash_usd"].iloc[0] / 1e6, 1)  # shown in $M
    assert items[0]["ai_share"] == round(table["ai_share"].iloc[0] * 100)  # shown in %
    assert all(v is None or v == v for row in items for v in row.values())  # no NaN reaches the browser


def test_cost_curve_covers_all_machine_mw_in_breakeven_order(model):
    curve = views.cost_curve(model)
    assert curve["mw"].sum() == pytest.approx((model.sites.mw_mining + model.sites.mw_idle).sum())
    assert curve["breakeven_usd_per_ph_day"].is_monotonic_increasing
    in_money = views.mw_in_the_money(model)
    below = curve["breakeven_usd_per_ph_day"] <= model.seen.hashprice_observed
    assert in_money == pytest.approx(curve.loc[below, "mw"].sum())
    fig = views.cost_curve_figure(model)
    assert f"{in_money:,.0f} of {curve['mw'].sum():,.0f} machine MW" in fig.layout.annotations[0].text
    assert fig.layout.shapes[0].y0 == pytest.approx(model.seen.hashprice_observed)


def test_population_histograms_count_every_active_firm(model):
    fig = views.population_figure(model)
    pop = views.population(model)
    assert [len(t.x) for t in fig.data] == [int(pop[c].notna().sum()) for c in views.POPULATION_COLUMNS]


def test_pivot_chart_shows_shares_of_live_mw_that_add_to_one_and_the_target(pivot_model):
    fig = views.pivot_figure(pivot_model)
    hist = views.industry_history(pivot_model)
    layers = [t for t in fig.data if t.stackgroup == "mw"]
    assert [t.name for t in layers] == ["mining", "idle", "converting", "AI leased", "AI empty"]
    total = np.sum([np.asarray(t.y) for t in layers], axis=0)
    assert total == pytest.approx(np.ones(len(hist)))
    last = hist.iloc[-1]
    live = sum(last[c] for c in views.LIVE_STATES)
    assert layers[3].y[-1] == pytest.approx(last["mw_ai"] / live)
    assert layers[3].customdata[-1] == pytest.approx(last["mw_ai"])  # MW in the hover
    target = _trace(fig, "scenario target")
    assert list(target.y) == [0.2, 0.2] and "20% AI by 2027-12" in target.name
    ai = _trace(fig, "AI share")  # the same share on its own scale, beside the target
    assert ai.yaxis == target.yaxis == "y2"
    assert ai.y[-1] == pytest.approx(sum(last[c] for c in views.AI_STATES) / live)
    assert fig.layout.yaxis.tickformat == ".0%"


def test_time_charts_mark_halvings_and_shocks_at_their_own_step():
    m = DashboardModel("bear-consolidation", n_firms=20, months=18, rng=1)
    for _ in range(18):
        m.step()
    marks = views.time_marks(m)
    hist = views.industry_history(m)
    halving = next(k for k in marks if k.kind == "halving")
    row = hist.loc[hist["date"] == halving.date].iloc[0]
    before = hist.loc[hist["step"] == row["step"] - 1].iloc[0]
    assert row["subsidy_btc"] == before["subsidy_btc"] / 2  # the step whose subsidy fell
    shock = next(k for k in marks if k.kind == "shock")
    assert shock.label == "price shock -35%" and hist.loc[hist["date"] == shock.date, "step"].item() == 16
    fig = views.price_figure(m)
    assert {s.x0 for s in fig.layout.shapes} == {k.date for k in marks}


def test_ai_chart_puts_the_lease_rate_on_its_own_axis(pivot_model):
    fig = views.ai_figure(pivot_model)
    assert [t.name for t in fig.data if t.yaxis == "y"] == ["AI demand", "AI MW signed", "AI-leased MW",
                                                             "converting MW"]
    rate = _trace(fig, "AI lease rate")
    assert rate.yaxis == "y2" and fig.layout.yaxis2.title.text == "AI lease rate (USD/kW-month)"
    assert list(rate.y) == pytest.approx(views.industry_history(pivot_model)["ai_lease_rate_usd_per_kw_month"].tolist())
    # the range of rates signed in each step, as markers on the same axis (gaps where nothing signed)
    hist = views.industry_history(pivot_model)
    for name, col in (("lowest AI rate signed", "ai_signed_rate_min_usd_per_kw_month"),
                      ("highest AI rate signed", "ai_signed_rate_max_usd_per_kw_month")):
        points = _trace(fig, name)
        assert points.yaxis == "y2" and points.mode == "markers"
        np.testing.assert_array_equal(np.asarray(points.y, dtype=float), hist[col].to_numpy(float))
    assert hist["ai_signed_rate_max_usd_per_kw_month"].notna().any()  # the scenario signs leases


def test_consolidation_panel_gives_each_measure_its_own_axis(model):
    fig = views.consolidation_figure(model)
    hist = views.industry_history(model)
    assert len(fig.data) == len(charts.CONSOLIDATION_PANELS)
    assert len({t.yaxis for t in fig.data}) == len(charts.CONSOLIDATION_PANELS)
    takeovers = fig.data[[c for c, *_ in charts.CONSOLIDATION_PANELS].index("takeovers_cum")]
    assert takeovers.y[-1] == hist["takeovers"].sum()  # cumulated from the per-step column
    assert fig.layout.yaxis2.tickformat == ".1%" and fig.layout.yaxis.tickformat == ".3f"
    assert fig.layout.yaxis3.tickformat == ",~r"  # firms active: counts without repeated ticks


def test_largest_deals_are_the_biggest_acquisitions_of_the_run(model):
    deals = views.largest_deals(model, 3)
    prices = sorted((r[8] for r in model.events.rows if r[2] == "acquisition"), reverse=True)[:3]
    assert deals["USD M"].tolist() == [round(p / 1e6, 1) for p in prices]


def test_previous_run_is_drawn_as_a_ghost(model):
    m = DashboardModel("bear-consolidation", n_firms=20, months=4, rng=1)
    m.step()
    m.ghost_history = views.industry_history(model)
    fig = views.hashrate_figure(m)
    ghost = _trace(fig, "network hashrate, previous run")
    assert len(ghost.y) == len(views.industry_history(model)) and ghost.line.dash == "dot"


def test_downloads_hold_the_run_tables(model):
    import io

    industry = pd.read_csv(io.StringIO(views.industry_csv(model)))
    assert len(industry) == model.steps and {"date", "mw_ai", "hhi_hashrate"} <= set(industry.columns)
    firms = pd.read_csv(io.StringIO(views.firms_csv(model)))
    assert list(firms.columns) == views.FIRM_TABLE_COLUMNS and len(firms) == int(model.firms.active.sum())
    events = pd.read_csv(io.StringIO(views.events_csv(model)))
    assert len(events) == len(model.events.rows) and {"kind", "firm", "counterparty", "value_usd"} <= set(events)


def test_status_says_when_the_run_finished_and_when_the_network_halted():
    m = DashboardModel(n_firms=20, months=2, rng=1)
    m.step()
    assert views.status(m) == []
    m.step()
    assert [k for k, _ in views.status(m)] == ["finished"]
    m.outcome = {**m.outcome, "network_hashrate_ehs": 0.0}
    assert "Network halted" in dict(views.status(m))["halted"]


def test_event_feed_lists_the_latest_events_newest_first(model):
    feed = views.recent_events(model, 5)
    assert 0 < len(feed) <= 5
    latest = [r for r in model.events.rows if r[2] not in views.IGNORED_EVENTS][-1]
    assert feed.iloc[0]["event"] == latest[2].replace("_", " ")
    assert not feed["event"].isin(["curtailment", "resumption"]).any()


def test_before_the_first_step_the_views_are_empty_but_draw():
    m = DashboardModel(n_firms=30, months=3)
    assert not views.has_data(m)
    assert views.firm_table(m).empty and views.cost_curve(m).empty and views.recent_events(m).empty
    assert "step 0 of 3" in views.headline(m)
    for name, make in views.FIGURES.items():
        assert make(m).layout.title.text, name


def test_per_firm_views_share_one_snapshot_per_step(monkeypatch):
    calls = []
    real = views.firm_snapshot
    monkeypatch.setattr(views, "firm_snapshot", lambda m: calls.append(m.steps) or real(m))
    m = DashboardModel(n_firms=30, months=3)
    m.step()
    views.market_map_figure(m), views.firm_table(m), views.population(m), views.population_figure(m)
    m.step()
    views.firm_table(m)
    assert calls == [1, 2]


def test_headline_and_tab_title_show_the_step(model):
    assert f"step {model.steps} of {model.n_steps}" in views.headline(model)
    assert views.step_label(model) == f"marketsim · bear-consolidation · step {model.steps}"
    assert "shocks -35% at step 16, -25% at step 24" in views.scenario_line(model.config)
    assert "AI demand to 3,250 MW IT (logistic)" in views.scenario_line(model.config)
    # the replay's demand is the dated deals: the line names their last point, not the logistic's inert maximum
    assert "AI demand dated to 2025-12 (2,618 MW IT) ·" in views.scenario_line(load_scenario("halving-2024-replay"))
    assert "AI demand dated to 2025-12 (2,618 MW IT), then the logistic curve to 3,250 MW IT" in \
        views.scenario_line(load_scenario("halving-2024-replay", months=48))


# --- controls -----------------------------------------------------------------------------------------
def test_controls_change_the_scenario_relative_to_its_own_values():
    base = load_scenario("bear-consolidation")
    out = apply_controls(base, npv_share=0.25, drift_shift=-0.2, volatility_scale=2.0, shock_change=-0.5,
                         shock_month=6, ai_demand_scale=2.0, capex_scale=0.5, lease_scale=1.5, power_scale=1.2)
    assert out.decision_rule_mix == {"npv": 0.25, "myopic": 0.75}
    assert out.price_drift_per_year == pytest.approx(base.price_drift_per_year - 0.2)
    assert out.price_volatility_per_year == pytest.approx(base.price_volatility_per_year * 2)
    assert [(s.step, s.change) for s in out.price_shocks] == [(16, -0.35), (24, -0.25), (6, -0.5)]
    assert out.ai_demand_max_mw == pytest.approx(base.ai_demand_max_mw * 2)
    assert out.conversion_capex_usd_per_mw == pytest.approx(base.conversion_capex_usd_per_mw * 0.5)
    for field in ("ai_lease_rate_initial_usd_per_kw_month", "ai_tenant_reference_rate_usd_per_kw_month",
                  "ai_greenfield_rent_usd_per_kw_month"):
        assert getattr(out, field) == pytest.approx(getattr(base, field) * 1.5)
    assert out.power_price_multiplier == pytest.approx(base.power_price_multiplier * 1.2)
    neutral = apply_controls(base, npv_share=0.6)
    assert neutral.to_dict() == base.with_overrides(decision_rule_mix={"npv": 0.6, "myopic": 0.4}).to_dict()
    # extremes stay valid scenarios
    apply_controls(base, drift_shift=-1.0, volatility_scale=3.0, shock_change=1.0, shock_month=120,
                   ai_demand_scale=0.0, capex_scale=0.25, lease_scale=0.5, power_scale=2.5, npv_share=0.0)


def test_the_servers_cookie_warning_is_silenced():
    import warnings

    from viz.app import silence_cookie_warning

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        silence_cookie_warning()
        warnings.warn("Cookies with samesite=none require https, but according to the asgi framework, ...")
        warnings.warn("another warning")
    assert [str(w.message) for w in seen] == ["another warning"]


def test_seed_accepts_numbers_and_any_text():
    assert parse_seed("42") == 42 and parse_seed(" 7 ") == 7 and parse_seed(3) == 3
    assert parse_seed("hello") == parse_seed("hello") != parse_seed("hullo")


def _reset(model):
    """What SolaraViz's Reset does with the controls' current values."""
    params = model_params_for(model)
    _check_model_params(model, params)
    user, fixed = split_model_params(params)
    values = {**fixed, **{k: v["value"] for k, v in user.items()}}
    kwargs = _build_model_init_kwargs(model, values, add_scenario_when_empty=True, require_model_accepts_scenario=True)
    return type(model)(**kwargs)


def test_reset_rebuilds_the_same_model_from_the_controls():
    m = DashboardModel("ai-boom-bust", rng="9", n_firms=40, months=6, capex_scale=1.5, shock_change=-0.3)
    assert set(model_params_for(m)) >= set(CONTROLS)
    again = _reset(m)
    assert type(again) is DashboardModel
    assert again.config == m.config and again._seed == m._seed == 9
    plain = IndustryModel("bear-consolidation", n_firms=30, months=4, rng=5)
    again = _reset(plain)
    assert again.config == plain.config and again._seed == 5


# --- components: the dashboard rendered into widgets (what a notebook displays) --------------------------
def _html_widgets(rc, css_class):
    return [w for w in rc.find(solara.widgets.HTML).widgets if css_class in (w.unsafe_innerHTML or "")]


def _figure_widgets(rc):
    from plotly.graph_objs import FigureWidget

    return rc.find(FigureWidget).widgets


def test_each_tab_renders_its_panels_and_updates_after_a_step():
    m = DashboardModel("ai-pivot-20pct", n_firms=30, months=6, rng=2)
    m.step()
    for tab, titles in (("Pivot to AI", ["Share of live MW", "AI hosting", "Market map"]),
                        ("Consolidation", ["Consolidation"]),
                        ("Market", ["BTC price", "Network hashrate", "Industry revenue", "Industry cost curve",
                                    "Firm population"])):
        box, rc = solara.render(Dashboard(m, tab=tab), handle_error=False)
        try:
            shown = [w.layout.title.text for w in _figure_widgets(rc)]
            assert [next(s for s in shown if s.startswith(t)) for t in titles]
            assert len(shown) == len(titles)
            assert all(len(w.data) for w in _figure_widgets(rc)), tab
            if tab == "Pivot to AI":
                table = [w for w in rc.find(ipyvuetify.DataTable).widgets if w.class_ == "firm-table"][0]
                assert len(table.items) == int(m.firms.active.sum())
        finally:
            rc.close()


def test_dashboard_renders_for_a_model_and_updates_after_a_step():
    m = DashboardModel(n_firms=30, months=6, rng=2)
    m.step()
    box, rc = solara.render(dashboard(m), handle_error=False)
    try:
        rc.find(solara.widgets.HTML, unsafe_innerHTML=views.headline(m)).assert_single()
        market_map = next(w for w in _figure_widgets(rc) if w.layout.title.text.startswith("Market map"))
        table = [w for w in rc.find(ipyvuetify.DataTable).widgets if w.class_ == "firm-table"][0]
        assert len(table.items) == int(m.firms.active.sum())
        m.step()
        update_counter.value += 1  # what Mesa's ModelController does after a step
        assert "step 2 of 6" in _html_widgets(rc, "step 2 of 6")[0].unsafe_innerHTML
        assert len(table.items) == int(m.firms.active.sum())
        pivot = next(w for w in _figure_widgets(rc) if w.layout.title.text.startswith("Share of live MW"))
        assert len(pivot.data[0].x) == 2 and market_map.data
        named = rc.find(ipyvuetify.Tabs, class_="dashboard-tabs").widget
        assert [w.children[0] for w in named.children] == list(TABS)
    finally:
        rc.close()


def test_a_changed_control_says_press_reset_until_reset():
    m = DashboardModel(n_firms=30, months=6, rng=2)
    values = control_values(model_params_for(m))
    assert pending_changes(m, values) == []
    values["ai_demand_scale"] = 2.0
    assert pending_changes(m, values) == [CONTROLS["ai_demand_scale"]["label"]]
    box, rc = solara.render(solara.AppLayout(children=[dashboard(m)]), handle_error=False)  # the sidebar too
    try:
        assert not rc.find(ipyvuetify.Alert, class_="changed-state")
        slider = next(w for w in rc.find(ipyvuetify.Slider).widgets if w.max == 5.0)
        slider.v_model = 2.0
        alert = rc.find(ipyvuetify.Alert, class_="changed-state").widget
        assert "press Reset to apply" in str(alert.children)
        assert slider.thumb_label  # the value shown in the thumb (CSS keeps it visible)
        m.step()
        update_counter.value += 1
        rc.find(ipyvuetify.Btn, children=["Reset"]).widget.click()
        assert not rc.find(ipyvuetify.Alert, class_="changed-state")
        assert "step 0 of 6" in _html_widgets(rc, "step 0 of 6")[0].unsafe_innerHTML
        # the run before Reset stays on the time charts as the grey dotted "previous run"
        ai = next(w for w in _figure_widgets(rc) if w.layout.title.text.startswith("AI hosting"))
        ghost = [t for t in ai.data if t.name.endswith("previous run")]
        assert ghost and len(ghost[0].y) == 1 and ghost[0].line.dash == "dot"
    finally:
        rc.close()


def test_dashboard_renders_for_a_plain_industry_model():
    m = IndustryModel("halving-2024-replay", n_firms=30, months=3, rng=1)
    box, rc = solara.render(dashboard(m), handle_error=False)
    try:
        assert _html_widgets(rc, "step 0 of 3")
    finally:
        rc.close()
    assert len(COMPONENTS) >= 12


@pytest.mark.slow
def test_the_docstring_example_displays_the_dashboard_in_a_jupyter_kernel():
    """Run dashboard()'s three-line example in a real IPython kernel: it must display a widget."""
    from jupyter_client.manager import start_new_kernel

    doc = dashboard.__doc__
    example = textwrap.dedent(doc[doc.index("Example::") + len("Example::"):].split("\n\n")[1])
    assert len(example.strip().splitlines()) == 3
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(ROOT))
    try:
        msg_id = kc.execute(example)
        outputs = []
        while True:
            msg = kc.get_iopub_msg(timeout=120)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
            outputs.append((msg["msg_type"], msg["content"]))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert not [c for t, c in outputs if t == "error"], outputs
    assert any("application/vnd.jupyter.widget-view+json" in c.get("data", {}) for t, c in outputs), outputs


# --- sweep explorer ---------------------------------------------------------------------------------
def test_explorer_reports_missing_and_corrupt_folders(tmp_path, sweep_dirs):
    assert explorer.open_sweep("") == (None, None)
    results, error = explorer.open_sweep(str(tmp_path / "nope"))
    assert results is None and "no such sweep folder" in error
    (tmp_path / "manifest.json").write_text("{not json")
    results, error = explorer.open_sweep(str(tmp_path))
    assert results is None and "manifest.json: unreadable or corrupt" in error
    broken = tmp_path / "broken"
    shutil.copytree(sweep_dirs["grid"], broken)
    (broken / "runs.parquet").write_bytes(b"not a parquet file")
    results, error = explorer.open_sweep(str(broken))
    assert results is None and "runs.parquet: unreadable or corrupt" in error


def test_explorer_draws_bands_and_a_heatmap_of_a_grid_sweep(sweep_dirs):
    results, error = explorer.open_sweep(str(sweep_dirs["grid"]))
    assert error is None
    d = explorer.defaults(results)
    assert d["outcome"] == "hhi_hashrate" and {d["x"], d["y"]} == set(results.parameters)
    fig = explorer.bands_figure(results, "mw_mining", "power_price_multiplier")
    assert len(fig.data) == 4  # a band and a mean line per value
    assert fig.data[1].name == "power_price_multiplier = 1 (n=4)" and fig.layout.yaxis.title.text == "mining MW (MW)"
    fig = explorer.heatmap_figure(results, "hhi_hashrate", "power_price_multiplier", "conversion_capex_usd_per_mw")
    z = np.asarray(fig.data[0].z)
    assert z.shape == (2, 2)
    ok = results.runs[results.runs["status"] == "ok"]
    cell = ok[(ok["power_price_multiplier"] == 1.5) & (ok["conversion_capex_usd_per_mw"] == 2e6)]["hhi_hashrate"]
    assert z[0, 1] == pytest.approx(cell.mean())
    assert fig.data[0].text[0][1] == f"{cell.mean():.3f}<br>n=2"  # value (declared format) and runs per cell
    assert explorer.bands_figure(results, "mw_mining", None).data[1].name.startswith("all runs")


def test_explorer_lists_report_outcomes_first_with_units(sweep_dirs):
    results, _ = explorer.open_sweep(str(sweep_dirs["grid"]))
    items = explorer.choices(results.outcomes(), explorer.report_outcomes(results))
    assert [i["value"] for i in items[:3]] == ["hhi_hashrate", "network_hashrate_ehs", "mw_mining"]
    assert items[1]["text"] == "★ network hashrate (EH/s) · network_hashrate_ehs"
    assert sorted(i["value"] for i in items) == sorted(results.outcomes())
    share = next(i for i in items if i["value"] == "top5_share_hashrate")
    assert share["text"] == "top-5 share of hashrate (%) · top5_share_hashrate"


def test_explorer_bins_a_sampled_design(sweep_dirs):
    results, _ = explorer.open_sweep(str(sweep_dirs["grid"]))
    runs = results.runs.copy()
    runs["power_price_multiplier"] = np.linspace(0.5, 2.0, len(runs))  # as many values as runs: sampled
    sampled = type(results)(results.root, results.manifest, runs, results.industry)
    fig = explorer.heatmap_figure(sampled, "hhi_hashrate", "power_price_multiplier", "conversion_capex_usd_per_mw")
    assert len(fig.data[0].x) == explorer.HEAT_BINS
    assert sum(sum(row) for row in fig.data[0].customdata) == int((runs["status"] == "ok").sum())
    assert " to " in fig.data[0].x[0]  # labelled by the bin's range


def test_explorer_shows_a_one_parameter_sweep_as_a_line(sweep_dirs):
    results, _ = explorer.open_sweep(str(sweep_dirs["smoke"]))
    assert results.parameters == ["power_price_multiplier"]
    fig = explorer.outcome_line_figure(results, "hhi_hashrate", "power_price_multiplier")
    assert list(fig.data[1].x) == [1.0, 1.5]


def test_explorer_page_renders_a_sweep_and_a_clear_error(sweep_dirs, tmp_path):
    box, rc = solara.render(explorer.SweepExplorer(str(sweep_dirs["grid"])), handle_error=False)
    try:
        assert len(_figure_widgets(rc)) == 2  # bands and heatmap
        picks = {w.label: w.v_model for w in rc.find(ipyvuetify.Autocomplete).widgets}
        assert picks["Final outcome (type to search)"] == "hhi_hashrate" and picks["x"] == "power_price_multiplier"
        assert not rc.find(ipyvuetify.Alert)
    finally:
        rc.close()
    box, rc = solara.render(explorer.SweepExplorer(str(tmp_path / "missing")), handle_error=False)
    try:
        assert "missing: no such sweep folder" in str(rc.find(ipyvuetify.Alert).widget.children)
        assert not _figure_widgets(rc)
    finally:
        rc.close()


# --- the real app in a browser ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(sweep_dirs):
    from browser_helpers import ensure_chromium, free_port, solara_server

    ensure_chromium()
    env = {"MARKETSIM_SWEEP_DIR": str(sweep_dirs["grid"])}
    with solara_server(ROOT / "viz" / "app.py", free_port(), env=env) as url:
        yield url


@pytest.fixture
def page(server):
    from browser_helpers import RequestLog, launch_browser
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_browser(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.requests = RequestLog(page)
        yield page
        browser.close()


def _assert_offline(page):
    assert page.requests.external == [], page.requests.external
    assert [f for f in page.requests.failed if "favicon" not in f[0]] == []


def _step_to(page, n):
    page.get_by_role("button", name="Step").click()
    page.wait_for_function("n => document.title.endsWith('step ' + n)", arg=str(n), timeout=90_000)


@pytest.mark.slow
@pytest.mark.browser
def test_dashboard_runs_offline_in_chromium(server, page):
    page.goto(server + "/")
    page.get_by_role("button", name="Step").wait_for(timeout=90_000)
    page.wait_for_function("document.title === 'marketsim · baseline · step 0'", timeout=90_000)
    page.wait_for_selector(".chart-pivot .js-plotly-plot", timeout=60_000)
    for n in (1, 2, 3):
        _step_to(page, n)
    page.wait_for_selector(".chart-map .js-plotly-plot .scatterlayer .point", state="attached", timeout=90_000)
    # the baseline signs its first AI block in 2024, so at step 3 every firm is a miner, drawn as a circle
    # (converters as diamonds: test_market_map_colours_firms_by_ai_share_and_sets_converters_apart)
    assert page.locator(".chart-map .scatterlayer .trace").nth(0).locator(".point").count() > 0
    assert page.locator(".chart-pivot .scatterlayer .trace").count() >= 5  # the five MW states
    assert page.locator(".firm-table tbody tr").count() > 0
    # the headline re-renders a moment after the title on a busy machine: wait for it, not a race
    page.wait_for_function("document.querySelector('.marketsim-headline').innerText.includes('step 3 of 120')",
                           timeout=90_000)
    headline = page.locator(".marketsim-headline").inner_text()
    _step_to(page, 4)
    page.wait_for_function("h => document.querySelector('.marketsim-headline').innerText !== h", arg=headline,
                           timeout=90_000)
    # play, then pause
    page.get_by_role("button", name="▶").click()
    page.wait_for_function("Number(document.title.match(/step (\\d+)$/)[1]) >= 7", timeout=30_000)
    page.get_by_role("button", name="❚❚").click()
    page.get_by_role("button", name="▶").wait_for(timeout=90_000)
    page.wait_for_timeout(1000)  # a step under way when paused still finishes
    paused_at = page.title()
    page.wait_for_timeout(1500)
    assert page.title() == paused_at
    # the other tabs, by name
    page.get_by_role("tab", name="Consolidation").click()
    page.wait_for_selector(".chart-consolidation .js-plotly-plot", timeout=30_000)
    page.get_by_role("tab", name="Market").click()
    page.wait_for_selector(".chart-cost .js-plotly-plot", timeout=30_000)
    page.get_by_role("tab", name="Pivot to AI").click()
    page.wait_for_selector(".chart-map .js-plotly-plot", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"))
    # a download returns the run's industry table
    with page.expect_download(timeout=30_000) as info:
        page.get_by_role("button", name="Industry table (CSV)").click()
    header = Path(info.value.path()).read_text().splitlines()[0].split(",")
    assert {"date", "mw_ai", "hhi_hashrate", "network_hashrate_ehs"} <= set(header)
    # a control (SolaraViz's model_params): the page says to press Reset; Reset applies it. At
    # 1,024 px the sliders keep a mouse-sized track under their label, the value in the thumb
    page.set_viewport_size({"width": 1024, "height": 900})
    control = page.locator(".v-navigation-drawer .v-input", has_text="Number of firms")
    assert control.locator(".v-slider__thumb-label").inner_text() == "200"
    assert control.locator(".v-slider").bounding_box()["width"] > 250
    slider = control.get_by_role("slider")
    slider.focus()
    slider.press("Home")  # the fewest firms: 20
    page.get_by_text("Changed: press Reset to apply").wait_for(timeout=30_000)
    assert control.locator(".v-slider__thumb-label").inner_text() == "20"
    page.get_by_role("button", name="Reset", exact=True).click()
    page.wait_for_function("document.title.endsWith('step 0')", timeout=30_000)
    page.get_by_text(re.compile(r"· 20 firms ·")).wait_for(timeout=30_000)
    page.get_by_text("Changed: press Reset to apply").wait_for(state="hidden", timeout=30_000)
    _step_to(page, 1)
    # N seeds of these settings in the background (worker processes): the page stays live
    # (a step goes through meanwhile) and the band appears behind the time charts
    count = page.locator(".seed-band .v-input", has_text="Seeds to run").get_by_role("slider")
    count.focus()
    count.press("Home")  # 2 seeds
    page.get_by_role("button", name="Run 2 seeds of these settings").click()
    page.get_by_role("button", name="Stop").wait_for(timeout=30_000)
    _step_to(page, 2)
    page.locator(".seed-band-shown").wait_for(timeout=600_000)
    page.locator(".chart-pivot .legendtext", has_text="band of 2 seeds").wait_for(timeout=90_000)
    page.screenshot(path=str(ARTIFACTS / "dashboard-band.png"))
    _assert_offline(page)


@pytest.mark.slow
@pytest.mark.browser
def test_sweep_explorer_runs_offline_in_chromium(server, page):
    page.goto(server + "/explorer")
    page.wait_for_selector(".chart-explorer-heatmap .js-plotly-plot", timeout=90_000)
    page.wait_for_selector(".chart-explorer-bands .js-plotly-plot", timeout=30_000)
    assert "viz-test-grid" in page.locator(".sweep-explorer").inner_text()
    page.screenshot(path=str(ARTIFACTS / "explorer.png"))
    # the outcome list: the sweep's [report] outcomes first, with their units
    page.locator(".pick-outcome input").first.click()
    titles = page.locator(".menuable__content__active .v-list-item__title")
    titles.first.wait_for(timeout=30_000)
    options = titles.all_inner_texts()
    assert options[:3] == ["★ HHI of hashrate (0-1) · hhi_hashrate", "★ network hashrate (EH/s) · network_hashrate_ehs",
                           "★ mining MW (MW) · mw_mining"]
    page.keyboard.press("Escape")
    assert "n=2" in page.locator(".chart-explorer-heatmap").inner_text()  # runs per cell
    folder = page.get_by_label(re.compile("Sweep folder"))
    folder.fill("/nonexistent/sweep")
    folder.press("Enter")
    page.get_by_text("/nonexistent/sweep: no such sweep folder").wait_for(timeout=30_000)
    assert page.locator(".sweep-heatmap").count() == 0
    _assert_offline(page)


def test_explorer_opens_on_the_heatmap_axes_the_sweep_file_names(sweep_dirs):
    results, _ = explorer.open_sweep(str(sweep_dirs["grid"]))
    a, b = results.parameters
    for x, y in ((a, b), (b, a)):
        manifest = {**results.manifest, "report": {**results.manifest["report"], "heatmap": [x, y]}}
        named = type(results)(results.root, manifest, results.runs, results.industry)
        d = explorer.defaults(named)
        assert (d["x"], d["y"]) == (x, y)


def test_json_safe_turns_nan_and_infinity_into_null():
    from viz.charts import json_safe

    out = json_safe(np.array([["a", 1.0, float("nan")], ["b", float("inf"), 2.0]], dtype=object))
    assert out.tolist() == [["a", 1.0, None], ["b", None, 2.0]]


# --- money on axes and in hovers ------------------------------------------------------------------------
def test_money_reads_b_for_billions_on_axes_and_in_hovers():
    from marketsim import outcomes

    revenue = outcomes.outcome("revenue_mining_usd")
    assert charts.value_axis(revenue) == {"tickformat": "", "tickprefix": "$", "exponentformat": "B"}
    fields, shown = charts.value_hover(revenue, [1.5e9, 2.5e6, float("nan")])
    assert fields["text"] == ["$1.50B", "$2.50M", "–"] and shown == "%{text}"
    hhi = outcomes.outcome("hhi_hashrate")
    assert charts.value_axis(hhi) == {"tickformat": ".3f"} and charts.value_hover(hhi, [0.1]) == ({}, "%{y:.3f}")
    hist = pd.DataFrame({"date": pd.date_range("2023-01-01", periods=2, freq="MS"),
                         "revenue_mining_usd": [1.2e9, 2.0e9], "revenue_ai_usd": [3.0e6, 4.5e7]})
    fig = charts.time_series(hist, {"revenue_mining_usd": "#f2a900"}, "revenue", secondary={"revenue_ai_usd": "#1e88e5"})
    assert fig.layout.yaxis.exponentformat == "B" and fig.layout.yaxis.tickprefix == "$"
    assert fig.layout.yaxis2.exponentformat == "B" and "G" not in (fig.layout.yaxis.tickformat or "")
    assert list(fig.data[0].text) == ["$1.20B", "$2.00B"] and list(fig.data[1].text) == ["$3.00M", "$45.00M"]


# --- N seeds in the background: the band ----------------------------------------------------------------
def _run_frame(steps, mining, ai, takeovers):
    dates = pd.date_range("2023-01-01", periods=len(steps), freq="MS")
    return pd.DataFrame({"step": steps, "date": dates, "mw_mining": mining, "mw_idle": 0.0, "mw_converting": 0.0,
                         "mw_ai": ai, "mw_ai_empty": 0.0, "takeovers": takeovers})


def test_band_takes_the_quantiles_over_runs_at_every_step():
    from viz import seeds

    runs = [_run_frame([1, 2], [90.0, 80.0], [10.0, 20.0], [0, 1]),
            _run_frame([1, 2], [70.0, 60.0], [30.0, 40.0], [1, 1]),
            _run_frame([1], [50.0], [50.0], [2])]  # halted after step 1: step 2 has two runs
    band = seeds.band_of(runs, low=0.1, high=0.9)
    assert band.runs == 3 and band.label == "3 seeds: 10%-90% and median"
    low, median, high = band.columns("mw_mining")
    # step 1 over 50, 70, 90 (linear quantiles): 0.1 -> 54, 0.5 -> 70, 0.9 -> 86; step 2 over 60, 80
    assert low.tolist() == pytest.approx([54.0, 62.0]) and median.tolist() == pytest.approx([70.0, 70.0])
    assert high.tolist() == pytest.approx([86.0, 78.0])
    # what the charts draw but the table does not hold: the AI share of live MW, cumulated counts
    assert band.columns(charts.AI_SHARE)[1].tolist() == pytest.approx([0.3, 0.3])  # 0.1, 0.3, 0.5 | 0.2, 0.4
    assert band.columns("takeovers_cum")[2].tolist() == pytest.approx([1.8, 1.9])  # 0, 1, 2 | 1, 2
    assert list(band.frame["date"]) == list(runs[0]["date"])


def test_band_seeds_are_spawned_from_the_live_seed():
    from marketsim.experiments.sweepfile import run_seeds
    from viz import seeds

    assert seeds.band_seeds(5, 4) == run_seeds(5, 4, 4, False) == seeds.band_seeds(5, 4)
    assert len(set(seeds.band_seeds(5, 4))) == 4 and seeds.band_seeds(6, 4) != seeds.band_seeds(5, 4)
    assert seeds.band_seeds(None, 2) == seeds.band_seeds(0, 2)


def test_time_charts_draw_the_band_behind_the_live_run(model):
    from viz import seeds

    band = seeds.band_of([views.industry_history(model), views.industry_history(model).copy()])
    m = DashboardModel("bear-consolidation", n_firms=20, months=4, rng=1)
    m.step()
    before = views.hashrate_figure(m)
    m.seed_band = band
    fig = views.hashrate_figure(m)
    assert fig is not before  # a new band is a new picture
    fill, median = fig.data[0], fig.data[1]  # first: behind the live line
    assert fill.fill == "toself" and fill.hoverinfo == "skip" and fill.legendgroup == median.legendgroup == "band"
    assert median.name == "band of 2 seeds: 10%-90% and median" and median.showlegend
    assert list(median.y) == pytest.approx(views.industry_history(model)["network_hashrate_ehs"].tolist())
    assert _trace(fig, "network hashrate").line.dash is None  # the live line is still there, solid
    pivot = views.pivot_figure(m)
    assert [t.yaxis for t in pivot.data if t.legendgroup == "band"] == ["y2", "y2"]  # on the AI share's axis
    ai = views.ai_figure(m)  # five bands, one legend entry
    assert len([t for t in ai.data if t.legendgroup == "band"]) == 10
    assert [t.name for t in ai.data if t.legendgroup == "band" and t.showlegend] == [median.name]
    consolidation = views.consolidation_figure(m)
    assert len([t for t in consolidation.data if "seeds" in (t.name or "")]) == 2 * len(charts.CONSOLIDATION_PANELS)


@pytest.mark.slow
def test_run_seeds_button_runs_them_in_the_background_and_draws_the_band():
    import time

    from marketsim import IndustryModel as Plain
    from viz import seeds

    m = DashboardModel("bear-consolidation", n_firms=20, months=3, rng=4)
    m.step()
    box, rc = solara.render(solara.AppLayout(children=[Dashboard(m, tab="Market")]), handle_error=False)
    try:
        count = next(w for w in rc.find(ipyvuetify.Slider).widgets if w.label == "Seeds to run")
        count.v_model = 3
        rc.find(ipyvuetify.Btn, children=["Run 3 seeds of these settings"]).widget.click()
        # the click returns at once: the runs go on in worker processes while the page stays live
        assert rc.find(ipyvuetify.Btn, children=["Stop"]).widgets
        m.step()
        update_counter.value += 1  # the live run steps meanwhile
        deadline = time.monotonic() + 600
        while not rc.find(ipyvuetify.Alert, class_="seed-band-shown").widgets and time.monotonic() < deadline:
            time.sleep(0.5)  # the worker thread attaches the band, then the page redraws
        band = views.seed_band(m)
        assert band is not None and band.runs == 3
        # the band is the runs of the live settings with the spawned seeds, step by step
        runs = []
        for s in seeds.band_seeds(4, 3):
            plain_model = Plain(m.config, rng=s)
            plain_model.run()
            runs.append(plain_model.datacollector.get_model_vars_dataframe()["network_hashrate_ehs"].to_numpy(float))
        assert band.columns("network_hashrate_ehs")[1] == pytest.approx(np.median(runs, axis=0))
        hashrate = next(w for w in _figure_widgets(rc) if w.layout.title.text.startswith("Network hashrate"))
        assert any(t.name == "band of 3 seeds: 10%-90% and median" for t in hashrate.data)
        # Reset to the same settings keeps the band
        rc.find(ipyvuetify.Btn, children=["Reset"]).widget.click()
        hashrate = next(w for w in _figure_widgets(rc) if w.layout.title.text.startswith("Network hashrate"))
        assert any("3 seeds" in (t.name or "") for t in hashrate.data)
    finally:
        rc.close()


def test_solaraviz_controls_are_reactives_the_dashboard_reads():
    from viz.app import bound_params

    m = DashboardModel(n_firms=30, months=3, rng=2)
    params = model_params_for(m)
    values = {k: solara.reactive(v) for k, v in control_values(params).items() if k in CONTROLS}
    bound = bound_params(params, values)
    assert bound["n_firms"]["value"] is values["n_firms"] and bound["months"] == 3  # fixed stays fixed
    values["capex_scale"].value = 0.5
    assert pending_changes(m, values) == [CONTROLS["capex_scale"]["label"]]
    # Reset hands the model a control's reactive until the control is moved, its value after
    again = DashboardModel(**{**control_values(params), "n_firms": values["n_firms"], "capex_scale": 0.5})
    assert again.config.n_firms == 30 and again.dashboard_params["capex_scale"] == 0.5
    assert again.config.conversion_capex_usd_per_mw == pytest.approx(m.config.conversion_capex_usd_per_mw * 0.5)
