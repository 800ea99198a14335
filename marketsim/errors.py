"""Error types raised where bad input enters: scenario files, CLI arguments, data files."""


class MarketsimError(Exception):
    """Base class: the CLI turns these into a clear message and exit status 2."""


class ScenarioError(MarketsimError, ValueError):
    """A scenario or sweep file, or an override, names a bad field or value."""


class InvariantError(MarketsimError):
    """A step broke a law of the model's books (``marketsim.invariants``): MW, cash, the chain."""
