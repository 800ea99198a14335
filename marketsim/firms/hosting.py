"""Host AI: leases end or renew, tenants default, delivered leases pay rent.

The lease market itself (offers, clearing, signing, building) is ``firms/conversion.py``. A
signed lease is built to suit and rent starts only on delivered MW: a site's delivered IT MW is
``min(contracted, converted / PUE)``, and halls arrive in phases, so "signed" runs ahead of
"delivered" (calibration.md section 4: ~25% delivered by late 2025). Signed leases keep their
rate (with escalator) for their term, whatever the market does later. Three things end one:
- expiry: at the end of the term a share ``ai_lease_renewal_probability`` of tenants exercise a
  renewal option (``ai_lease_renewal_term_years`` at the rate they pay then); the others leave;
- default: each tenant defaults with hazard ``ai_tenant_default_per_year`` (a GPU cloud without
  a hyperscaler's backing runs out of money); its hall empties and its rent stops;
- a bust: when demand falls below the MW under contract, tenants of the excess fail
  (``fail_tenants_in_a_bust``).
Empty halls are offered again in the lease market at any rate (their capex is sunk).
"""

from __future__ import annotations

import numpy as np

from marketsim.market import ai
from marketsim.step_state import Hosting, LeaseMarket, Observation

AI_COLUMN_DOCS = {
    "ai_signed_it_mw": "IT MW of new leases signed in the step",
    "ai_offered_it_mw": "IT MW firms offered to tenants in the step (empty halls, new halls, conversions)",
    "ai_under_construction_it_mw": "IT MW being built or converted (signed or speculative), not yet delivered",
    "ai_delivered_it_mw": "IT MW delivered and paying rent",
    "ai_empty_it_mw": "IT MW of finished halls without a paying tenant",
    "ai_clearing_rate_usd_per_kw_month": "lease market's clearing rate in the step, USD per kW-month of IT (NaN: no offers)",
    "ai_signed_rate_min_usd_per_kw_month": "lowest rate signed in the step (location-adjusted), USD per kW-month (NaN: none)",
    "ai_signed_rate_max_usd_per_kw_month": "highest rate signed in the step (location-adjusted), USD per kW-month (NaN: none)",
    "ai_unmet_demand_it_mw": "IT MW of new leases tenants want at the step's clearing rate that no offer filled",
    "ai_tenant_defaults_it_mw": "IT MW whose tenants defaulted or failed in the step",
    "ai_gpu_cloud_started_it_mw": "IT MW of empty halls turned into their owners' own GPU clouds in the step",
    "ai_gpu_cloud_it_mw": "IT MW running their owners' own GPU clouds (signed to themselves)",
}


def fail_tenants_in_a_bust(model, seen: Observation) -> float:
    """When AI demand falls below the MW under contract, tenants of the excess fail.

    Demand is the tenants' curve at the market's current rate (``ai.tenant_demand_share``), so a
    rate that has fallen in a glut keeps more tenants in business. Each step a share ``ai_tenant_failure_share_per_year`` (per year) of the excess is lost,
    pro rata across leases: in a bust the weakest tenants (GPU clouds without hyperscaler
    backing) stop paying and their halls go empty. With demand above contracts, nobody fails.
    ``seen``: the step's ``Observation`` (its AI demand and length). Returns the IT MW lost.
    """
    s, leases = model.config, model.leases
    contracted = float(leases.mw_it.sum())
    share = ai.tenant_demand_share_at(model.market.lease_rate_usd_per_kw_month,
                                      s.ai_tenant_reference_rate_usd_per_kw_month, s.ai_choke_rate_usd_per_kw_month,
                                      s.ai_tenant_demand_elasticity_below_reference)
    excess = contracted - seen.ai_demand_mw * share
    if excess <= 0 or contracted <= 0 or s.ai_tenant_failure_share_per_year <= 0:
        return 0.0
    lost_total = excess * min(1.0, s.ai_tenant_failure_share_per_year * seen.years_in_step)
    sites_, lost = leases.cancel_share(lost_total / contracted)
    by_site = np.bincount(sites_, weights=lost, minlength=len(model.sites))
    hit = (by_site > 0).nonzero()[0]
    model.events.add_many("tenant_failed", model.sites.owner[hit], hit, by_site[hit] * s.ai_pue)
    return float(lost.sum())


def default_tenants(model, seen: Observation) -> float:
    """Each lease's tenant defaults with probability 1 - exp(-hazard x dt); returns IT MW lost."""
    s, leases = model.config, model.leases
    if len(leases) == 0 or s.ai_tenant_default_per_year <= 0:
        return 0.0
    p = 1.0 - np.exp(-s.ai_tenant_default_per_year * seen.years_in_step)
    gone = (model.firm_rng.random(len(leases)) < p) & ~leases.own_gpu  # own GPU clouds have no tenant
    if not gone.any():
        return 0.0
    sites_, mw = leases.default(gone)
    model.events.add_many("tenant_defaulted", model.sites.owner[sites_], sites_, mw * s.ai_pue,
                          value_usd=np.zeros(len(mw)))
    return float(mw.sum())


def host_ai(model, seen: Observation) -> Hosting:
    """Leases expire or renew, tenants fail or default, delivered leases pay the step's rent
    (the firms' ledgers); each site's delivered gross MW goes to ``SiteBook.mw_ai_leased``."""
    s, sites, firms, leases = model.config, model.sites, model.firms, model.leases
    step, n_sites = seen.step, len(sites)
    renews = (model.firm_rng.random(len(leases)) < s.ai_lease_renewal_probability) & ~leases.own_gpu
    leases.expire(step, renews, round(s.ai_lease_renewal_term_years * model.steps_per_year),
                  model.steps_per_year, s.ai_lease_escalator_per_year)
    lost = fail_tenants_in_a_bust(model, seen) + default_tenants(model, seen)

    contracted = leases.contracted_it_by_site(n_sites)
    delivered_it = np.minimum(contracted, sites.mw_converted / s.ai_pue)
    rent = leases.monthly_rent_by_site(n_sites, step, model.steps_per_year, s.ai_lease_escalator_per_year)
    delivered_share = np.divide(delivered_it, contracted, out=np.zeros(len(contracted)), where=contracted > 0)
    site_revenue = rent * delivered_share * seen.months_in_step
    n = len(firms)
    firms.ledger["revenue_ai_usd"] = np.bincount(sites.owner, weights=site_revenue, minlength=n)
    firms.ledger["ai_opex_usd"] = firms.ledger["revenue_ai_usd"] * (1.0 - s.ai_margin)
    sites.mw_ai_leased = delivered_it * s.ai_pue
    return Hosting(contracted_it_mw=float(contracted.sum()), tenant_defaults_it_mw=lost)


def ai_market_value_usd(model) -> np.ndarray:
    """Per firm: what the stock market adds to a miner's value for its AI leases (USD).

    ``ai.rerated_equity_value_usd`` with no mining MW (the equity rule values mining from its
    margin): each signed MW of IT counts at the miners' multiple on its gross MW, re-rated toward
    data-centre multiples fully once delivered and for ``ai_signed_lease_credibility`` while it is
    being built (calibration.md section 4: ~$4.5M per miner MW vs > $30M per data-centre MW).
    ``finance.market_value_and_replacement_usd`` adds it to the q rule's market value, so a
    signing raises what a public miner can issue (the valuation feedback of issue 13).
    """
    s, sites, leases = model.config, model.sites, model.leases
    n_sites, n_firms = len(sites), len(model.firms)
    signed = np.bincount(sites.owner, weights=leases.contracted_it_by_site(n_sites), minlength=n_firms)
    delivered = np.bincount(sites.owner, weights=sites.mw_ai_leased / s.ai_pue, minlength=n_firms)
    return ai.rerated_equity_value_usd(0.0, signed, delivered, s.ai_miner_value_usd_per_mw,
                                       s.ai_datacentre_value_usd_per_it_mw, s.ai_signed_lease_credibility, s.ai_pue)


def ai_outcome(model, hosted: Hosting, market: LeaseMarket) -> dict:
    """The AI market's industry columns for the step (``AI_COLUMN_DOCS``), from the step's
    ``Hosting`` and ``LeaseMarket`` records and the books."""
    s, sites = model.config, model.sites
    delivered = float(sites.mw_ai_leased.sum()) / s.ai_pue
    return {
        "ai_signed_it_mw": market.signed_it_mw,
        "ai_offered_it_mw": market.offered_it_mw,
        "ai_under_construction_it_mw": float(sites.mw_converting.sum()) / s.ai_pue,
        "ai_delivered_it_mw": delivered,
        "ai_empty_it_mw": max(0.0, float(sites.mw_converted.sum()) / s.ai_pue - delivered),
        "ai_clearing_rate_usd_per_kw_month": market.clearing_rate_usd_per_kw_month,
        "ai_signed_rate_min_usd_per_kw_month": market.signed_rate_min_usd_per_kw_month,
        "ai_signed_rate_max_usd_per_kw_month": market.signed_rate_max_usd_per_kw_month,
        "ai_unmet_demand_it_mw": market.unmet_demand_it_mw,
        "ai_tenant_defaults_it_mw": hosted.tenant_defaults_it_mw,
        "ai_gpu_cloud_started_it_mw": market.gpu_cloud_started_it_mw,
        "ai_gpu_cloud_it_mw": float(model.leases.mw_it[model.leases.own_gpu].sum()),
    }
