"""marketsim: an agent-based simulation of the Bitcoin mining industry turning to AI hosting.

The public face: ``IndustryModel`` (the Mesa model), ``Scenario`` and ``load_scenario``
(validated parameters), ``run`` (one scenario to the end, as DataFrames), ``sweep`` (a sweep
file over many parameter points and seeds, into a Parquet result folder; imported on first use,
so ``import marketsim`` stays light).
"""

from marketsim.model import IndustryModel
from marketsim.runner import RunResult, run
from marketsim.scenario import Scenario, load_scenario

__all__ = ["IndustryModel", "RunResult", "Scenario", "load_scenario", "run", "sweep"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "sweep":
        from marketsim.experiments.engine import sweep

        return sweep
    raise AttributeError(f"module 'marketsim' has no attribute {name!r}")
