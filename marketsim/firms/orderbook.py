"""The start knows its order book: machines and MW already ordered at the end of 2022.

Hashrate kept rising through 2022's fall in revenue because machines ordered in 2021 kept
arriving; at the end of 2022 the large public miners still guided to 1.5-3x their operating
hashrate (``data/order_book_2022.csv``, public before 2023). A January-2023 run that starts
with an empty pipeline forgets them. Here each guided firm's gap to its target arrives as
new MW with the machines it had ordered, spread evenly from the first step to the target
date plus ``order_book_slip_months``, scaled by ``order_book_realisation_share`` (during 2022
targets were cut 20-57% and slipped 3-6 months, mostly because sites were late: research note
``buildout.md`` s1). The prepaid part of the machines is sunk (paid before the run); the rest
of the machine price and the site build are paid as the MW arrives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketsim.firms import economics as econ
from marketsim.firms.population import load_order_book


def order_book_plan(model) -> pd.DataFrame:
    """Per guided firm in the population: site, MW to arrive, steps over which it arrives,
    machine efficiency and the capex still to pay. Empty unless the run starts at the end of
    2022 (the guidance is a January-2023 fact)."""
    s = model.config
    columns = ["firm", "site", "mw", "steps", "efficiency_j_per_th", "capex_due_usd"]
    start = pd.Timestamp(s.start_date)
    if not s.seed_order_book or not s.include_public_miners or start != ORDER_BOOK_START:
        return pd.DataFrame(columns=columns)
    book = load_order_book()
    names = {name: i for i, name in enumerate(model.firms.name)}
    rows = []
    for r in book.itertuples():
        firm = names.get(r.name)
        if firm is None:
            continue
        site = int(np.flatnonzero(model.sites.owner == firm)[0])
        current = float((model.sites.cohort_mw[site] / model.sites.cohort_efficiency_j_per_th[site]).sum())
        gap_ehs = max(0.0, r.target_ehs - current) * s.order_book_realisation_share
        months = (r.target_date.year - start.year) * 12 + r.target_date.month - start.month + 1 + s.order_book_slip_months
        steps = max(1, round(months * model.steps_per_month))
        mw = gap_ehs * r.efficiency_j_per_th
        machines = econ.machine_capex_usd_per_mw(s.machine_price_reference_usd_per_th, r.efficiency_j_per_th) * mw
        capex_due = machines * (1.0 - r.prepaid_share) + mw * s.site_build_capex_usd_per_mw
        rows.append((firm, site, mw, steps, r.efficiency_j_per_th, capex_due))
    return pd.DataFrame(rows, columns=columns)


ORDER_BOOK_START = pd.Timestamp("2023-01-01")


def pipeline_steps_needed(model_config, steps_per_month: float) -> int:
    """Longest arrival the order book needs (so the build pipeline's horizon covers it)."""
    s = model_config
    if not s.seed_order_book or pd.Timestamp(s.start_date) != ORDER_BOOK_START:
        return 0
    book = load_order_book()
    last = book["target_date"].max()
    months = (last.year - 2023) * 12 + last.month + s.order_book_slip_months
    return round(months * steps_per_month) + 1


def seed_order_book(model) -> pd.DataFrame:
    """Put the plan into the build pipeline and the capex schedule; returns the plan."""
    plan = order_book_plan(model)
    sites, firms = model.sites, model.firms
    for r in plan.itertuples():
        per_step = r.mw / r.steps
        for k in range(1, r.steps + 1):
            sites.build_pipeline.add(r.site, per_step, k)
        sites.build_efficiency[r.site] = r.efficiency_j_per_th
        firms.payments.add_spread(r.firm, r.capex_due_usd, r.steps)
    return plan
