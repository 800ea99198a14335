"""Event table and per-firm records: the two tables a DataCollector does not keep well.

Events (conversions, leases, curtailments, upgrades, expansions, bankruptcies, sales,
acquisitions) are appended as rows with date, parties, site, MW and a USD value. Per-firm
records are numpy snapshots every ``firm_record_every`` steps, so 10,000 firms cost one
vector copy per column, not a Python loop over agents.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketsim.metrics import without_residue

EVENT_COLUMNS = ["step", "date", "kind", "firm_id", "counterparty_id", "site_id", "mw", "hashrate_ehs",
                 "value_usd", "detail"]


class EventLog:
    def __init__(self, model):
        self.model = model
        self.rows: list[tuple] = []

    def add(self, kind: str, firm_id, site_id=-1, mw=0.0, *, counterparty_id=-1, hashrate_ehs=0.0,
            value_usd=0.0, detail: str = "") -> None:
        m = self.model
        self.rows.append((m.steps_done, m.market.state.date, kind, int(firm_id), int(counterparty_id),
                          int(site_id), float(mw), float(hashrate_ehs), float(value_usd), detail))

    def add_many(self, kind: str, firm_ids, site_ids, mw, *, value_usd=None) -> None:
        values = np.zeros(len(firm_ids)) if value_usd is None else np.asarray(value_usd, dtype=float)
        for f, s, w, v in zip(firm_ids, site_ids, mw, values):
            self.add(kind, f, s, w, value_usd=v)

    def _rows_at(self, step: int):
        """Rows of one step: they are appended in step order, so scan back from the end."""
        for row in reversed(self.rows):
            if row[0] != step:
                break
            yield row

    def counts_at(self, step: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self._rows_at(step):
            counts[row[2]] = counts.get(row[2], 0) + 1
        return counts

    def value_at(self, step: int, kind: str) -> float:
        return float(sum(r[8] for r in self._rows_at(step) if r[2] == kind))

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.rows, columns=EVENT_COLUMNS)
        df["date"] = pd.to_datetime(df["date"])
        return df


FIRM_COLUMNS = ["step", "date", "firm_id", "name", "is_public", "rule", "state", "mw_mining", "mw_idle",
                "mw_converting", "mw_ai", "mw_ai_empty", "ai_contracted_it_mw", "mw_shutdown", "hashrate_ehs", "efficiency_j_per_th",
                "power_usd_per_mwh", "cash_usd", "debt_usd", "btc_held", "revenue_mining_usd", "revenue_ai_usd",
                "profit_usd", "capex_usd"]


def firm_snapshot(model) -> pd.DataFrame:
    """One row per firm still in business or leaving in this step (the firms.parquet columns)."""
    firms, sites = model.firms, model.sites
    n = len(firms)

    def by_firm(values):
        return np.bincount(sites.owner, weights=values, minlength=n)

    mw_machines = by_firm(sites.mw_machines)
    machine_th = by_firm(np.divide(sites.mw_machines, sites.efficiency_j_per_th))
    mw_ai = by_firm(model.mw_ai_leased)
    power = by_firm(model.site_power_usd_per_mwh * sites.capacity_mw) / np.maximum(by_firm(sites.capacity_mw), 1e-12)
    led = firms.ledger
    frame = pd.DataFrame({
        "step": model.steps_done,
        "date": model.market.state.date,
        "firm_id": np.arange(n),
        "name": firms.name,
        "is_public": firms.is_public,
        "rule": [model.rules[r].name for r in firms.rule],
        "state": model.firm_states(),
        "mw_mining": by_firm(sites.mw_mining),
        "mw_idle": by_firm(sites.mw_idle),
        "mw_converting": by_firm(sites.mw_converting),
        "mw_ai": mw_ai,
        "mw_ai_empty": without_residue(by_firm(sites.mw_converted) - mw_ai),
        "ai_contracted_it_mw": by_firm(model.leases.contracted_it_by_site(len(sites))),
        "mw_shutdown": by_firm(sites.mw_shutdown),
        "hashrate_ehs": model.firm_hashrate_ehs,
        "efficiency_j_per_th": np.divide(mw_machines, machine_th, out=np.full(n, np.nan), where=machine_th > 0),
        "power_usd_per_mwh": power,
        "cash_usd": firms.cash_usd.copy(),
        "debt_usd": firms.debt_usd.copy(),
        "btc_held": firms.btc_held.copy(),
        "revenue_mining_usd": led["revenue_mining_usd"].copy(),
        "revenue_ai_usd": led["revenue_ai_usd"].copy(),
        "profit_usd": firms.profit_usd,
        "capex_usd": led["capex_usd"].copy(),
    })
    return frame[firms.active | model.left_this_step].reset_index(drop=True)


class FirmRecorder:
    def __init__(self):
        self.frames: list[pd.DataFrame] = []

    def record(self, model) -> None:
        self.frames.append(firm_snapshot(model))

    def frame(self) -> pd.DataFrame:
        if not self.frames:
            return pd.DataFrame(columns=FIRM_COLUMNS)
        return pd.concat(self.frames, ignore_index=True)
