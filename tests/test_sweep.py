"""Sweeps: designs, sweep-file validation, seeds, executors that agree run for run, resumable
store, failure isolation, the CLI, and Mesa's own ``batch_run`` on ``IndustryModel``."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marketsim.cli import main
from marketsim.experiments import (
    Range, ResultStore, StoreError, SweepFileError, grid, latin_hypercube, load_sweep, saltelli, sobol, sweep,
)
from marketsim.experiments.executors import DaskExecutor, ProcessPoolExecutor, SequentialExecutor
from marketsim.experiments.sweepfile import FINAL_OUTCOMES, run_seeds

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TABLES = ("runs", "industry", "events")


def write_sweep(tmp_path: Path, body: str, name: str = "t") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(textwrap.dedent(body))
    return path


def tables(out: Path) -> dict[str, pd.DataFrame]:
    return {t: pd.read_parquet(out / f"{t}.parquet") for t in TABLES}


def assert_same_tables(a: Path, b: Path) -> None:
    ta, tb = tables(a), tables(b)
    for name in TABLES:
        pd.testing.assert_frame_equal(ta[name], tb[name], check_exact=True, obj=name)


# --- designs ---------------------------------------------------------------------------------------
def test_grid_is_the_full_product_first_parameter_slowest():
    points = grid({"a": [1, 2], "b": ["x", "y", "z"]})
    assert len(points) == 6
    assert points[0] == {"a": 1, "b": "x"} and points[1] == {"a": 1, "b": "y"} and points[3] == {"a": 2, "b": "x"}
    assert {(p["a"], p["b"]) for p in points} == {(a, b) for a in (1, 2) for b in "xyz"}


def test_latin_hypercube_puts_one_point_in_every_stratum():
    n = 20
    points = latin_hypercube({"a": Range(0.0, 10.0), "b": Range(100.0, 200.0)}, n, seed=3)
    assert len(points) == n
    a = np.array([p["a"] for p in points])
    b = np.array([p["b"] for p in points])
    assert sorted(np.floor(a / 10.0 * n).astype(int)) == list(range(n))
    assert sorted(np.floor((b - 100.0) / 100.0 * n).astype(int)) == list(range(n))
    assert latin_hypercube({"a": Range(0.0, 10.0)}, n, seed=3) == latin_hypercube({"a": Range(0.0, 10.0)}, n, seed=3)


def test_log_and_integer_ranges_stay_inside_and_reach_the_ends():
    points = latin_hypercube({"k": Range(1, 5, integer=True), "x": Range(1.0, 1000.0, scale="log")}, 200, seed=1)
    ks = {p["k"] for p in points}
    assert ks == {1, 2, 3, 4, 5} and all(isinstance(p["k"], int) for p in points)
    xs = np.array([p["x"] for p in points])
    assert xs.min() >= 1.0 and xs.max() <= 1000.0
    # uniform in log space: about a third of the points in each decade
    counts = np.histogram(np.log10(xs), bins=[0, 1, 2, 3])[0]
    assert counts.min() > 50


def test_sobol_and_saltelli_sizes_and_bounds():
    ranges = {"a": Range(0.0, 1.0), "b": Range(-5.0, 5.0), "c": Range(2.0, 3.0)}
    pts = sobol(ranges, 16, seed=0)
    assert len(pts) == 16 and all(-5 <= p["b"] <= 5 for p in pts)
    sal = saltelli(ranges, 8, seed=0)
    assert len(sal) == 8 * (3 + 2)
    # Saltelli blocks: A, AB_a, AB_b, AB_c, B; AB_i is A with column i taken from B
    a, ab_b, b = sal[0], sal[2], sal[4]
    assert ab_b["a"] == a["a"] and ab_b["c"] == a["c"] and ab_b["b"] == b["b"]


def test_a_grid_range_spaces_its_values_evenly_in_its_scale():
    assert Range(1.0, 3.0, num=5).evenly_spaced() == [1.0, 1.5, 2.0, 2.5, 3.0]
    assert Range(1.0, 100.0, scale="log", num=3).evenly_spaced() == pytest.approx([1.0, 10.0, 100.0])
    assert Range(1, 3, integer=True, num=5).evenly_spaced() == [1, 2, 3]  # 1, 1.5->2, 2, 2.5->2, 3: each once
    with pytest.raises(ValueError, match="below max"):
        Range(2.0, 1.0)


def test_seeds_are_spawned_reproducibly_from_the_master_seed():
    s1 = run_seeds(99, 12, 3, common=False)
    assert s1 == run_seeds(99, 12, 3, common=False)
    assert len(set(s1)) == 12
    assert run_seeds(100, 12, 3, common=False) != s1
    crn = run_seeds(99, 12, 3, common=True)
    assert crn[:3] == crn[3:6] == crn[9:12] and len(set(crn)) == 3


# --- sweep files -------------------------------------------------------------------------------------
def test_shipped_sweeps_load():
    for name in ("smoke", "conversion-capex", "consolidation-drivers"):
        plan = load_sweep(name)
        assert plan.n_runs == len(plan.points) * plan.sweep.replications > 0
    plan = load_sweep("conversion-capex")
    capex = sorted({p["conversion_capex_usd_per_mw"] for p in plan.points})
    assert capex == [5e6, 6.25e6, 7.5e6, 8.75e6, 10e6]
    assert {s.conversion_capex_usd_per_mw for s in plan.scenarios} == set(capex)
    drivers = load_sweep("consolidation-drivers")
    assert {s.price_shocks[0].change for s in drivers.scenarios} == {0.0, -0.3, -0.6}


@pytest.mark.parametrize("body, names", [
    ('base = "baseline"\nbogus = 1\n', ["bogus", "unknown field"]),
    ('[parameters]\nno_such_param = [1, 2]\n', ["parameters.no_such_param", "unknown parameter"]),
    ('[parameters]\npower_price_multiplier = [1.0, -2.0]\n', ["power_price_multiplier", "-2.0", "greater than 0"]),
    ('[parameters]\npower_price_multiplier = {min = 2.0, max = 1.0, num = 3}\n', ["power_price_multiplier", "below max"]),
    ('[parameters]\npower_price_multiplier = {min = 1.0, max = 2.0}\n', ["power_price_multiplier", "num"]),
    ('[parameters]\npower_price_multiplier = {min = 1.0, max = 2.0, num = 1}\n', ["power_price_multiplier", "num=1", "2 to"]),
    ('[parameters]\npower_price_multiplier = {min = 1.0, max = 2.0, num = 3, step = 1}\n',
     ["power_price_multiplier.step", "unknown field"]),
    ('[design]\nmethod = "lhs"\n[parameters]\npower_price_multiplier = {min = 1.0, max = 2.0}\n', ["design.n"]),
    ('[design]\nmethod = "magic"\n', ["design.method", "grid"]),
    ('replications = 0\n', ["replications", "greater than or equal to 1"]),
    ('[set]\nmonths = "ten"\n', ["months", "ten"]),
    ('months = 3\nreplications = 5\nmax_runs = 4\n', ["max_runs", "5 runs"]),
    ('[report]\nconditions = ["hhi is high"]\n', ["report.conditions", "hhi is high"]),
    ('base = "no-such-scenario"\n', ["base", "no-such-scenario"]),
    ('[report]\noutcomes = ["hhi_hashrat"]\n', ["report.outcomes.0", "hhi_hashrat", "hhi_hashrate"]),
    ('[report]\nconditions = ["mw_a > 3"]\n', ["report.conditions.0", "mw_a"]),
])
def test_invalid_sweep_files_name_the_field(tmp_path, body, names):
    path = write_sweep(tmp_path, body)
    with pytest.raises(SweepFileError) as err:
        load_sweep(path)
    for name in names:
        assert name in str(err.value)


def test_cli_rejects_a_bad_sweep_file_and_writes_nothing(tmp_path, capsys):
    path = write_sweep(tmp_path, "[parameters]\npower_price_multiplier = [11.0]\n")
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "power_price_multiplier" in err and "10" in err
    assert not out.exists()
    assert main(["sweep", "smoke", "--out", str(out), "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err and not out.exists()


# --- running -----------------------------------------------------------------------------------------
SMALL = """\
    name = "small"
    base = "bear-consolidation"
    months = {months}
    replications = {reps}
    master_seed = {seed}
    [set]
    n_firms = 20
    [parameters]
    power_price_multiplier = [1.0, 2.0]
"""


def test_same_master_seed_gives_identical_tables_and_another_differs(tmp_path):
    path = write_sweep(tmp_path, SMALL.format(months=4, reps=2, seed=5))
    other = write_sweep(tmp_path, SMALL.format(months=4, reps=2, seed=6), name="other")
    for out, p in (("a", path), ("b", path), ("c", other)):
        sweep(p, tmp_path / out, workers=1, progress=False)
    assert_same_tables(tmp_path / "a", tmp_path / "b")
    runs_a = pd.read_parquet(tmp_path / "a" / "runs.parquet")
    runs_c = pd.read_parquet(tmp_path / "c" / "runs.parquet")
    assert list(runs_a["seed"]) != list(runs_c["seed"])
    # the runs table: one row per run, parameters, seed, status and final outcomes
    assert len(runs_a) == 4 and set(runs_a["status"]) == {"ok"}
    assert {"run_id", "point_id", "replication", "seed", "power_price_multiplier", "error",
            "hhi_hashrate", "total_profit_usd", "converted_share_mw"} <= set(runs_a.columns)
    identity = {"run_id", "point_id", "replication", "seed", "status", "error", "power_price_multiplier"}
    assert set(runs_a.columns) - identity == set(FINAL_OUTCOMES)  # what [report] may name is what runs hold
    industry = pd.read_parquet(tmp_path / "a" / "industry.parquet")
    assert len(industry) == 4 * 4 and list(industry.columns[:3]) == ["run_id", "step", "date"]
    # final outcomes are the last industry row of each run
    last = industry.groupby("run_id").tail(1).set_index("run_id")
    assert np.allclose(runs_a.set_index("run_id")["network_hashrate_ehs"], last["network_hashrate_ehs"])
    # dearer power, less profit: the swept parameter reaches the model
    mean_profit = runs_a.groupby("power_price_multiplier")["total_profit_usd"].mean()
    assert mean_profit[2.0] < mean_profit[1.0]
    manifest = ResultStore.open(tmp_path / "a").manifest()
    assert manifest["master_seed"] == 5 and manifest["status"] == "complete"
    assert manifest["package_version"] and manifest["parameters"] == ["power_price_multiplier"]


def test_final_only_recording_keeps_one_row_per_run(tmp_path):
    path = write_sweep(tmp_path, SMALL.format(months=3, reps=1, seed=1)
                       + '[record]\nindustry = "final"\nevents = false\nfirms = true\n')
    sweep(path, tmp_path / "o", workers=1, progress=False)
    industry = pd.read_parquet(tmp_path / "o" / "industry.parquet")
    assert len(industry) == 2 and set(industry["step"]) == {2}  # steps 0..months-1
    firms = pd.read_parquet(tmp_path / "o" / "firms.parquet")
    assert set(firms["run_id"]) == {0, 1} and len(firms) > 2 * 20


def test_a_failing_run_is_recorded_and_the_others_finish(tmp_path):
    good = tmp_path / "price.csv"
    dates = pd.date_range("2022-12-01", "2023-12-31", freq="D")
    pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "price_usd": 20000.0}).to_csv(good, index=False)
    # the price file covers one year: the 24-month runs fail mid-run, the 3-month runs finish
    path = write_sweep(tmp_path, f"""\
        base = "bear-consolidation"
        replications = 2
        [set]
        n_firms = 20
        price_model = "csv"
        price_csv_path = "{good}"
        price_shocks = []
        [parameters]
        months = [3, 24]
    """)
    result = sweep(path, tmp_path / "o", workers=1, progress=False)
    assert (result.ok, result.failed, result.lost) == (2, 2, 0)
    runs = pd.read_parquet(tmp_path / "o" / "runs.parquet")
    failed = runs[runs["status"] == "failed"]
    assert list(failed["run_id"]) == [2, 3]
    assert all("no price for the step" in e and "price.csv" in e for e in failed["error"])
    assert set(pd.read_parquet(tmp_path / "o" / "industry.parquet")["run_id"]) == {0, 1}
    assert ResultStore.open(tmp_path / "o").manifest()["counts"] == {"ok": 2, "failed": 2}


def test_store_refuses_another_sweep_and_reports_corruption(tmp_path):
    a = write_sweep(tmp_path, SMALL.format(months=2, reps=1, seed=1))
    b = write_sweep(tmp_path, SMALL.format(months=3, reps=1, seed=1), name="b")
    sweep(a, tmp_path / "o", workers=1, progress=False)
    with pytest.raises(StoreError, match="another sweep"):
        sweep(b, tmp_path / "o", workers=1, progress=False)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.txt").write_text("hi")
    with pytest.raises(StoreError, match="not written by marketsim"):
        sweep(a, tmp_path / "junk", workers=1, progress=False)
    assert (tmp_path / "junk" / "x.txt").read_text() == "hi" and len(list((tmp_path / "junk").iterdir())) == 1
    with pytest.raises(StoreError, match="no sweep to resume"):
        sweep(a, tmp_path / "fresh", workers=1, progress=False, resume=True)
    (tmp_path / "o" / "manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match="corrupt"):
        ResultStore.open(tmp_path / "o")
    with pytest.raises(StoreError, match="no such sweep folder"):
        ResultStore.open(tmp_path / "nowhere")


def test_resume_after_an_interrupted_sweep_equals_an_uninterrupted_one(tmp_path):
    path = write_sweep(tmp_path, SMALL.format(months=3, reps=3, seed=8))
    sweep(path, tmp_path / "full", workers=1, progress=False)
    sweep(path, tmp_path / "part", workers=1, progress=False)
    # as if killed after three runs: drop the later runs' parts and the final tables
    store = ResultStore.open(tmp_path / "part")
    for run_id in (3, 4, 5):
        for p in store.parts.glob(f"{run_id:07d}.*"):
            p.unlink()
    for t in TABLES:
        (tmp_path / "part" / f"{t}.parquet").unlink()
    result = sweep(path, tmp_path / "part", workers=1, progress=False, resume=True)
    assert (result.skipped, result.ok) == (3, 3)
    assert_same_tables(tmp_path / "full", tmp_path / "part")


def _wait_for_parts(out: Path, k: int, proc: subprocess.Popen, timeout_s: float = 300) -> int:
    """Block until the store holds ``k`` finished runs (not a time window: robust on a loaded machine)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = len(list((out / "parts").glob("*.runs.parquet"))) if (out / "parts").is_dir() else 0
        if done >= k:
            return done
        assert proc.poll() is None, "the sweep ended before it could be killed"
        time.sleep(0.02)
    raise AssertionError(f"no {k} finished runs in {timeout_s} s")


def _start_sweep_cli(path: Path, out: Path, **popen) -> subprocess.Popen:
    """`marketsim sweep PATH --out OUT --workers 2` as its own process group (so a test can kill
    the CLI with its workers), stdout discarded; ``popen``: how stderr is kept."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([PYTHON, "-m", "marketsim", "sweep", str(path), "--out", str(out), "--workers", "2",
                             "--quiet"], env=env, start_new_session=True, stdout=subprocess.DEVNULL, **popen)


@pytest.mark.slow
def test_sigkill_mid_sweep_then_resume_gives_the_uninterrupted_tables(tmp_path):
    # 48 short runs: the kill comes after the 3rd finished run, with ~45 runs (seconds) still to go,
    # so it lands mid-sweep however loaded the machine is
    path = write_sweep(tmp_path, SMALL.format(months=6, reps=24, seed=4))
    sweep(path, tmp_path / "full", workers=2, progress=False)
    out = tmp_path / "killed"
    proc = _start_sweep_cli(path, out, stderr=subprocess.DEVNULL)
    try:
        _wait_for_parts(out, 3, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its worker processes, no clean-up
        proc.wait()
    finished = ResultStore(out).finished()
    assert 3 <= len(finished) < 48, f"killed after {len(finished)} of 48 runs"
    assert not (out / "runs.parquet").exists()
    assert main(["sweep", str(path), "--out", str(out), "--workers", "2", "--resume", "--quiet"]) == 0
    assert_same_tables(tmp_path / "full", out)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_sigterm_mid_sweep_stops_the_workers_and_keeps_finished_runs(tmp_path):
    """`kill PID` on the CLI: before, Python died on the spot and the pool's workers, orphaned, went
    on computing runs nobody collected. Now the CLI unwinds as for Ctrl-C: exit 143, no process of
    its group left, finished runs kept for --resume, which then gives the uninterrupted tables."""
    path = write_sweep(tmp_path, SMALL.format(months=6, reps=24, seed=5))
    sweep(path, tmp_path / "full", workers=2, progress=False)
    out = tmp_path / "terminated"
    proc = _start_sweep_cli(path, out, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_parts(out, 3, proc)
        proc.send_signal(signal.SIGTERM)  # the CLI only, as `kill PID` does
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert "terminated" in err
        deadline = time.monotonic() + 30
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _group_alive(proc.pid), "worker processes outlived the terminated sweep"
    finally:
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (out / "runs.parquet").exists()
    assert 3 <= len(ResultStore(out).finished()) < 48
    assert main(["sweep", str(path), "--out", str(out), "--workers", "2", "--resume", "--quiet"]) == 0
    assert_same_tables(tmp_path / "full", out)


# --- executors ---------------------------------------------------------------------------------------
def _square(x):
    return x * x


def test_executors_map_every_item_once():
    for ex in (SequentialExecutor(), ProcessPoolExecutor(2)):
        with ex:
            results = {item: value for item, value, error in ex.map_unordered(_square, range(9), max_in_flight=3)}
        assert results == {i: i * i for i in range(9)}


class _FakeFuture:
    """A Dask future as a killed worker leaves it: listed done by wait(), then any of these states."""

    def __init__(self, key, status, value=None, exc=None):
        self.key, self.status, self.value, self.exc = key, status, value, exc

    def result(self):
        if self.exc is not None:
            raise self.exc
        return self.value

    def exception(self):  # what the old code read for a non-"finished" future: None, no error
        return self.exc

    def release(self):
        pass


class _FakeClient:
    """Hands out futures in the states listed per item; a resubmission (a retry) computes for real."""

    def __init__(self, first_states):
        self.first_states, self.retries = dict(first_states), 0

    def submit(self, fn, item, pure, key):
        if "-retry" in key:
            self.retries += 1
            return _FakeFuture(key, "finished", fn(item))
        status, value = self.first_states[item]
        return _FakeFuture(key, status, value if value != "compute" else fn(item),
                           exc=ValueError("boom") if status == "error" else None)


def test_dask_executor_settles_futures_a_killed_worker_left_in_any_state(monkeypatch):
    """Every item comes back with a result or an error, never neither: a future back to pending
    (recomputed after its worker died) is read through result(), a finished one without data is
    computed again, and a failed one reports its exception."""
    import distributed

    from marketsim.experiments.executors import DaskExecutor

    monkeypatch.setattr(distributed, "wait", lambda futs, return_when: type("W", (), {"done": set(futs)})())
    ex = object.__new__(DaskExecutor)
    ex.workers = 2
    ex.client = _FakeClient({0: ("finished", "compute"), 1: ("pending", "compute"), 2: ("lost", "compute"),
                             3: ("finished", None), 4: ("error", None)})
    got = {item: (value, error) for item, value, error in ex.map_unordered(_square, range(5))}
    assert {i: got[i][0] for i in range(4)} == {0: 0, 1: 1, 2: 4, 3: 9}
    assert all(got[i][1] is None for i in range(4))
    assert got[4][0] is None and isinstance(got[4][1], ValueError)
    assert ex.client.retries == 1  # only the finished-without-data future was computed again


@pytest.fixture(scope="module")
def smoke_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke") / "seq"
    sweep("smoke", out, workers=1, progress=False)
    return out


@pytest.mark.slow
def test_process_pool_and_dask_local_cluster_match_sequential(smoke_reference, tmp_path):
    r = sweep("smoke", tmp_path / "pool", workers=2, progress=False)
    assert r.executor.startswith("process pool") and r.ok == 6
    assert_same_tables(smoke_reference, tmp_path / "pool")
    r = sweep("smoke", tmp_path / "dask", dask_local=2, progress=False)
    assert r.executor.startswith("dask LocalCluster") and r.ok == 6
    assert_same_tables(smoke_reference, tmp_path / "dask")


@pytest.mark.slow
def test_the_local_clusters_workers_run_without_the_statistical_profiler():
    """Dask's workers sample a running task's stack every 10 ms by default, for a dashboard the
    LocalCluster does not serve; marketsim's cluster turns that off in its workers (and leaves this
    process's own configuration as it was)."""
    import dask

    from marketsim.experiments.executors import DaskExecutor

    ex = DaskExecutor(local_workers=1)
    try:
        seen = ex.client.run(lambda: dask.config.get("distributed.worker.profile.enabled"))
    finally:
        ex.close()
    assert list(seen.values()) == [False]
    assert dask.config.get("distributed.worker.profile.enabled") is True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dask_cluster(n_workers: int = 2, procs_out: list | None = None):
    """A scheduler and workers as separate processes, started the way a user starts a cluster.

    ``procs_out`` receives the worker processes (each leads its own process group: nanny and worker)."""
    bindir = Path(PYTHON).parent
    dask = str(bindir / "dask") if (bindir / "dask").exists() else shutil.which("dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(REPO), "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--dashboard-address", ":0", "--no-show"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        for _ in range(n_workers):
            procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--nworkers", "1",
                                           "--no-dashboard", "--host", "127.0.0.1"], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True))
        if procs_out is not None:
            procs_out.extend(procs[1:])
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(n_workers, timeout=60)
        yield address
    finally:
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


@pytest.mark.slow
def test_a_real_dask_scheduler_with_two_workers_matches_sequential(smoke_reference, tmp_path):
    with dask_cluster(2) as address:
        with DaskExecutor(address=address) as ex:
            assert ex.workers == 2
        assert main(["sweep", "smoke", "--out", str(tmp_path / "remote"), "--dask", address, "--quiet"]) == 0
    manifest = ResultStore.open(tmp_path / "remote").manifest()
    assert manifest["executor"].startswith(f"dask {address}")
    assert_same_tables(smoke_reference, tmp_path / "remote")


@pytest.mark.slow
def test_a_dask_worker_killed_mid_sweep_leaves_complete_identical_tables(tmp_path):
    """SIGKILL one of two real `dask worker` processes mid-sweep: the scheduler re-runs its tasks on the
    other worker and the sweep ends complete, with the tables of an undisturbed sweep."""
    path = write_sweep(tmp_path, SMALL.format(months=12, reps=10, seed=11))  # 20 runs
    sweep(path, tmp_path / "undisturbed", workers=1, progress=False)
    workers: list[subprocess.Popen] = []
    out = tmp_path / "disturbed"
    with dask_cluster(2, procs_out=workers) as address:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen([PYTHON, "-m", "marketsim", "sweep", str(path), "--out", str(out), "--dask", address,
                                 "--quiet"], env=env, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            done_at_kill = _wait_for_parts(out, 2, proc)
            os.killpg(workers[0].pid, signal.SIGKILL)  # nanny and worker: gone for good, no clean-up
            workers[0].wait()
            stdout, stderr = proc.communicate(timeout=600)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert done_at_kill < 20
    assert proc.returncode == 0, stderr
    assert "20 runs (0 already done, 20 ok, 0 failed, 0 lost)" in stdout
    assert ResultStore.open(out).manifest()["status"] == "complete"
    assert_same_tables(tmp_path / "undisturbed", out)


def test_unreachable_dask_scheduler_is_a_clear_error(tmp_path, capsys):
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    assert main(["sweep", "smoke", "--out", str(tmp_path / "o"), "--dask", address, "--quiet"]) == 2
    assert "cannot reach the scheduler" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert time.monotonic() - started < 60


# --- Mesa's own batch_run ----------------------------------------------------------------------------
def test_mesa_batch_run_drives_industry_model():
    import mesa

    from marketsim import IndustryModel

    results = mesa.batch_run(
        IndustryModel,
        parameters={"n_firms": 20, "months": 3, "start_date": "2023-01-01",
                    "power_price_multiplier": [1.0, 2.0]},
        rng=[1, 2],
        max_steps=3,
        number_processes=1,
        data_collection_period=-1,
        display_progress=False,
    )
    frame = pd.DataFrame(results)
    assert len(frame) == 4
    assert set(frame["power_price_multiplier"]) == {1.0, 2.0} and set(frame["rng"]) == {1, 2}
    assert (frame["Step"] == 3).all() and (frame["network_hashrate_ehs"] > 0).all()
    a = frame[(frame["rng"] == 1) & (frame["power_price_multiplier"] == 1.0)]["hhi_hashrate"].item()
    again = pd.DataFrame(mesa.batch_run(IndustryModel, parameters={"n_firms": 20, "months": 3,
                                                                   "start_date": "2023-01-01",
                                                                   "power_price_multiplier": 1.0},
                                        rng=[1], max_steps=3, number_processes=1, data_collection_period=-1,
                                        display_progress=False))
    assert again["hhi_hashrate"].item() == a


# --- the report command ------------------------------------------------------------------------------
def test_cli_report_writes_a_report_and_rejects_a_missing_folder(smoke_reference, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", str(smoke_reference), "--out", str(out)]) == 0
    assert (out / "report.md").exists() and (out / "summary.csv").exists()
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["power_price_multiplier"]) == [1.0, 1.5] and list(summary["n_ok"]) == [3, 3]
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "no such sweep folder" in capsys.readouterr().err
