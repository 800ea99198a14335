"""Host AI: leases end, the lease market clears, delivered leases pay rent.

MW converted for AI is offered to tenants from the moment conversion starts (build-to-suit:
a tenant may sign before the hall is finished, as most 2024-25 deals did), but rent starts
only on delivered MW: a site's delivered IT MW is ``min(contracted, converted / PUE)``. This
is why "signed" runs ahead of "delivered" (calibration.md section 4). Signed leases keep their
rate (with escalator) for their term, whatever the market does later: a bust hits new and
unleased capacity, which sits empty (``mw_ai_empty``), and on the MW whose tenants fail when
demand falls below what is under contract (``fail_tenants_in_a_bust``).
"""

from __future__ import annotations

import numpy as np


def fail_tenants_in_a_bust(model) -> None:
    """When AI demand falls below the MW under contract, tenants of the excess fail.

    Each step a share ``ai_tenant_failure_share_per_year`` (per year) of the excess is lost,
    pro rata across leases: in a bust the weakest tenants (GPU clouds without hyperscaler
    backing) stop paying and their halls go empty. With demand above contracts, nobody fails.
    """
    s, leases = model.config, model.leases
    contracted = float(leases.mw_it.sum())
    excess = contracted - model.market.state.ai_demand_mw
    if excess <= 0 or contracted <= 0 or s.ai_tenant_failure_share_per_year <= 0:
        return
    lost_total = excess * min(1.0, s.ai_tenant_failure_share_per_year * model.years_in_step)
    sites_, lost = leases.cancel_share(lost_total / contracted)
    by_site = np.bincount(sites_, weights=lost, minlength=len(model.sites))
    hit = np.flatnonzero(by_site > 0)
    model.events.add_many("tenant_failed", model.sites.owner[hit], hit, by_site[hit] * s.ai_pue)


def host_ai(model) -> None:
    s, sites, firms, leases = model.config, model.sites, model.firms, model.leases
    step, n_sites = model.steps_done, len(sites)
    leases.expire(step)
    fail_tenants_in_a_bust(model)

    contracted = leases.contracted_it_by_site(n_sites)
    capacity_it = (sites.mw_converting + sites.mw_converted) / s.ai_pue
    offered = np.clip(capacity_it - contracted, 0.0, None)
    demand = model.market.state.ai_demand_mw
    new_demand = max(0.0, demand - float(contracted.sum()))
    leased = model.market.clear_leases(new_demand, offered, demand, float(capacity_it.sum()))
    if leased.sum() > 0:
        signed = np.flatnonzero(leased > 0)
        leases.sign(signed, leased[signed], model.market.lease_rate_usd_per_kw_month, step,
                    round(s.ai_lease_term_years * 12 * model.steps_per_month))
        model.events.add_many("lease_signed", sites.owner[signed], signed, leased[signed] * s.ai_pue,
                              value_usd=leased[signed] * 1000.0 * model.market.lease_rate_usd_per_kw_month * 12)
        contracted = contracted + leased

    delivered_it = np.minimum(contracted, sites.mw_converted / s.ai_pue)
    rent = leases.monthly_rent_by_site(n_sites, step, model.steps_per_year, s.ai_lease_escalator_per_year)
    with np.errstate(divide="ignore", invalid="ignore"):
        delivered_share = np.where(contracted > 0, delivered_it / contracted, 0.0)
    site_revenue = rent * delivered_share * model.months_in_step
    n = len(firms)
    firms.ledger["revenue_ai_usd"] = np.bincount(sites.owner, weights=site_revenue, minlength=n)
    firms.ledger["ai_opex_usd"] = firms.ledger["revenue_ai_usd"] * (1.0 - s.ai_margin)
    model.mw_ai_leased = delivered_it * s.ai_pue
    model.ai_contracted_it_mw = float(contracted.sum())
    model.ai_offered_it_mw = float(np.clip(capacity_it - contracted, 0.0, None).sum())
