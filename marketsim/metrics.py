"""Industry outcomes recorded every step, and the concentration measures behind them.

``hhi`` and ``top_n_share`` are plain functions of holdings (hashrate or MW per firm), so the
same code serves the model's reporters and any recomputation from ``firms.parquet``.
HHI is on the 0..1 scale (sum of squared shares; 0.25 is "highly concentrated").
"""

from __future__ import annotations

import numpy as np

from marketsim.firms.book import without_residue
from marketsim.protocol import TARGET_BLOCKS_PER_DAY
from marketsim.units import PH_PER_EH
from marketsim.firms.hosting import AI_COLUMN_DOCS, ai_outcome

COLUMN_DOCS = {
    "step": "step index, from 0",
    "date": "first day of the step",
    "block_height": "chain height at the end of the step",
    "blocks": "blocks found in the step",
    "subsidy_btc": "block subsidy in force at the end of the step, BTC per block",
    "issuance_btc": "new coins issued in the step, BTC",
    "fees_btc": "fees paid to miners in the step, BTC",
    "btc_price_usd": "BTC price of the step, USD (replay: revenue-weighted mean of the days)",
    "difficulty_hashrate_ehs": "difficulty as the hashrate it is set for, EH/s (end of step)",
    "network_hashrate_ehs": "hashrate of all firms' mining MW, EH/s",
    "hashprice_usd_per_ph_day": "mining revenue per PH/s per day, USD",
    "revenue_mining_usd": "(issuance + fees) x price: what the network's miners earned, USD",
    "revenue_ai_usd": "rent paid by AI tenants on delivered leases, USD",
    "cost_usd": "power, opex, AI opex and interest, USD",
    "profit_usd": "revenue (mining + AI) less cost_usd (capex excluded), USD",
    "capex_usd": "capex paid in the step (machines, new MW, conversions), USD",
    "mw_mining": "MW mining",
    "mw_idle": "MW with machines switched off (curtailed)",
    "mw_converting": "MW being converted to AI hosting",
    "mw_ai": "MW hosting AI under a delivered lease (gross site MW)",
    "mw_ai_empty": "converted MW without a tenant",
    "mw_shutdown": "MW that left the network (scrapped, bankrupt)",
    "mw_building": "new MW ordered and not yet energised",
    "mw_cancelled": "new MW ordered and never built because its firm left (cumulative)",
    "firms_active": "firms still in business",
    "entries": "new operators that entered in the step with their own site (its MW arrives after the site lead time)",
    "bankruptcies": "bankruptcies in the step",
    "voluntary_sales": "firms sold by owners who valued continuing less than the offer",
    "takeovers": "firms bought by an opportunistic peer",
    "wind_downs": "solvent firms that closed their sites, repaid their lenders and left",
    "exits": "firms that left in the step: bankruptcies + voluntary_sales + takeovers + wind_downs",
    "acquisitions": "deals in the step (sites bought at auction, firms bought)",
    "acquisitions_usd": "price paid in those deals, USD",
    "bankruptcies_cum": "bankruptcies so far",
    "exits_cum": "exits so far",
    "acquisitions_cum": "acquisitions so far",
    "hhi_hashrate": "Herfindahl index of firms' hashrate (0..1; NaN when halted or every miner left in the step)",
    "top4_share_hashrate": "share of the 4 largest firms in hashrate (NaN when halted)",
    "top5_share_hashrate": "share of the 5 largest firms in hashrate (NaN when halted)",
    "hhi_mw": "Herfindahl index of firms' live MW (0..1; NaN when no MW is live)",
    "top4_share_mw": "share of the 4 largest firms in live MW",
    "top5_share_mw": "share of the 5 largest firms in live MW",
    "public_share_hashrate": "share of network hashrate held by the calibrated public miners (NaN when halted)",
    "avg_efficiency_j_per_th": "fleet efficiency of the MW mining, J/TH (NaN when nothing mines)",
    "cost_to_mine_btc_usd": "power and opex per BTC mined, USD (NaN when nothing is mined)",
    "ai_demand_mw": "IT MW that AI tenants want from (former) mining sites",
    "ai_contracted_it_mw": "IT MW under signed leases (delivered or not)",
    "ai_lease_rate_usd_per_kw_month": "market lease rate for new leases, USD per kW-month of IT",
    "machine_price_usd_per_th": "price of frontier machines, USD per TH/s",
    "asic_shipped_ehs": "EH/s of new machines the makers shipped this step (never above their capacity)",
    "asic_capacity_ehs_per_month": "EH/s of new machines the makers can ship a month (grows over time)",
    "frontier_j_per_th": "efficiency of the best machine on sale, J/TH",
    "halted": "True when no site mines (network hashrate 0): the hashrate outcomes are then missing (NaN)",
}
COLUMN_DOCS.update(AI_COLUMN_DOCS)
# outcomes with no value when nothing mines (``halted``) or no MW is left: NaN, never a 0 or 1
# that an average over runs would take for a result
MISSING = float("nan")
UNDEFINED_WHEN_HALTED = ("hhi_hashrate", "top4_share_hashrate", "top5_share_hashrate", "public_share_hashrate",
                         "avg_efficiency_j_per_th", "cost_to_mine_btc_usd")
UNDEFINED_WITHOUT_MW = ("hhi_mw", "top4_share_mw", "top5_share_mw")
# the lease market's rates of a step with no offers (clearing) or no signings (signed range)
UNDEFINED_WITHOUT_DEALS = ("ai_clearing_rate_usd_per_kw_month", "ai_signed_rate_min_usd_per_kw_month",
                           "ai_signed_rate_max_usd_per_kw_month")
INDUSTRY_COLUMNS = list(COLUMN_DOCS)


# ``x.sum()`` of a 1-D float array is this reduction behind a Python wrapper (``numpy/_core/_methods._sum``):
# called directly it is the same pairwise sum, float for float (the industry row takes ~30 sums a step)
_sum = np.add.reduce


def hhi(holdings, total: float | None = None) -> float:
    """Herfindahl-Hirschman index of holdings (0..1); 0 when nothing is held. ``total``: the
    holdings' ``sum()`` when the caller has it (the industry row asks for it five times a step)."""
    x = np.asarray(holdings, dtype=float)
    if total is None:
        total = _sum(x)
    return float(_sum((x / total) ** 2)) if total > 0 else 0.0


def top_n_share(holdings, n: int, total: float | None = None) -> float:
    """Share of the ``n`` largest holders (``total``: as in ``hhi``)."""
    x = np.asarray(holdings, dtype=float)
    if total is None:
        total = _sum(x)
    if total <= 0:
        return 0.0
    cut = max(len(x) - n, 0)
    part = x.copy()  # ``np.partition(x, ...)``: a copy partitioned in place, without the wrapper
    part.partition(cut)
    return float(_sum(part[cut:]) / total)


def start_outcome(model) -> dict:
    """The industry before any step, in the industry table's column names (the summary's "start").

    The model records a row at the end of each step, so its state at the start is read once from
    the constructed model (``IndustryModel.start``): the population's sites and firms, the chain
    at the start height, the price the price path starts from and the hashprice it implies.
    """
    import pandas as pd  # only the date; the step rows need no pandas

    sites, firms, market, c = model.sites, model.firms, model.market, model.config
    hashrate = np.bincount(sites.owner, weights=sites.hashrate_ehs, minlength=len(firms.active))
    mining_th = float((sites.mw_mining / sites.efficiency_j_per_th).sum())
    price = market.starting_price_usd()
    fee_share = market.starting_fee_share()
    subsidy = market.subsidy_per_block_now()
    difficulty = market.chain.difficulty_hashrate_ehs
    hashprice = (subsidy * (1.0 + fee_share) * TARGET_BLOCKS_PER_DAY * price / (difficulty * PH_PER_EH)
                 if difficulty > 0 else float("nan"))
    mw_converted = float(sites.mw_converted.sum())
    mw_ai = float(sites.mw_ai_leased.sum())
    return {
        "date": pd.Timestamp(c.start_date), "btc_price_usd": price,
        "network_hashrate_ehs": float(model.network_hashrate_ehs), "hashprice_usd_per_ph_day": hashprice,
        "block_height": int(market.chain.height), "subsidy_btc": subsidy,
        "mw_mining": float(sites.mw_mining.sum()), "mw_idle": float(sites.mw_idle.sum()),
        "mw_converting": float(sites.mw_converting.sum()), "mw_ai": mw_ai, "mw_ai_empty": mw_converted - mw_ai,
        "mw_shutdown": float(sites.mw_shutdown.sum()), "firms_active": int(firms.active.sum()),
        "hhi_hashrate": hhi(hashrate), "top5_share_hashrate": top_n_share(hashrate, 5),
        "avg_efficiency_j_per_th": float(sites.mw_mining.sum()) / mining_th if mining_th > 0 else float("nan"),
        "ai_lease_rate_usd_per_kw_month": float(market.lease_rate_usd_per_kw_month),
    }


def industry_outcome(model, tally=None) -> dict:
    """This step's row of ``industry.parquet``. Pure: it reads the model (its books and the
    step's records: ``operation``, ``hosting``, ``decisions``) and changes nothing, so calling it
    twice gives the same row (running totals are kept by the model's step). ``tally``: the
    step's ``Tally`` when the caller has just counted it after the deals (``model.record``): its
    hashrate per owner and its exits are then read, not counted again (the same numbers)."""
    sites, firms, market = model.sites, model.firms, model.market
    chain, state = model.operation.chain, market.state
    lease_market = model.decisions.lease_market
    led = firms.ledger
    firm_mw = sites.mw_by_firm(len(firms.active))
    firm_mw[~firms.active] = 0.0  # ``np.where(active, firm_mw, 0.0)`` in place (a fresh array)
    if tally is None:
        # concentration after this step's deals: sites' hashrate under their current owners
        hashrate = np.bincount(sites.owner, weights=sites.hashrate_ehs, minlength=len(firms.active))
        exits = int(np.count_nonzero(model.left_this_step))
    else:
        hashrate, exits = tally.firm_hashrate_ehs, tally.exits
    # halted: nothing mined in the step; shares are also undefined when the firms that mined
    # all left in it (their sites shut: no hashrate left to share)
    halted = not model.network_hashrate_ehs > 0
    # the totals in two reductions, one over the per-firm arrays and one over the per-site ones: a
    # row of a C-ordered block is summed as the array alone (the same pairwise sum over contiguous
    # values, ``tests/test_speed5_records_exits.py`` checks it to the bit), so each total is the
    # ``sum()`` it was. Each total once: the concentration measures divide by them
    (hashrate_total, mw_total, mining_cost, mined, revenue_ai, capex, opex, cost) = _sum(np.concatenate((
        hashrate, firm_mw, led["power_usd"], led["btc_mined"], led["revenue_ai_usd"], led["capex_usd"],
        led["opex_usd"], firms.operating_cost_usd)).reshape(8, -1), axis=1).tolist()
    (mining_th, mw_ai, mw_mining, mw_idle, mw_converting, mw_converted, mw_shutdown, mw_cancelled) = _sum(
        np.concatenate((sites.mw_mining / sites.efficiency_j_per_th, sites.mw_ai_leased, sites.mw_mining, sites.mw_idle,
                        sites.mw_converting, sites.mw_converted, sites.mw_shutdown, sites.mw_cancelled)).reshape(8, -1),
        axis=1).tolist()
    no_hashrate = not hashrate_total > 0
    events = model.events
    step = model.steps_done
    counts = events.counts_at(step)
    no_mw = not mw_total > 0
    return {
        "step": step,
        "date": state.date,
        "block_height": int(chain.height_end),
        "blocks": chain.blocks,
        "subsidy_btc": market.subsidy_per_block_now(),
        "issuance_btc": chain.issuance_btc,
        "fees_btc": chain.fees_btc,
        "btc_price_usd": state.btc_price_usd,
        "difficulty_hashrate_ehs": chain.difficulty_hashrate_ehs,
        "network_hashrate_ehs": model.network_hashrate_ehs,
        "hashprice_usd_per_ph_day": chain.hashprice_usd_per_ph_day,
        "revenue_mining_usd": chain.revenue_usd,
        "revenue_ai_usd": revenue_ai,
        "cost_usd": cost,
        "profit_usd": chain.revenue_usd + revenue_ai - cost,
        "capex_usd": capex,
        "mw_mining": mw_mining,
        "mw_idle": mw_idle,
        "mw_converting": mw_converting,
        "mw_ai": mw_ai,
        "mw_ai_empty": without_residue(mw_converted - mw_ai),
        "mw_shutdown": mw_shutdown,
        "mw_building": float(_sum(sites.build_pipeline.pending())),
        "mw_cancelled": mw_cancelled,
        "firms_active": int(np.count_nonzero(firms.active)),
        "entries": counts.get("entry", 0),
        "bankruptcies": counts.get("bankruptcy", 0),
        "voluntary_sales": counts.get("voluntary_sale", 0),
        "takeovers": counts.get("takeover", 0),
        "wind_downs": counts.get("wind_down", 0),
        "exits": exits,
        "acquisitions": counts.get("acquisition", 0),
        "acquisitions_usd": events.value_at(step, "acquisition"),
        "bankruptcies_cum": model.cumulative["bankruptcies"],
        "exits_cum": model.cumulative["exits"],
        "acquisitions_cum": model.cumulative["acquisitions"],
        "hhi_hashrate": MISSING if no_hashrate else hhi(hashrate, hashrate_total),
        "top4_share_hashrate": MISSING if no_hashrate else top_n_share(hashrate, 4, hashrate_total),
        "top5_share_hashrate": MISSING if no_hashrate else top_n_share(hashrate, 5, hashrate_total),
        "hhi_mw": MISSING if no_mw else hhi(firm_mw, mw_total),
        "top4_share_mw": MISSING if no_mw else top_n_share(firm_mw, 4, mw_total),
        "top5_share_mw": MISSING if no_mw else top_n_share(firm_mw, 5, mw_total),
        "public_share_hashrate": MISSING if no_hashrate else float(_sum(hashrate[firms.is_public]) / hashrate_total),
        "avg_efficiency_j_per_th": float(mw_mining / mining_th) if mining_th > 0 else MISSING,
        "cost_to_mine_btc_usd": (mining_cost + opex) / mined if mined > 0 else MISSING,
        "halted": halted,
        "ai_demand_mw": state.ai_demand_mw,
        # the lease book at the step's end: an exit after the lease market (a bankruptcy's cut) is in it
        "ai_contracted_it_mw": float(_sum(model.leases.mw_it)),
        "ai_lease_rate_usd_per_kw_month": market.lease_rate_usd_per_kw_month,
        "machine_price_usd_per_th": model.seen.machine_price_usd_per_th,
        "asic_shipped_ehs": model.asic_shipped_ehs,
        "asic_capacity_ehs_per_month": market.asic_capacity_ehs_per_month(),
        "frontier_j_per_th": state.frontier_j_per_th,
        **ai_outcome(model, model.hosting, lease_market),
    }
