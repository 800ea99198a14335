"""Never destroy a user's files; a clear line for every error (issue 10, items 1, 2 and 9).

Output folders: new or marketsim's own (marker file) only, published atomically; everything
else is refused before the run with exit 2 and one line. OS errors (full disk, permissions),
bad seeds and corrupt parts end the same way, never with a traceback unless ``--debug``.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marketsim import output, runner
from marketsim.cli import main
from marketsim.inert import InertParameterWarning, inert_parameters
from marketsim.scenario import Scenario, load_scenario
from marketsim.summary import state_lines, summarize
from marketsim.units import format_money as _money

REPO = Path(__file__).resolve().parent.parent
RUN = ["run", "baseline", "--months", "2", "--firms", "20", "--quiet"]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


@pytest.fixture
def no_run(monkeypatch):
    """Fail the test if a run starts: refusals must come before the long work."""
    def refuse(*args, **kwargs):
        raise AssertionError("the run started although the output path is refused")

    monkeypatch.setattr(runner, "run", refuse)


# --- the rule ----------------------------------------------------------------------------------------
def test_new_path_empty_folder_and_own_output_are_allowed_everything_else_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("my notes")
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "ours").mkdir()
    output.write_marker(tmp_path / "ours", "run")
    (tmp_path / "ours" / "industry.parquet").write_text("old")
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / output.MARKER).write_text("not json")
    assert output.destination_problem(tmp_path / "new" / "deeper", "run") is None
    assert output.destination_problem(tmp_path / "empty", "run") is None
    assert output.destination_problem(tmp_path / "ours", "run") is None
    assert "not written by marketsim" in output.destination_problem(tmp_path / "mine", "run")
    assert "not written by marketsim" in output.destination_problem(tmp_path / "fake", "run")
    assert "is a file" in output.destination_problem(tmp_path / "file.txt", "run")
    assert "which is a file" in output.destination_problem(tmp_path / "file.txt" / "sub", "run")
    assert "not a report output" in output.destination_problem(tmp_path / "ours", "report")
    assert "current folder" in output.destination_problem(".", "run")
    assert "marketsim's own files" in output.destination_problem(REPO / "experiments", "run")
    assert output.destination_problem(REPO, "run") in ("is the current folder", "holds marketsim's own files (scenarios, code or docs)")
    assert output.destination_problem("", "run") == "is empty"


@pytest.mark.parametrize("target, why", [
    ("mine", "not written by marketsim"),
    ("file.txt", "is a file"),
    ("file.txt/sub", "which is a file"),
    (".", "current folder"),
    (str(REPO / "experiments"), "marketsim's own files"),
])
def test_run_refuses_before_running_with_one_line_and_touches_nothing(tmp_path, capsys, no_run, monkeypatch,
                                                                       target, why):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("my notes")
    (tmp_path / "file.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    shipped = sorted(p.name for p in (REPO / "experiments").rglob("*"))
    assert main([*RUN, "--out", target]) == 2
    err = one_line_error(capsys)
    assert why in err and target in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert (tmp_path / "mine" / "notes.txt").read_text() == "my notes"
    assert sorted(p.name for p in (REPO / "experiments").rglob("*")) == shipped


def test_run_replaces_its_own_output_atomically_with_normal_permissions(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*RUN, "--out", str(out)]) == 0
    marker = json.loads((out / output.MARKER).read_text())
    assert marker["kind"] == "run" and marker["written_by"] == "marketsim" and marker["package_version"]
    assert len(pd.read_parquet(out / "industry.parquet")) == 2
    assert main([*RUN, "--out", str(out), "--months", "3"]) == 0  # our own output: replaced
    assert len(pd.read_parquet(out / "industry.parquet")) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no temporaries, no moved-aside copy
    probe = tmp_path / "probe"
    probe.mkdir()
    assert stat.S_IMODE(out.stat().st_mode) == stat.S_IMODE(probe.stat().st_mode)  # not mkdtemp's 0700
    assert stat.S_IMODE(out.stat().st_mode) & 0o055 == 0o055 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_full_disk_mid_save_keeps_the_old_output_and_exits_2(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert main([*RUN, "--out", str(out), "--seed", "1"]) == 0
    before = (out / "industry.parquet").read_bytes()

    def full(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    assert main([*RUN, "--out", str(out), "--seed", "2"]) == 2
    err = one_line_error(capsys)
    assert "No space left on device" in err
    assert (out / "industry.parquet").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_publish_restores_the_old_output_if_the_new_one_cannot_be_moved_in(tmp_path, monkeypatch):
    out = tmp_path / "o"
    with output.staged(out, "run") as tmp:
        (tmp / "a.txt").write_text("old")
    real_replace = os.replace

    def flaky(src, dst):
        if Path(src).name.startswith(".o.partial-"):
            raise OSError(errno.EIO, "I/O error", str(src))
        return real_replace(src, dst)

    monkeypatch.setattr(output.os, "replace", flaky)
    with pytest.raises(OSError):
        with output.staged(out, "run") as tmp:
            (tmp / "a.txt").write_text("new")
    assert (out / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_an_unwritable_parent_is_refused_before_the_run(tmp_path, capsys, no_run, monkeypatch):
    # root ignores permission bits, so the OS's answer is simulated where the probe asks it
    real_mkdir = Path.mkdir

    def denied(self, *args, **kwargs):
        if ".probe-" in self.name:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", denied)
    assert main([*RUN, "--out", str(tmp_path / "o")]) == 2
    assert "Permission denied" in one_line_error(capsys)
    assert not (tmp_path / "o").exists()


def test_bad_seed_missing_file_and_debug(tmp_path, capsys):
    assert main([*RUN, "--seed", "-1"]) == 2
    assert "--seed = -1" in one_line_error(capsys)
    assert main(["run", str(tmp_path / "nowhere.toml")]) == 2
    assert "nowhere.toml" in one_line_error(capsys)
    (tmp_path / "folder.toml").mkdir()
    assert main(["run", str(tmp_path / "folder.toml")]) == 2
    assert "is a folder" in one_line_error(capsys)
    assert main(["--debug", *RUN, "--seed", "-1"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "--seed = -1" in err
    assert main([*RUN, "--seed", "-1", "--debug"]) == 2  # --debug may follow the command too
    assert "Traceback" in capsys.readouterr().err


def test_api_rejects_a_negative_seed_and_save_refuses_a_foreign_folder(tmp_path):
    with pytest.raises(ValueError, match="seed = -1"):
        runner.run("baseline", months=1, n_firms=20, seed=-1)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("k")
    result = runner.run("baseline", months=1, n_firms=20, seed=0)
    with pytest.raises(output.OutputError, match="not written by marketsim"):
        result.save(tmp_path / "mine")
    assert (tmp_path / "mine" / "keep.txt").read_text() == "k"


# --- sweep, report, validate -------------------------------------------------------------------------
SWEEP = """\
name = "tiny"
base = "bear-consolidation"
months = 2
replications = 2
master_seed = 3
[set]
n_firms = 16
[parameters]
power_price_multiplier = [1.0, 1.5]
"""


def test_sweep_report_and_validate_refuse_foreign_paths_before_work(tmp_path, capsys):
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text(SWEEP)
    (tmp_path / "file.txt").write_text("x")
    assert main(["sweep", str(sweep_file), "--out", str(tmp_path / "file.txt"), "--workers", "1", "--quiet"]) == 2
    assert "is a file" in one_line_error(capsys)
    assert main(["sweep", str(sweep_file), "--out", str(tmp_path / "file.txt" / "x"), "--workers", "1"]) == 2
    assert "which is a file" in one_line_error(capsys)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "a.txt").write_text("a")
    assert main(["validate", "--out", str(tmp_path / "mine"), "--seeds", "1"]) == 2
    assert "not written by marketsim" in one_line_error(capsys)
    assert main(["validate", "--out", str(tmp_path / "v"), "--seeds", "-4"]) == 2
    assert "--seeds = -4" in one_line_error(capsys)
    assert main(["sweep", str(sweep_file), "--out", str(tmp_path / "sw"), "--workers", "1", "--quiet"]) == 0
    capsys.readouterr()
    assert json.loads((tmp_path / "sw" / output.MARKER).read_text())["kind"] == "sweep"
    assert main(["report", str(tmp_path / "sw"), "--out", str(tmp_path / "file.txt")]) == 2
    assert "is a file" in one_line_error(capsys)
    assert main(["report", str(tmp_path / "sw"), "--out", str(tmp_path / "mine")]) == 2
    assert "not written by marketsim" in one_line_error(capsys)
    # a run may not replace a sweep's store (it holds the parts a resume needs)
    assert main([*RUN, "--out", str(tmp_path / "sw")]) == 2
    assert "not a run output" in one_line_error(capsys)
    assert (tmp_path / "mine" / "a.txt").read_text() == "a"


def test_truncated_part_on_resume_is_rerun_and_other_versions_are_refused(tmp_path, capsys):
    from marketsim.experiments import sweep

    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text(SWEEP)
    sweep(sweep_file, tmp_path / "full", workers=1, progress=False)
    sweep(sweep_file, tmp_path / "part", workers=1, progress=False)
    part = tmp_path / "part" / "parts" / "0000002.industry.parquet"
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])  # a disk that lost the end of a file
    for t in ("runs", "industry", "events"):
        (tmp_path / "part" / f"{t}.parquet").unlink()
    assert main(["sweep", str(sweep_file), "--out", str(tmp_path / "part"), "--workers", "1", "--resume"]) == 0
    assert "(3 already done, 1 ok" in capsys.readouterr().out
    for t in ("runs", "industry", "events"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "full" / f"{t}.parquet"),
                                      pd.read_parquet(tmp_path / "part" / f"{t}.parquet"), check_exact=True)
    manifest_path = tmp_path / "part" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["package_version"] = "0.0.1"
    manifest_path.write_text(json.dumps(manifest))
    assert main(["sweep", str(sweep_file), "--out", str(tmp_path / "part"), "--workers", "1", "--resume"]) == 2
    assert "written by marketsim 0.0.1" in one_line_error(capsys)


def test_a_corrupt_final_table_is_one_line_not_a_traceback(tmp_path, capsys):
    from marketsim.experiments import sweep

    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text(SWEEP)
    sweep(sweep_file, tmp_path / "sw", workers=1, progress=False)
    runs = tmp_path / "sw" / "runs.parquet"
    runs.write_bytes(runs.read_bytes()[:100])
    assert main(["report", str(tmp_path / "sw"), "--out", str(tmp_path / "rep")]) == 2
    err = one_line_error(capsys)
    assert "runs.parquet" in err and "corrupt" in err
    assert not (tmp_path / "rep").exists()


def test_sweep_progress_bar_stays_out_of_logs(tmp_path, capsys):
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text(SWEEP)
    assert main(["sweep", str(sweep_file), "--out", str(tmp_path / "sw"), "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "it/s" not in captured.err and "run/s" not in captured.err
    assert "4 runs" in captured.out


def test_runs_table_has_a_halted_flag():
    from marketsim.experiments.runs import halted_at_any_step

    going = pd.DataFrame({"network_hashrate_ehs": [300.0, 250.0]})
    stopped = pd.DataFrame({"network_hashrate_ehs": [300.0, 0.0, 10.0]})
    assert halted_at_any_step(going) is False and halted_at_any_step(stopped) is True
    flagged = stopped.assign(halted=[False, False, False])  # the model's own flag wins when present
    assert halted_at_any_step(flagged) is False


# --- summary -----------------------------------------------------------------------------------------
def test_money_puts_the_sign_before_the_dollar():
    assert _money(-451.83e6) == "-$451.83M"
    assert _money(1.5e9) == "$1.50B"
    assert _money(-12.0) == "-$12"
    assert _money(-0.2) == "$0"
    assert _money(float("nan")) == "n/a"


def test_summary_starts_before_step_one_and_names_a_halted_network(tmp_path):
    result = runner.run("baseline", months=2, n_firms=20, seed=4)
    start = result.initial
    model_start = load_scenario("baseline", months=2, n_firms=20)
    assert start["date"] == pd.Timestamp(model_start.start_date)
    assert start["firms_active"] == len(result.firms.drop_duplicates("firm_id"))
    # before any block of the first step: the first recorded row is a month of blocks later
    assert start["block_height"] < result.industry["block_height"].iloc[0] - 3000
    text = summarize(result)
    assert f"height {start['block_height']:,}" in text.splitlines()[2]
    assert "start (2023-01-01)" in text
    row = result.industry.iloc[-1].copy()
    row["network_hashrate_ehs"] = 0.0
    row["halted"] = True
    row["hhi_hashrate"] = 0.0
    row["avg_efficiency_j_per_th"] = float("nan")
    line = "\n".join(state_lines(row, "end"))
    assert "network halted" in line and "HHI" not in line and "nan" not in line


def test_largest_failures_never_list_zero_mw():
    from marketsim.summary import consolidation_lines

    result = runner.run("baseline", months=1, n_firms=20, seed=0)
    ev = pd.DataFrame([
        {"step": 0, "date": pd.Timestamp("2023-01-01"), "kind": "bankruptcy", "firm_id": 3, "counterparty_id": -1,
         "site_id": -1, "mw": 0.0, "hashrate_ehs": 0.0, "value_usd": 0.0, "detail": ""},
        {"step": 0, "date": pd.Timestamp("2023-01-01"), "kind": "bankruptcy", "firm_id": 4, "counterparty_id": -1,
         "site_id": -1, "mw": 12.0, "hashrate_ehs": 0.3, "value_usd": 0.0, "detail": ""},
    ])
    result.events = ev
    lines = consolidation_lines(result)
    failures = [line for line in lines if "Largest failures" in line]
    assert len(failures) == 1 and "12 MW" in failures[0] and "(0 MW" not in failures[0]


# --- params and messages -----------------------------------------------------------------------------
def test_params_prints_dates_as_dates_and_every_choice(capsys):
    assert main(["params"]) == 0
    text = capsys.readouterr().out
    lines = {line.split()[0]: line for line in text.splitlines()}
    assert "2023-01-01" in lines["start_date"] and "datetime" not in text
    assert "one of month, week, day" in lines["step_unit"]
    assert "one of gbm, regime, replay, csv" in lines["price_model"]
    assert "one of stochastic, replay" in lines["fee_model"]
    assert "one of logistic, boom_bust" in lines["ai_demand_model"]
    literal_fields = [name for name, f in Scenario.model_fields.items() if "Literal" in str(f.annotation)]
    assert all("one of" in lines[name] or "keys:" in lines[name] for name in literal_fields)
    assert "keys: npv, myopic" in lines["decision_rule_mix"]


def test_nan_says_not_a_number(capsys):
    assert main([*RUN, "--set", "power_price_multiplier=nan"]) == 2
    err = one_line_error(capsys)
    assert "power_price_multiplier" in err and "not a number" in err and "<= 10" not in err
    assert "less than" not in err


# --- overrides that cannot act -----------------------------------------------------------------------
def test_inert_rule_on_hand_made_scenarios():
    replayed = Scenario(start_date="2023-01-01", months=24, history_until="2025-12-01")
    found = inert_parameters(replayed)
    assert "history_until=2025-12-01" in found["price_volatility_per_year"]
    assert "fee_share_mean" in found and "price_bull_drift_per_year" in found
    longer = Scenario(start_date="2023-01-01", months=48, history_until="2025-12-01")
    assert "price_volatility_per_year" not in inert_parameters(longer)
    assert "fee_share_mean" not in inert_parameters(longer)
    assert "price_bull_drift_per_year" in inert_parameters(longer)  # gbm ignores the regime fields
    # the data ends before history_until: the stochastic price takes over there
    assert "price_volatility_per_year" not in inert_parameters(replayed, data_end=pd.Timestamp("2024-06-01").date())
    regime = Scenario(price_model="regime", ai_demand_model="boom_bust", ai_target_share=0.5)
    found = inert_parameters(regime)
    assert "price_volatility_per_year" in found and "price_bull_drift_per_year" not in found
    assert not {"ai_bust_years", "ai_target_date"} & set(found)
    assert {"ai_bust_years", "ai_target_date", "price_csv_path"} <= set(inert_parameters(Scenario()))
    assert inert_parameters(Scenario(), ["n_firms", "months"]) == {}
    # dated demand history past the run's end leaves the curve nothing to do; a shorter one hands over to it
    history = [{"date": "2023-01-01", "mw": 1.0}, {"date": "2025-01-01", "mw": 2.0}]
    covered = Scenario(start_date="2023-01-01", months=24, ai_demand_path=history)
    assert {"ai_demand_max_mw", "ai_demand_midpoint_years", "ai_demand_model"} <= set(inert_parameters(covered))
    assert "2025-01-01" in inert_parameters(covered)["ai_demand_max_mw"]
    longer = Scenario(start_date="2023-01-01", months=36, ai_demand_path=history)
    assert not {"ai_demand_max_mw", "ai_demand_model", "ai_demand_path"} & set(inert_parameters(longer))


def test_inert_override_warns_in_the_api_and_the_cli(capsys):
    with pytest.warns(InertParameterWarning, match="price_volatility_per_year = 0.8 cannot act.*history_until"):
        runner.run("baseline", months=1, n_firms=20, seed=7, price_volatility_per_year=0.8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InertParameterWarning)
        runner.run("baseline", months=1, n_firms=20, seed=7)  # no override, no warning
    assert main([*RUN, "--set", "price_volatility_per_year=0.8"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: price_volatility_per_year = 0.8 cannot act") and len(err.splitlines()) == 1


def test_same_table_whatever_the_inert_value():
    a = runner.run("baseline", months=2, n_firms=20, seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InertParameterWarning)
        b = runner.run("baseline", months=2, n_firms=20, seed=7, price_volatility_per_year=0.8)
    assert np.array_equal(a.industry["btc_price_usd"], b.industry["btc_price_usd"])
