"""marketsim dashboard: ``make viz`` / ``marketsim viz`` (``solara run viz/app.py``).

Two pages (Solara routes, tabs in the app bar):

``/``          the live dashboard: Mesa's ``SolaraViz`` is the page. Its sidebar holds the run
               buttons (``ModelController``: Reset, Play / Pause, Step), the play and render
               intervals, and the scenario controls (``model_params``: each label above a full-width
               slider, its value in the slider's thumb); the dashboard adds, in the sidebar, the
               "Run N seeds" band (``viz.seeds``) and the run's tables as CSV. Its one component
               (``DashboardBody``) shows the headline, the "changed: press Reset" state and the
               panels of ``viz.components`` on three named tabs (Pivot to AI, Consolidation,
               Market), redrawn after every step;
``/explorer``  the sweep explorer (``viz.explorer``): bands over time and heatmaps of a sweep's
               result folder, ``$MARKETSIM_SWEEP_DIR`` or typed in the page.

Where SolaraViz's own layout fights the dashboard, CSS adapts it rather than replacing it (README,
"Dashboard"): SolaraViz names its component pages "Page 0", "Page 1" and puts each component in a
draggable, half-width, fixed-height grid cell, so the dashboard passes a single component (its
tab bar hidden, its cell full width and as tall as its content) that draws its own named tabs;
SolaraViz's sliders squeeze beside their labels, so the label goes above; its theme toggle is
hidden (the charts are drawn for a light page). SolaraViz gives no hook to tell that a control
changed, so each control's value is a ``solara.Reactive`` the dashboard owns (SolaraViz's inputs
write to it) and ``DashboardModel`` takes either the reactive or the plain value.

Each browser session gets its own model; on Reset the previous run's industry rows are kept on
the new model (``ghost_history``) and drawn as grey dotted lines, and the seeds' band is kept when
the settings did not change. In a notebook, ``dashboard(model)`` shows the same dashboard for a
model you built (see its docstring).

The file runs both as ``solara run viz/app.py`` (a file: its folder is made the package ``viz``,
PEP 366) and as the module of an installed wheel (``marketsim.viz.app``, see pyproject.toml).
"""

from __future__ import annotations

import sys
import warnings
import zlib
from pathlib import Path
from typing import Any

if not __package__:  # `solara run viz/app.py` runs this file, not a module of a package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "viz"  # noqa: A001 -- PEP 366: the relative imports below resolve in viz/

import solara  # noqa: E402
from mesa.visualization import SolaraViz  # noqa: E402
from mesa.visualization.solara_viz import split_model_params  # noqa: E402
from mesa.visualization.utils import force_update  # noqa: E402

from marketsim import IndustryModel  # noqa: E402
from marketsim.scenario import Scenario, load_scenario, shipped_scenarios  # noqa: E402
from marketsim.timeline import steps_for_months  # noqa: E402

from . import views  # noqa: E402
from .components import TABS, Downloads, Headline, Panels, SeedBand  # noqa: E402
from .explorer import SweepExplorer  # noqa: E402


def silence_cookie_warning() -> None:
    """`solara run` on 127.0.0.1 (not "localhost") warns 12 lines about samesite cookies on every
    page load; the dashboard is local-only over http, where the lax cookies it falls back to are
    what it needs."""
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")


silence_cookie_warning()

DEFAULT_SCENARIO = "baseline"
DEFAULT_FIRMS = 200
NAME = "marketsim"
# The firm table: name pinned at the left (sticky), compact rows. The "runs on Solara" badge
# (bottom right, over the charts) hidden. Plotly charts fill their panel.
CSS = """
.firm-table td, .firm-table th, .event-feed td, .event-feed th, .largest-deals td, .largest-deals th {
    white-space: nowrap; font-size: 12px !important; padding: 0 6px !important; height: 26px !important; }
.firm-table td:first-child, .firm-table th:first-child {
    position: sticky; left: 0; z-index: 2; background: #fff; border-right: 1px solid #ddd; }
div:has(> b > a[href="https://solara.dev"]) { display: none !important; }
.plotly-chart .js-plotly-plot, .plotly-chart .plot-container { width: 100% !important; }
.changed-state { font-weight: 500; }
"""
# SolaraViz adapted (see the module docstring): its one-page tab bar hidden, its grid cell full
# width and as tall as the dashboard, not draggable or resizable; its sliders' labels above a
# full-width track with the value always in the thumb; its theme toggle hidden.
SOLARAVIZ_CSS = """
.solara-content-main .v-tabs:not(.dashboard-tabs) { display: none !important; }
.solara-content-main .vue-grid-layout { height: auto !important; }
.solara-content-main .vue-grid-item { position: relative !important; transform: none !important; width: 100% !important;
    height: auto !important; left: 0 !important; top: 0 !important; touch-action: auto !important; }
.solara-content-main .vue-grid-item > .vue-resizable-handle, .solara-content-main .vue-grid-placeholder { display: none !important; }
.v-navigation-drawer .v-input__slider .v-input__slot { flex-wrap: wrap; }
.v-navigation-drawer .v-input__slider .v-input__slot > .v-label { flex: 1 0 100%; max-width: 100% !important;
    white-space: normal; height: auto; font-size: 13px; margin: 0 0 30px 0 !important; }
.v-navigation-drawer .v-slider__thumb-label-container { display: block !important; }
.v-navigation-drawer .v-slider__thumb-label { font-size: 11px; }
.v-app-bar button:has(.mdi-brightness-auto), .v-app-bar button:has(.mdi-brightness-4),
.v-app-bar button:has(.mdi-brightness-7), .v-app-bar button:has(.mdi-lightbulb-on),
.v-app-bar button:has(.mdi-lightbulb-outline) { display: none !important; }
"""

# The dashboard's controls, relative to the chosen scenario (so a scenario keeps its own price
# path, demand curve and costs until a control is moved); the headline shows the values in force.
CONTROLS: dict[str, dict[str, Any]] = {
    "scenario_name": {"type": "Select", "value": DEFAULT_SCENARIO, "label": "Scenario"},
    "rng": {"type": "InputText", "value": "1", "label": "Seed"},
    "n_firms": {"type": "SliderInt", "value": DEFAULT_FIRMS, "label": "Number of firms",
                "min": 20, "max": 1000, "step": 10},
    "npv_share": {"type": "SliderFloat", "value": 0.6, "label": "Decision rules: NPV share (rest myopic)",
                  "min": 0.0, "max": 1.0, "step": 0.05},
    "drift_shift": {"type": "SliderFloat", "value": 0.0, "label": "BTC drift per year, + scenario's",
                    "min": -1.0, "max": 1.0, "step": 0.05},
    "volatility_scale": {"type": "SliderFloat", "value": 1.0, "label": "BTC volatility, × scenario's",
                         "min": 0.0, "max": 3.0, "step": 0.1},
    "shock_change": {"type": "SliderFloat", "value": 0.0, "label": "BTC price shock (-0.5 = -50%, 0 = none)",
                     "min": -0.8, "max": 1.0, "step": 0.05},
    "shock_month": {"type": "SliderInt", "value": 12, "label": "Price shock at month", "min": 1, "max": 120, "step": 1},
    "ai_demand_scale": {"type": "SliderFloat", "value": 1.0, "label": "AI demand growth (ceiling), × scenario's",
                        "min": 0.0, "max": 5.0, "step": 0.1},
    "capex_scale": {"type": "SliderFloat", "value": 1.0, "label": "Conversion capex per MW, × scenario's",
                    "min": 0.25, "max": 3.0, "step": 0.05},
    "lease_scale": {"type": "SliderFloat", "value": 1.0, "label": "AI lease rates, × scenario's",
                    "min": 0.5, "max": 2.0, "step": 0.05},
    "power_scale": {"type": "SliderFloat", "value": 1.0, "label": "Power price level, × scenario's",
                    "min": 0.5, "max": 2.5, "step": 0.05},
}
KNOBS = {k: v["value"] for k, v in CONTROLS.items() if k not in ("scenario_name", "rng", "n_firms", "npv_share")}


def parse_seed(value: Any) -> int:
    """The seed typed in the dashboard: a whole number, or any other text hashed to one."""
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        return zlib.crc32(text.encode())


def apply_controls(base: Scenario, *, npv_share: float = 0.6, drift_shift: float = 0.0,
                   volatility_scale: float = 1.0, shock_change: float = 0.0, shock_month: int = 12,
                   ai_demand_scale: float = 1.0, capex_scale: float = 1.0, lease_scale: float = 1.0,
                   power_scale: float = 1.0) -> Scenario:
    """The scenario with the dashboard's controls applied (validated like any scenario)."""
    def clip(v, lo, hi):
        return float(min(max(v, lo), hi))

    changes: dict[str, Any] = {
        "decision_rule_mix": {"npv": float(npv_share), "myopic": 1.0 - float(npv_share)},
        "ai_demand_max_mw": base.ai_demand_max_mw * ai_demand_scale,
        "conversion_capex_usd_per_mw": base.conversion_capex_usd_per_mw * capex_scale,
        "ai_lease_rate_initial_usd_per_kw_month": base.ai_lease_rate_initial_usd_per_kw_month * lease_scale,
        "ai_tenant_reference_rate_usd_per_kw_month": base.ai_tenant_reference_rate_usd_per_kw_month * lease_scale,
        "ai_greenfield_rent_usd_per_kw_month": base.ai_greenfield_rent_usd_per_kw_month * lease_scale,
        "power_price_multiplier": clip(base.power_price_multiplier * power_scale, 0.01, 10.0),
    }
    for drift, vol in (("price_drift_per_year", "price_volatility_per_year"),
                       ("price_bull_drift_per_year", "price_bull_volatility_per_year"),
                       ("price_bear_drift_per_year", "price_bear_volatility_per_year")):
        changes[drift] = clip(getattr(base, drift) + drift_shift, -3.0, 3.0)
        changes[vol] = clip(getattr(base, vol) * volatility_scale, 0.0, 3.0)
    if shock_change:
        step = steps_for_months(shock_month, base.step_unit)
        changes["price_shocks"] = [s.model_dump() for s in base.price_shocks] + [{"step": step, "change": shock_change}]
    return base.with_overrides(**changes)


def plain(value: Any) -> Any:
    """A control's value: SolaraViz hands Reset the control's ``solara.Reactive`` until the control
    is moved (``bound_params``), and its plain value afterwards."""
    return value.value if isinstance(value, solara.Reactive) else value


class DashboardModel(IndustryModel):
    """IndustryModel built from the dashboard's controls: a shipped scenario, a seed, the number
    of firms, and the knobs of ``apply_controls``. ``overrides`` are raw scenario fields
    (``months=24``) applied before the knobs; ``scenario`` is what SolaraViz's Reset passes along
    (an empty Mesa Scenario) and is ignored. The arguments are kept in ``dashboard_params``."""

    def __init__(self, scenario_name: str = DEFAULT_SCENARIO, rng: Any = 1, n_firms: int = DEFAULT_FIRMS,
                 npv_share: float = 0.6, *, scenario: Any = None, **params: Any):
        scenario_name, rng, n_firms, npv_share = (plain(v) for v in (scenario_name, rng, n_firms, npv_share))
        params = {k: plain(v) for k, v in params.items()}
        knobs = {k: params.pop(k) for k in list(params) if k in KNOBS}
        base = load_scenario(scenario_name, n_firms=int(n_firms), **params)
        config = apply_controls(base, npv_share=npv_share, **knobs)
        super().__init__(config, rng=parse_seed(rng))
        self.dashboard_params = {"scenario_name": scenario_name, "rng": str(rng), "n_firms": int(n_firms),
                                 "npv_share": float(npv_share), **KNOBS, **knobs}
        self.dashboard_overrides = params


def model_params_for(model: IndustryModel) -> dict[str, Any]:
    """SolaraViz's ``model_params`` for this model: the controls, starting at the model's own
    settings (a DashboardModel), or fixed parameters that rebuild the same scenario (any other
    IndustryModel: Reset restarts it from step 0 with the same seed)."""
    if isinstance(model, DashboardModel):
        params = {k: {**spec, "value": model.dashboard_params[k]} for k, spec in CONTROLS.items()}
        params["scenario_name"]["values"] = sorted(set(shipped_scenarios()) | {model.dashboard_params["scenario_name"]})
        return {**params, **model.dashboard_overrides}
    return {**model.config.to_dict(), "rng": getattr(model, "_seed", None)}


def control_values(params: dict[str, Any]) -> dict[str, Any]:
    """The values Reset will build from: each control's value and each fixed parameter."""
    user, fixed = split_model_params(params)
    return {**fixed, **{k: plain(v["value"]) for k, v in user.items()}}


def bound_params(params: dict[str, Any], values: dict[str, solara.Reactive]) -> dict[str, Any]:
    """SolaraViz's ``model_params`` with each control's value a reactive the dashboard owns:
    SolaraViz's inputs show and set it, and the dashboard reads it (the "press Reset" state)."""
    return {k: {**spec, "value": values[k]} if k in values else spec for k, spec in params.items()}


def pending_changes(model: IndustryModel, values: dict[str, Any]) -> list[str]:
    """The controls whose value differs from the model's own settings (so the charts still show
    the old run until Reset): their labels, for the "changed: press Reset" line."""
    if not isinstance(model, DashboardModel):
        return []
    now = model.dashboard_params
    changed = []
    for key, spec in CONTROLS.items():
        if key in values and str(plain(values[key])) != str(now.get(key)):
            changed.append(spec["label"])
    return changed


DashboardState = solara.create_context(None)
"""What the dashboard's component needs beside the model (SolaraViz passes it only the model):
the controls' reactive values and the open tab, given by ``Dashboard``."""


@solara.component
def DashboardBody(model: IndustryModel):
    """SolaraViz's component: the headline, the "changed: press Reset" state, the named tabs and
    the open tab's panels; in the sidebar, the seeds' band and the downloads."""
    state = solara.use_context(DashboardState)
    tab_names = list(TABS)
    with solara.Column(gap="0px", style={"width": "100%", "min-width": "0"}, classes=["dashboard-body"]):
        Headline(model)
        changed = pending_changes(model, {k: v.value for k, v in state["values"].items()})
        if changed:
            solara.Warning("Changed: press Reset to apply (" + ", ".join(changed) + ")",
                           classes=["changed-state"], dense=True)
        tab = state["tab"]
        with solara.v.Tabs(v_model=tab.value, on_v_model=tab.set, class_="dashboard-tabs"):
            for name in tab_names:
                solara.v.Tab(children=[name])
        Panels(model, tab_names[tab.value])
    with solara.Sidebar():  # below SolaraViz's own cards
        with solara.Card("Spread over seeds", margin=0):
            SeedBand(model)
        with solara.Card("Download this run", margin=0):
            Downloads(model)


@solara.component
def Dashboard(model: IndustryModel | None = None, tab: str | None = None):
    """The live dashboard for ``model`` (a new DashboardModel with the default controls if None),
    as Mesa's SolaraViz with ``DashboardBody`` as its component; ``tab`` opens one of
    ``components.TABS`` (default: the first)."""
    initial = solara.use_memo(lambda: model if model is not None else DashboardModel(), [])
    current = solara.use_reactive(initial)
    params = solara.use_memo(lambda: model_params_for(initial), [])
    values = solara.use_memo(lambda: {k: solara.reactive(v) for k, v in control_values(params).items()
                                      if k in split_model_params(params)[0]}, [])
    viz_params = solara.use_memo(lambda: bound_params(params, values), [])
    tab_index = solara.use_reactive(list(TABS).index(tab) if tab in TABS else 0)
    previous = solara.use_ref(initial)

    def keep_previous_run():
        """After Reset (a new model): the old run stays as the grey dotted lines, and the seeds'
        band when the settings are the same. An effect, then a redraw: it does not depend on
        which component the reset re-rendered first."""
        old, new = previous.current, current.value
        if new is old:
            return
        new.ghost_history = views.industry_history(old).copy() if views.has_data(old) else views.ghost_history(old)
        band = views.seed_band(old)
        if band is not None and new.config == old.config:
            new.seed_band = band
        previous.current = new
        force_update()

    solara.use_effect(keep_previous_run, [current.value])
    solara.Style(CSS + SOLARAVIZ_CSS)
    DashboardState.provide({"values": values, "tab": tab_index})
    SolaraViz(current, components=[(DashboardBody, 0)], model_params=viz_params, play_interval=300, name=NAME)


def dashboard(model: IndustryModel):
    """The dashboard for a model instance: what a notebook cell displays. Example::

        from viz.app import DashboardModel, dashboard   # run from the repository root
        model = DashboardModel("bear-consolidation", n_firms=100, rng=7)
        dashboard(model)  # last line of the cell: the dashboard renders below it

    Any ``IndustryModel`` works (``dashboard(IndustryModel("baseline", rng=1))``); with a
    DashboardModel the sidebar's controls start at its settings and Reset applies them, with
    another model Reset restarts the same scenario and seed.
    """
    return Dashboard(model=model)


@solara.component
def DashboardPage():
    Dashboard()


@solara.component
def ExplorerPage():
    solara.Style(CSS)  # the badge hidden here too
    SweepExplorer()


routes = [
    solara.Route(path="/", component=DashboardPage, label="Dashboard"),
    solara.Route(path="explorer", component=ExplorerPage, label="Sweep explorer"),
]
