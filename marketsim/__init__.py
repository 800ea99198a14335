"""marketsim: an agent-based simulation of the Bitcoin mining industry turning to AI hosting.

The public face: ``IndustryModel`` (the Mesa model), ``Scenario`` and ``load_scenario``
(validated parameters), ``run`` (one scenario to the end, as DataFrames).
"""

from marketsim.model import IndustryModel
from marketsim.runner import RunResult, run
from marketsim.scenario import Scenario, load_scenario

__all__ = ["IndustryModel", "RunResult", "Scenario", "load_scenario", "run"]
__version__ = "0.1.0"
