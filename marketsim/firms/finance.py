"""Pay: the step's cash flows, debt service and the financing of shortfalls.

Every movement of cash is an item of the firm's ledger, so that for each firm and step

    cash_end - cash_start = revenue_mining - btc_retained + btc_sold + revenue_ai
                            - power - opex - ai_opex - interest - capex
                            + debt_drawn - debt_repaid - acquisitions + acquired_cash + equity_raised
                            + asset_sales + bills_written_off - equity_paid_out

holds exactly (``invariants.check_cash_identity`` checks it after every step in check mode).
The last three items are a leaving firm's estate (``consolidation.close_books``); a firm taken
over hands its cash to the buyer as a negative ``acquired_cash``. Mined BTC is valued at the step's price; the firm sells its
``btc_sell_share`` of it and keeps the rest in its treasury.

Financing follows how miners actually got through 2022: a shortfall is met first by drawing
on credit (up to ``max_debt_to_assets`` of the assets lenders count, counting only the BTC
that is not sold next: ``credit_then_btc``), then by selling treasury BTC. A firm still short is insolvent; ``consolidation`` takes it from there. Debt
falls due at its maturity and rolls over as far as the loan-to-value limit allows; the excess
is repaid from cash, and what cash cannot cover is extended at a penalty rate.
"""

from __future__ import annotations

import numpy as np

from marketsim import fastnp
from marketsim.firms import economics as econ
from marketsim.firms import hosting
from marketsim.step_state import Observation, Payments
from marketsim.units import MONTHS_PER_YEAR

SET_CHECK_MAX = 64  # ``has_repeats``: up to this many ids a set beats a sort (measured, numpy 2)


def _seen(model, seen: Observation | None) -> Observation:
    """The step's ``Observation``: ``seen`` if the caller passed it, else the one the model keeps
    (for callers outside a step's phases: tests and notebooks; the phases pass theirs)."""
    return model.seen if seen is None else seen


def asset_value_usd(model, seen: Observation | None = None) -> np.ndarray:
    """Per firm: what lenders lend against (sites, machines at market, AI halls, BTC), at the
    prices of ``seen`` (this step's ``Observation``)."""
    seen = _seen(model, seen)
    return _value_assets(model, seen, _site_assets(model, seen))


def _value_assets(model, seen: Observation, parts: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``asset_value_usd`` from its site parts (``_site_assets``): the sites' sum plus the BTC at
    the step's price, and the lenders' ceiling of that valuation."""
    firms = model.firms
    site_sum, leased = parts
    assets = site_sum + firms.btc_held * model.market.state.btc_price_usd
    # lenders' limit as of this valuation: ``borrow`` never lends beyond it (a phase values the
    # assets before it borrows, so the ceiling is that phase's)
    firms.debt_ceiling_usd = np.where(firms.active, _ceiling(model, assets, leased), 0.0)
    return assets


def asset_value_after_pay(model, seen: Observation) -> np.ndarray:
    """``asset_value_usd`` for ``decisions.decide``, which runs right after ``pay``: nothing in
    between moves a site, a machine, a hall or a lease, so the site parts ``pay`` valued (kept
    for this one call, for the same ``seen``) are reused and only the BTC (which ``pay`` may have
    sold) and the ceiling are worked out again: the same floats. Valued afresh when ``pay`` did
    not leave them for this ``seen`` (a caller outside the step's order)."""
    kept, model.assets_after_pay = model.assets_after_pay, None
    if kept is None or kept[0] is not seen:  # (the record itself is kept: its id cannot be reused)
        return asset_value_usd(model, seen)
    return _value_assets(model, seen, kept[1])


def _site_assets(model, seen: Observation) -> tuple[np.ndarray, np.ndarray]:
    """Per firm: the lenders' value of its sites, machines and halls (``asset_value_usd`` less
    the BTC) and of its halls under lease (``leased_hall_value_usd``)."""
    s, sites, firms = model.config, model.sites, model.firms
    n = len(firms)
    machine_value = econ.machine_capex_usd_per_mw(seen.machine_price_usd_per_th, sites.efficiency_j_per_th)
    # machines lose value as they age and as the frontier moves away from them
    relative = fastnp.clip(model.market.state.frontier_j_per_th / sites.efficiency_j_per_th, 0.0, 1.0)
    site_value = site_collateral_usd_per_mw(s.site_build_capex_usd_per_mw, seen.hashprice_observed,
                                            s.machine_price_reference_hashprice, s.site_collateral_hashprice_elasticity)
    hall_mw = sites.mw_converted + sites.mw_converting
    per_site = econ.firm_asset_value_usd(
        sites.mw_machines, machine_value * relative, site_value,
        # halls are valued at their build cost, which is quoted per MW of critical IT (gross MW / PUE)
        hall_mw, s.conversion_capex_usd_per_mw / s.ai_pue, 0.0, 0.0,
    )
    return np.bincount(sites.owner, weights=per_site, minlength=n), leased_hall_value_usd(model, hall_mw)


def leased_hall_value_usd(model, hall_mw: np.ndarray | None = None) -> np.ndarray:
    """Per firm: the value (build cost, as ``asset_value_usd`` counts it) of its AI halls under
    lease: the gross MW its leases cover, at most the MW built or being built at the site
    (``hall_mw``: ``mw_converted + mw_converting`` per site, if the caller has it)."""
    s, sites = model.config, model.sites
    if hall_mw is None:
        hall_mw = sites.mw_converted + sites.mw_converting
    leased_gross_mw = np.minimum(model.leases.contracted_it_by_site(len(sites)) * s.ai_pue, hall_mw)
    return np.bincount(sites.owner, weights=leased_gross_mw * (s.conversion_capex_usd_per_mw / s.ai_pue),
                       minlength=len(model.firms))


def lending_ceiling_usd(model, assets: np.ndarray) -> np.ndarray:
    """Debt lenders allow a firm with these ``assets``: ``max_debt_to_assets`` of what the
    corporate lenders count, plus ``conversion_debt_share_leased`` of its halls under lease,
    L_c x (A - H) + L_p x H. Why: a signed lease is financed as a project (80-85% loan-to-cost
    against the hall and the tenant's credit, research note B2), and that debt rolls over
    against the lease, not against the miner's loan-to-value: counting it in the corporate
    limit made a host that had just signed repay its project debt at the next maturity, from
    the cash meant for building the halls (baseline seed 0: Riot, 889 MW of IT signed in August
    2025, repaid $1.9B in November and failed in February 2027 with the halls 80% delivered)."""
    return _ceiling(model, assets, leased_hall_value_usd(model))


def _ceiling(model, assets: np.ndarray, leased_hall_usd: np.ndarray) -> np.ndarray:
    """``lending_ceiling_usd`` given the firms' halls under lease (``leased_hall_value_usd``)."""
    s = model.config
    leased = np.minimum(leased_hall_usd, assets)
    return s.max_debt_to_assets * (assets - leased) + s.conversion_debt_share_leased * leased


def site_collateral_usd_per_mw(build_capex_usd_per_mw: float, hashprice_usd_per_ph_day: float,
                               reference_hashprice: float, elasticity: float) -> float:
    """What lenders count a MW of mining site for: its build cost scaled by the mining cycle,
    build x (hashprice / reference)^elasticity (the build cost where the hashprice is unknown).

    Why: a site is worth what a buyer pays for an operating site, and buyers pay for the margin
    it earns; machines already enter the collateral at today's (hashprice-driven) price, so with
    this the whole collateral, and the debt ceiling ``max_debt_to_assets`` x assets, shrinks in a
    bust and grows in a boom. Sites hold their value better than machines (power and permits are
    scarce): Argo's Helios sold at ~$0.36M per operating MW at the December-2022 bottom (build
    cost $0.3-0.35M), so the elasticity is well below the machines' 1 (docs/calibration.md 12.8).
    """
    if not (np.isfinite(hashprice_usd_per_ph_day) and hashprice_usd_per_ph_day > 0):
        return float(build_capex_usd_per_mw)
    return float(build_capex_usd_per_mw * (hashprice_usd_per_ph_day / reference_hashprice) ** elasticity)


def vendor_credit_usd(machine_capex_usd, is_public, financed_share: float) -> np.ndarray:
    """Per order: the part of a machine order the maker finances (instalment terms) for a private
    firm, ``financed_share`` of the machines' price; public miners pay cash, raise equity or
    borrow from banks instead. Site capex is never vendor-financed (no maker sells it)."""
    capex = np.asarray(machine_capex_usd, dtype=float)
    return np.where(np.asarray(is_public, dtype=bool), 0.0, financed_share * np.maximum(capex, 0.0))


def draw_vendor_credit(model, idx: np.ndarray, machine_capex_usd: np.ndarray, unique: bool = False) -> np.ndarray:
    """Book the vendor credit on these orders: debt at ``vendor_financing_rate_per_year``
    (blended into the firm's average rate, repaid with its other debt), cash for the
    instalments. It is lent outside the banks' loan-to-value ceiling (the maker lends against
    the machines it ships) but counts as debt for every later loan. Returns the credit.
    ``unique``: the caller knows no firm is named twice (no check)."""
    s, firms = model.config, model.firms
    idx = fastnp.as_1d(idx)
    credit = vendor_credit_usd(machine_capex_usd, firms.is_public[idx], s.vendor_financing_share)
    if not unique and has_repeats(idx):
        idx, at = np.unique(idx, return_inverse=True)
        credit = np.bincount(at, weights=credit)
    _add_debt(firms, idx, credit, s.vendor_financing_rate_per_year)
    return credit


def has_repeats(idx: np.ndarray) -> bool:
    """Whether a firm is named twice in ``idx``. The few firms an order usually names go through a
    Python set (~1 us against ~4 us for numpy's sort, compare and any: three calls' overhead);
    longer lists through the sort (cheaper than ``np.unique``)."""
    n = len(idx)
    if n < 2:
        return False
    if n <= SET_CHECK_MAX:
        return len(set(idx.tolist())) < n
    ordered = np.sort(idx)
    return bool((ordered[1:] == ordered[:-1]).any())


def _add_debt(firms, idx: np.ndarray, drawn: np.ndarray, rate_per_year) -> None:
    """New debt at ``rate_per_year``, blended into each firm's average rate (``idx`` unique)."""
    old = firms.debt_usd[idx]
    total = old + drawn
    drawing = drawn > 0
    if drawing.any():  # else the select below keeps every rate as it is
        rate = firms.debt_rate_per_year[idx]
        firms.debt_rate_per_year[idx] = np.where(
            drawing, (old * rate + drawn * rate_per_year) / np.where(total > 0, total, 1.0), rate)
    firms.debt_usd[idx] = total  # ``+= drawn``: the same sum (``idx`` unique)
    firms.cash_usd[idx] += drawn
    firms.ledger["debt_drawn_usd"][idx] += drawn


def credit_headroom_usd(model, assets: np.ndarray | None = None, seen: Observation | None = None) -> np.ndarray:
    """Per firm: new debt lenders still allow, the ceiling of the last ``asset_value_usd`` less
    the debt. ``assets``: given when the caller has just valued the firms (the ceiling is then
    that valuation's); without it the firms are valued here first."""
    if assets is None:
        asset_value_usd(model, seen)
    return np.maximum(model.firms.debt_ceiling_usd - model.firms.debt_usd, 0.0)


def borrowable_usd(firms, idx) -> np.ndarray:
    """New debt lenders will still give these firms: the loan-to-value ceiling less their debt."""
    if firms.debt_ceiling_usd is None:
        return np.zeros(np.shape(idx))
    return np.maximum(firms.debt_ceiling_usd[idx] - firms.debt_usd[idx], 0.0)


def pay(model, seen: Observation) -> Payments:
    """The step's cash flows (``seen``: its ``Observation``), debt falling due, shortfalls met
    by credit then BTC; returns the firms still short (``Payments.insolvent``)."""
    s, firms = model.config, model.firms
    price = model.market.state.btc_price_usd
    led = firms.ledger
    active = firms.active
    step = seen.step

    led["capex_usd"] = led["capex_usd"] + firms.payments.pop()
    led["interest_usd"] = firms.debt_usd * firms.debt_rate_per_year * seen.years_in_step
    kept = 1.0 - firms.btc_sell_share
    led["btc_retained_usd"] = led["revenue_mining_usd"] * kept
    firms.btc_held += led["btc_mined"] * kept
    firms.cash_usd += (
        led["revenue_mining_usd"] - led["btc_retained_usd"] + led["revenue_ai_usd"]
        - led["power_usd"] - led["opex_usd"] - led["ai_opex_usd"] - led["interest_usd"] - led["capex_usd"]
    )

    parts = _site_assets(model, seen)
    assets = _value_assets(model, seen, parts)
    # for ``decide``, next: the sites are as valued here until then (``asset_value_after_pay``)
    model.assets_after_pay = (seen, parts)
    due = active & (firms.debt_maturity_step <= step) & (firms.debt_usd > 0)
    if due.any():
        # amend and extend: debt within the loan-to-value limit rolls over; the excess is
        # repaid from the cash there is, and what cash cannot cover is extended at a penalty
        # rate (lenders recover more from a going concern than from a fire sale)
        idx = due.nonzero()[0]
        excess = np.maximum(firms.debt_usd[idx] - firms.debt_ceiling_usd[idx], 0.0)
        repay = np.minimum(excess, np.maximum(firms.cash_usd[idx], 0.0))
        _repay(firms, idx, repay)
        unpaid = excess - repay
        extended = (unpaid > 0).nonzero()[0]
        if len(extended):
            ext_firms = idx[extended]  # (``idx`` names each firm once: a firm's position is its own)
            firms.debt_rate_per_year[ext_firms] += s.refinancing_penalty_rate
            for f, gap in zip(ext_firms, unpaid[extended].tolist()):
                model.events.add("debt_extended", f, -1, 0.0, value_usd=gap,
                                 detail=f"rate now {firms.debt_rate_per_year[f]:.1%}")
        firms.debt_maturity_step[idx] = step + round(s.debt_maturity_years * model.steps_per_year)

    short = active & (firms.cash_usd < 0)
    if short.any():
        idx = short.nonzero()[0]
        draw = credit_then_btc(-firms.cash_usd[idx], borrowable_usd(firms, idx),  # the headroom of the short only
                               firms.btc_held[idx] * price, s.max_debt_to_assets)
        borrow(firms, idx, draw, unique=True)  # (``idx``: each short firm once)
        still = idx[firms.cash_usd[idx] < 0]
        if len(still):
            coins = np.minimum(firms.btc_held[still], -firms.cash_usd[still] / price)
            firms.btc_held[still] -= coins
            led["btc_sold_usd"][still] += coins * price
            firms.cash_usd[still] += coins * price
    return Payments(insolvent=(active & (firms.cash_usd < -1e-6)).nonzero()[0])


def credit_then_btc(short_usd, headroom_usd, btc_usd, max_debt_to_assets: float) -> np.ndarray:
    """How much of a shortfall to borrow when treasury BTC, part of the collateral, may have to
    be sold after the credit line is used up.

    Borrowing x and selling BTC worth y = short - x must leave debt within the loan-to-value
    limit L of the assets that remain: D + x <= L (A - y), i.e. x <= H - L y with headroom
    H = L A - D. Credit alone covers the shortfall when H >= short; otherwise
    x = (H - L short) / (1 - L), if the BTC covers the rest; a firm short even after selling all
    its BTC (insolvent) borrows H - L x its BTC.
    """
    short, head, btc = (np.asarray(v, dtype=float) for v in (short_usd, headroom_usd, btc_usd))
    mixed = np.maximum((head - max_debt_to_assets * short) / (1.0 - max_debt_to_assets), 0.0)
    all_btc = np.maximum(head - max_debt_to_assets * btc, 0.0)
    return np.where(head >= short, short, np.where(short - mixed <= btc, mixed, all_btc))


def borrow(firms, idx: np.ndarray, amount: np.ndarray, unique: bool = False) -> np.ndarray:
    """New debt at the market rate (``new_debt_rate_per_year``), blended into the firm's average
    rate: a miner with old 1% convertibles does not borrow at 1% today.

    Lenders lend only up to ``max_debt_to_assets`` of the assets they count (the ceiling set at
    the last ``asset_value_usd``): a request beyond it gets what is left under the ceiling.
    Returns what each firm drew. ``unique``: the caller knows no firm is named twice.
    """
    idx = fastnp.as_1d(idx)
    amount = np.asarray(amount, dtype=float)
    if amount.shape != idx.shape:
        amount = np.broadcast_to(amount, idx.shape)
    amount = np.maximum(amount, 0.0)  # no negative draws (np.clip(amount, 0.0, None))
    if not unique and has_repeats(idx):  # a firm named twice: each draw sees the debt before it
        return np.concatenate([borrow(firms, idx[k:k + 1], amount[k:k + 1]) for k in range(len(idx))])
    drawn = np.minimum(amount, borrowable_usd(firms, idx))
    _add_debt(firms, idx, drawn, firms.new_debt_rate)
    return drawn


def _repay(firms, idx: np.ndarray, amount: np.ndarray) -> None:
    firms.debt_usd[idx] -= amount
    firms.cash_usd[idx] -= amount
    firms.ledger["debt_repaid_usd"][idx] += amount


def repay_one(firms, firm_id: int, amount: float) -> None:
    """``_repay`` of one firm, on its elements (the same float operations without the three
    one-element arrays: a leaving firm's estate pays its lenders, ``consolidation.close_books``)."""
    firms.debt_usd[firm_id] -= amount
    firms.cash_usd[firm_id] -= amount
    firms.ledger["debt_repaid_usd"][firm_id] += amount


def equity_room_usd(model, assets: np.ndarray | None = None, seen: Observation | None = None,
                    live_mw_by_firm: np.ndarray | None = None) -> np.ndarray:
    """Per firm: new equity it could raise this step for capex (a q rule).

    Public miners sold shares (at-the-market offerings) when the market valued them above the
    replacement cost of their assets, and hardly at all when it did not (2021: q far above 1,
    Marathon doubled its share count; end-2022: q about 1 for the healthiest, below for the
    rest; research note s3). The market's value of a public miner here is
    ``equity_ev_to_margin_multiple`` x its annualised mining margin of the step, plus BTC,
    cash less debt; replacement cost is its live MW at the site build cost plus its machines'
    TH at today's machine price. With q = value / replacement above ``equity_issuance_min_q``
    it may raise up to ``equity_issuance_share_per_year`` of its market value a year, scaled
    by (1 - min_q / q) so issuance rises steeply with q; the ATM fee
    (``equity_issuance_fee_share``) is the cost the firm sees. Private firms raise no outside
    equity (they finance from cash, credit and vendor terms). ``seen``: the step's ``Observation``;
    ``live_mw_by_firm``: ``sites.mw_by_firm`` now, if the caller has it.
    """
    s, firms, sites = model.config, model.firms, model.sites
    seen = _seen(model, seen)
    value, replacement = market_value_and_replacement_usd(model, seen, live_mw_by_firm)
    q = np.divide(value, replacement, out=np.zeros(len(replacement)), where=replacement > 0)
    scale = fastnp.clip(1.0 - s.equity_issuance_min_q / np.where(q > 0, q, np.inf), 0.0, 1.0)
    per_review = s.equity_issuance_share_per_year * seen.years_in_step / s.review_probability_per_step
    return np.where(firms.active & firms.is_public & (value > 0), per_review * scale * value, 0.0)


def market_value_and_replacement_usd(model, seen: Observation | None = None,
                                     live_mw_by_firm: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per firm: (equity market value, replacement cost of its mining assets), USD. The value
    includes the re-rating of its AI leases (``hosting.ai_market_value_usd``).
    ``live_mw_by_firm``: ``sites.mw_by_firm`` now, if the caller has it."""
    s, firms, sites = model.config, model.firms, model.sites
    seen = _seen(model, seen)
    n = len(firms)
    led = firms.ledger
    margin_year = (led["revenue_mining_usd"] - led["power_usd"] - led["opex_usd"]) * MONTHS_PER_YEAR / seen.months_in_step
    price = model.market.state.btc_price_usd
    value = (s.equity_ev_to_margin_multiple * np.maximum(margin_year, 0.0) + firms.btc_held * price
             + firms.cash_usd - firms.debt_usd
             + hosting.ai_market_value_usd(model))  # AI leases re-rate it toward data-centre multiples
    th = np.bincount(sites.owner, weights=sites.mw_machines / sites.efficiency_j_per_th, minlength=n) * econ.W_PER_MW
    live_mw = sites.mw_by_firm(n) if live_mw_by_firm is None else live_mw_by_firm
    replacement = live_mw * s.site_build_capex_usd_per_mw + th * seen.machine_price_usd_per_th
    return value, replacement


def fund_orders(model, idx: np.ndarray, capex: np.ndarray, equity_room: np.ndarray, unique: bool = False) -> None:
    """Fund capex commitments beyond free cash: new equity first (within ``equity_room``),
    then debt. Cash rises by what is raised; the instalments are paid later from it.
    ``unique``: the caller knows no firm is named twice (then each firm's room and ledger take
    one subtraction or addition, which ``np.subtract.at`` would make the same way)."""
    firms = model.firms
    idx = fastnp.as_1d(idx)
    pending = np.add.reduce(firms.payments.buffer[idx], axis=1)  # ``.sum(axis=1)`` without its Python layer
    shortfall = np.maximum(pending + fastnp.as_1d(capex) - firms.cash_usd[idx], 0.0)
    # shares sold gross; the ATM fee is what the firm sees of the cost (equity_issuance_fee_share)
    keep = 1.0 - model.config.equity_issuance_fee_share
    gross = np.minimum(shortfall / keep, np.maximum(equity_room[idx], 0.0))
    equity = gross * keep
    firms.cash_usd[idx] += equity
    if unique:
        equity_room[idx] -= gross
        firms.ledger["equity_raised_usd"][idx] += equity
    else:
        np.subtract.at(equity_room, idx, gross)
        np.add.at(firms.ledger["equity_raised_usd"], idx, equity)
    borrow(firms, idx, shortfall - equity, unique=unique)


def spendable_usd(model, assets: np.ndarray | None = None, seen: Observation | None = None) -> np.ndarray:
    """Per firm: what it can commit to new capex now without breaching its cash reserve.

    Cash above a reserve of ``cash_reserve_months`` of fixed and interest costs, less capex
    already committed, plus unused credit.
    """
    s, firms = model.config, model.firms
    seen = _seen(model, seen)
    monthly_fixed = (firms.ledger["opex_usd"] + firms.ledger["interest_usd"]) / seen.months_in_step
    reserve = s.cash_reserve_months * monthly_fixed
    free = firms.cash_usd - reserve - firms.payments.pending()
    return np.where(firms.active, free + credit_headroom_usd(model, assets, seen), 0.0)
