"""marketsim: an agent-based simulation of the Bitcoin mining industry turning to AI hosting.

The public face: ``IndustryModel`` (the Mesa model), ``Scenario`` and ``load_scenario``
(validated parameters), ``run`` (one scenario to the end, as DataFrames), ``sweep`` (a sweep
file over many parameter points and seeds, into a Parquet result folder).

Each is imported on first use (module ``__getattr__``, PEP 562), so ``import marketsim`` and the
pure modules (``marketsim.protocol``, ``market.price`` ...) load neither Mesa nor pandas: a
script that only needs the protocol arithmetic, or a sweep worker starting up, pays for what it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from marketsim.version import __version__  # noqa: F401 (marketsim.__version__)

__all__ = ["IndustryModel", "RunResult", "Scenario", "load_scenario", "run", "sweep"]

_HOME = {
    "IndustryModel": "marketsim.model",
    "RunResult": "marketsim.runner",
    "run": "marketsim.runner",
    "Scenario": "marketsim.scenario",
    "load_scenario": "marketsim.scenario",
    "sweep": "marketsim.experiments.engine",
}

if TYPE_CHECKING:  # for type checkers and IDEs: the names as if imported eagerly
    from marketsim.experiments.engine import sweep
    from marketsim.model import IndustryModel
    from marketsim.runner import RunResult, run
    from marketsim.scenario import Scenario, load_scenario


def __getattr__(name: str):
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'marketsim' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
