"""Recording into arrays gives the same tables as building pandas objects step by step (issue 14).

The reference below is the recording code as it was before the change (a DataFrame per snapshot,
an event log of tuples, Mesa's stock DataCollector with a lambda per column), kept here on
purpose: every model run in this file records through both paths at once, so the comparison
holds whatever the decision code does to the numbers.
"""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd
import pytest

from marketsim import metrics
from marketsim.firms.book import without_residue
from marketsim.model import IndustryModel
from marketsim.records import EVENT_COLUMNS, FIRM_COLUMNS, ColumnBuffer, EventLog, firm_snapshot
from marketsim.runner import result_of
from marketsim.scenario import load_scenario


# --- the slow reference: the old code path, verbatim in what it computes ------------------------------
def reference_snapshot(model) -> pd.DataFrame:
    firms, sites = model.firms, model.sites
    n = len(firms)

    def by_firm(values):
        return np.bincount(sites.owner, weights=values, minlength=n)

    mw_machines = by_firm(sites.mw_machines)
    machine_th = by_firm(np.divide(sites.mw_machines, sites.efficiency_j_per_th))
    mw_ai = by_firm(sites.mw_ai_leased)
    power = by_firm(model.seen.site_power_usd_per_mwh * sites.capacity_mw) / np.maximum(by_firm(sites.capacity_mw), 1e-12)
    led = firms.ledger
    frame = pd.DataFrame({
        "step": model.steps_done, "date": model.market.state.date, "firm_id": np.arange(n), "name": firms.name,
        "is_public": firms.is_public, "rule": [model.rules[r].name for r in firms.rule],
        "state": model.firm_states(), "mw_mining": by_firm(sites.mw_mining), "mw_idle": by_firm(sites.mw_idle),
        "mw_converting": by_firm(sites.mw_converting), "mw_ai": mw_ai,
        "mw_ai_empty": without_residue(by_firm(sites.mw_converted) - mw_ai),
        "ai_contracted_it_mw": by_firm(model.leases.contracted_it_by_site(len(sites))),
        "mw_shutdown": by_firm(sites.mw_shutdown),
        "hashrate_ehs": model.tally.firm_hashrate_ehs,
        "efficiency_j_per_th": np.divide(mw_machines, machine_th, out=np.full(n, np.nan), where=machine_th > 0),
        "power_usd_per_mwh": power, "cash_usd": firms.cash_usd.copy(), "debt_usd": firms.debt_usd.copy(),
        "btc_held": firms.btc_held.copy(), "revenue_mining_usd": led["revenue_mining_usd"].copy(),
        "revenue_ai_usd": led["revenue_ai_usd"].copy(), "profit_usd": firms.profit_usd,
        "capex_usd": led["capex_usd"].copy(),
    })
    return frame[firms.active | model.left_this_step].reset_index(drop=True)


class ReferenceEventLog:
    def __init__(self, model):
        self.model, self.rows = model, []

    def add(self, kind, firm_id, site_id=-1, mw=0.0, *, counterparty_id=-1, hashrate_ehs=0.0, value_usd=0.0,
            detail=""):
        m = self.model
        self.rows.append((m.steps_done, m.market.state.date, kind, int(firm_id), int(counterparty_id),
                          int(site_id), float(mw), float(hashrate_ehs), float(value_usd), detail))

    def add_many(self, kind, firm_ids, site_ids, mw, *, value_usd=None, detail=""):
        values = np.zeros(len(firm_ids)) if value_usd is None else np.asarray(value_usd, dtype=float)
        details = np.broadcast_to(np.asarray(detail, dtype=object), np.shape(values))
        for f, s, w, v, d in zip(firm_ids, site_ids, mw, values, details):
            self.add(kind, f, s, w, value_usd=v, detail=d)

    def _rows_at(self, step):
        for row in reversed(self.rows):
            if row[0] != step:
                break
            yield row

    def counts_at(self, step):
        counts = {}
        for row in self._rows_at(step):
            counts[row[2]] = counts.get(row[2], 0) + 1
        return counts

    def value_at(self, step, kind):
        return float(sum(r[8] for r in self._rows_at(step) if r[2] == kind))

    def frame(self):
        df = pd.DataFrame(self.rows, columns=EVENT_COLUMNS)
        df["date"] = pd.to_datetime(df["date"])
        return df


class TeeEvents:
    """The model's event log, with every event also written to the reference log; the per-step
    counts and values the outcomes read are checked against the reference as they are read."""

    def __init__(self, new: EventLog, ref: ReferenceEventLog):
        self.new, self.ref = new, ref

    def add(self, *args, **kwargs):
        self.new.add(*args, **kwargs)
        self.ref.add(*args, **kwargs)

    def add_many(self, *args, **kwargs):
        self.new.add_many(*args, **kwargs)
        self.ref.add_many(*args, **kwargs)

    def counts_at(self, step):
        counts = self.new.counts_at(step)
        assert counts == self.ref.counts_at(step)
        return counts

    def value_at(self, step, kind):
        value = self.new.value_at(step, kind)
        assert value == self.ref.value_at(step, kind)  # to the last bit
        return value

    def columns_at(self, step):  # the invariants read the new log; the reference is checked above
        return self.new.columns_at(step)

    def frame(self):
        return self.new.frame()


class RecordingTwice(IndustryModel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ref_events = ReferenceEventLog(self)
        self.events = TeeEvents(self.events, self.ref_events)
        self.ref_snapshots: list[pd.DataFrame] = []
        self.ref_collector = mesa.DataCollector(
            model_reporters={c: (lambda m, c=c: m.outcome[c]) for c in metrics.INDUSTRY_COLUMNS})

    def record(self):
        n_before = len(self.firm_records.counts)
        super().record()
        self.ref_collector.collect(self)
        if len(self.firm_records.counts) > n_before:  # the recorder took a snapshot this step
            self.ref_snapshots.append(reference_snapshot(self))

    def reference_tables(self):
        firms = (pd.concat(self.ref_snapshots, ignore_index=True) if self.ref_snapshots
                 else pd.DataFrame(columns=FIRM_COLUMNS))
        return self.ref_collector.get_model_vars_dataframe().reset_index(drop=True), firms, self.ref_events.frame()


def assert_same_table(new: pd.DataFrame, ref: pd.DataFrame) -> None:
    assert list(new.columns) == list(ref.columns)
    assert list(new.dtypes) == list(ref.dtypes)
    pd.testing.assert_frame_equal(new, ref, check_exact=True)


CASES = {
    # bankruptcies, auctions and take-overs: events with counterparties, values and details
    "bear, records every step": dict(scenario="bear-consolidation", n_firms=80, months=48, seed=5),
    # leases, conversions and tenant failures; snapshots every 5 steps plus the last one
    "AI boom and bust, every 5th step": dict(scenario="ai-boom-bust", n_firms=60, months=37, seed=7,
                                             firm_record_every=5),
    "no firm records": dict(scenario="baseline", n_firms=40, months=12, seed=2, firm_record_every=0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_run_tables_equal_the_step_by_step_reference(case):
    params = dict(CASES[case])
    name, seed = params.pop("scenario"), params.pop("seed")
    model = RecordingTwice(load_scenario(name, **params), rng=seed).run()
    result = result_of(model, seed)
    ref_industry, ref_firms, ref_events = model.reference_tables()
    assert len(ref_events) > 0 and len(ref_industry) == model.n_steps
    assert_same_table(result.industry, ref_industry)
    assert_same_table(result.firms, ref_firms)
    assert_same_table(result.events, ref_events)


def test_the_reference_comparison_sees_a_changed_value():
    """The comparison can fail: one wrong cash figure in one snapshot is caught."""
    model = RecordingTwice(load_scenario("baseline", n_firms=20, months=3), rng=1).run()
    result = result_of(model)
    _, ref_firms, _ = model.reference_tables()
    ref_firms.loc[len(ref_firms) // 2, "cash_usd"] += 1.0
    with pytest.raises(AssertionError):
        assert_same_table(result.firms, ref_firms)


def test_firm_snapshot_equals_the_reference_snapshot():
    model = IndustryModel(load_scenario("bear-consolidation", n_firms=50, months=30), rng=3)
    for _ in range(30):
        model.step()
        assert_same_table(firm_snapshot(model), reference_snapshot(model))


def test_tables_asked_for_mid_run_are_copies_and_the_run_goes_on():
    model = IndustryModel(load_scenario("bear-consolidation", n_firms=40, months=24), rng=2)
    for _ in range(12):
        model.step()
    early = result_of(model)
    early_firms, early_events = early.firms.copy(), early.events.copy()
    model.run()
    late = result_of(model)
    pd.testing.assert_frame_equal(early.firms, early_firms)  # not views of the buffers
    pd.testing.assert_frame_equal(early.events, early_events)
    pd.testing.assert_frame_equal(late.firms.iloc[: len(early_firms)], early_firms)
    assert late.firms["step"].max() == 23 and early_firms["step"].max() == 11


def test_datacollector_is_a_mesa_datacollector_with_one_value_per_column_per_step():
    model = IndustryModel(load_scenario("baseline", n_firms=20, months=4), rng=0).run()
    dc = model.datacollector
    assert isinstance(dc, mesa.DataCollector)
    assert list(dc.model_reporters) == metrics.INDUSTRY_COLUMNS
    assert all(len(v) == 4 for v in dc.model_vars.values())
    table = dc.get_model_vars_dataframe()
    assert table["step"].tolist() == [0, 1, 2, 3]
    assert table["firms_active"].iloc[-1] == model.outcome["firms_active"]


# --- the buffers, on hand-worked rows -------------------------------------------------------------------
def test_column_buffer_grows_and_keeps_rows_in_order():
    buf = ColumnBuffer({"a": np.int64, "b": np.float64, "c": object}, capacity=2)
    buf.extend(3, {"a": np.array([1, 2, 3]), "b": 0.5, "c": "x"})  # past the capacity: doubles to 4, then 3 rows
    buf.extend_rows([(4, 1.5, "y"), (5, 2.5, "z")])
    buf.extend(0, {})
    assert len(buf) == 5
    assert buf.column("a").tolist() == [1, 2, 3, 4, 5]
    assert buf.column("b").tolist() == [0.5, 0.5, 0.5, 1.5, 2.5]
    assert buf.column("c").tolist() == ["x", "x", "x", "y", "z"]


class _Stub:
    """Just what an event log reads from a model: the step and its date."""

    def __init__(self):
        self.steps_done = 0
        self.market = type("M", (), {"state": type("S", (), {"date": pd.Timestamp("2024-01-01")})()})()


def test_event_log_keeps_single_and_vector_events_in_order_with_per_step_counts_and_values():
    model = _Stub()
    log = EventLog(model)
    log.add("bankruptcy", 3, -1, 10.0, value_usd=5.0, detail="d")
    log.add_many("curtailment", np.array([1, 2]), np.array([7, 8]), np.array([1.0, 2.0]))
    log.add("acquisition", 4, 9, 3.0, counterparty_id=3, value_usd=0.1)
    model.steps_done = 1
    log.add_many("acquisition", [5, 6], [1, 2], [4.0, 6.0], value_usd=[0.2, 0.3])
    log.add("acquisition", 7, 3, 1.0, value_usd=0.4)
    assert [r[2] for r in log.rows] == ["bankruptcy", "curtailment", "curtailment", "acquisition",
                                       "acquisition", "acquisition", "acquisition"]
    assert log.rows[-1] == (1, pd.Timestamp("2024-01-01"), "acquisition", 7, -1, 3, 1.0, 0.0, 0.4, "")
    assert list(reversed(log.rows))[0][3] == 7 and log.rows[3][4] == 3
    assert log.counts_at(0) == {"bankruptcy": 1, "curtailment": 2, "acquisition": 1}
    assert log.counts_at(1) == {"acquisition": 3}
    assert log.value_at(0, "acquisition") == 0.1
    assert log.value_at(1, "acquisition") == sum([0.4, 0.3, 0.2])  # newest first, as the old log summed
    assert log.value_at(1, "bankruptcy") == 0.0 and log.counts_at(2) == {}
    frame = log.frame()
    assert frame["firm_id"].tolist() == [3, 1, 2, 4, 5, 6, 7]
    assert frame["site_id"].tolist() == [-1, 7, 8, 9, 1, 2, 3]
    assert frame["detail"].tolist() == ["d", "", "", "", "", "", ""]
    assert str(frame["date"].dtype).startswith("datetime64")


def test_an_empty_event_log_gives_the_empty_table_with_the_columns():
    frame = EventLog(_Stub()).frame()
    assert list(frame.columns) == EVENT_COLUMNS and frame.empty
