"""MiningFirm: the Mesa agent. Identity, decision rule and a readable view of its books.

The numbers live in the model's column books (``book.py``) so that the whole industry is
operated with vector arithmetic; an agent is the handle through which users, the Solara app
and tests look at one firm (``firm.cash_usd``, ``firm.mw_by_state``, ``firm.rule``).
"""

from __future__ import annotations

import mesa
import numpy as np


class MiningFirm(mesa.Agent):
    def __init__(self, model, index: int):
        super().__init__(model)
        self.index = index

    # --- identity ------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.model.firms.name[self.index]

    @property
    def is_public(self) -> bool:
        return bool(self.model.firms.is_public[self.index])

    @property
    def rule(self) -> str:
        return self.model.rules[self.model.firms.rule[self.index]].name

    # --- balance sheet ----------------------------------------------------------------
    @property
    def cash_usd(self) -> float:
        return float(self.model.firms.cash_usd[self.index])

    @property
    def debt_usd(self) -> float:
        return float(self.model.firms.debt_usd[self.index])

    @property
    def btc_held(self) -> float:
        return float(self.model.firms.btc_held[self.index])

    # --- sites and fleet ---------------------------------------------------------------
    @property
    def site_ids(self) -> np.ndarray:
        return np.flatnonzero(self.model.sites.owner == self.index)

    @property
    def mw_by_state(self) -> dict[str, float]:
        s, rows = self.model.sites, self.site_ids
        ai = float(s.mw_ai_leased[rows].sum())
        return {
            "mining": float(s.mw_mining[rows].sum()),
            "idle": float(s.mw_idle[rows].sum()),
            "converting": float(s.mw_converting[rows].sum()),
            "ai": ai,
            "ai_empty": float(s.mw_converted[rows].sum()) - ai,
            "shutdown": float(s.mw_shutdown[rows].sum()),
        }

    @property
    def hashrate_ehs(self) -> float:
        return float(self.model.tally.firm_hashrate_ehs[self.index])

    @property
    def profit_usd(self) -> float:
        return float(self.model.firms.profit_usd[self.index])

    def __repr__(self) -> str:
        return f"MiningFirm({self.index}, {self.name!r}, rule={self.rule})"
