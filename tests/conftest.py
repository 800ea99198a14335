"""Shared fixtures: small, fast models; the whole suite runs on CI's 2 cores."""

from __future__ import annotations

import pytest

from marketsim import load_scenario


@pytest.fixture
def small_baseline():
    """Baseline with a small population and two years: enough to exercise every phase."""
    return load_scenario("baseline", n_firms=40, months=24)
