"""The starting industry: the large public miners of the data file plus a synthetic tail.

The tail stands for private miners and hosted capacity. It is fitted so the whole population
*is* the network at the start: total hashrate equals the scenario's (or the data's) network
hashrate and the MW-weighted fleet efficiency equals ``network_efficiency_j_per_th``. Because
the firms are the whole network, no separate rest-of-network is needed; the tail responds to
hashprice through the same decision rules (that is the "stock of hosting and private capacity
that follows the same signals"). Tail firm sizes are Pareto distributed (a few large private
miners, a long tail of small ones) and rescaled to the tail's MW, so ``n_firms`` changes the
granularity of the industry, not its size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from marketsim.data import read_packaged_table
from marketsim.data.sites import load_ai_sites
from marketsim.errors import ScenarioError
from marketsim.scenario import Scenario

PUBLIC_MINERS_FILE = "public_miners_2022.csv"
ORDER_BOOK_FILE = "order_book_2022.csv"
ORDER_BOOK_COLUMNS = ["name", "target_ehs", "target_date", "efficiency_j_per_th", "prepaid_share", "source"]
TAIL_EFFICIENCY_BOUNDS_J_PER_TH = (15.0, 120.0)  # below the best 2022 ASIC (S19 XP, ~21.5) to past the S9 (~98)
TAIL_POWER_MAX_USD_PER_MWH = 150.0  # above this nobody mines at the 2022 hashprices (hosting fees topped at ~90)
HOSTING_FEE_MIN_USD_PER_MWH = 80.0  # late-2022 hosting fees were 80-90 $/MWh (calibration facts s3)
TAKE_OR_PAY_BETA_CONCENTRATION = 4.0  # beta(a, b) with a + b = 4: most firms near the mean, some at 0 or 1
HURDLE_BOUNDS = (0.03, 0.6)  # a risk-free-ish floor to a venture-capital ceiling: no firm discounts outside it
MAX_INITIAL_FLEET_AGE_YEARS = 4.0  # an ASIC's economic life at the 2022 start (S9s of 2016-17 were being retired)
# Spread of a private miner's balance sheet around the scenario's per-MW mean (log-normal with mean 1:
# mu = -sigma^2 / 2, written out so the draws stay bit-identical). An assumption: private miners publish
# no balance sheets; debt is spread more widely than cash (some unlevered, a few heavily levered).
TAIL_CASH_LOGNORMAL = (-0.125, 0.5)  # (mu, sigma): sd/mean about 0.53
TAIL_DEBT_LOGNORMAL = (-0.245, 0.7)  # (mu, sigma): sd/mean about 0.80
# Land of a private site around the mining footprint of its interconnect (median 1, sigma 0.5): an
# assumption; the public miners' acreage is in ai_sites_2022.csv.
TAIL_LAND_LOGNORMAL = (0.0, 0.5)
EFFICIENCY_TOLERANCE = 1e-3  # rounding in the file
# land (calibration.md s2): mining needs ~5,000 sq ft per MW, AI ~1,000 sq ft per MW of IT
TAIL_QUALITY_BOUNDS = (0.5, 1.15)  # no private site beats the best public campuses (Core's, Hut 8's data centres)
MINING_SQFT_PER_MW, AI_SQFT_PER_IT_MW, SQFT_PER_ACRE = 5_000.0, 1_000.0, 43_560.0
PUBLIC_COLUMNS = ["name", "hashrate_ehs", "mw", "efficiency_j_per_th", "power_usd_per_mwh", "cash_usd", "debt_usd",
                  "debt_rate_per_year", "btc_held", "ai_suitable_share", "btc_sell_share", "distressed"]


def load_public_miners() -> pd.DataFrame:
    """The calibrated end-2022 public miners (see docs/calibration.md for every source)."""
    table = read_packaged_table(PUBLIC_MINERS_FILE, PUBLIC_COLUMNS, ScenarioError)
    # the model's hashrate is MW / (J/TH): derive J/TH exactly, after checking the file agrees
    derived = table["mw"] / table["hashrate_ehs"]
    off = (derived / table["efficiency_j_per_th"] - 1).abs() > EFFICIENCY_TOLERANCE
    if off.any():
        raise ScenarioError(f"{PUBLIC_MINERS_FILE}: efficiency_j_per_th disagrees with mw / hashrate_ehs for "
                            f"{', '.join(table.loc[off, 'name'])}")
    table["efficiency_j_per_th"] = derived
    return table


def lognormal_with_moments(rng: np.random.Generator, mean: float, sd: float, n: int) -> np.ndarray:
    """Positive draws with the given mean and sd. Power prices are skewed: most sites pay near the
    mean, a few pay far less (stranded gas, surplus hydro, old fixed PPAs) and none below zero on
    average, so the cost curve's cheap end thins out instead of piling up at a floor."""
    if sd <= 0:
        return np.full(n, mean)
    params = _LOGNORMAL_PARAMETERS.get((mean, sd))
    if params is None:
        sigma2 = np.log1p((sd / mean) ** 2)
        params = _LOGNORMAL_PARAMETERS[mean, sd] = (np.log(mean) - sigma2 / 2, np.sqrt(sigma2))
    return rng.lognormal(params[0], params[1], n)


# (mean, sd) -> the lognormal's (mu, sigma) as ``lognormal_with_moments`` computes them: entry draws
# with the scenario's same two pairs every step, and these numpy scalar logs cost more than the draws
_LOGNORMAL_PARAMETERS: dict[tuple[float, float], tuple[float, float]] = {}


def beta_with_mean(rng: np.random.Generator, mean: float, concentration: float, n: int) -> np.ndarray:
    """Shares in [0, 1] with the given mean (beta(a, b), a + b = ``concentration``)."""
    if mean <= 0 or mean >= 1:
        return np.full(n, float(mean))
    return rng.beta(mean * concentration, (1 - mean) * concentration, n)


def load_order_book() -> pd.DataFrame:
    """The public miners' end-2022 hashrate guidance and the machines they had on order
    (``data/order_book_2022.csv``; every row names its public, pre-2023 source). The shipped
    file never changes in a process, so it is checked once (a model's construction reads it twice)."""
    global _order_book_checked
    table = read_packaged_table(ORDER_BOOK_FILE, ORDER_BOOK_COLUMNS, ScenarioError, parse_dates=["target_date"])
    if not _order_book_checked:
        if (table["target_date"] > pd.Timestamp("2024-12-31")).any() or (table["target_ehs"] <= 0).any():
            raise ScenarioError(f"{ORDER_BOOK_FILE}: targets must be positive and due by 2024")
        _order_book_checked = True
    return table


_order_book_checked = False


def capped_shares(sizes: np.ndarray, cap: float) -> np.ndarray:
    """Shares proportional to ``sizes``, none above ``cap``; excess goes to the uncapped pro rata.

    A Pareto draw can give one private miner most of the tail; the cap keeps the largest
    private miner of the order of the largest public ones (a documented calibration choice).
    """
    shares = sizes / sizes.sum()
    if cap * len(shares) < 1.0:
        return np.full(len(shares), 1.0 / len(shares))
    for _ in range(100):
        over = shares > cap
        if not over.any():
            break
        excess = (shares[over] - cap).sum()
        shares[over] = cap
        free = ~over & (shares < cap)
        shares[free] += excess * shares[free] / shares[free].sum()
    return shares


@dataclass
class Population:
    """Column arrays from which the model builds its books (one site per firm at the start)."""

    name: list[str]
    is_public: np.ndarray
    mw: np.ndarray
    efficiency_j_per_th: np.ndarray
    power_usd_per_mwh: np.ndarray
    interconnect_mw: np.ndarray  # grid capacity incl. approved unbuilt power
    land_acres: np.ndarray
    location_quality: np.ndarray  # tenants' price multiplier for the location (0: no site of its own)
    take_or_pay_share: np.ndarray
    cash_usd: np.ndarray
    debt_usd: np.ndarray
    debt_rate_per_year: np.ndarray
    btc_held: np.ndarray
    btc_sell_share: np.ndarray
    distressed: np.ndarray
    fleet_age_years: np.ndarray
    rule: np.ndarray
    hurdle_rate_per_year: np.ndarray
    conversion_capex_usd_per_mw: np.ndarray
    hashprice_trend_weight: np.ndarray

    def suitable_mw(self, s: Scenario) -> np.ndarray:
        """Gross MW a site can give AI: its interconnect, or what its land holds at AI density,
        if tenants want the location at all (``ai_min_location_quality``); else 0."""
        land_mw = self.land_acres * SQFT_PER_ACRE / AI_SQFT_PER_IT_MW * s.ai_pue
        return np.where(self.location_quality >= s.ai_min_location_quality, np.minimum(self.interconnect_mw, land_mw), 0.0)

    @property
    def hashrate_ehs(self) -> np.ndarray:
        return self.mw / self.efficiency_j_per_th


@dataclass(frozen=True)
class _Public:
    """The public miners' columns the population is built from, read from the shipped tables
    (``public_miners_2022.csv``, ``ai_sites_2022.csv``) once per process: every construction of a
    model read and checked the same files with pandas (~5,000 interpreted calls, 5% of a 16-firm
    run). The arrays are read-only; ``build_population`` copies them into its own."""

    name: tuple[str, ...]
    hashrate_ehs_total: float  # pandas' ``sum()`` of the columns, as the population used them
    mw_total: float
    mw: np.ndarray
    efficiency_j_per_th: np.ndarray
    power_usd_per_mwh: np.ndarray
    cash_usd: np.ndarray
    debt_usd: np.ndarray
    debt_rate_per_year: np.ndarray
    btc_held: np.ndarray
    btc_sell_share: np.ndarray
    distressed: np.ndarray
    interconnect_mw: np.ndarray  # the site's grid, at least its MW
    land_acres: np.ndarray  # NaN: not reported (filled by ``_site_fields``)
    location_quality: np.ndarray


_PUBLIC: dict[bool, _Public] = {}


def _public_columns(include: bool) -> _Public:
    """The public miners' columns (``include_public_miners``), or none of them."""
    cached = _PUBLIC.get(include)
    if cached is not None:
        return cached
    if include:
        public = load_public_miners()
    else:
        public = pd.DataFrame({c: pd.Series(dtype=float) for c in PUBLIC_COLUMNS}).astype({"name": object})
    sites = load_ai_sites().set_index("name").reindex(public["name"])
    if len(public) and sites["interconnect_mw"].isna().any():
        raise ScenarioError(f"ai_sites_2022.csv: no row for {', '.join(sites.index[sites['interconnect_mw'].isna()])}")
    arrays = {c: public[c].to_numpy(float) for c in ("mw", "efficiency_j_per_th", "power_usd_per_mwh", "cash_usd",
                                                     "debt_usd", "debt_rate_per_year", "btc_held", "btc_sell_share")}
    arrays["distressed"] = public["distressed"].astype(str).str.lower().eq("true").to_numpy()
    arrays["interconnect_mw"] = np.maximum(sites["interconnect_mw"].to_numpy(float), arrays["mw"])
    arrays["land_acres"] = sites["land_acres"].to_numpy(float)
    arrays["location_quality"] = sites["location_quality"].to_numpy(float)
    for a in arrays.values():
        a.flags.writeable = False
    cached = _PUBLIC[include] = _Public(name=tuple(public["name"]), hashrate_ehs_total=public["hashrate_ehs"].sum(),
                                        mw_total=public["mw"].sum(), **arrays)
    return cached


def build_population(s: Scenario, network_hashrate_ehs: float, rule_names: list[str],
                     rng: np.random.Generator) -> Population:
    public = _public_columns(bool(s.include_public_miners))
    n_tail = s.n_firms - len(public.name)
    if n_tail < 1:
        raise ScenarioError(
            f"n_firms={s.n_firms}: with include_public_miners the population needs at least "
            f"{len(public.name) + 1} firms ({len(public.name)} public miners plus a tail)"
        )
    network_mw = network_hashrate_ehs * s.network_efficiency_j_per_th
    tail_hashrate = network_hashrate_ehs - public.hashrate_ehs_total
    tail_mw = network_mw - public.mw_total
    if tail_hashrate <= 0 or tail_mw <= 0:
        raise ScenarioError(
            f"initial_network_hashrate_ehs={network_hashrate_ehs:.1f}: smaller than the public miners alone"
        )
    tail_mean_eff = tail_mw / tail_hashrate

    mw = capped_shares(rng.pareto(s.tail_size_pareto_alpha, n_tail) + 1.0, s.tail_max_firm_share) * tail_mw
    eff = np.clip(rng.normal(tail_mean_eff, s.tail_efficiency_sd_j_per_th, n_tail), *TAIL_EFFICIENCY_BOUNDS_J_PER_TH)
    eff *= (mw / eff).sum() / tail_hashrate  # exact fit of the tail's hashrate
    power_cost = np.minimum(lognormal_with_moments(rng, s.tail_power_price_mean_usd_per_mwh,
                                                   s.tail_power_price_sd_usd_per_mwh, n_tail), TAIL_POWER_MAX_USD_PER_MWH)
    tail_top = beta_with_mean(rng, s.tail_take_or_pay_share_mean, TAKE_OR_PAY_BETA_CONCENTRATION, n_tail)
    public_power = public.power_usd_per_mwh
    public_top = np.where(public_power >= HOSTING_FEE_MIN_USD_PER_MWH, s.hosted_take_or_pay_share, 0.0)
    cash = s.tail_cash_usd_per_mw * mw * rng.lognormal(*TAIL_CASH_LOGNORMAL, n_tail)
    debt = s.tail_debt_usd_per_mw * mw * rng.lognormal(*TAIL_DEBT_LOGNORMAL, n_tail)

    n = s.n_firms
    names = list(public.name) + [f"Private miner {i + 1:0{len(str(n_tail))}d}" for i in range(n_tail)]
    mix = np.array([s.decision_rule_mix.get(r, 0.0) for r in rule_names], dtype=float)
    sigma = s.conversion_capex_dispersion
    grid, land, quality = _site_fields(s, public, mw, rng.spawn(1)[0])
    return Population(
        name=names,
        is_public=np.r_[np.ones(len(public.name), bool), np.zeros(n_tail, bool)],
        mw=np.r_[public.mw, mw],
        efficiency_j_per_th=np.r_[public.efficiency_j_per_th, eff],
        power_usd_per_mwh=np.r_[public_power, power_cost],
        take_or_pay_share=np.r_[public_top, tail_top],
        cash_usd=np.r_[public.cash_usd, cash],
        debt_usd=np.r_[public.debt_usd, debt],
        debt_rate_per_year=np.r_[public.debt_rate_per_year, np.full(n_tail, s.tail_debt_rate_per_year)],
        btc_held=np.r_[public.btc_held, np.zeros(n_tail)],
        btc_sell_share=np.r_[public.btc_sell_share, np.full(n_tail, s.tail_btc_sell_share)],
        distressed=np.r_[public.distressed, np.zeros(n_tail, bool)],
        fleet_age_years=rng.uniform(0.0, MAX_INITIAL_FLEET_AGE_YEARS, n),
        rule=rng.choice(len(rule_names), size=n, p=mix / mix.sum()),
        hurdle_rate_per_year=np.clip(rng.normal(s.hurdle_rate_per_year, s.hurdle_rate_sd, n), *HURDLE_BOUNDS),
        conversion_capex_usd_per_mw=s.conversion_capex_usd_per_mw * rng.lognormal(-sigma**2 / 2, sigma, n),
        interconnect_mw=grid, land_acres=land, location_quality=quality,
        hashprice_trend_weight=np.maximum(rng.normal(s.hashprice_trend_weight_mean, s.hashprice_trend_weight_sd, n), 0.0),
    )


def _site_fields(s: Scenario, public: _Public, tail_mw: np.ndarray, rng: np.random.Generator):
    """Interconnect, land and location quality: public miners from ``ai_sites_2022.csv``; the tail
    drawn (own stream, so the other draws do not move): interconnect = MW x (1 + headroom), headroom
    ~ scale x Lomax(alpha) capped (heavy-tailed: most sites full, a few with large approved power);
    quality ~ lognormal(mean 1, sd); land = the mining footprint of the interconnect x lognormal."""
    headroom = np.minimum(s.tail_interconnect_headroom_scale * rng.pareto(s.tail_interconnect_headroom_pareto_alpha,
                                                                         len(tail_mw)), s.tail_interconnect_headroom_max)
    sd = s.tail_location_quality_sd
    quality = np.clip(rng.lognormal(-sd**2 / 2, sd, len(tail_mw)), *TAIL_QUALITY_BOUNDS)
    tail_grid = tail_mw * (1.0 + headroom)
    grid = np.r_[public.interconnect_mw, tail_grid]
    land = np.r_[public.land_acres, tail_grid * rng.lognormal(*TAIL_LAND_LOGNORMAL, len(tail_mw))
                 * MINING_SQFT_PER_MW / SQFT_PER_ACRE]
    land = np.where(np.isnan(land), grid * MINING_SQFT_PER_MW / SQFT_PER_ACRE, land)
    return grid, land, np.r_[public.location_quality, quality]
