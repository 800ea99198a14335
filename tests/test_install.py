"""A normal (non-editable) install runs the shipped scenarios and sweeps without the source tree.

The wheel is built offline from this checkout (setuptools comes from the dev extra, so no
build isolation and no download), installed with ``pip --target`` into a fresh folder, and used
from a folder outside the clone: what a pip user, a container or a Dask worker gets.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    wheels = tmp_path_factory.mktemp("wheels")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "-w", str(wheels), str(ROOT)], check=True, cwd=wheels)
    (wheel,) = wheels.glob("marketsim-*.whl")
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target),
                    str(wheel)], check=True, cwd=wheels)
    return target


def _marketsim(target: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(target)}
    return subprocess.run([sys.executable, "-m", "marketsim", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_the_installed_wheel_runs_shipped_scenarios_and_sweeps(installed, tmp_path):
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {**os.environ, "PYTHONPATH": str(installed)}
    where = subprocess.run([sys.executable, "-c", "import marketsim; print(marketsim.__file__)"], cwd=away, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(installed), f"imported {where}, not the installed copy"

    listed = _marketsim(installed, away, "list")
    assert listed.returncode == 0, listed.stderr
    names = {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}
    assert {"baseline", "halving-2024-replay", "ai-pivot-20pct", "bear-consolidation", "ai-boom-bust"} <= names

    ran = _marketsim(installed, away, "run", "baseline", "--months", "2", "--firms", "30", "--out", "run")
    assert ran.returncode == 0, ran.stderr
    assert len(pd.read_parquet(away / "run" / "industry.parquet")) == 2

    swept = _marketsim(installed, away, "sweep", "smoke", "--out", "sweep", "--workers", "2", "--quiet")
    assert swept.returncode == 0, swept.stderr
    runs = pd.read_parquet(away / "sweep" / "runs.parquet")
    assert len(runs) == 6 and (runs["status"] == "ok").all()


@pytest.mark.slow
@pytest.mark.browser
def test_the_installed_wheel_serves_the_dashboard(installed, tmp_path):
    """`marketsim viz` from the wheel alone: the app ships as marketsim/viz/ and runs as the module
    marketsim.viz.app; the page draws in Debian's chromium, offline."""
    import signal
    import time
    import urllib.request

    sys.path.insert(0, str(ROOT / "tests"))
    from browser_helpers import RequestLog, free_port, launch_browser
    from playwright.sync_api import sync_playwright

    assert (installed / "marketsim" / "viz" / "app.py").is_file()
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {**os.environ, "PYTHONPATH": str(installed), "SOLARA_ASSETS_CDN": "http://127.0.0.1:9/npm/",
           "PYTHONUNBUFFERED": "1"}
    where = subprocess.run([sys.executable, "-c", "import marketsim.viz.app as app; print(app.__file__)"], cwd=away,
                           env=env, capture_output=True, text=True)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(installed), where.stdout

    port = free_port()
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, "-m", "marketsim", "viz", "--port", str(port)], cwd=away, env=env,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(url + "/", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        with sync_playwright() as pw:
            browser = launch_browser(pw)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            requests = RequestLog(page)
            page.goto(url + "/")
            page.get_by_role("button", name="Step").wait_for(timeout=180_000)
            page.wait_for_function("document.title === 'marketsim · baseline · step 0'", timeout=180_000)
            browser.close()
        assert requests.external == []
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
