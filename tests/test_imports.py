"""Light imports (issue 11, item 2): the pure modules load neither Mesa nor pandas, and
``import marketsim`` defers the model until a name is used. Each check runs in a fresh
interpreter, since this test process has long imported everything."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("mesa", "pandas")
PURE = ["marketsim", "marketsim.protocol", "marketsim.timeline", "marketsim.errors", "marketsim.scenario",
        "marketsim.market.price", "marketsim.market.fees", "marketsim.market.power", "marketsim.market.asic",
        "marketsim.market.ai", "marketsim.firms.economics", "marketsim.firms.rules", "marketsim.experiments",
        "marketsim.experiments.design", "marketsim.step_state", "marketsim.version"]


def loaded_after(code: str) -> set[str]:
    """The heavy packages in ``sys.modules`` after running ``code`` in a new interpreter."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("module", PURE)
def test_pure_module_loads_neither_mesa_nor_pandas(module):
    assert loaded_after(f"import {module}") == set()


def test_the_model_is_imported_when_first_used():
    code = "import marketsim\nassert marketsim.IndustryModel.__name__ == 'IndustryModel'"
    assert loaded_after(code) == {"mesa", "pandas"}


def test_the_lazy_names_are_the_real_objects():
    import marketsim
    from marketsim.experiments.engine import sweep
    from marketsim.model import IndustryModel
    from marketsim.runner import RunResult, run
    from marketsim.scenario import Scenario, load_scenario

    assert (marketsim.IndustryModel, marketsim.RunResult, marketsim.run, marketsim.Scenario,
            marketsim.load_scenario, marketsim.sweep) == (IndustryModel, RunResult, run, Scenario, load_scenario, sweep)
    assert set(marketsim.__all__) <= set(dir(marketsim))
    with pytest.raises(AttributeError, match="no attribute 'nonesuch'"):
        marketsim.nonesuch  # noqa: B018


def test_the_experiments_names_resolve_lazily():
    import marketsim.experiments as ex
    from marketsim.experiments.executors import make_executor
    from marketsim.experiments.sweepfile import load_sweep

    assert ex.make_executor is make_executor and ex.load_sweep is load_sweep
    assert all(callable(getattr(ex, name)) for name in ex.__all__)
    with pytest.raises(AttributeError):
        ex.nonesuch  # noqa: B018


def test_a_sweep_worker_does_not_import_samplers_dask_or_the_report():
    code = ("import sys\nimport marketsim.experiments.runs, marketsim.experiments.store, marketsim.model, "
            "marketsim.runner\nprint(' '.join(m for m in ('scipy.stats', 'distributed', 'solara', "
            "'marketsim.experiments.report') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []
