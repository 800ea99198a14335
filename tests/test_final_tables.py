"""The final tables built while a sweep runs (``store.FinalTables``): whatever order the runs
arrive in, with runs lost on the way or several parts to a row group, they hold the rows a
rebuild from all parts gives; a sweep stopped mid-way leaves no final table and no temporary."""

from __future__ import annotations

import random
import shutil
import textwrap
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from marketsim.experiments import ResultStore, sweep
from marketsim.experiments.executors import SequentialExecutor
from marketsim.experiments.store import FinalTables, _runs_frame, _TableWriter

TABLES = ("runs", "industry", "events")
SWEEP = """\
    name = "final-tables"
    base = "bear-consolidation"
    months = 3
    replications = 4
    master_seed = 21
    [set]
    n_firms = 20
    [parameters]
    power_price_multiplier = [1.0, 2.0]
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An 8-run sweep, run in this process: its tables are the rebuild from all parts."""
    tmp = tmp_path_factory.mktemp("final")
    path = tmp / "s.toml"
    path.write_text(textwrap.dedent(SWEEP))
    sweep(path, tmp / "ref", workers=1, progress=False)
    return tmp / "ref"


def _copy(reference: Path, tmp_path: Path) -> ResultStore:
    out = tmp_path / "copy"
    shutil.copytree(reference, out)
    for t in TABLES:
        (out / f"{t}.parquet").unlink()
    return ResultStore(out)


def _assert_same(a: Path, b: Path) -> None:
    for t in TABLES:
        pd.testing.assert_frame_equal(pd.read_parquet(a / f"{t}.parquet"), pd.read_parquet(b / f"{t}.parquet"),
                                      check_exact=True, obj=t)


@pytest.mark.parametrize("order", ["in order", "reversed", "shuffled"])
def test_tables_built_as_runs_arrive_equal_the_rebuild(reference, tmp_path, monkeypatch, order):
    monkeypatch.setattr(_TableWriter, "ROW_GROUP_PARTS", 3)  # several row groups, one not full
    store = _copy(reference, tmp_path)
    ids = sorted(store.finished())
    arrival = {"in order": ids, "reversed": ids[::-1], "shuffled": random.Random(3).sample(ids, len(ids))}[order]
    final = FinalTables(store, ["power_price_multiplier"], done=set())
    for run_id in arrival:
        final.add(run_id)
    assert final.finish() == {"ok": len(ids), "failed": 0}
    _assert_same(reference, store.root)
    assert not list(store.root.glob(".tmp.*"))


def test_a_lost_run_and_a_resumed_prefix_leave_the_rows_of_the_finished_runs(reference, tmp_path):
    store = _copy(reference, tmp_path)
    for p in store.parts.glob(f"{5:07d}.*"):  # run 5 lost: no parts
        p.unlink()
    final = FinalTables(store, ["power_price_multiplier"], done={0, 1, 2})  # finished before a resume
    for run_id in (4, 3, 7, 6):
        final.add(run_id)
    final.finish()
    expected = tmp_path / "expected"
    shutil.copytree(store.root, expected)
    ResultStore(expected).consolidate(["power_price_multiplier"])
    _assert_same(expected, store.root)
    assert set(pd.read_parquet(store.root / "industry.parquet")["run_id"]) == {0, 1, 2, 3, 4, 6, 7}


def test_a_sweep_stopped_mid_way_leaves_no_final_table_and_resumes_to_the_same_tables(reference, tmp_path):
    class Interrupted(SequentialExecutor):
        def map_unordered(self, fn, items, max_in_flight=None):
            for i, item in enumerate(items):
                if i == 3:
                    raise KeyboardInterrupt
                yield item, fn(item), None

    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(SWEEP))
    out = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt):
        sweep(path, out, executor=Interrupted(), progress=False)
    assert len(ResultStore(out).finished()) == 3
    assert not any((out / f"{t}.parquet").exists() for t in TABLES)
    assert not list(out.glob(".tmp.*"))
    result = sweep(path, out, workers=1, progress=False, resume=True)
    assert (result.skipped, result.ok) == (3, 5)
    _assert_same(reference, out)


def test_runs_parts_of_one_schema_concatenate_as_pandas_would():
    frames = [pd.DataFrame([{"run_id": i, "status": "ok", "error": "", "x": 0.5 * i, "flag": i % 2 == 0}])
              for i in range(4)]
    tables = [pa.Table.from_pandas(f, preserve_index=False) for f in frames]
    pd.testing.assert_frame_equal(_runs_frame(tables), pd.concat(frames, ignore_index=True), check_exact=True)
    # a failed run's part lacks the outcome columns: pandas' outer join, as before
    failed = pa.Table.from_pandas(pd.DataFrame([{"run_id": 4, "status": "failed", "error": "E: boom"}]),
                                  preserve_index=False)
    expected = pd.concat([t.to_pandas() for t in [*tables, failed]], ignore_index=True)
    pd.testing.assert_frame_equal(_runs_frame([*tables, failed]), expected, check_exact=True)
