"""Shortcuts of the sixth speed round (issue 14) in curtailment give the numbers of the long way,
bit for bit, and are taken: the second search after a scrapping keeps the first search's cohorts
and terms (``operations._Supply.after_scrapping``), the final sums run over the cells live at the
step's start (the emptied ones add exact zeros), and the live cells' sites come from a shift."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from marketsim import IndustryModel, load_scenario
from marketsim.firms import mining_margin, operations


@pytest.mark.parametrize("slots", [4, 3])
def test_live_cells_are_the_2d_nonzero(slots):
    rng = np.random.default_rng(4)
    sites = type("Sites", (), {})()
    sites.cohort_mw = np.where(rng.random((257, slots)) < 0.6, rng.random((257, slots)), 0.0)
    live, rows = operations._live_cells(sites)
    want_rows, want_slots = np.nonzero(sites.cohort_mw > 0)
    assert rows.tolist() == want_rows.tolist()
    assert live.tolist() == (want_rows * slots + want_slots).tolist()


@pytest.mark.parametrize("remnant_mw", [operations.SCRAP_REMNANT_MW, 1e9])
def test_scrapping_step_keeps_the_first_search_cohorts_and_equals_a_fresh_search(monkeypatch, remnant_mw):
    """Steps that scrap: the live cells and their ``Cells`` are found once, the second search is
    prepared from the first's, and the hashprice and per-site sums are those of a fresh search
    and fresh live cells on the scrapped fleet. With a huge remnant every scrapped cohort goes
    whole (cells emptied: the second search's compacted path)."""
    model = IndustryModel(load_scenario("bear-consolidation", n_firms=60, months=48), rng=4)
    counts = {"live": 0, "prepare": 0}
    live_cells, prepare = operations._live_cells, operations._Supply.prepare.__func__

    def counted_live(sites):
        counts["live"] += 1
        return live_cells(sites)

    def counted_prepare(cls, *args, **kwargs):
        counts["prepare"] += 1
        return prepare(cls, *args, **kwargs)

    scrapping = emptied = 0
    for _ in range(48):
        model.step()
        seen, last = model.seen, model.operation.network_hashrate_ehs
        short = copy.deepcopy(model)
        before = short.sites.cohort_mw.copy()
        monkeypatch.setattr(operations, "_live_cells", counted_live)
        monkeypatch.setattr(operations._Supply, "prepare", classmethod(counted_prepare))
        monkeypatch.setattr(operations, "SCRAP_REMNANT_MW", remnant_mw)  # this step's scrapping only
        counts.update(live=0, prepare=0)
        got = operations.curtail_or_mine(short, seen, last)
        monkeypatch.undo()
        assert counts == {"live": 1, "prepare": 1}
        sites = short.sites
        if not (sites.cohort_mw < before).any():
            continue
        scrapping += 1
        emptied += bool(((before > 0) & (sites.cohort_mw == 0)).any())
        # the long way on the scrapped fleet: a fresh search, fresh live cells
        online = 1.0 - operations.outage_share(short)
        want = operations.consistent_hashprice(short, seen.site_power_usd_per_mwh, online, last)
        assert got.hashprice_consistent == want or (math.isnan(want) and math.isnan(got.hashprice_consistent))
        hashprice = want if np.isfinite(want) else seen.hashprice_observed
        live, rows = live_cells(sites)
        at = mining_margin.cells(short, seen.site_power_usd_per_mwh[rows], sites.power_take_or_pay_share[rows])
        eff = sites.cohort_efficiency_j_per_th.ravel()[live]
        share, cost_share, _ = mining_margin.cell_shares(short, at, hashprice, eff)
        mw = sites.cohort_mw.ravel()[live]
        n = len(sites.cohort_mw)
        assert np.bincount(rows, weights=share * mw, minlength=n).tobytes() == sites.mw_mining.tobytes()
        assert np.bincount(rows, weights=share * mw / eff, minlength=n).tobytes() == got.site_mining_ehs.tobytes()
        assert np.bincount(rows, weights=cost_share * mw, minlength=n).tobytes() == got.site_power_cost_mw.tobytes()
    assert scrapping > 0 and (emptied > 0) == (remnant_mw > 1)  # the second search's paths were compared
