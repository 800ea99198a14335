"""Shared fixtures: small, fast models; the whole suite runs on CI's 2 cores."""

from __future__ import annotations

import os

import pytest

# invariant mode in every test: each model step checks MW, cash, the chain (marketsim.invariants)
os.environ["MARKETSIM_CHECK"] = "1"

from marketsim import load_scenario


@pytest.fixture
def small_baseline():
    """Baseline with a small population, two years and a stochastic price from the start."""
    return load_scenario("baseline", n_firms=40, months=24, history_until=None)
