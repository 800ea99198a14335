"""marketsim dashboard: ``make viz`` / ``marketsim viz`` (``solara run viz/app.py``).

Two pages (Solara routes, tabs in the app bar):

``/``          the live dashboard: the scenario controls (Reset applies them, and until then the
               page says so), Mesa's Play / Pause / Step / Reset (``ModelController`` of Mesa's
               SolaraViz), and the panels of ``viz.components`` on three named tabs (Pivot to
               AI, Consolidation, Market), redrawn after every step; the run's tables as CSV;
``/explorer``  the sweep explorer (``viz.explorer``): bands over time and heatmaps of a sweep's
               result folder, ``$MARKETSIM_SWEEP_DIR`` or typed in the page.

The page is laid out here rather than by ``SolaraViz`` itself: SolaraViz puts every component in
a draggable grid on tabs named "Page 0", "Page 1", squeezes its sliders beside their labels and
offers no hook to tell that a control changed; its ``ModelController`` (the run buttons) is used
as is. Each browser session gets its own model; on Reset the previous run's industry rows are kept
on the new model (``ghost_history``) and drawn as grey dotted lines. In a notebook,
``dashboard(model)`` shows the same dashboard for a model you built (see its docstring).
"""

from __future__ import annotations

import sys
import warnings
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import solara  # noqa: E402
from mesa.visualization.solara_viz import ModelController, split_model_params  # noqa: E402

from marketsim import IndustryModel  # noqa: E402
from marketsim.scenario import Scenario, load_scenario, shipped_scenarios  # noqa: E402
from marketsim.timeline import steps_for_months  # noqa: E402
from viz import views  # noqa: E402
from viz.components import TABS, Downloads, Headline, Panels  # noqa: E402
from viz.explorer import SweepExplorer  # noqa: E402



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
.control-label { font-size: 13px; margin-bottom: -14px; }
.control-label b { color: #1565c0; }
.changed-state { font-weight: 500; }
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


class DashboardModel(IndustryModel):
    """IndustryModel built from the dashboard's controls: a shipped scenario, a seed, the number
    of firms, and the knobs of ``apply_controls``. ``overrides`` are raw scenario fields
    (``months=24``) applied before the knobs; ``scenario`` is what SolaraViz's Reset passes along
    (an empty Mesa Scenario) and is ignored. The arguments are kept in ``dashboard_params``."""

    def __init__(self, scenario_name: str = DEFAULT_SCENARIO, rng: Any = 1, n_firms: int = DEFAULT_FIRMS,
                 npv_share: float = 0.6, *, scenario: Any = None, **params: Any):
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
    return {**fixed, **{k: v["value"] for k, v in user.items()}}


def pending_changes(model: IndustryModel, values: dict[str, Any]) -> list[str]:
    """The controls whose value differs from the model's own settings (so the charts still show
    the old run until Reset): their labels, for the "changed: press Reset" line."""
    if not isinstance(model, DashboardModel):
        return []
    now = model.dashboard_params
    changed = []
    for key, spec in CONTROLS.items():
        if key in values and str(values[key]) != str(now.get(key)):
            changed.append(spec["label"])
    return changed


def _fmt_control(spec: dict[str, Any], value: Any) -> str:
    if spec["type"] == "SliderFloat":
        return f"{value:+.2f}" if spec["min"] < 0 else f"{value:.2f}"
    return str(value)


@solara.component
def Controls(params: dict[str, Any], values: solara.Reactive[dict]):
    """The scenario controls, each label (with its value) above a full-width slider, so the
    sliders are usable with a mouse from 1,024 px up. Changes go to ``values`` (Reset reads it)."""
    user, _ = split_model_params(params)

    def setter(name):
        return lambda v: values.set({**values.value, name: v})

    for name, spec in user.items():
        value = values.value.get(name, spec["value"])
        if spec["type"] in ("SliderFloat", "SliderInt"):
            solara.HTML(tag="div", unsafe_innerHTML=f'{spec["label"]}: <b>{_fmt_control(spec, value)}</b>',
                        classes=["control-label"])
            slider = solara.SliderFloat if spec["type"] == "SliderFloat" else solara.SliderInt
            slider("", value=value, min=spec["min"], max=spec["max"], step=spec["step"], on_value=setter(name),
                   thumb_label=False)
        elif spec["type"] == "Select":
            solara.Select(spec["label"], value=value, values=spec["values"], on_value=setter(name))
        else:
            solara.InputText(spec["label"], value=str(value), on_value=setter(name), continuous_update=False)


@solara.component
def Dashboard(model: IndustryModel | None = None, tab: str | None = None):
    """The live dashboard for ``model`` (a new DashboardModel with the default controls if None);
    ``tab`` opens one of ``components.TABS`` (default: the first)."""
    initial = solara.use_memo(lambda: model if model is not None else DashboardModel(), [])
    current = solara.use_reactive(initial)
    params = solara.use_memo(lambda: model_params_for(initial), [])
    values = solara.use_reactive(control_values(params))
    play_interval = solara.use_reactive(300)  # room between steps for clicks (Pause) to be handled
    render_interval = solara.use_reactive(1)
    use_threads = solara.use_reactive(False)
    tab_names = list(TABS)
    tab_index = solara.use_reactive(tab_names.index(tab) if tab in TABS else 0)
    previous = solara.use_ref(initial)
    if current.value is not previous.current:  # Reset made a new model: keep the old run to compare
        old = previous.current
        current.value.ghost_history = (views.industry_history(old).copy() if views.has_data(old)
                                       else views.ghost_history(old))
        previous.current = current.value

    solara.Style(CSS)
    with solara.AppBar():
        solara.AppBarTitle(NAME)
    with solara.Sidebar():
        with solara.Card("Run", margin=0, classes=["run-card"]):
            ModelController(current, model_parameters=values, play_interval=play_interval,
                            render_interval=render_interval, use_threads=use_threads)
            changed = pending_changes(current.value, values.value)
            if changed:
                solara.Warning("Changed: press Reset to apply (" + ", ".join(changed) + ")",
                               classes=["changed-state"], dense=True)
            solara.SliderInt("Pause between steps (ms)", value=play_interval, min=0, max=1000, step=50)
        with solara.Card("Scenario controls", margin=0):
            Controls(params, values)
        with solara.Card("Download this run", margin=0):
            Downloads(current.value)
    with solara.Column(gap="0px", style={"width": "100%", "min-width": "0"}):
        Headline(current.value)
        with solara.v.Tabs(v_model=tab_index.value, on_v_model=tab_index.set, class_="dashboard-tabs"):
            for name in tab_names:
                solara.v.Tab(children=[name])
        Panels(current.value, tab_names[tab_index.value])


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
