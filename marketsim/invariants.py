"""Invariant mode: the laws of the model's books, checked after every step.

``IndustryModel(..., check=True)``, ``marketsim.run(..., check=True)`` and ``marketsim run
--check`` test them after each step; the environment variable ``MARKETSIM_CHECK=1`` turns them
on by default (the test suite sets it, so every test model is checked). A broken law raises
``InvariantError`` naming the step, the firm or site, the quantity and its values.

The laws:
- MW: every site's capacity is in exactly one state (mining, idle, converting, converted,
  shut down); the industry's MW (capacity + being built + cancelled) changes only by the MW
  ordered this step; every live MW and every order in flight belongs to an active firm.
- Cash: each firm's cash moves by exactly its ledger items (``finance`` module docstring).
- Closed books: a firm that left holds no cash, BTC, debt or instalments, and has no flows.
- Signs: no negative MW, hashrate, BTC, debt or counts; nothing NaN or infinite except the
  outcomes ``metrics`` defines as missing (a halted network, an industry with no MW).
- Chain: the height advances by the step's blocks; the subsidy is the protocol's at that
  height; issuance is the protocol's subsidy of the blocks mined (replayed steps: within the
  subsidies at the step's two ends).
- Exits: firms leaving this step = bankruptcies + voluntary sales + takeovers + wind-downs.

Plain functions of the model, one per law, so a test can call any of them alone.
"""

from __future__ import annotations

import math
import os

import numpy as np

from marketsim import metrics, protocol
from marketsim.errors import InvariantError

ENV_FLAG = "MARKETSIM_CHECK"
MW_TOLERANCE = 1e-6  # MW: float residue of sums over thousands of sites
HASHRATE_TOLERANCE_EHS = 1e-9  # EH/s: the residue of MW_TOLERANCE at any efficiency (1 GH/s)
USD_RELATIVE_TOLERANCE = 1e-9  # cash identity, relative to the largest flow of the firm's step
USD_TOLERANCE = 1e-3  # and never tighter than a tenth of a cent
EXIT_KINDS = ("bankruptcy", "voluntary_sale", "takeover", "wind_down")
COUNT_COLUMNS = ("blocks", "firms_active", "bankruptcies", "voluntary_sales", "takeovers", "wind_downs", "exits",
                 "acquisitions", "bankruptcies_cum", "exits_cum", "acquisitions_cum")
NONNEGATIVE_COLUMNS = COUNT_COLUMNS + (
    "issuance_btc", "fees_btc", "btc_price_usd", "network_hashrate_ehs", "revenue_mining_usd", "revenue_ai_usd",
    "capex_usd", "mw_mining", "mw_idle", "mw_converting", "mw_ai", "mw_ai_empty", "mw_shutdown", "mw_building",
    "mw_cancelled", "acquisitions_usd", "ai_demand_mw", "ai_contracted_it_mw")


def wanted(check: bool | None) -> bool:
    """``check`` if given, else whether the environment asks for it (``MARKETSIM_CHECK=1``)."""
    return bool(check) if check is not None else os.environ.get(ENV_FLAG, "") == "1"


def fail(model, what: str) -> None:
    raise InvariantError(f"invariant broken at step {model.steps_done}: {what}")


def _firm(model, f: int) -> str:
    return f"firm {int(f)} ({model.firms.name[int(f)]})"


def industry_mw(model) -> float:
    """Every MW the industry has or has ordered: capacity (all states) + being built + cancelled."""
    return float(model.sites.capacity_mw.sum() + model.sites.build_pipeline.pending().sum() + model.sites.mw_cancelled.sum())


class Checker:
    """Keeps what the laws compare across steps (cash, MW, height) and checks them all."""

    def __init__(self, model):
        self.model = model

    def remember(self) -> None:
        """Called at the start of each step: what the laws compare the step's end with."""
        m = self.model
        self.cash_usd = m.firms.cash_usd.copy()
        self.active = m.firms.active.copy()
        self.industry_mw = industry_mw(m)
        self.height = float(m.market.chain.height)

    def check(self) -> None:
        m = self.model
        grown = len(m.firms) - len(self.cash_usd)  # entrants (the step's last phase): they start with
        if grown > 0:                               # no cash and count as there from the start (none can leave yet)
            self.cash_usd = np.r_[self.cash_usd, np.zeros(grown)]
            self.active = np.r_[self.active, np.ones(grown, bool)]
        check_site_mw(m)
        check_industry_mw(m, self.industry_mw)
        check_owners(m)
        check_cash_identity(m, self.cash_usd)
        check_closed_books(m, self.active)
        check_signs_and_numbers(m)
        check_chain(m, self.height)
        check_exits(m, self.active)


def check_site_mw(model) -> None:
    sites = model.sites
    for name in ("capacity_mw", "mw_mining", "mw_idle", "mw_converting", "mw_converted", "mw_shutdown"):
        arr = getattr(sites, name)
        bad = np.flatnonzero(~np.isfinite(arr) | (arr < -MW_TOLERANCE))
        if len(bad):
            fail(model, f"site {bad[0]}: {name} = {float(arr[bad[0]])!r} MW (must be finite and >= 0)")
    gap = sites.state_total() - sites.capacity_mw
    bad = np.flatnonzero(np.abs(gap) > MW_TOLERANCE * np.maximum(1.0, sites.capacity_mw))
    if len(bad):
        s = bad[0]
        fail(model, f"site {s}: MW states sum to {sites.state_total()[s]:.6f} MW, capacity is {sites.capacity_mw[s]:.6f} MW")
    for name, arr in (("mw_building", sites.build_pipeline.buffer.sum(axis=1)),
                      ("mw_being_converted", sites.conversion_pipeline.buffer.sum(axis=1)),
                      ("mw_cancelled", sites.mw_cancelled), ("mw_ai_leased", sites.mw_ai_leased)):
        bad = np.flatnonzero(~np.isfinite(arr) | (arr < -MW_TOLERANCE))
        if len(bad):
            fail(model, f"site {bad[0]}: {name} = {float(arr[bad[0]])!r} MW (must be finite and >= 0)")
    bad = np.flatnonzero(sites.mw_ai_leased > sites.mw_converted + MW_TOLERANCE)
    if len(bad):
        s = bad[0]
        fail(model, f"site {s}: AI-leased {sites.mw_ai_leased[s]:.6f} MW exceeds converted {sites.mw_converted[s]:.6f} MW")
    hashrate = sites.hashrate_ehs
    bad = np.flatnonzero(~np.isfinite(hashrate) | (hashrate < -HASHRATE_TOLERANCE_EHS))
    if len(bad):
        fail(model, f"site {bad[0]}: hashrate = {float(hashrate[bad[0]])!r} EH/s (must be finite and >= 0)")


def ordered_mw_this_step(model) -> float:
    """MW that entered the books this step: expansions ordered and entrants' new sites (their
    events), and new AI halls started on unused interconnect, as the lease market's record
    declares them (``LeaseMarket.new_hall_mw``: they add capacity at once; conversions of mining
    MW only change its state)."""
    ev = model.events.columns_at(model.steps_done)
    entered = (ev["kind"] == "expansion_ordered") | (ev["kind"] == "entry")
    return float(np.asarray(ev["mw"], dtype=float)[entered].sum()) + model.decisions.lease_market.new_hall_mw


def check_industry_mw(model, before_mw: float) -> None:
    """Capacity + building + cancelled moves only by this step's orders and new AI halls: no MW
    appears or vanishes."""
    now, ordered = industry_mw(model), ordered_mw_this_step(model)
    if abs(now - (before_mw + ordered)) > MW_TOLERANCE * max(1.0, now):
        fail(model, f"industry MW (capacity + building + cancelled) is {now:.6f} MW, expected {before_mw:.6f} MW "
                    f"+ {ordered:.6f} MW ordered = {before_mw + ordered:.6f} MW")


def check_owners(model) -> None:
    """Live MW and orders in flight belong to active firms."""
    sites, active = model.sites, model.firms.active
    pending = (sites.live_mw > MW_TOLERANCE) | (sites.build_pipeline.buffer.sum(axis=1) > MW_TOLERANCE) \
        | (sites.conversion_pipeline.buffer.sum(axis=1) > MW_TOLERANCE) | (sites.upgrade_due_step >= 0)
    bad = np.flatnonzero(pending & ~active[sites.owner])
    if len(bad):
        s = bad[0]
        fail(model, f"site {s}: live MW {sites.capacity_mw[s] - sites.mw_shutdown[s]:.6f}, building "
                    f"{sites.build_pipeline.buffer[s].sum():.6f} MW or an upgrade on order, but its owner "
                    f"{_firm(model, sites.owner[s])} has left")


def ledger_cash_flow(ledger: dict) -> np.ndarray:
    """The right-hand side of the cash identity in ``finance``'s docstring."""
    led = ledger
    return (led["revenue_mining_usd"] - led["btc_retained_usd"] + led["btc_sold_usd"] + led["revenue_ai_usd"]
            - led["power_usd"] - led["opex_usd"] - led["ai_opex_usd"] - led["interest_usd"] - led["capex_usd"]
            + led["debt_drawn_usd"] - led["debt_repaid_usd"] - led["acquisitions_usd"] + led["acquired_cash_usd"]
            + led["equity_raised_usd"] + led["asset_sales_usd"] + led["bills_written_off_usd"]
            - led["equity_paid_out_usd"])


def check_cash_identity(model, cash_before: np.ndarray) -> None:
    firms = model.firms
    change = firms.cash_usd - cash_before
    flows = ledger_cash_flow(firms.ledger)
    scale = np.max(np.abs(np.stack([v for k, v in firms.ledger.items() if k != "btc_mined"] + [cash_before])), axis=0)
    bad = np.flatnonzero(~(np.abs(change - flows) <= np.maximum(USD_TOLERANCE, USD_RELATIVE_TOLERANCE * scale)))
    if len(bad):
        f = bad[0]
        fail(model, f"{_firm(model, f)}: cash moved by {change[f]:,.2f} USD but its ledger items add to "
                    f"{flows[f]:,.2f} USD (cash identity)")


def check_closed_books(model, active_before: np.ndarray) -> None:
    """A firm that has left holds nothing and, from the step after it left, has no flows."""
    firms = model.firms
    gone = ~firms.active
    pending = firms.payments.pending()
    for name, arr in (("cash_usd", firms.cash_usd), ("debt_usd", firms.debt_usd), ("btc_held", firms.btc_held),
                      ("capex instalments due", pending)):
        bad = np.flatnonzero(gone & (arr != 0))
        if len(bad):
            fail(model, f"{_firm(model, bad[0])} has left but holds {name} = {float(arr[bad[0]])!r}")
    long_gone = gone & ~active_before
    for item, arr in firms.ledger.items():
        bad = np.flatnonzero(long_gone & (arr != 0))
        if len(bad):
            fail(model, f"{_firm(model, bad[0])} left before this step but its ledger has {item} = {float(arr[bad[0]])!r}")


def check_signs_and_numbers(model) -> None:
    firms = model.firms
    for name in ("cash_usd", "debt_usd", "btc_held", "debt_rate_per_year"):
        arr = getattr(firms, name)
        bad = np.flatnonzero(~np.isfinite(arr))
        if len(bad):
            fail(model, f"{_firm(model, bad[0])}: {name} = {float(arr[bad[0]])!r} (must be finite)")
    for name in ("debt_usd", "btc_held"):
        arr = getattr(firms, name)
        bad = np.flatnonzero(arr < -1e-9 * np.maximum(1.0, np.abs(arr).max()))
        if len(bad):
            fail(model, f"{_firm(model, bad[0])}: {name} = {float(arr[bad[0]])!r} (must be >= 0)")
    for item, arr in firms.ledger.items():
        bad = np.flatnonzero(~np.isfinite(arr))
        if len(bad):
            fail(model, f"{_firm(model, bad[0])}: ledger {item} = {float(arr[bad[0]])!r} (must be finite)")
    belief = firms.expected_hashprice[firms.active]
    if not np.isfinite(belief).all():
        fail(model, f"a firm's expected hashprice is {float(belief[~np.isfinite(belief)][0])!r} (must be finite)")
    out = model.outcome
    halted, no_mw = bool(out["halted"]), not (out["mw_mining"] + out["mw_idle"] + out["mw_converting"]
                                               + out["mw_ai"] + out["mw_ai_empty"]) > 0
    no_hashrate = not model.tally.firm_hashrate_ehs.sum() > 0  # e.g. the only miners left this step
    may_be_missing = set(metrics.UNDEFINED_WHEN_HALTED if halted or no_hashrate else ()) \
        | set(metrics.UNDEFINED_WITHOUT_MW if no_mw else ()) | set(metrics.UNDEFINED_WITHOUT_DEALS)
    if out["issuance_btc"] + out["fees_btc"] <= 0 or out["mw_mining"] <= 0:
        may_be_missing |= {"cost_to_mine_btc_usd", "avg_efficiency_j_per_th"}
    for name, value in out.items():
        if name in ("date", "halted") or name in may_be_missing:
            continue
        if not math.isfinite(float(value)):
            fail(model, f"outcome {name} = {float(value)!r} (must be a finite number{'' if halted else '; network not halted'})")
    for name in NONNEGATIVE_COLUMNS:
        if out[name] < -MW_TOLERANCE:
            fail(model, f"outcome {name} = {float(out[name])!r} (must be >= 0)")
    if halted != (not model.network_hashrate_ehs > 0):
        fail(model, f"halted = {halted} but network hashrate is {float(model.network_hashrate_ehs)!r} EH/s")


def check_chain(model, height_before: float) -> None:
    """The chain advances by the step's blocks, and pays the protocol's subsidy for them."""
    out, chain = model.outcome, model.operation.chain
    blocks, height = float(chain.blocks), float(chain.height_end)
    if not (math.isfinite(blocks) and blocks >= 0):
        fail(model, f"blocks = {blocks!r} (must be finite and >= 0)")
    if abs(height - (height_before + blocks)) > 1e-6 * max(1.0, height):
        fail(model, f"block height {height:.3f} != {height_before:.3f} + {blocks:.3f} blocks mined")
    if out["subsidy_btc"] != protocol.subsidy_btc(int(height)):
        fail(model, f"subsidy {out['subsidy_btc']!r} BTC != protocol subsidy {protocol.subsidy_btc(int(height))!r} "
                    f"BTC at height {int(height)}")
    issuance = float(chain.issuance_btc)
    if model.market.replays_step(model.steps_done, model.config.blocks_model):
        # replayed blocks: the data's issuance, between the subsidies at the step's two ends
        low = blocks * protocol.subsidy_btc(int(height)) * (1 - 1e-6) - 1e-6
        high = blocks * protocol.subsidy_btc(int(height_before)) * (1 + 1e-6) + 1e-6
        if not low <= issuance <= high:
            fail(model, f"replayed issuance {issuance:.6f} BTC outside [{low:.6f}, {high:.6f}] for {blocks:.3f} blocks")
    else:
        expected = protocol.subsidy_for_blocks(height_before, blocks)
        if abs(issuance - expected) > 1e-9 * max(1.0, expected):
            fail(model, f"issuance {issuance!r} BTC != protocol subsidy {expected!r} BTC of {blocks:.3f} blocks "
                        f"from height {height_before:.3f}")


def check_exits(model, active_before: np.ndarray) -> None:
    out = model.outcome
    left = int((active_before & ~model.firms.active).sum())
    kinds = {k: int(out[c]) for k, c in zip(EXIT_KINDS, ("bankruptcies", "voluntary_sales", "takeovers", "wind_downs"))}
    if not out["exits"] == left == sum(kinds.values()):
        fail(model, f"exits = {out['exits']} and {left} firm(s) left, but their kinds add to {sum(kinds.values())} "
                    f"({', '.join(f'{k} {v}' for k, v in kinds.items())})")
    if out["firms_active"] != int(model.firms.active.sum()):
        fail(model, f"firms_active = {out['firms_active']} but {int(model.firms.active.sum())} firms are active")
    if (model.firms.active & ~active_before).any():
        fail(model, f"{_firm(model, np.flatnonzero(model.firms.active & ~active_before)[0])} came back after leaving")
