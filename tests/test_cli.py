"""The command line as a user meets it: output files, summaries, and clear failures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from marketsim.cli import main

ROOT = Path(__file__).resolve().parent.parent

REQUIRED_COLUMNS = (
    "date, block_height, subsidy_btc, fees_btc, btc_price_usd, network_hashrate_ehs, hashprice_usd_per_ph_day, "
    "revenue_mining_usd, revenue_ai_usd, mw_mining, mw_idle, mw_converting, mw_ai, mw_ai_empty, mw_shutdown, "
    "firms_active, bankruptcies, acquisitions, hhi_hashrate, top5_share_hashrate"
).split(", ")


def test_run_writes_the_four_files_and_prints_a_summary(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", "baseline", "--months", "14", "--firms", "40", "--seed", "3", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "By year:" in printed and "2023" in printed and "2024" in printed
    assert sorted(p.name for p in out.iterdir()) == [".marketsim-output", "events.parquet", "firms.parquet",
                                                    "industry.parquet", "scenario.toml"]
    industry = pd.read_parquet(out / "industry.parquet")
    assert len(industry) == 14
    assert set(REQUIRED_COLUMNS) <= set(industry.columns)
    firms = pd.read_parquet(out / "firms.parquet")
    assert set(range(40)) <= set(firms["firm_id"])  # the 40 firms of the start (entrants may join them)
    # the resolved scenario reproduces the run
    again = tmp_path / "again"
    assert main(["run", str(out / "scenario.toml"), "--seed", "3", "--out", str(again), "--quiet"]) == 0
    pd.testing.assert_frame_equal(industry, pd.read_parquet(again / "industry.parquet"))


def test_bad_input_exits_2_names_the_field_and_writes_nothing(tmp_path):
    out = tmp_path / "never"
    proc = subprocess.run(
        [sys.executable, "-m", "marketsim", "run", "baseline", "--set", "ai_pue=7", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "ai_pue" in proc.stderr and "less than or equal to 3" in proc.stderr
    assert not out.exists()
    proc = subprocess.run([sys.executable, "-m", "marketsim", "run", "nowhere.toml"], capture_output=True, text=True)
    assert proc.returncode == 2 and "nowhere.toml" in proc.stderr


def test_readme_tables_are_generated_from_the_declarations():
    sys.path.insert(0, str(ROOT / "tools"))
    import gen_docs

    readme = (ROOT / "README.md").read_text()
    assert gen_docs.render(readme) == readme, "README.md is out of date: run python tools/gen_docs.py"
    assert "make demo" in readme and "make test" in readme


def test_viz_refuses_a_missing_sweep_folder_before_starting(tmp_path, capsys):
    assert main(["viz", "--sweep", str(tmp_path / "nowhere"), "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "--sweep" in err and "nowhere" in err
