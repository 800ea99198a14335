"""Store: the one writer (and reader) of a sweep's results on disk.

Layout of a sweep folder::

    DIR/manifest.json          the sweep file's text, resolved base scenario, parameters, design
                               points, seeds, record options, package version, fingerprint, status
    DIR/parts/<run_id>.industry.parquet   \\
    DIR/parts/<run_id>.events.parquet      | one run each, written as soon as the run finishes,
    DIR/parts/<run_id>.firms.parquet       | each atomically (temporary file, then rename);
    DIR/parts/<run_id>.runs.parquet       /  the runs part is written last: it marks the run done
    DIR/runs.parquet           one row per run: run id, parameters, seed, status, error, final outcomes
    DIR/industry.parquet       run_id, step, date, industry columns (every step, or the final row)
    DIR/events.parquet         run_id plus the event table (``mesa.batch_run`` drops it; not here)
    DIR/firms.parquet          run_id plus per-firm snapshots, when the sweep records firms

A SIGKILLed sweep loses only the runs in flight: every finished run is already a set of complete
part files. Resuming (or re-running into DIR) skips every run whose runs part exists and runs the
rest; the final tables are built from all parts, concatenated in run-id order, so a resumed
sweep's tables equal an uninterrupted one's. They are streamed through a ``pyarrow.parquet.ParquetWriter``
into temporary files while the runs go on (`FinalTables`: a run is appended once every run before it
is done; what is left, at the end) and renamed into place when the sweep ends, so memory stays
bounded by one row group's worth of parts (`_TableWriter`) and a stopped sweep leaves no final table
short of runs.

The parts stay after the sweep (they are the record the final tables are rebuilt from); delete
``DIR/parts`` once you no longer want to resume or extend.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from marketsim import output
from marketsim.errors import MarketsimError
from marketsim.experiments.runs import RunOutcome, execute
from marketsim.experiments.sweepfile import FORMAT, SweepPlan
from marketsim.version import __version__

TABLES = ("industry", "events", "firms")
PART_RE = re.compile(r"^(\d+)\.runs\.parquet$")
ANY_PART_RE = re.compile(r"^(\d+)\.(\w+)\.parquet$")


class StoreError(MarketsimError):
    """A sweep folder is missing, corrupt, or holds a different sweep."""


def _atomic_write_bytes(path: Path, write) -> None:
    """``write(tmp)`` then rename onto ``path``. The temporary name is random but the file is
    created by ``write`` itself, so it gets the user's normal permissions (``mkstemp``'s are 0600)."""
    tmp = str(path.parent / f".tmp.{path.name}.{uuid.uuid4().hex[:12]}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_frame(path: Path, frame: pd.DataFrame) -> None:
    _atomic_write_bytes(path, lambda tmp: frame.to_parquet(tmp, index=False))


def _write_json(path: Path, data: dict[str, Any]) -> None:
    def write(tmp):
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=1, default=str)
            fh.write("\n")

    _atomic_write_bytes(path, write)


class ResultStore:
    """A sweep folder: ``open`` it to read, ``create`` (or re-open) it to run into."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.parts = self.root / "parts"
        self.manifest_path = self.root / "manifest.json"

    # --- opening -----------------------------------------------------------------------------
    @classmethod
    def prepare(cls, root: str | Path, plan: SweepPlan, *, resume: bool = False) -> ResultStore:
        """Create DIR for ``plan``, or re-open it when it holds the same sweep (same fingerprint).

        The same rule as every output folder (`marketsim.output`): a new path or an empty
        folder is created; an existing folder is re-opened only when it is a sweep store
        (its marker, or the manifest of a store from before markers); anything else is refused
        before any run starts. A store written by another marketsim version is refused too:
        resuming it would mix two versions' results in one table.
        """
        store = cls(root)
        if store.manifest_path.is_file() and store.root.resolve() != Path.cwd().resolve():
            manifest = store.manifest()
            store._check_version(manifest)
            if manifest.get("fingerprint") != plan.fingerprint:
                raise StoreError(
                    f"{store.root}: holds results of another sweep ({manifest.get('name')!r}, fingerprint "
                    f"{manifest.get('fingerprint')}; this one is {plan.fingerprint}): choose another --out"
                )
            store._clean_temporaries()
            store.drop_damaged_runs()
            if output.read_marker(store.root) is None:
                output.write_marker(store.root, "sweep")  # a store from before markers
            return store
        problem = output.destination_problem(store.root, "sweep")
        if problem:
            raise StoreError(f"--out {store.root}: {problem}")
        if resume:
            raise StoreError(f"--resume: {store.root} has no sweep to resume (no manifest.json)")
        output.probe_writable(store.root)
        store.parts.mkdir(parents=True, exist_ok=True)
        output.write_marker(store.root, "sweep")
        _write_json(store.manifest_path, store._new_manifest(plan))
        return store

    @classmethod
    def refuse_early(cls, root: str | Path) -> None:
        """The checks of `prepare` that need no plan: a path that can never hold a store is refused."""
        store = cls(root)
        if store.manifest_path.is_file():
            return
        problem = output.destination_problem(store.root, "sweep")
        if problem:
            raise StoreError(f"--out {store.root}: {problem}")

    def _check_version(self, manifest: dict[str, Any]) -> None:
        written = manifest.get("package_version")
        if written != __version__:
            raise StoreError(f"{self.root}: written by marketsim {written}, this is {__version__}; its runs would "
                             "mix two versions' results: choose another --out")

    def drop_damaged_runs(self) -> list[int]:
        """Delete every part of a run whose part files cannot be opened (truncated, corrupt), so it re-runs.

        Parts are written atomically, so damage means the disk or someone else touched them;
        reading each part's footer (Parquet keeps its schema at the end) finds truncation.
        """
        damaged: set[int] = set()
        if not self.parts.is_dir():
            return []
        for path in self.parts.iterdir():
            m = ANY_PART_RE.match(path.name)
            if not m:
                continue
            try:
                pq.ParquetFile(path).metadata
            except (OSError, pa.ArrowException):
                damaged.add(int(m.group(1)))
        for run_id in sorted(damaged):
            for table in ("runs", *TABLES):  # the runs part first: the run counts as not done from here on
                self.part(run_id, table).unlink(missing_ok=True)
        return sorted(damaged)

    @classmethod
    def open(cls, root: str | Path) -> ResultStore:
        """An existing sweep folder, for reading; a clear error if it is not one."""
        store = cls(root)
        if not store.root.is_dir():
            raise StoreError(f"{store.root}: no such sweep folder")  # (or a file: not a folder)
        if not store.manifest_path.exists():
            raise StoreError(f"{store.root}: not a sweep folder (no manifest.json)")
        store.manifest()
        return store

    def _new_manifest(self, plan: SweepPlan) -> dict[str, Any]:
        sweep = plan.sweep
        return {
            "format": FORMAT,
            "name": sweep.name,
            "description": sweep.description,
            "fingerprint": plan.fingerprint,
            "package_version": __version__,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "status": "running",
            "sweep_file": plan.source,
            "sweep_text": plan.text,
            "base": sweep.base,
            "base_scenario": plan.base.model_dump(mode="json"),
            "master_seed": sweep.master_seed,
            "replications": sweep.replications,
            "common_random_numbers": sweep.common_random_numbers,
            "design": sweep.design.model_dump(),
            "parameters": plan.parameters,
            "points": plan.points,
            "seeds": plan.seeds,
            "n_runs": plan.n_runs,
            "record": sweep.record.model_dump(),
            "report": sweep.report.model_dump(),
        }

    def manifest(self) -> dict[str, Any]:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            raise StoreError(f"{self.manifest_path}: unreadable or corrupt ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise StoreError(f"{self.manifest_path}: not a marketsim sweep manifest (format {FORMAT!r} expected)")
        return data

    def update_manifest(self, **fields: Any) -> None:
        _write_json(self.manifest_path, {**self.manifest(), **fields})

    def _clean_temporaries(self) -> None:
        for p in self.parts.glob(".tmp.*"):
            p.unlink(missing_ok=True)
        for p in self.root.glob(".tmp.*"):
            p.unlink(missing_ok=True)

    # --- writing runs --------------------------------------------------------------------------
    def part(self, run_id: int, table: str) -> Path:
        return part_path(self.parts, run_id, table)

    def finished(self) -> set[int]:
        """Run ids whose runs part exists (ok or failed): a resume skips these."""
        if not self.parts.is_dir():
            return set()
        return {int(m.group(1)) for p in self.parts.iterdir() if (m := PART_RE.match(p.name))}

    def count_failed(self, ids) -> int:
        return sum(int(pd.read_parquet(self.part(i, "runs"), columns=["status"])["status"].iloc[0] == "failed")
                   for i in ids)

    def write_run(self, outcome: RunOutcome) -> None:
        """A finished run's parts; the runs part last, so a half-written run counts as not done."""
        write_parts(self.parts, outcome)

    # --- final tables --------------------------------------------------------------------------
    def consolidate(self, plan_parameters: list[str]) -> dict[str, int]:
        """Rebuild runs/industry/events(/firms).parquet from all parts, in run-id order."""
        tables = FinalTables(self, plan_parameters)
        try:
            return tables.finish()
        finally:
            tables.abort()

    # --- reading --------------------------------------------------------------------------------
    def read(self, table: str) -> pd.DataFrame:
        path = self.root / f"{table}.parquet"
        if not path.exists():
            raise StoreError(f"{path}: missing (did the sweep finish? run `marketsim sweep ... --resume`)")
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise StoreError(f"{path}: unreadable or corrupt ({exc})") from None


def part_path(parts: Path, run_id: int, table: str) -> Path:
    return parts / f"{run_id:07d}.{table}.parquet"


def write_parts(parts: Path, outcome: RunOutcome) -> None:
    """Write one run's part files (callable in a worker process: plain paths, no store object)."""
    for table in TABLES:
        frame = getattr(outcome, table)
        if frame is not None:
            _write_frame(part_path(parts, outcome.run_id, table), frame)
    _write_frame(part_path(parts, outcome.run_id, "runs"), pd.DataFrame([outcome.row]))


@dataclass(frozen=True)
class ExecuteAndStore:
    """Run a spec and write its parts where it ran: what executors that share this disk map.

    Writing Parquet in the worker rather than in the sweep process keeps the one sweep process
    from becoming the bottleneck (a run's parts cost about a fifth of a small run's time), and
    sends back only the one-row summary. Remote Dask workers may not see this disk, so they
    return the tables and the sweep process writes them.
    """

    parts: Path

    def __call__(self, spec) -> RunOutcome:
        outcome = execute(spec)
        write_parts(self.parts, outcome)
        return RunOutcome(outcome.run_id, outcome.status, outcome.error, outcome.row,
                          elapsed_s=outcome.elapsed_s, stored=True)


def _read_in_order(paths: list[Path], threads: int = 4, chunk: int = 32):
    """Yield the parts' Arrow tables in the given order, read a chunk at a time on a few threads.

    A sweep's parts are many small files, where opening and decoding dominate; Arrow releases
    the GIL for both, so threads nearly halve the rebuild on two cores. ``ParquetFile.read``
    skips the dataset layer ``pq.read_table`` goes through (a third faster on small files), and
    reading by chunks keeps at most ``chunk`` tables in memory. A part is read on one thread
    (``use_threads=False``): Arrow's threads over a part's few small columns cost more than they
    save (1.8 -> 1.3 ms of CPU a part), and the sweep process reads parts while its workers run.
    """
    if len(paths) < 2:
        yield from (_read_part(p) for p in paths)
        return
    with futures.ThreadPoolExecutor(min(threads, len(paths))) as pool:
        for start in range(0, len(paths), chunk):
            yield from pool.map(_read_part, paths[start:start + chunk])


def _read_part(path: Path) -> pa.Table:
    return pq.ParquetFile(path).read(use_threads=False)


def _runs_frame(tables: list[pa.Table]) -> pd.DataFrame:
    """The runs table from the runs parts' one-row tables: ``pd.concat`` of each part's DataFrame.

    When every part has the same schema (metadata included: the pandas dtypes it records), the
    parts are concatenated as Arrow tables and converted once, which gives the same DataFrame as
    converting each (a conversion costs ~5 ms whatever the rows: a second for 200 runs). Parts
    that differ (a failed run has no outcome columns) take the general path, pandas' outer join.
    """
    first = tables[0].schema
    if all(t.schema.equals(first, check_metadata=True) for t in tables[1:]):
        return pa.concat_tables(tables).to_pandas()
    return pd.concat([t.to_pandas() for t in tables], ignore_index=True)


class _TableWriter:
    """One final table, written part by part into a temporary file, renamed onto the target at the end.

    Parts are buffered and written as one row group per ``ROW_GROUP_PARTS`` parts or
    ``ROW_GROUP_ROWS`` rows: a row group per part (a 120-row industry table) made writing cost
    ~5 ms a part whatever its size, and readers pay per row group too. The schema is the first
    part's; a part whose schema differs is cast to it (as before), so the rows read back are the
    same whatever the grouping. Memory: one buffer (at most ``ROW_GROUP_PARTS`` parts' tables).
    """

    ROW_GROUP_PARTS = 64
    ROW_GROUP_ROWS = 1 << 17

    def __init__(self, target: Path):
        self.target = target
        self.tmp = str(target.parent / f".tmp.{target.name}.{uuid.uuid4().hex[:12]}")
        self.writer: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None
        self.buffer: list[pa.Table] = []
        self.rows = 0

    def add(self, table: pa.Table) -> None:
        if self.schema is None:
            self.schema = table.schema
        elif not table.schema.equals(self.schema, check_metadata=False):
            table = table.cast(self.schema)
        self.buffer.append(table)
        self.rows += table.num_rows
        if len(self.buffer) >= self.ROW_GROUP_PARTS or self.rows >= self.ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self.buffer:
            return
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.tmp, self.schema)
        table = self.buffer[0] if len(self.buffer) == 1 else pa.concat_tables(self.buffer)
        self.writer.write_table(table)  # one row group (Arrow splits at 1Mi rows, as before)
        self.buffer, self.rows = [], 0

    def finish(self, *, empty_ok: bool) -> None:
        """Close and rename onto the target; with no part: an empty table (``empty_ok``) or nothing."""
        self._flush()
        if self.writer is None:
            if not empty_ok:
                return
            pq.write_table(pa.table({"run_id": pa.array([], pa.int64())}), self.tmp)
        else:
            self.writer.close()
            self.writer = None
        os.replace(self.tmp, self.target)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        Path(self.tmp).unlink(missing_ok=True)


class FinalTables:
    """The final tables, built from the parts in run-id order, while the sweep runs or at its end.

    ``add(run_id)`` says a run's parts are complete; the runs before it that are complete too
    are appended, in run-id order, to the final tables being written (temporary files). The
    sweep process does this as results arrive, so the rebuild overlaps the workers' runs
    instead of following them (it was ~7% of a 200-run sweep's time on 2 workers). ``finish``
    appends every remaining finished run (a lost run's place stays empty) and renames the
    tables into place, so the tables are those a rebuild from all parts at the end gives, and
    a sweep that stops early leaves only temporaries (deleted on re-opening). The runs whose
    parts existed before (a resume) are complete from the start.
    """

    def __init__(self, store: ResultStore, plan_parameters: list[str], done: set[int] | None = None):
        self.store = store
        self.parameters = plan_parameters
        self.ready: set[int] = set(store.finished() if done is None else done)
        self.next = 0
        self.runs: list[pa.Table] = []
        self.ok = 0
        self.writers = {name: _TableWriter(store.root / f"{name}.parquet") for name in TABLES}

    def add(self, run_id: int) -> None:
        self.ready.add(run_id)
        if self.next in self.ready:  # (the first add also appends a resumed sweep's finished prefix)
            self._advance()

    def _advance(self) -> None:
        start = self.next
        while self.next in self.ready:
            self.next += 1
        self._append(range(start, self.next))

    def _append(self, ids) -> None:
        ids = list(ids)
        if not ids:
            return
        runs = list(_read_in_order([self.store.part(i, "runs") for i in ids]))
        self.runs.extend(runs)
        ok = [i for i, t in zip(ids, runs) if t.column("status")[0].as_py() == "ok"]
        self.ok += len(ok)
        for name in TABLES:
            paths = [p for i in ok if (p := self.store.part(i, name)).exists()]
            for table in _read_in_order(paths):
                self.writers[name].add(table)

    def finish(self) -> dict[str, int]:
        """Append the remaining finished runs, write runs.parquet, rename the tables into place."""
        self.ready |= self.store.finished()
        self._advance()
        self._append(sorted(i for i in self.ready if i > self.next))
        if self.runs:
            table = _runs_frame(self.runs)
        else:
            table = pd.DataFrame(columns=["run_id", "point_id", "replication", "seed", *self.parameters,
                                          "status", "error"])
        _write_frame(self.store.root / "runs.parquet", table)
        for name in TABLES:
            self.writers[name].finish(empty_ok=name != "firms")
        return {"ok": self.ok, "failed": len(self.runs) - self.ok}

    def abort(self) -> None:
        """Delete the temporaries of tables not renamed into place (a no-op after ``finish``)."""
        for writer in self.writers.values():
            writer.abort()
