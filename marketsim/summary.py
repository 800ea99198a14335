"""A readable summary of one run: start and end state, and key outcomes year by year."""

from __future__ import annotations

import pandas as pd

from marketsim.runner import RunResult
from marketsim.units import format_money


HALTED = "network halted"


def halted(row: pd.Series) -> bool:
    """No hashrate: concentration and fleet efficiency are undefined, not 0 (issue 10, item 4)."""
    if "halted" in row.index and pd.notna(row["halted"]):
        return bool(row["halted"])
    return not float(row["network_hashrate_ehs"]) > 0


def _concentration(row: pd.Series, fmt: str, column: str) -> str:
    return HALTED if halted(row) or pd.isna(row[column]) else format(float(row[column]), fmt)


def yearly_table(industry: pd.DataFrame) -> pd.DataFrame:
    df = industry.copy()
    df["year"] = pd.to_datetime(df["date"]).dt.year
    g = df.groupby("year")
    table = pd.DataFrame({
        "BTC price": g["btc_price_usd"].mean().map(lambda v: f"${v:,.0f}"),
        "hashrate EH/s": g["network_hashrate_ehs"].mean().map("{:,.0f}".format),
        "hashprice $/PH/d": g["hashprice_usd_per_ph_day"].mean().map("{:,.1f}".format),
        "mining rev": g["revenue_mining_usd"].sum().map(format_money),
        "AI rev": g["revenue_ai_usd"].sum().map(format_money),
        "profit": g["profit_usd"].sum().map(format_money),
        "MW AI (end)": g["mw_ai"].last().map("{:,.0f}".format),
        "MW idle (end)": g["mw_idle"].last().map("{:,.0f}".format),
        "firms": g["firms_active"].last(),
        "bankrupt": g["bankruptcies"].sum(),
        "HHI": g.tail(1).set_index("year").apply(lambda r: _concentration(r, ".3f", "hhi_hashrate"), axis=1),
        "top-5": g.tail(1).set_index("year").apply(lambda r: _concentration(r, ".1%", "top5_share_hashrate"), axis=1),
    })
    table.index.name = None
    return table


def state_lines(row: pd.Series, label: str) -> list[str]:
    row = row.copy()
    for col in ("mw_mining", "mw_idle", "mw_converting", "mw_ai", "mw_ai_empty", "mw_shutdown"):
        row[col] = max(float(row[col]), 0.0)  # float residue of MW moving between states
    return [
        f"{label} ({pd.Timestamp(row['date']).date()}): BTC ${row['btc_price_usd']:,.0f}, "
        f"hashrate {row['network_hashrate_ehs']:,.0f} EH/s, hashprice ${row['hashprice_usd_per_ph_day']:,.1f}/PH/day, "
        f"height {row['block_height']:,}, subsidy {row['subsidy_btc']:g} BTC",
        f"    MW mining {row['mw_mining']:,.0f} | idle {row['mw_idle']:,.0f} | converting {row['mw_converting']:,.0f} | "
        f"AI leased {row['mw_ai']:,.0f} | AI empty {row['mw_ai_empty']:,.0f} | shut down {row['mw_shutdown']:,.0f}",
        f"    firms {int(row['firms_active']):,}, " + (
            f"{HALTED} (no MW mining: no concentration or fleet efficiency)" if halted(row) else
            f"HHI {row['hhi_hashrate']:.3f}, top-5 share {row['top5_share_hashrate']:.1%}, "
            f"fleet {row['avg_efficiency_j_per_th']:.1f} J/TH")
        + f", AI lease ${row['ai_lease_rate_usd_per_kw_month']:.0f}/kW-month",
    ]


CONSOLIDATION_KINDS = ("bankruptcy", "acquisition", "voluntary_sale", "takeover", "wind_down")
MAX_LISTED = 12


def consolidation_lines(result: RunResult) -> list[str]:
    """Who failed, who bought what at what price, and concentration before and after."""
    ev, ind, firms = result.events, result.industry, result.firms
    names = firms.drop_duplicates("firm_id").set_index("firm_id")["name"].to_dict() if len(firms) else {}
    name = lambda i: names.get(int(i), f"firm {int(i)}")  # noqa: E731
    deals = ev[ev["kind"] == "acquisition"]
    failed = ev[ev["kind"] == "bankruptcy"]
    first, last = ind.iloc[0], ind.iloc[-1]
    lines = ["Consolidation:",
             f"    HHI of hashrate {_concentration(first, '.3f', 'hhi_hashrate')} -> "
             f"{_concentration(last, '.3f', 'hhi_hashrate')}; top-5 share "
             f"{_concentration(first, '.1%', 'top5_share_hashrate')} -> "
             f"{_concentration(last, '.1%', 'top5_share_hashrate')}; HHI of MW "
             f"{first['hhi_mw']:.3f} -> {last['hhi_mw']:.3f}; firms {first['firms_active']} -> {last['firms_active']}",
             f"    {len(failed)} bankruptcies, {int((ev['kind'] == 'voluntary_sale').sum())} voluntary sales, "
             f"{int((ev['kind'] == 'takeover').sum())} takeovers, {int((ev['kind'] == 'wind_down').sum())} wind-downs; "
             f"{len(deals)} deals for {format_money(deals['value_usd'].sum())} "
             f"({format_money(deals['value_usd'].sum() / max(deals['mw'].sum(), 1e-9))} per MW)"]
    sized = failed[failed["mw"].round() > 0]  # a failure of 0 MW (a firm with only shut sites) is no news
    if len(sized):
        biggest = sized.sort_values("mw", ascending=False).head(MAX_LISTED)
        lines.append("    Largest failures: " + "; ".join(
            f"{name(r.firm_id)} ({r.mw:,.0f} MW, {pd.Timestamp(r.date):%Y-%m})" for r in biggest.itertuples()))
    if len(deals):
        buyers = deals.groupby("firm_id").agg(mw=("mw", "sum"), usd=("value_usd", "sum"), n=("mw", "size"))
        top = buyers.sort_values("mw", ascending=False).head(MAX_LISTED)
        lines.append("    Top buyers: " + "; ".join(
            f"{name(f)} bought {int(r.n)} ({r.mw:,.0f} MW for {format_money(r.usd)})" for f, r in top.iterrows()))
    return lines


def summarize(result: RunResult) -> str:
    ind = result.industry
    s = result.scenario
    events = result.events
    lines = [f"marketsim run: {s.name} — {len(ind)} {s.step_unit} steps from {s.start_date}, "
             f"{s.n_firms} firms, seed {result.seed}", ""]
    if result.initial is not None:
        lines += state_lines(pd.Series(result.initial), "start")
    else:  # a result rebuilt from tables: the first recorded row is after step 1
        lines += state_lines(ind.iloc[0], "after step 1")
    lines += state_lines(ind.iloc[-1], "end  ")
    lines += ["", "By year:", yearly_table(ind).to_string(), ""]
    if events["kind"].isin(CONSOLIDATION_KINDS).any():
        lines += consolidation_lines(result) + [""]
    kinds = events["kind"].value_counts() if len(events) else pd.Series(dtype=int)
    lines.append("Events: " + (", ".join(f"{k} {v}" for k, v in kinds.items()) or "none"))
    lines.append(
        f"Totals: mining revenue {format_money(ind['revenue_mining_usd'].sum())}, AI revenue {format_money(ind['revenue_ai_usd'].sum())}, "
        f"industry profit {format_money(ind['profit_usd'].sum())}, bankruptcies {int(ind['bankruptcies'].sum())}, "
        f"acquisitions {int(ind['acquisitions'].sum())}"
    )
    return "\n".join(lines)
