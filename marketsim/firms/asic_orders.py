"""Machines on order and their shipment against the makers' capacity (issue 12, item 5).

Two vector reads of the site book: the EH/s on order (new MW in the build pipeline at the
efficiency it is being built with, plus upgrades on order), which prices frontier machines
(``asic.clearing_price_usd_per_th``), and the rationing of a step's deliveries: when the EH/s due
exceeds what the makers can ship in the step, every site gets the same share of its new MW and
whole upgrades ship in order of site until that share of the upgrade EH/s is used; the rest waits
one step (nothing is lost: the MW stays in the build pipeline, the upgrade stays on order).
"""

from __future__ import annotations

import numpy as np

from marketsim.market import asic


def backlog_ehs(sites) -> float:
    """EH/s of machines on order across the industry (new MW being built plus upgrades)."""
    building = sites.build_pipeline.pending()
    new = float((building / sites.build_efficiency).sum()) if building.any() else 0.0
    on_order = sites.upgrade_due_step >= 0
    upgrades = float((sites.upgrade_mw[on_order] / sites.upgrade_efficiency[on_order]).sum())
    return new + upgrades


def ration_deliveries(sites, market, seen) -> float:
    """Hold back what the makers cannot ship this step (before ``operations.land_deliveries``
    pops it); returns the EH/s that ships. ``seen``: the step's ``step_state.Observation``."""
    step = seen.step
    capacity = market.asic_capacity_ehs_per_month() * seen.months_in_step
    pipe = sites.build_pipeline
    due_col = (pipe.cursor + 1) % pipe.horizon
    later_col = (pipe.cursor + 2) % pipe.horizon
    build_mw = pipe.buffer[:, due_col]
    build_ehs = build_mw / sites.build_efficiency
    up = (sites.upgrade_due_step == step).nonzero()[0]
    up_ehs = sites.upgrade_mw[up] / sites.upgrade_efficiency[up]
    due = float(build_ehs.sum() + up_ehs.sum())
    share = float(asic.shipped_share(due, capacity))
    if share >= 1.0:
        return due * share
    held = build_mw * (1.0 - share)
    pipe.buffer[:, due_col] -= held
    pipe.buffer[:, later_col] += held
    wait = up[np.cumsum(up_ehs) > share * up_ehs.sum()]  # whole upgrades beyond their share wait a step
    sites.upgrade_due_step[wait] += 1
    return float(build_ehs.sum() * share + up_ehs.sum() - (sites.upgrade_mw[wait]
                                                          / sites.upgrade_efficiency[wait]).sum())
