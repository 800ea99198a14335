"""How long does the dashboard take to redraw after one step? Renders the real Solara dashboard
(``viz.app.dashboard``) into widgets, as the browser session does, and times each redraw.

    .venv/bin/python benchmarks/bench_viz.py [--firms 200 1000] [--warmup 24] [--steps 12] [--tabs ...]
                                              [--band 4]

For each population size and each tab of the dashboard (only the open tab is drawn): builds the
dashboard, runs ``--warmup`` steps (history to draw), then ``--steps`` times: one model step, then
one redraw of the tab's panels (what Mesa's Step button does: ``model.step()`` then
``force_update()``), Plotly figures built and sent to their widgets. Prints the median and worst
redraw and the slowest components. ``--band N`` first runs N seeds of the scenario (at 100 firms: the
band's size is its steps and columns, not its firms) and draws their band on the time charts. Server side only: sending the widgets' state to the browser and the
browser's own drawing are not included. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import solara  # noqa: E402
from mesa.visualization.utils import update_counter  # noqa: E402

from viz import components  # noqa: E402
from viz.app import Dashboard, DashboardModel  # noqa: E402

TIMES: collections.Counter = collections.Counter()


def _timed(component, label: str) -> None:
    """Accumulate the time spent in a component's render function under ``label``."""
    inner = component.f

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            TIMES[label] += time.perf_counter() - start

    component.f = timed


def instrument() -> None:
    for name in ("Headline", "PriceChart", "HashrateChart", "PivotChart", "AIChart", "RevenueChart", "MarketMap",
                 "CostCurve", "PopulationHistograms", "ConsolidationPanel", "FirmTable", "EventFeed", "LargestDeals",
                 "Downloads", "SeedBand", "PlotlyChart"):
        _timed(getattr(components, name), name)


def bench(n_firms: int, warmup: int, steps: int, tab: str, band=None) -> None:
    model = DashboardModel("ai-pivot-20pct", n_firms=n_firms, rng=1)
    model.seed_band = band
    start = time.perf_counter()
    _, rc = solara.render(Dashboard(model, tab=tab), handle_error=False)
    first = time.perf_counter() - start
    for _ in range(warmup):
        model.step()
    update_counter.value += 1
    step_s, render_s, per_component = [], [], collections.Counter()
    for _ in range(steps):
        start = time.perf_counter()
        model.step()
        step_s.append(time.perf_counter() - start)
        TIMES.clear()
        start = time.perf_counter()
        update_counter.value += 1  # what SolaraViz's force_update() does after a step
        render_s.append(time.perf_counter() - start)
        per_component.update(TIMES)
    ms = [1000 * s for s in render_s]
    rc.close()
    print(f"{tab:<14} {n_firms:>5} firms  first render {first:6.2f} s  model step {1000 * statistics.median(step_s):6.1f} ms  "
          f"redraw median {statistics.median(ms):6.0f} ms  worst {max(ms):6.0f} ms  "
          f"(steps {warmup + 1}-{warmup + steps})")
    slowest = ", ".join(f"{k} {1000 * v / steps:.0f}" for k, v in per_component.most_common(5))
    print(f"{'':>26}slowest components, ms per redraw: {slowest}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--warmup", type=int, default=24)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--tabs", nargs="+", default=list(components.TABS), choices=list(components.TABS))
    parser.add_argument("--band", type=int, default=0, help="seeds of the scenario run first, drawn as a band")
    args = parser.parse_args()
    instrument()
    band = None
    if args.band:
        from viz import seeds

        config = DashboardModel("ai-pivot-20pct", n_firms=100, rng=1).config
        band = seeds.run_band(config, seeds.band_seeds(1, args.band))
        print(f"band: {band.label}, {len(band.frame)} steps x {len(band.frame.columns)} columns")
    for n in args.firms:
        for tab in args.tabs:
            bench(n, args.warmup, args.steps, tab, band)


if __name__ == "__main__":
    main()
