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


@pytest.mark.parametrize("vol", [0.35, 0.05, 1e-6, 2.5])
def test_cohorts_marked_sure_without_a_log_mine_every_hour_at_every_trial_point(vol):
    """``_Supply.prepare`` marks a cohort sure by k >= m e^(cut s - s^2 / 2), without a log: every
    cohort it marks has share exactly on_share + free (ndtr(d) = 1.0) at the trial points of any
    search (log H up to the fleet's capacity), and it marks those the log test d >= cut marks."""
    from scipy.special import ndtr

    from marketsim import fastnp, protocol
    from marketsim.firms import economics as econ

    model = IndustryModel(load_scenario("baseline", n_firms=40, months=12), rng=5)
    model.step()
    model.config = model.config.model_copy(update={"power_hourly_volatility": vol})
    s, sites = model.config, model.sites
    live, rows = operations._live_cells(sites)
    rng = np.random.default_rng(8)
    marked = 0
    for _ in range(20):
        power = rng.lognormal(np.log(40.0), 1.5, len(live))
        top = np.where(rng.random(len(live)) < 0.3, rng.choice([1.0, 0.999999, 0.99], len(live)), rng.random(len(live)))
        at = mining_margin.cells(model, power, top)
        eff = sites.cohort_efficiency_j_per_th.ravel()[live]
        reward = model.market.reward_usd_per_day() * rng.uniform(0.2, 5.0)
        supply = operations._Supply.prepare(model, reward, 1.0, live, eff, at)
        sure = np.zeros(len(live), bool) if supply.sure is None else supply.sure
        high = np.log(supply.capacity)
        revenue = (econ.PH_PER_EH / eff) / econ.HOURS_PER_DAY
        for log_h in (high + 1e-3, high, high - 1e-9, high - 0.3, high - 30.0):
            k = revenue * (reward / (np.exp(log_h) * protocol.PH_PER_EH)) - s.mining_opex_usd_per_mwh
            d = (np.log(np.where(k > 0, k, 1.0)) - at.log_marginal + vol * vol / 2) / vol
            if log_h == high + 1e-3:  # where the cut is taken: the log test's cohorts, up to rounding at the cut
                by_log = (k > 0) & (d >= fastnp.NDTR_ONE_FROM)
                assert (sure == by_log)[np.abs(d - fastnp.NDTR_ONE_FROM) > 1e-9].all()
            else:
                assert (ndtr(d[sure]) == 1.0).all() and (k[sure] > 0).all()
        marked += int(sure.sum())
    assert marked > 0
