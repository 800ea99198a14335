"""Take the README's screenshots of the dashboard and the sweep explorer (docs/*.png), offline.

    .venv/bin/python viz/screenshots.py [--steps 30] [--seeds 6] [--out docs]

Starts `solara run viz/app.py` on a free local port with the test suite's browser helpers
(Debian's chromium, no downloads, nothing leaves 127.0.0.1), steps the default model, runs
``--seeds`` seeds of it in the background, and saves ``dashboard.png`` (1440x900, the Pivot to AI
tab with the seeds' band), ``dashboard-1024.png`` (the Consolidation tab
1,024 px wide) and ``explorer.png`` (a small two-parameter sweep made in a temporary folder). Fails
if a request left the machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

GRID = """
name = "capex-x-power"
description = "conversion capex x power price level (for the explorer's screenshot)"
base = "baseline"
months = 36
replications = 3
master_seed = 11
[set]
n_firms = 60
[design]
method = "grid"
[parameters]
power_price_multiplier = [0.8, 1.0, 1.25, 1.5]
conversion_capex_usd_per_mw = [2000000.0, 4000000.0, 6000000.0]
[record]
industry = "every_step"
firms = false
events = false
[report]
outcomes = ["exits_cum", "hhi_hashrate", "mw_mining"]
"""


def main() -> None:
    from browser_helpers import RequestLog, ensure_chromium, free_port, launch_browser, solara_server
    from playwright.sync_api import sync_playwright

    from marketsim.experiments import sweep

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=6, help="seeds run in the background for the band (2-32)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    ensure_chromium()
    with tempfile.TemporaryDirectory(prefix="marketsim-") as tmp:
        (Path(tmp) / "grid.toml").write_text(GRID)
        sweep(Path(tmp) / "grid.toml", out=Path(tmp) / "capex-x-power", progress=False)
        env = {"MARKETSIM_SWEEP_DIR": str(Path(tmp) / "capex-x-power")}
        with solara_server(ROOT / "viz" / "app.py", free_port(), env=env) as url, sync_playwright() as pw:
            browser = launch_browser(pw)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            requests = RequestLog(page)
            page.goto(url + "/")
            step = page.get_by_role("button", name="Step")
            step.wait_for(timeout=90_000)
            for n in range(1, args.steps + 1):
                step.click()
                page.wait_for_function("n => document.title.endsWith('step ' + n)", arg=str(n), timeout=90_000)
            # the band of a few seeds of the same settings behind the live run
            count = page.locator(".seed-band .v-input", has_text="Seeds to run").get_by_role("slider")
            count.focus()
            count.press("Home")
            for _ in range(args.seeds - 2):
                count.press("ArrowRight")
            page.get_by_role("button", name=f"Run {args.seeds} seeds of these settings").click()
            page.locator(".seed-band-shown").wait_for(timeout=1_800_000)
            page.wait_for_timeout(3000)
            page.screenshot(path=str(args.out / "dashboard.png"))
            page.set_viewport_size({"width": 1024, "height": 900})
            page.get_by_role("tab", name="Consolidation").click()
            page.wait_for_selector(".chart-consolidation .js-plotly-plot", timeout=90_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(args.out / "dashboard-1024.png"))
            page.set_viewport_size({"width": 1440, "height": 900})
            page.goto(url + "/explorer")
            page.wait_for_selector(".chart-explorer-heatmap .js-plotly-plot", timeout=90_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(args.out / "explorer.png"))
            browser.close()
            if requests.external or requests.failed:
                sys.exit(f"requests left the machine or failed: {requests.external} {requests.failed}")
    print(f"wrote {args.out / 'dashboard.png'} and {args.out / 'explorer.png'}")


if __name__ == "__main__":
    main()
