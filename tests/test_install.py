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
