"""Loader for the public miners' sites at the end of 2022 (``ai_sites_2022.csv``).

One row per public miner (the model gives each one site at the start): its grid interconnect
including approved but unbuilt power (MW), its land (acres; blank = not reported, filled by
the population with a mining site's footprint), and the location quality AI tenants price
(latency, fibre, climate; 1 = average, 0 = no site of its own). Every row names its sources
and, in ``assumptions``, every figure the calibration facts do not give (docs/calibration.md).
"""

from __future__ import annotations

import pandas as pd

from marketsim.data import read_packaged_table

AI_SITES_FILE = "ai_sites_2022.csv"
AI_SITES_COLUMNS = ["name", "interconnect_mw", "land_acres", "location_quality", "source", "assumptions"]


class SitesDataError(ValueError):
    """The sites file is missing columns or holds an impossible value."""


def load_ai_sites() -> pd.DataFrame:
    table = read_packaged_table(AI_SITES_FILE, AI_SITES_COLUMNS, SitesDataError)
    bad = table[(table["interconnect_mw"] < 0) | (table["location_quality"] < 0) | (table["land_acres"] < 0)]
    if len(bad):
        raise SitesDataError(f"{AI_SITES_FILE}: negative interconnect, land or quality for {', '.join(bad['name'])}")
    return table
