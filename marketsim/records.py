"""Event table, per-firm records and the industry collector: numpy columns during the run, DataFrames once.

Building a pandas object costs ~0.1-1 ms whatever its size, so a table built every step would be
the largest fixed cost of a small run (issue 14). Here every step writes numpy columns into
``ColumnBuffer``s (preallocated, doubled when full, so appending is amortised O(1)); the
DataFrames are built once, when ``frame()`` is asked for (at the end of a run, or by the
dashboard). The tables are the same, column for column and dtype for dtype, as when they were
built step by step (``tests/test_records.py`` checks it against that slow path).

Events (conversions, leases, curtailments, upgrades, expansions, bankruptcies, sales,
acquisitions) are rows with date, parties, site, MW and a USD value. Per-firm records are
snapshots every ``firm_record_every`` steps of the firms in business or leaving in that step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import mesa
import numpy as np
import pandas as pd

from marketsim.firms.book import without_residue

INITIAL_ROWS = 1024  # first allocation of a buffer; it doubles when full


class ColumnBuffer:
    """Named numpy columns that grow by doubling: n rows cost one slice write per column."""

    def __init__(self, dtypes: dict[str, Any], capacity: int = INITIAL_ROWS):
        self.size = 0
        self.capacity = capacity
        self.arrays = {name: np.empty(capacity, dtype) for name, dtype in dtypes.items()}

    def __len__(self) -> int:
        return self.size

    def _reserve(self, n: int) -> None:
        if self.size + n <= self.capacity:
            return
        capacity = self.capacity = max(self.size + n, 2 * self.capacity)
        for name, old in self.arrays.items():
            new = np.empty(capacity, old.dtype)
            new[: self.size] = old[: self.size]
            self.arrays[name] = new

    def extend(self, n: int, values: dict[str, Any]) -> None:
        """Append ``n`` rows; each value is an array of length ``n`` or a scalar for all of them."""
        if n <= 0:
            return
        self._reserve(n)
        start, stop = self.size, self.size + n
        for name, array in self.arrays.items():
            array[start:stop] = values[name]
        self.size = stop

    def extend_rows(self, rows: list[tuple]) -> None:
        """Append Python row tuples (in column order): one transpose, one slice write per column."""
        if not rows:
            return
        n = len(rows)
        self._reserve(n)
        start, stop = self.size, self.size + n
        for array, column in zip(self.arrays.values(), zip(*rows)):
            array[start:stop] = column
        self.size = stop

    def column(self, name: str) -> np.ndarray:
        """The filled part of one column (a view: copy it to keep it past the next append)."""
        return self.arrays[name][: self.size]


# --- events ------------------------------------------------------------------------------------------
EVENT_COLUMNS = ["step", "date", "kind", "firm_id", "counterparty_id", "site_id", "mw", "hashrate_ehs",
                 "value_usd", "detail"]
EVENT_BUFFER_DTYPES = {"step": np.int64, "date": object, "kind": object, "firm_id": np.int64,
                "counterparty_id": np.int64, "site_id": np.int64, "mw": np.float64, "hashrate_ehs": np.float64,
                "value_usd": np.float64, "detail": object}


class EventRows(Sequence):
    """The event log read as row tuples (``EVENT_COLUMNS`` order), built only for the rows read,
    so reading the newest events back from the end costs nothing per past event."""

    def __init__(self, log: EventLog):
        self._log = log

    def __len__(self) -> int:
        return len(self._log)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("event row index out of range")
        buf = self._log.buffer
        return tuple(buf.arrays[c][i].item() if EVENT_BUFFER_DTYPES[c] is not object else buf.arrays[c][i]
                     for c in EVENT_COLUMNS)


class EventLog:
    """Events in step order. Single events wait in a list of tuples (a tuple append is the cheapest
    thing Python does) and join the numpy columns in one block when read or when a vector of
    events arrives, so order is kept and ``add_many`` costs one slice write per column."""

    def __init__(self, model):
        self.model = model
        self.buffer = ColumnBuffer(EVENT_BUFFER_DTYPES)
        self._pending: list[tuple] = []
        self._counts: tuple = (None, None, {})  # (step, rows in the log, counts): asked twice a step

    def add(self, kind: str, firm_id, site_id=-1, mw=0.0, *, counterparty_id=-1, hashrate_ehs=0.0,
            value_usd=0.0, detail: str = "") -> None:
        m = self.model
        self._pending.append((m.steps_done, m.market.state.date, kind, int(firm_id), int(counterparty_id),
                              int(site_id), float(mw), float(hashrate_ehs), float(value_usd), detail))

    def add_many(self, kind: str, firm_ids, site_ids, mw, *, value_usd=None, counterparty_ids=-1,
                 hashrate_ehs=0.0, detail="") -> None:
        """One event per element of ``firm_ids``/``site_ids``/``mw`` (and ``value_usd``, default 0);
        ``detail`` is one string for all of them or one per event."""
        firm_ids, site_ids, mw = np.asarray(firm_ids), np.asarray(site_ids), np.asarray(mw, dtype=float)
        n = min(len(firm_ids), len(site_ids), len(mw))  # zip's rule: the shortest decides
        if value_usd is None:
            values = 0.0  # one scalar for the whole slice
        else:
            values = np.asarray(value_usd, dtype=float)
            n = min(n, len(values))
            values = values[:n]
        if n == 0:
            return
        self._flush()
        m = self.model
        self.buffer.extend(n, {
            "step": m.steps_done, "date": m.market.state.date, "kind": kind, "firm_id": firm_ids[:n],
            "counterparty_id": counterparty_ids, "site_id": site_ids[:n], "mw": mw[:n], "hashrate_ehs": hashrate_ehs,
            "value_usd": values, "detail": detail if isinstance(detail, str) else np.asarray(detail)[:n],
        })

    def _flush(self) -> None:
        if self._pending:
            self.buffer.extend_rows(self._pending)
            self._pending = []

    def __len__(self) -> int:
        return len(self.buffer) + len(self._pending)

    @property
    def rows(self) -> EventRows:
        self._flush()
        return EventRows(self)

    def _span(self, step: int) -> slice:
        """Rows of one step: they are appended in step order, so two binary searches find them."""
        self._flush()
        steps = self.buffer.column("step")
        return slice(int(steps.searchsorted(step, "left")), int(steps.searchsorted(step, "right")))

    def columns_at(self, step: int) -> dict[str, np.ndarray]:
        """The rows of one step as columns (``EVENT_COLUMNS``), for checks that read a step's events."""
        span = self._span(step)
        return {c: self.buffer.column(c)[span] for c in EVENT_COLUMNS}

    def counts_at(self, step: int) -> dict[str, int]:
        if self._counts[:2] != (step, len(self)):  # the log only grows: same length, same rows
            span = self._span(step)  # first: it flushes the pending rows into the columns
            self._counts = (step, len(self), dict(Counter(self.buffer.column("kind")[span])))
        return dict(self._counts[2])

    def value_at(self, step: int, kind: str) -> float:
        if self._counts[:2] == (step, len(self)) and kind not in self._counts[2]:
            return 0.0  # the step's counts, just read, have no such event (the sum of nothing)
        span = self._span(step)
        kinds, values = self.buffer.column("kind")[span], self.buffer.column("value_usd")[span]
        # Python's sum, newest first, as the row-by-row log did: the same float to the last bit
        return float(sum(reversed(values[kinds == kind].tolist())))

    def frame(self) -> pd.DataFrame:
        self._flush()
        if not len(self.buffer):
            df = pd.DataFrame([], columns=EVENT_COLUMNS)
        else:
            df = pd.DataFrame({c: self.buffer.column(c) for c in EVENT_COLUMNS}, copy=True)
        df["date"] = pd.to_datetime(df["date"])
        return df


# --- per-firm records ----------------------------------------------------------------------------------
FIRM_COLUMNS = ["step", "date", "firm_id", "name", "is_public", "rule", "state", "mw_mining", "mw_idle",
                "mw_converting", "mw_ai", "mw_ai_empty", "ai_contracted_it_mw", "mw_shutdown", "hashrate_ehs", "efficiency_j_per_th",
                "power_usd_per_mwh", "cash_usd", "debt_usd", "btc_held", "revenue_mining_usd", "revenue_ai_usd",
                "profit_usd", "capex_usd"]
# what the buffer holds: no date (one per snapshot) and the text columns as codes, turned into text
# once, at the end, by an Arrow ``take`` (10x faster than converting 100,000 Python strings):
# ``name`` by firm id (the book never renames a firm), ``rule`` by index into ``model.rules``,
# ``state`` by index into ``FirmRecorder.states`` ("active" first, then exit reasons as they occur).
FIRM_BUFFER_DTYPES = {"step": np.int64, "firm_id": np.int64, "is_public": bool, "rule": np.int64, "state": np.int64,
               **{c: np.float64 for c in FIRM_COLUMNS[7:]}}
ACTIVE = "active"


def snapshot_columns(model, state_code) -> dict[str, Any]:
    """The firms.parquet columns of the firms still in business or leaving in this step, as numpy
    arrays (text as codes, see ``FIRM_BUFFER_DTYPES``; ``step`` and ``date`` as scalars). ``state_code``
    maps a leaving firm's exit reason to its code (a firm in business is ``ACTIVE``, code 0)."""
    firms, sites = model.firms, model.sites
    n = len(firms)
    rows = (firms.active | model.left_this_step).nonzero()[0]
    state = np.zeros(len(rows), np.int64)
    for i in (~firms.active[rows]).nonzero()[0]:  # the few leaving this step
        state[i] = state_code(model.exit_reason[rows[i]])
    # the per-firm sums of eleven site columns in one ``np.bincount``: column j's sites go to bins
    # j * n + owner, each bin still summed in site order, so the same floats as eleven bincounts
    site_columns = (sites.mw_machines, np.divide(sites.mw_machines, sites.efficiency_j_per_th), sites.mw_ai_leased,
                    model.seen.site_power_usd_per_mwh * sites.capacity_mw, sites.capacity_mw, sites.mw_mining,
                    sites.mw_idle, sites.mw_converting, sites.mw_converted,
                    model.leases.contracted_it_by_site(len(sites)), sites.mw_shutdown)
    k = len(site_columns)
    bins = (sites.owner + n * np.arange(k)[:, None]).ravel()
    (mw_machines, machine_th, mw_ai, power_mw, capacity, mw_mining, mw_idle, mw_converting, mw_converted,
     contracted_it, mw_shutdown) = np.bincount(bins, weights=np.concatenate(site_columns), minlength=n * k).reshape(k, n)
    mw_machines, machine_th = mw_machines[rows], machine_th[rows]
    power = power_mw / np.maximum(capacity, 1e-12)
    led = firms.ledger
    return {
        "step": model.steps_done,
        "date": model.market.state.date,
        "firm_id": rows,
        "is_public": np.asarray(firms.is_public)[rows],
        "rule": np.asarray(firms.rule)[rows],
        "state": state,
        "mw_mining": mw_mining[rows],
        "mw_idle": mw_idle[rows],
        "mw_converting": mw_converting[rows],
        "mw_ai": mw_ai[rows],
        "mw_ai_empty": without_residue(mw_converted - mw_ai)[rows],
        "ai_contracted_it_mw": contracted_it[rows],
        "mw_shutdown": mw_shutdown[rows],
        "hashrate_ehs": np.asarray(model.tally.firm_hashrate_ehs, dtype=float)[rows],
        "efficiency_j_per_th": np.divide(mw_machines, machine_th, out=np.full(len(rows), np.nan),
                                         where=machine_th > 0),
        "power_usd_per_mwh": power[rows],
        "cash_usd": firms.cash_usd[rows],
        "debt_usd": firms.debt_usd[rows],
        "btc_held": firms.btc_held[rows],
        "revenue_mining_usd": led["revenue_mining_usd"][rows],
        "revenue_ai_usd": led["revenue_ai_usd"][rows],
        "profit_usd": firms.profit_usd[rows],
        "capex_usd": led["capex_usd"][rows],
    }


def text_column(table: Sequence[str], codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``table[codes]`` as pandas' text column (dtype ``str``), without a Python string per row."""
    import pyarrow as pa

    return pd.array(pa.array(list(table), pa.large_string()).take(pa.array(codes)), dtype="str")


class FirmRecorder:
    def __init__(self, expected_rows: int = INITIAL_ROWS):
        """``expected_rows``: the rows the run is expected to record (the model passes firms x
        snapshots), allocated at once instead of grown by doubling from ``INITIAL_ROWS`` (each
        doubling copies every column; pages never written cost no memory)."""
        self.buffer = ColumnBuffer(FIRM_BUFFER_DTYPES, max(int(expected_rows), INITIAL_ROWS))
        self.dates: list = []
        self.counts: list[int] = []
        self.names: Sequence[str] = []
        self.rule_names: list[str] = []
        self.states = [ACTIVE]
        self._state_codes = {ACTIVE: 0}

    def state_code(self, state: str) -> int:
        code = self._state_codes.get(state)
        if code is None:
            code = self._state_codes[state] = len(self.states)
            self.states.append(state)
        return code

    def record(self, model) -> None:
        cols = snapshot_columns(model, self.state_code)
        n = len(cols["firm_id"])
        self.buffer.extend(n, cols)
        self.dates.append(cols["date"])
        self.counts.append(n)
        self.names = model.firms.name
        self.rule_names = [r.name for r in model.rules]

    def frame(self) -> pd.DataFrame:
        """The firms table. Each column is copied out of the buffers once (recording may go on) and
        handed to pandas as it is: ``copy=True`` would copy again and stack the float columns into
        one 2-D block, half a second at 10,000 firms x 120 steps (the same table either way)."""
        if not self.counts:
            return pd.DataFrame(columns=FIRM_COLUMNS)
        def col(name):
            return self.buffer.column(name).copy()

        out = {
            "step": col("step"),
            "date": np.repeat(pd.DatetimeIndex(self.dates).to_numpy(), self.counts),
            "firm_id": col("firm_id"),
            "name": text_column(self.names, col("firm_id")),
            "is_public": col("is_public"),
            "rule": text_column(self.rule_names, col("rule")),
            "state": text_column(self.states, col("state")),
        }
        out.update({c: col(c) for c in FIRM_COLUMNS[7:]})
        return pd.DataFrame(out, columns=FIRM_COLUMNS, copy=False)


def firm_snapshot(model) -> pd.DataFrame:
    """The firms of this step as a table (what the dashboard shows; a run's records keep arrays)."""
    one = FirmRecorder()
    one.record(model)
    return one.frame()


# --- industry outcomes -----------------------------------------------------------------------------------
class OutcomeCollector(mesa.DataCollector):
    """A Mesa DataCollector of the industry outcomes, one model reporter per column, that collects
    the step's outcome dict (``model.outcome``) in one pass: the stock ``collect`` calls a lambda and
    deep-copies a value per column per step (~50 us a step for 48 columns). The values are numbers
    and timestamps, immutable, so no copy is needed. ``model_vars`` and
    ``get_model_vars_dataframe()`` are Mesa's own, so Mesa's plots and users see a DataCollector."""

    def __init__(self, columns: Iterable[str]):
        columns = list(columns)
        super().__init__(model_reporters={c: (lambda m, c=c: m.outcome[c]) for c in columns})
        self._columns = [(c, self.model_vars[c]) for c in columns]

    def collect(self, model) -> None:
        if hasattr(self, "_collection_steps"):
            self._collection_steps.append(model.time)
        outcome = model.outcome
        for column, values in self._columns:
            values.append(outcome[column])
