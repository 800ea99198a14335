"""Convert for AI: firms offer powered capacity to tenants, the lease market clears, signed
deals are built (MODEL.md "AI/HPC demand"; calibration.md section 4).

Each step every active firm offers, site by site, what its site can give AI tenants:
- **empty halls**: converted (or converting) IT MW without a tenant, at the hall's running
  cost ``ai_hall_opex_usd_per_kw_month`` (the capex is sunk; any rent above that beats none);
- **new halls** on unused interconnect (approved power not yet built): no mining margin is
  given up, but the capex carries ``ai_new_hall_capex_premium`` (shell, substation);
- **conversions** of mining MW on an AI-suitable site: capex plus the mining margin the MW
  gives up (``rules.conversion_reservation_rate``, under the firm's own decision rule).
What a site can give AI in all is its ``suitable_mw`` (interconnect or land, if tenants want
the location), so a firm never converts or builds past its interconnect.

Reservation rates follow deal terms as signed: capex per MW of critical IT by date
(``capex_per_it_mw``), of which the tenant funds ``ai_tenant_capex_share`` (prepayments,
direct funding); the host's share is financed ``conversion_debt_share_leased`` by project debt
at the backstopped rate and the rest by equity (the outside equity a signing brings in at the
market's hurdle, the host's own at its hurdle rate), and tenant default
risk adds its hazard to that rate. A firm offers only the IT MW whose equity it can fund
(``spend``: cash and credit, for a public miner the equity rule's room, in which its signed
and delivered leases re-rate its market value, ``hosting.ai_market_value_usd``, and the outside
equity a signing brings in, ``project_equity_per_it_mw``), and only in
blocks of at least ``ai_min_lease_block_it_mw`` (tenants lease campus blocks, not slivers). A new
hall's rent starts ``ai_new_hall_extra_lead_months`` after a conversion's. A public miner raises
``ai_public_signing_equity_share`` of a signed hall's equity on the signing (at most the lease's
re-rating), a private one ``ai_private_project_equity_share`` from project investors, so each
offers what it can fund with that money counted. Offers are compared in location-adjusted terms
(reservation / (quality / ``ai_reference_location_quality``)): a tenant pays the clearing rate
x quality / the typical suitable site's quality, so better locations sign higher rates.

Signed MW is built to suit: first rent ``conversion_lead_time_months`` after signing, the
halls delivered in equal phases over ``ai_delivery_phase_months``; capex is paid over the
same span. Public miners under a mandated ``ai_target_share`` offer like everybody else and
build the rest of their target speculatively: those halls then sit empty until let, offered
at their running cost, so a glut of them pulls the rate down for everybody.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from marketsim import fastnp
from marketsim.firms import finance
from marketsim.firms.rules import Candidates, FirmPaths, Outlook
from marketsim.market.ai import (LeaseClearing, gpu_cloud_npv_per_it_mw, new_lease_demand_mw_at,
                                 rerating_uplift_usd_per_signed_it_mw)
from marketsim.step_state import Beliefs, LeaseMarket, Observation
from marketsim.units import DAYS_PER_YEAR, KW_PER_MW, MONTHS_PER_YEAR

OFFER_KINDS = ("empty", "new_hall", "convert")
DAYS_IN_LONGEST_MONTH = 31.0  # days as a fraction of a month: never a whole month within one
NEAR_MARGIN_SHARE = 0.2  # unfilled offers within this share of the clearing rate are logged as offers

NEW_HALL_DETAIL = "new AI hall on unused interconnect"  # event detail of halls that add capacity (text only)


def capex_per_it_mw(s, date, firm_capex_usd_per_mw) -> np.ndarray:
    """Capex per MW of critical IT at ``date``: the firm's figure at the reference date, grown by
    ``conversion_capex_growth_per_year`` between the reference date and ``..._growth_until``
    (deals: $6-8M late 2024, $8-11M in 2025; calibration.md section 4)."""
    return np.asarray(firm_capex_usd_per_mw, dtype=float) * _capex_growth_factor(s, date)


_GROWTH_AT: tuple | None = None  # (date, scenario, factor) of the last ``_capex_growth_factor``


def _capex_growth_factor(s, date) -> np.float64:
    """(1 + ``conversion_capex_growth_per_year``) ** the years of growth at ``date``: one number a
    step, asked up to four times in it (offers, signings, the halls started); kept for the last
    (date, scenario) by identity, as a step's state holds one date object all step. The same
    ``np.float64`` power either way."""
    global _GROWTH_AT
    cached = _GROWTH_AT
    if cached is not None and cached[0] is date and cached[1] is s:
        return cached[2]
    years = _capex_growth_years(s.conversion_capex_reference_date, s.conversion_capex_growth_until,
                                date.date() if hasattr(date, "date") else date)
    factor = (1.0 + s.conversion_capex_growth_per_year) ** years
    _GROWTH_AT = (date, s, factor)
    return factor


def _capex_growth_years(reference_date, growth_until, date) -> np.float64:
    """Years of capex growth at ``date`` (``capex_per_it_mw``): whole days from the reference
    date to ``date`` held within [reference, until], over ``DAYS_PER_YEAR``. Plain dates are
    subtracted as such (numpy's datetime64 conversions cost ~30 us a call, and it ran every
    step); other date types go through numpy. The same float either way: a whole number of
    days divided once."""
    if all(type(d) is dt.date for d in (reference_date, growth_until, date)):
        now = min(max(date, reference_date), growth_until)
        return np.float64((now - reference_date).days / DAYS_PER_YEAR)
    ref = np.datetime64(reference_date)
    until = np.datetime64(growth_until)
    now = min(max(np.datetime64(date), ref), until)
    return (now - ref).astype("timedelta64[D]").astype(float) / DAYS_PER_YEAR


def host_capex_per_it_mw(capex_usd_per_it_mw, tenant_capex_share: float):
    """What the host pays of a hall's capex: the tenant funds its share."""
    return np.asarray(capex_usd_per_it_mw) * (1.0 - tenant_capex_share)


def host_equity_per_it_mw(capex_usd_per_it_mw, tenant_capex_share: float, debt_share: float):
    """The host's own cash per IT MW: its capex share less the project debt lenders fund."""
    return host_capex_per_it_mw(capex_usd_per_it_mw, tenant_capex_share) * (1.0 - debt_share)


def leased_debt_rate_per_year(s, date) -> float:
    """Rate on a leased hall's project debt at ``date``: ``ai_backstopped_debt_rate_per_year``
    from ``ai_backstops_from`` on, ``ai_project_debt_rate_before_backstops_per_year`` before.
    Why dated: the hyperscaler backstops (Google for Fluidstack, from August 2025) turned the
    hosts' project debt into investment-grade-backed paper (senior secured notes at 7.125-7.75%
    in October-November 2025); the 2024 deals had no such backstop (research note B2)."""
    day = date.date() if hasattr(date, "date") else date  # a step's Timestamp, or a datetime.date
    if day >= s.ai_backstops_from:
        return s.ai_backstopped_debt_rate_per_year
    return s.ai_project_debt_rate_before_backstops_per_year


def project_rate_per_year(hurdle_rate_per_year, debt_share: float, debt_rate_per_year: float,
                          default_per_year: float):
    """Discount rate of a leased hall: debt and equity weighted, plus the tenant default hazard."""
    return debt_share * debt_rate_per_year + (1.0 - debt_share) * np.asarray(hurdle_rate_per_year) + default_per_year


def site_ai_room_mw(sites) -> tuple[np.ndarray, np.ndarray]:
    """Gross MW each site can still give AI as (new halls on unused interconnect, conversions of
    machine MW); their sum never takes the site's AI MW past ``suitable_mw`` (<= interconnect)."""
    room = np.empty((2, len(sites)))
    _ai_room_into(room, sites, sites.live_mw, sites.mw_converting + sites.mw_converted)
    return room[0], room[1]


def _ai_room_into(out: np.ndarray, sites, live: np.ndarray, ai_gross: np.ndarray) -> None:
    """``site_ai_room_mw`` written into the rows of ``out`` (2, sites), from the sites' live MW and
    the gross MW already converted or converting (the caller has them: the same numbers)."""
    room = np.maximum(sites.suitable_mw - ai_gross, 0.0)
    headroom = np.maximum(sites.interconnect_mw - live - sites.build_pipeline.pending(), 0.0)
    new_hall, convert = out
    np.minimum(room, headroom, out=new_hall)
    np.subtract(room, new_hall, out=convert)
    np.minimum(convert, sites.mw_machines, out=convert)


def _reservations(model, o: Outlook, power: np.ndarray, firm_capex_it: np.ndarray, rows: np.ndarray,
                  decline: np.ndarray, paths: FirmPaths | None = None, hall_room: np.ndarray | None = None,
                  conv_room: np.ndarray | None = None, equity_need: tuple | None = None):
    """Reservation rates ($/kW-month) of the sites ``rows`` for a new hall and for a conversion,
    each site valued by its owner's decision rule (``paths``: the step's per-firm paths, made
    here when not given; ``decline``: each firm's expected hashprice decline, ``Beliefs``). The equity outside investors bring in on the signing
    (``project_equity_per_it_mw``) is priced at their return, the market's hurdle
    ``hurdle_rate_per_year``, not at the host's own draw: only the rest earns the host's hurdle.

    ``hall_room``, ``conv_room`` (one per row; None: all): the rows with new-hall or conversion
    room. Elsewhere a rate would price no MW, so it is left inf (``offers`` reads a rate only
    where its room is > 0); a rule is asked only about the rows it has of each kind, and every
    rule values each row by itself, so a row's rate is the same number in any batch.
    ``equity_need``: (host equity per IT MW, the outside equity of it) per firm, when ``offers``
    has them (``host_equity_per_it_mw``, ``project_equity_per_it_mw``)."""
    s, sites, firms = model.config, model.sites, model.firms
    owner = sites.owner[rows]
    if equity_need is None:
        need = host_equity_per_it_mw(firm_capex_it, s.ai_tenant_capex_share, s.conversion_debt_share_leased)
        equity_need = need, project_equity_per_it_mw(s, firms.is_public, need)
    need, brought = equity_need
    outside = np.where(need > 0, brought / np.where(need > 0, need, 1.0), 0.0)
    hurdle = outside * s.hurdle_rate_per_year + (1.0 - outside) * firms.hurdle_rate_per_year
    firm_rate = project_rate_per_year(hurdle, s.conversion_debt_share_leased,
                                      leased_debt_rate_per_year(s, model.market.state.date), s.ai_tenant_default_per_year)
    if paths is None:
        paths = FirmPaths(o, firms.expected_hashprice, decline)
    host = host_capex_per_it_mw(firm_capex_it, s.ai_tenant_capex_share)  # per firm
    cost = power[rows] + s.mining_opex_usd_per_mwh
    hall_res = fastnp.full(len(rows), np.inf)
    conv_res = fastnp.full(len(rows), np.inf)
    # a new hall waits for its substation and shell: its rent starts later
    o_hall = None
    rule_of = firms.rule[owner]
    for rule_id, rule in enumerate(model.rules):
        mine = rule_of == rule_id
        conv = (mine if conv_room is None else mine & conv_room).nonzero()[0]
        hall = (mine if hall_room is None else mine & hall_room).nonzero()[0]
        # a conversion and a new hall of the same site share the owner's paths (at the project rate)
        if len(conv):
            f = owner[conv]
            c = Candidates(sites.efficiency_j_per_th[rows[conv]], cost[conv], firms.expected_hashprice[f], decline[f],
                           firm_rate[f], host[f], paths.of(f, "project", firm_rate))
            conv_res[conv] = rule.conversion_reservation_rate(c, o)
        if len(hall):
            if o_hall is None:
                o_hall = o.with_conversion_lead(o.conversion_lead_months + s.ai_new_hall_extra_lead_months)
            f = owner[hall]
            c = Candidates(fastnp.full(len(hall), np.inf), cost[hall], firms.expected_hashprice[f], decline[f],
                           firm_rate[f], host[f] * (1.0 + s.ai_new_hall_capex_premium), paths.of(f, "project", firm_rate))
            hall_res[hall] = rule.conversion_reservation_rate(c, o_hall)
    return hall_res, conv_res


def offers(model, spend: np.ndarray, o: Outlook, power: np.ndarray, decline: np.ndarray,
           paths: FirmPaths | None = None):
    """The step's offers as flat arrays (site, kind index, IT MW, reservation rate); ``power``:
    each site's power price, ``decline``: each firm's expected hashprice decline (the step's
    ``Observation`` and ``Beliefs``); ``paths``: the step's per-firm hashprice paths
    (``rules.FirmPaths``), if the caller has them."""
    return _offers(model, spend, o, power, decline, paths)[:4]


def _offers(model, spend: np.ndarray, o: Outlook, power: np.ndarray, decline: np.ndarray,
            paths: FirmPaths | None = None):
    """``offers``, and each site's IT MW of empty halls (``empty_hall_it_mw``; None in the world
    without conversion), which ``choose_gpu_cloud`` reads when the market signed nothing."""
    s, sites, firms, leases = model.config, model.sites, model.firms, model.leases
    if not s.ai_conversion_allowed:  # the counterfactual world: nothing offered, so nothing signed or built
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0), None
    n = len(sites)
    owner = sites.owner
    live = sites.live_mw
    active = firms.active[owner] & (live > 0)
    firm_capex_it = capex_per_it_mw(s, model.market.state.date, firms.conversion_capex_usd_per_mw)
    ai_gross = sites.mw_converting + sites.mw_converted
    empty_it = np.maximum(ai_gross / s.ai_pue - leases.contracted_it_by_site(n), 0.0)  # ``empty_hall_it_mw``
    # one row per kind (OFFER_KINDS), one column per site: the offers in kind-major order; the
    # new building's rows (new halls, conversions) are the sites' room in IT MW
    mw = np.empty((3, n))
    mw[0] = np.where(active, empty_it, 0.0)
    new = mw[1:]
    _ai_room_into(new, sites, live, ai_gross)
    new /= s.ai_pue
    suitable = active & (new[0] + new[1] > 0)
    # financing: a firm offers only the new MW whose equity it can fund
    need_it = host_equity_per_it_mw(firm_capex_it, s.ai_tenant_capex_share, s.conversion_debt_share_leased)
    brought = project_equity_per_it_mw(s, firms.is_public, need_it)
    equity_it = need_it - brought
    want = np.where(suitable, new[0] * (1.0 + s.ai_new_hall_capex_premium) + new[1], 0.0)
    need = np.bincount(owner, weights=want, minlength=len(firms)) * equity_it
    scale = np.where(need > 0, fastnp.clip(np.maximum(spend, 0.0) / np.where(need > 0, need, 1.0), 0.0, 1.0), 1.0)
    # a site that is not suitable keeps its (unscaled) room here, but it is never priced below:
    # its new building's rates stay inf, so it offers none of it
    new *= scale[owner]
    # (only active sites offer: an inactive one's factor divides rates that are never offered)
    q = np.maximum(location_price_factor(s, sites.location_quality), 1e-9)
    res = fastnp.full((3, n), np.inf)
    res[0] = s.ai_hall_opex_usd_per_kw_month
    # reservation rates only where a block could be offered (the costly part: elsewhere nothing
    # new is, and the priced room below is never more than the room)
    rows = (suitable & (new[0] + new[1] >= s.ai_min_lease_block_it_mw)).nonzero()[0]
    if len(rows):
        at_hall, at_conv = mw[1, rows], mw[2, rows]
        hall_res, conv_res = _reservations(model, o, power, firm_capex_it, rows, decline, paths,
                                           hall_room=at_hall > 0, conv_room=at_conv > 0,
                                           equity_need=(need_it, brought))
        # tenants lease campus-sized blocks: a site that cannot offer one (room or money, counting
        # only the room it would build at a finite rent) gets no tenant for new building (its
        # existing empty halls are still let); a rate is inf where its room is 0, so the room it
        # prices is the same
        priced_it = np.where(np.isfinite(hall_res), at_hall, 0.0) + np.where(np.isfinite(conv_res), at_conv, 0.0)
        res[1, rows], res[2, rows] = hall_res, conv_res
        small = rows[priced_it < s.ai_min_lease_block_it_mw]
        mw[1:, small] = 0.0
    # the rest of the rows price no new building: their new halls and conversions are not offered
    # (an inf rate is never offered, whatever the MW)
    res /= q
    ok = (mw > 0) & np.isfinite(res)
    kind, site = ok.nonzero()
    return site, kind, mw[ok], res[ok], empty_it


def empty_hall_it_mw(model) -> np.ndarray:
    """Per site: IT MW of halls built or being built that no lease holds (gross / PUE less the
    contracted IT MW, at least 0)."""
    sites, s = model.sites, model.config
    return np.maximum((sites.mw_converting + sites.mw_converted) / s.ai_pue
                      - model.leases.contracted_it_by_site(len(sites)), 0.0)


def signable_fill_mw(site: np.ndarray, kind: np.ndarray, filled_mw: np.ndarray, block_it_mw: float,
                     n_sites: int) -> np.ndarray:
    """What tenants sign of the clearing's fills: a tenant signs a block, not a sliver, so a site
    whose new builds (kinds > 0: new halls and conversions together) are filled below
    ``block_it_mw`` signs none of them and waits for more demand (deals are lumpy; the first at
    mining sites came in mid-2024); empty halls (kind 0) are let whatever their size."""
    if not filled_mw.any():  # nothing filled (no demand): nothing to sign
        return filled_mw
    new_build = np.where(kind > 0, filled_mw, 0.0)
    site_new = np.bincount(site, weights=new_build, minlength=n_sites)[site]
    return np.where((kind > 0) & (site_new < block_it_mw), 0.0, filled_mw)


def location_price_factor(s, quality):
    """What a tenant pays at a site relative to the clearing rate: quality / the typical suitable
    site's (``ai_reference_location_quality``). The deals' rates that set the demand curve (reference
    rate, greenfield rent) were signed at such typical campuses, so the clearing rate is the rate at
    a typical suitable site, not at a quality-1 site that tenants would not consider."""
    return np.asarray(quality, dtype=float) / s.ai_reference_location_quality


def project_equity_per_it_mw(s, is_public: np.ndarray, equity_need_per_it_mw) -> np.ndarray:
    """Outside equity a signed lease brings in per IT MW, before the host's own money.

    A private host brings in project equity (infrastructure funds) for
    ``ai_private_project_equity_share`` of the equity its share of the build needs. A public miner
    raises ``ai_public_signing_equity_share`` of it on the signing itself (converts and share sales
    on the news: Cipher's $800M of 0% converts for Barber Lake, TeraWulf's after its Fluidstack/Google
    deal; stocks +20-48% on signing days; research note B2/B5), at most the re-rating the lease adds
    to its value (``ai.rerating_uplift_usd_per_signed_it_mw``): investors fund the hall because the
    lease re-rates the stock, and never more than that. The rest of its need comes from cash, the
    equity rule's room (``finance.equity_room_usd``, which the re-rating raises after signing) and
    credit."""
    need = np.asarray(equity_need_per_it_mw, dtype=float)
    uplift = rerating_uplift_usd_per_signed_it_mw(s.ai_miner_value_usd_per_mw, s.ai_datacentre_value_usd_per_it_mw,
                                                  s.ai_signed_lease_credibility, s.ai_pue)
    public = np.minimum(s.ai_public_signing_equity_share * need, max(uplift, 0.0))
    return np.where(is_public, public, s.ai_private_project_equity_share * need)


def _log(model, kind: str, firm_ids, site_ids, mw, value_usd, detail) -> None:
    """One event per row, in one block (a detail string for all rows, or one per row)."""
    detail = np.asarray(detail, dtype=object)
    if detail.shape != np.shape(mw):  # one string for all rows (a view, as the rows read it)
        detail = np.broadcast_to(detail, np.shape(mw))
    model.events.add_many(kind, firm_ids, site_ids, mw, value_usd=value_usd, detail=detail)


def start_halls(model, site: np.ndarray, kind: np.ndarray, it_mw: np.ndarray, debt_share: float,
                spend: np.ndarray, detail: str, equity_room: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Build ``it_mw`` of IT at each site (kind 1: new hall on unused interconnect, 2: conversion
    of machine MW, 0: an existing hall, nothing to build). ``equity_room``: the equity rule's room
    per firm (``decisions.decide``), spent before credit on the host's equity share; None: no
    equity is raised. Returns the host capex per row and the gross MW of new halls started
    (capacity added: ``LeaseMarket.new_hall_mw``)."""
    s, sites, firms = model.config, model.sites, model.firms
    build = (kind > 0) & (it_mw > 0)
    site, kind, it_mw = site[build], kind[build], it_mw[build]
    capex_out = np.zeros(len(site))
    if not len(site):
        return capex_out, 0.0
    f = sites.owner[site]
    gross = it_mw * s.ai_pue
    capex_it = capex_per_it_mw(s, model.market.state.date, firms.conversion_capex_usd_per_mw[f])
    capex = it_mw * capex_it * np.where(kind == 1, 1.0 + s.ai_new_hall_capex_premium, 1.0)
    host = host_capex_per_it_mw(capex, s.ai_tenant_capex_share)
    # new halls add capacity; conversions take machine MW, idle first
    hall = kind == 1
    np.add.at(sites.capacity_mw, site[hall], gross[hall])
    conv = ~hall
    take_idle = np.minimum(gross[conv], sites.mw_idle[site[conv]])
    np.subtract.at(sites.mw_idle, site[conv], take_idle)
    np.subtract.at(sites.mw_mining, site[conv], gross[conv] - take_idle)
    np.add.at(sites.mw_converting, site, gross)
    lead = np.maximum(1, np.round((s.conversion_lead_time_months + np.where(hall, s.ai_new_hall_extra_lead_months, 0))
                                  * model.steps_per_month)).astype(np.int64)
    phases = max(1, round(s.ai_delivery_phase_months * model.steps_per_month))
    # rows by lead time, the leads ascending (``np.unique``'s order; a set of a few ints is quicker)
    groups = [(first, lead == first) for first in sorted(set(lead.tolist()))]
    # phase k of every group, phase by phase (one pass, in the order of a loop over phases and
    # groups): the groups' rows, amounts and first delays once, repeated for each phase, the
    # delays k steps later in phase k
    if len(groups) == 1:
        rows, amount, first_delay = site, gross / phases, lead
    else:
        rows = np.concatenate([site[at] for _, at in groups])
        amount = np.concatenate([gross[at] / phases for _, at in groups])
        first_delay = np.concatenate([lead[at] for _, at in groups])
    sites.conversion_pipeline.add_rows_each(np.concatenate((rows,) * phases), np.concatenate((amount,) * phases),
                                            np.concatenate((first_delay,) * phases)
                                            + np.arange(phases).repeat(len(rows)))
    np.subtract.at(spend, f, host * (1.0 - debt_share))
    # project finance: the hall (and, when signed, the tenant's lease and its backstop) secures
    # its own loan, sized by the project's lenders at ``debt_share`` of its cost (80-85% with a
    # hyperscaler backstop, calibration.md section 4); the firm's corporate loan-to-value limit
    # applies to everything else, so the ceiling rises by exactly this loan
    if firms.debt_ceiling_usd is not None:
        np.add.at(firms.debt_ceiling_usd, f, host * debt_share)
    finance.borrow(firms, f, host * debt_share)
    # the host's equity share: new shares first (public miners, within the equity rule's room,
    # which the re-rating of signed leases raises), then credit (``finance.fund_orders``)
    room = equity_room
    if room is not None and len(room) == len(firms):
        buyers, at = fastnp.unique_inverse(f)  # ``np.unique(f, return_inverse=True)``'s arrays
        finance.fund_orders(model, buyers, np.bincount(at, weights=host * (1.0 - debt_share)), room)
    for first, at in groups:
        firms.payments.add_spread_rows(f[at], host[at], first + phases - 1)
    _log(model, "conversion_started", f, site, gross, host,
         np.where(kind == 1, f"{detail}: {NEW_HALL_DETAIL}", f"{detail}: conversion of mining MW"))
    capex_out[:] = host
    return capex_out, float(gross[hall].sum())


def convert(model, seen: Observation, beliefs: Beliefs, spend: np.ndarray, o: Outlook,
            paths: FirmPaths | None = None, equity_room: np.ndarray | None = None) -> LeaseMarket:
    """Offers, clearing, signings and builds for one step (called from ``decisions.decide``;
    ``seen``, ``beliefs``: the step's records; ``equity_room``: the equity rule's room per firm,
    None for none). Returns the lease market's record of the step."""
    s, firms = model.config, model.firms
    # tenants come every step, boards review only some: the equity rule's room is sized per
    # review, so the lease market sees the per-step share of it (restored for later callers)
    room = equity_room
    held = (np.maximum(room, 0.0) * (1.0 - s.review_probability_per_step)
            if room is not None and len(room) == len(firms) else np.zeros(len(firms)))
    spend -= held
    if room is not None and len(room) == len(firms):
        room -= held
    market = _convert(model, seen, beliefs, spend, o, paths, room)
    spend += held
    if room is not None and len(room) == len(firms):
        room += held
    return market


def _convert(model, seen: Observation, beliefs: Beliefs, spend: np.ndarray, o: Outlook,
             paths: FirmPaths | None, equity_room: np.ndarray | None) -> LeaseMarket:
    s, firms, sites, leases = model.config, model.firms, model.sites, model.leases
    step = seen.step
    site, kind, mw, res, empty_it = _offers(model, spend, o, seen.site_power_usd_per_mwh,
                                            beliefs.expected_decline_per_year, paths)
    contracted = float(leases.mw_it.sum())
    clearing: LeaseClearing = model.market.clear_leases(mw, res, contracted)
    filled = signable_fill_mw(site, kind, clearing.filled_mw, s.ai_min_lease_block_it_mw, len(sites))
    signed = filled > 1e-9
    rates = np.empty(0)
    new_hall_mw = 0.0
    if signed.any():
        ss, kk, it = site[signed], kind[signed], filled[signed]
        rates = clearing.rate_usd_per_kw_month * location_price_factor(s, sites.location_quality[ss])
        term = round(s.ai_lease_term_years * model.steps_per_year)
        leases.sign(ss, it, rates, step, term)
        _log(model, "lease_signed", sites.owner[ss], ss, it * s.ai_pue, it * KW_PER_MW * rates * MONTHS_PER_YEAR,
             np.array([f"{r:.1f} $/kW-month, {OFFER_KINDS[k]}" for r, k in zip(rates, kk)], dtype=object))
        owners = sites.owner[ss]
        need_it = host_equity_per_it_mw(capex_per_it_mw(s, model.market.state.date, firms.conversion_capex_usd_per_mw[owners]),
                                        s.ai_tenant_capex_share, s.conversion_debt_share_leased)
        need_it = need_it * np.where(kk == 1, 1.0 + s.ai_new_hall_capex_premium, 1.0)
        raised = project_equity_per_it_mw(s, firms.is_public[owners], need_it) * np.where(kk > 0, it, 0.0)
        np.add.at(firms.cash_usd, owners, raised)
        np.add.at(firms.ledger["equity_raised_usd"], owners, raised)
        np.add.at(spend, owners, raised)
        _, new_hall_mw = start_halls(model, ss, kk, it, s.conversion_debt_share_leased, spend, detail="lease",
                                     equity_room=equity_room)
    near = ~signed & (res <= clearing.rate_usd_per_kw_month * (1.0 + NEAR_MARGIN_SHARE))
    if near.any():
        at, near_mw = site[near], mw[near]
        ask = res[near] * location_price_factor(s, sites.location_quality[at])
        _log(model, "lease_offered", sites.owner[at], at, near_mw * s.ai_pue, ask * near_mw * 12000.0,
             np.array([f"asks {r:.1f} $/kW-month, {OFFER_KINDS[k]}" for r, k in zip(ask, kind[near])], dtype=object))
    # no signing: no lease and no hall changed since the offers, so their empty halls still stand
    gpu_it = choose_gpu_cloud(model, seen, spend, None if len(rates) else empty_it)
    if s.ai_target_share is not None:
        new_hall_mw += pursue_ai_target(model, seen, spend, equity_room)
    signed_it, offered_it = float(filled.sum()), float(mw.sum())
    return LeaseMarket(
        signed_it_mw=signed_it,
        offered_it_mw=offered_it,
        clearing_rate_usd_per_kw_month=clearing.rate_usd_per_kw_month,
        signed_rate_min_usd_per_kw_month=float(rates.min()) if len(rates) else float("nan"),
        signed_rate_max_usd_per_kw_month=float(rates.max()) if len(rates) else float("nan"),
        gpu_cloud_started_it_mw=gpu_it,
        unmet_demand_it_mw=unmet_demand_it_mw(model, seen, clearing, signed_it, contracted),
        contracted_it_mw=float(leases.mw_it.sum()),
        unfilled_offered_it_mw=offered_it - signed_it,
        new_hall_mw=new_hall_mw,
    )


def unmet_demand_it_mw(model, seen: Observation, clearing: LeaseClearing, signed_it_mw: float,
                       contracted_it_mw: float) -> float:
    """New leases tenants want at the step's clearing rate (``LeaseClearing.demand_at_rate_mw``)
    that no offer filled; with no offers at all, what they want at the market's standing rate."""
    if np.isfinite(clearing.rate_usd_per_kw_month):
        return max(0.0, clearing.demand_at_rate_mw - signed_it_mw)
    s = model.config
    return new_lease_demand_mw_at(model.market.lease_rate_usd_per_kw_month, seen.ai_demand_mw,
                                  contracted_it_mw, s.ai_tenant_reference_rate_usd_per_kw_month,
                                  s.ai_choke_rate_usd_per_kw_month, s.ai_tenant_demand_elasticity_below_reference)


def gpu_cloud_rent_equivalent(s, utilisation) -> np.ndarray:
    """The rent ($/kW-month) whose NOI (x ``ai_margin``) equals an own GPU cloud's net income, so
    the GPU cloud flows through the same books: revenue x utilisation x (1 - GPU opex) / margin."""
    net = s.ai_gpu_cloud_revenue_usd_per_it_mw_year * np.asarray(utilisation) * (1.0 - s.ai_gpu_opex_share)
    return net / (MONTHS_PER_YEAR * KW_PER_MW * max(s.ai_margin, 1e-9))


def choose_gpu_cloud(model, seen: Observation, spend: np.ndarray, empty_it: np.ndarray | None = None) -> float:
    """Halls still empty after the market cleared may run their owner's own GPU cloud instead.

    A firm does it where ``ai.gpu_cloud_npv_per_it_mw`` at its hurdle rate and the expected
    utilisation is positive and it can fund the GPUs' equity (``conversion_debt_share_unleased``
    is borrowed: no tenant backs the debt). The utilisation it then gets is drawn (the risk:
    normal around ``ai_gpu_utilisation_mean``, clipped to [0.05, 1]) and fixed for the GPUs'
    life. Returns the IT MW started. ``empty_it``: the sites' ``empty_hall_it_mw`` if the caller
    has them as they stand.
    """
    s, sites, firms, leases = model.config, model.sites, model.firms, model.leases
    empty = empty_hall_it_mw(model) if empty_it is None else empty_it
    cand = ((empty * s.ai_pue >= model.MIN_ORDER_MW) & firms.active[sites.owner]).nonzero()[0]
    if not len(cand):
        return 0.0
    owner = sites.owner[cand]
    npv = gpu_cloud_npv_per_it_mw(s.ai_gpu_cloud_revenue_usd_per_it_mw_year, s.ai_gpu_utilisation_mean,
                                  s.ai_gpu_opex_share, s.ai_gpu_capex_usd_per_it_mw, s.ai_gpu_life_years,
                                  firms.hurdle_rate_per_year[owner])
    equity_per_mw = s.ai_gpu_capex_usd_per_it_mw * (1.0 - s.conversion_debt_share_unleased)
    mw = empty[cand]
    if equity_per_mw > 0:
        mw = np.minimum(mw, np.maximum(spend[owner], 0.0) / equity_per_mw)
    go = (npv > 0) & (mw * s.ai_pue >= model.MIN_ORDER_MW)
    if not go.any():
        return 0.0
    site, f, mw = cand[go], owner[go], mw[go]
    # one GPU cloud per firm per step: the first of its sites (spend is per firm)
    _, first = np.unique(f, return_index=True)
    site, f, mw = site[first], f[first], mw[first]
    utilisation = np.clip(model.firm_rng.normal(s.ai_gpu_utilisation_mean, s.ai_gpu_utilisation_sd, len(site)), 0.05, 1.0)
    capex = mw * s.ai_gpu_capex_usd_per_it_mw
    np.subtract.at(spend, f, capex * (1.0 - s.conversion_debt_share_unleased))
    finance.borrow(firms, f, capex * s.conversion_debt_share_unleased)
    firms.payments.add_spread_rows(f, capex, 1)
    leases.sign(site, mw, gpu_cloud_rent_equivalent(s, utilisation), seen.step,
                round(s.ai_gpu_life_years * model.steps_per_year), own_gpu=True)
    _log(model, "gpu_cloud_started", f, site, mw * s.ai_pue, capex,
         np.array([f"own GPU cloud, utilisation {u:.0%}" for u in utilisation], dtype=object))
    return float(mw.sum())


def pursue_ai_target(model, seen: Observation, spend: np.ndarray, equity_room: np.ndarray | None = None) -> float:
    """The published projection's strategy: public miners convert ``ai_target_share`` of their MW
    (within what their sites allow) by ``ai_target_date``, whatever the NPV, ordering early enough
    to finish on time; what no tenant signed for is built speculatively (it sits empty until let).
    Returns the gross MW of new halls started (``start_halls``).
    """
    s, firms, sites = model.config, model.firms, model.sites
    if not s.ai_conversion_allowed:  # the counterfactual world: no mandated halls either
        return 0.0
    n_firms = len(firms)
    months_left = max(1.0, _months_between(model.market.state.date, s.ai_target_date)
                      - s.conversion_lead_time_months - s.ai_delivery_phase_months)
    public = firms.active & firms.is_public
    firm_mw = sites.mw_by_firm(n_firms)
    done = np.bincount(sites.owner, weights=sites.mw_converting + sites.mw_converted, minlength=n_firms)
    gap = np.where(public, np.maximum(s.ai_target_share * firm_mw - done, 0.0), 0.0)
    pace = gap / months_left * seen.months_in_step if months_left > 1 else gap
    hall, conv = site_ai_room_mw(sites)
    room = hall + conv
    firm_room = np.bincount(sites.owner, weights=room, minlength=n_firms)
    share = np.where(firm_room[sites.owner] > 0, room / np.where(firm_room[sites.owner] > 0, firm_room[sites.owner], 1), 0)
    gross = np.minimum(pace[sites.owner] * share, room)
    go = (gross >= model.MIN_ORDER_MW).nonzero()[0]
    if not len(go):
        return 0.0
    from_hall = np.minimum(gross[go], hall[go])
    rows = np.r_[go, go]
    kinds = np.r_[np.ones(len(go), np.int64), np.full(len(go), 2, np.int64)]
    it = np.r_[from_hall, gross[go] - from_hall] / s.ai_pue
    _, new_hall_mw = start_halls(model, rows, kinds, it, s.conversion_debt_share_unleased, spend,
                                 detail="mandated (ai_target_share)", equity_room=equity_room)
    return new_hall_mw


def _months_between(a, b) -> float:
    """Months from date ``a`` to date ``b`` (fractional)."""
    return (b.year - a.year) * 12 + (b.month - a.month) + (b.day - a.day) / DAYS_IN_LONGEST_MONTH
