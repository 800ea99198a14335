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

import math
from collections import deque
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

import mesa
import numpy as np
import pandas as pd

from marketsim import hugepages
from marketsim.firms.book import without_residue

INITIAL_ROWS = 1024  # first allocation of a buffer; it doubles when full


class ColumnBuffer:
    """Named numpy columns that grow by doubling: n rows cost one slice write per column."""

    def __init__(self, dtypes: dict[str, Any], capacity: int = INITIAL_ROWS):
        self.size = 0
        self.capacity = capacity
        # a run-long buffer: on huge pages when large (``marketsim.hugepages``: far fewer page faults)
        self.arrays = {name: hugepages.empty(capacity, dtype) for name, dtype in dtypes.items()}

    def __len__(self) -> int:
        return self.size

    def _reserve(self, n: int) -> None:
        if self.size + n <= self.capacity:
            return
        capacity = self.capacity = max(self.size + n, 2 * self.capacity)
        for name, old in self.arrays.items():
            new = hugepages.empty(capacity, old.dtype)
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
        self._log._flush()  # events added since this view was made
        buf = self._log.buffer
        return tuple(buf.arrays[c][i].item() if EVENT_BUFFER_DTYPES[c] is not object else buf.arrays[c][i]
                     for c in EVENT_COLUMNS)


# columns an ``add_many`` may give one value for all its events (the others are one per event)
SCALAR_TYPES = (int, float, str, np.generic)


class EventLog:
    """Events in step order. Single events wait in a list of tuples (a tuple append is the cheapest
    thing Python does) and join the numpy columns in one block when read or when a vector of
    events arrives, so order is kept. ``add_many`` writes the columns it has one value per event
    for (firm, site, MW: one slice write each); a column with one value for all of them (step,
    date, kind, the defaults) waits as a run of rows (``_runs``) that the next such value extends
    when it is the same and follows on, so a step's vectors of events cost one write of their step,
    date and defaults, not one each (a slice write costs ~2 us; a step made ~8 vectors x 7)."""

    def __init__(self, model):
        self.model = model
        self.buffer = ColumnBuffer(EVENT_BUFFER_DTYPES)
        self._pending: list[tuple] = []
        # column -> [start, stop, value]: rows of the buffer that hold ``value`` once it is written
        self._runs: dict[str, list] = {}
        # events of each kind by step, counted as they are added (every row comes in through ``add``
        # or ``add_many``): the outcomes ask for a step's counts twice a step, and a count kept is
        # cheaper than a search of the step column and a count of its kinds
        self._counts: dict[int, dict[str, int]] = {}

    def add(self, kind: str, firm_id, site_id=-1, mw=0.0, *, counterparty_id=-1, hashrate_ehs=0.0,
            value_usd=0.0, detail: str = "") -> None:
        m = self.model
        step = m.steps_done
        self._pending.append((step, m.market.state.date, kind, int(firm_id), int(counterparty_id),
                              int(site_id), float(mw), float(hashrate_ehs), float(value_usd), detail))
        counts = self._counts.get(step)
        if counts is None:
            counts = self._counts[step] = {}
        counts[kind] = counts.get(kind, 0) + 1

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
        if self._pending:  # the single events before these come first
            self.buffer.extend_rows(self._pending)
            self._pending = []
        m = self.model
        step = m.steps_done
        counts = self._counts.get(step)
        if counts is None:
            counts = self._counts[step] = {}
        counts[kind] = counts.get(kind, 0) + n
        buf = self.buffer
        buf._reserve(n)
        start = buf.size
        stop = buf.size = start + n
        arrays, runs = buf.arrays, self._runs
        arrays["firm_id"][start:stop] = firm_ids[:n]
        arrays["site_id"][start:stop] = site_ids[:n]
        arrays["mw"][start:stop] = mw[:n]
        if not isinstance(detail, str):
            detail = np.asarray(detail)[:n]
        for name, value in (("step", step), ("date", m.market.state.date), ("kind", kind),
                            ("counterparty_id", counterparty_ids), ("hashrate_ehs", hashrate_ehs),
                            ("value_usd", values), ("detail", detail)):
            if not isinstance(value, SCALAR_TYPES):
                arrays[name][start:stop] = value
                continue
            run = runs.get(name)
            if run is not None:
                if run[1] == start and _same_scalar(run[2], value):
                    run[1] = stop  # the run goes on over these rows
                    continue
                arrays[name][run[0]:run[1]] = run[2]
            runs[name] = [start, stop, value]

    def _flush(self) -> None:
        """Write what waits into the columns: the single events, then the runs of one value."""
        if self._pending:
            self.buffer.extend_rows(self._pending)
            self._pending = []
        if self._runs:
            arrays = self.buffer.arrays  # the rows of a run are where they were if the buffer grew since
            for name, (start, stop, value) in self._runs.items():
                arrays[name][start:stop] = value
            self._runs = {}

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
        """Events of each kind in one step (kinds in the order of their first event)."""
        return dict(self._counts.get(step, ()))

    def value_at(self, step: int, kind: str) -> float:
        if kind not in self._counts.get(step, ()):
            return 0.0  # no such event in the step (the sum of nothing)
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


def _same_scalar(a, b) -> bool:
    """Whether a column written with ``a`` holds what it would hold written with ``b``: the same
    value of the same type, and for zeros the same sign (0.0 == -0.0, but the bits differ)."""
    if a is b:
        return True
    if type(a) is not type(b) or not a == b:
        return False
    return a != 0 or not isinstance(a, (float, np.floating)) or math.copysign(1.0, a) == math.copysign(1.0, b)


# --- per-firm records ----------------------------------------------------------------------------------
FIRM_COLUMNS = ["step", "date", "firm_id", "name", "is_public", "rule", "state", "mw_mining", "mw_idle",
                "mw_converting", "mw_ai", "mw_ai_empty", "ai_contracted_it_mw", "mw_shutdown", "hashrate_ehs", "efficiency_j_per_th",
                "power_usd_per_mwh", "cash_usd", "debt_usd", "btc_held", "revenue_mining_usd", "revenue_ai_usd",
                "profit_usd", "capex_usd"]
# what the buffer holds: no date (one per snapshot) and the text columns as codes, turned into text
# once, at the end, by an Arrow ``take`` (10x faster than converting 100,000 Python strings):
# ``name`` by firm id (the book never renames a firm), ``rule`` by index into ``model.rules``,
# ``state`` by index into ``FirmRecorder.states`` ("active" first, then exit reasons as they occur).
FIRM_BUFFER_DTYPES = {"step": np.int64, "firm_id": np.int64, "is_public": bool, "rule": np.int64, "state": np.int64}
# the float columns, kept as the rows of one 2-D block: a snapshot takes its firms' rows of all of
# them in one fancy index and writes them in one slice (not 17 of each: ~2 us apiece, every step)
FIRM_FLOAT_COLUMNS = FIRM_COLUMNS[7:]
FLOATS = "floats"  # the key of that block in ``snapshot_columns``
ACTIVE = "active"


def snapshot_columns(model, state_code) -> dict[str, Any]:
    """The firms.parquet columns of the firms still in business or leaving in this step, as numpy
    arrays (text as codes, see ``FIRM_BUFFER_DTYPES``; ``step`` and ``date`` as scalars; the float
    columns as the rows of one (``FIRM_FLOAT_COLUMNS``, firms) block under ``FLOATS``). ``state_code``
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
    led = firms.ledger
    # every firm's float columns (``FIRM_FLOAT_COLUMNS`` order) as one block, each value computed as
    # for the firm alone (element-wise), then the recorded firms' columns of it in one fancy index
    per_firm = np.concatenate((
        mw_mining, mw_idle, mw_converting, mw_ai, without_residue(mw_converted - mw_ai), contracted_it, mw_shutdown,
        np.asarray(model.tally.firm_hashrate_ehs, dtype=float),
        np.divide(mw_machines, machine_th, out=np.full(n, np.nan), where=machine_th > 0),  # efficiency
        power_mw / np.maximum(capacity, 1e-12),  # power price, MW-weighted
        firms.cash_usd, firms.debt_usd, firms.btc_held, led["revenue_mining_usd"], led["revenue_ai_usd"],
        firms.profit_usd, led["capex_usd"],
    )).reshape(len(FIRM_FLOAT_COLUMNS), n)
    return {
        "step": model.steps_done,
        "date": model.market.state.date,
        "firm_id": rows,
        "is_public": np.asarray(firms.is_public)[rows],
        "rule": np.asarray(firms.rule)[rows],
        "state": state,
        FLOATS: per_firm[:, rows],
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
        # the float columns as rows, with as many places as the buffer (grown with it, see ``record``)
        self.floats = hugepages.empty((len(FIRM_FLOAT_COLUMNS), self.buffer.capacity))
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
        start = self.buffer.size
        self.buffer.extend(n, cols)
        if self.buffer.capacity > self.floats.shape[1]:  # the buffer grew: so do the float rows
            grown = hugepages.empty((len(FIRM_FLOAT_COLUMNS), self.buffer.capacity))
            grown[:, :start] = self.floats[:, :start]
            self.floats = grown
        self.floats[:, start:start + n] = cols[FLOATS]
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
        size = self.buffer.size
        out.update({c: self.floats[j, :size].copy() for j, c in enumerate(FIRM_FLOAT_COLUMNS)})
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
        # the step's values in column order, and the list each one goes to: ``collect`` appends
        # them in one C-level pass (``map``), not one interpreted loop turn per column
        self._values = itemgetter(*columns) if len(columns) > 1 else (lambda outcome: tuple(outcome[c] for c in columns))
        self._lists = [self.model_vars[c] for c in columns]

    def collect(self, model) -> None:
        if hasattr(self, "_collection_steps"):
            self._collection_steps.append(model.time)
        deque(map(list.append, self._lists, self._values(model.outcome)), maxlen=0)
