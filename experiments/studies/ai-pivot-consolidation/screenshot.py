"""Screenshot of the dashboard's sweep explorer on this study's result folder (for README.md), offline.

    .venv/bin/python experiments/studies/ai-pivot-consolidation/screenshot.py out/ai-pivot \\
        experiments/studies/ai-pivot-consolidation/explorer.png

Starts `solara run viz/app.py` with ``MARKETSIM_SWEEP_DIR`` set to the folder (what
``marketsim viz --sweep DIR`` does), opens ``/explorer`` in Debian's chromium through the test
suite's browser helpers (no download, nothing leaves 127.0.0.1), waits for the heatmap and saves a
1440x900 PNG. Fails if a request left the machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
VIEWPORT = {"width": 1440, "height": 900}
LOAD_TIMEOUT_MS = 180_000  # a 2,048-run folder takes a while to read on a loaded machine
SETTLE_MS = 5000  # let Plotly finish drawing (slow on a loaded machine)


def main() -> None:
    from browser_helpers import RequestLog, ensure_chromium, free_port, launch_browser, solara_server
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="the study's result folder (--out of marketsim sweep)")
    parser.add_argument("png", type=Path, help="where to write the screenshot")
    args = parser.parse_args()
    if not (args.results / "runs.parquet").is_file():
        sys.exit(f"{args.results}: no runs.parquet; run the study first (see README.md)")
    ensure_chromium()
    # the page shows the folder as given: relative to the repository (where the server runs) when
    # the results are inside it, so the committed picture holds no path of this machine
    results = args.results.resolve()
    shown = results.relative_to(ROOT) if results.is_relative_to(ROOT) else results
    env = {"MARKETSIM_SWEEP_DIR": str(shown)}
    with solara_server(ROOT / "viz" / "app.py", free_port(), env=env, cwd=ROOT) as url, sync_playwright() as pw:
        browser = launch_browser(pw)
        page = browser.new_page(viewport=VIEWPORT)
        requests = RequestLog(page)
        page.goto(url + "/explorer")
        page.wait_for_selector(".chart-explorer-heatmap .js-plotly-plot", timeout=LOAD_TIMEOUT_MS)
        page.wait_for_timeout(SETTLE_MS)
        page.screenshot(path=str(args.png))
        browser.close()
        if requests.external or requests.failed:
            sys.exit(f"requests left the machine or failed: {requests.external} {requests.failed}")
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
