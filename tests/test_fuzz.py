"""Fuzzing the three loaders users feed by hand: scenario TOML, sweep TOML, price CSV (issue 10, item 7).

Each loader, given malformed, truncated, wrongly typed or hostile input (huge numbers, NaN and
infinity, deep nesting, non-UTF-8 bytes, byte-order marks, CRLF), must either accept it as a
valid value or raise the loader's own error (a `MarketsimError`: exit 2 on the command line)
with one line; never another exception. Where the input breaks one named field, the message
names that field. Through the CLI, a rejected file exits 2 with one line and writes nothing.

Hypothesis example counts are modest (``FUZZ_EXAMPLES``) so `make test` stays quick; the
hand-made cases below are the inputs that broke a loader before it was fixed.
"""

from __future__ import annotations

import math
import os
import string
from collections import Counter
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketsim.cli import main
from marketsim.data import DataError, load_price_csv
from marketsim.errors import MarketsimError, ScenarioError
from marketsim.experiments.sweepfile import SweepFileError, load_sweep
from marketsim.scenario import Scenario, load_scenario

FUZZ_EXAMPLES = int(os.environ.get("MARKETSIM_FUZZ_EXAMPLES", "150"))  # more for a deeper search
TRIED: Counter[str] = Counter()  # inputs tried per loader (printed by the last test with -s)
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

FIELDS = list(Scenario.model_fields)
VALID_SCENARIO = b'name = "fz"\nstart_date = 2023-01-01\nmonths = 12\nn_firms = 30\nprice_model = "gbm"\n' \
                 b'price_initial_usd = 20000.0\ninitial_network_hashrate_ehs = 250.0\n' \
                 b'price_shocks = [{step = 3, change = -0.5}]\ndecision_rule_mix = {npv = 0.5, myopic = 0.5}\n'
VALID_SWEEP = b'name = "fz"\nbase = "bear-consolidation"\nmonths = 2\nreplications = 2\nmaster_seed = 1\n' \
              b'[set]\nn_firms = 16\n[parameters]\npower_price_multiplier = [1.0, 2.0]\n' \
              b'[record]\nindustry = "final"\n[report]\noutcomes = ["hhi_hashrate"]\n'
VALID_CSV = b"date,price_usd\n2023-01-01,16500\n2023-01-02,16600.5\n2023-01-05,17000\n"

# hostile scalars: what a TOML value can be that a field does not expect
hostile_scalar = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, -1, 2**62, 10**18]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 5e-324]),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e999", "", " ", "0x10", "1_000", "true", "\u202e", "\ufeff1"]),
    st.text(max_size=20),
    st.booleans(),
    st.dates(),
)
hostile_value = st.recursive(hostile_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(string.ascii_lowercase + "_.", max_size=12), inner, max_size=4)),
    max_leaves=12)


@pytest.fixture(scope="module", autouse=True)
def _print_counts(request):
    """Print how many inputs each loader was fed (for the issue's closing note; ``pytest -s``)."""
    yield
    capman = request.config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled():
        print(f"\nfuzz inputs tried: {dict(TRIED)}, total {sum(TRIED.values())}")


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text, text
    assert text.strip(), type(exc)
    return text


def _mutate(raw: bytes, data) -> bytes:
    """A byte-level damage: truncation, a foreign byte, a BOM, CRLF, a doubled or dropped chunk."""
    kind = data.draw(st.sampled_from(["truncate", "insert", "bom", "crlf", "cr", "drop", "duplicate", "replace"]))
    at = data.draw(st.integers(0, len(raw)))
    if kind == "truncate":
        return raw[:at]
    if kind == "insert":
        return raw[:at] + data.draw(st.binary(min_size=1, max_size=6)) + raw[at:]
    if kind == "bom":
        return b"\xef\xbb\xbf" + raw
    if kind == "crlf":
        return raw.replace(b"\n", b"\r\n")
    if kind == "cr":
        return raw.replace(b"\n", b"\r")
    end = data.draw(st.integers(at, min(len(raw), at + 20)))
    if kind == "drop":
        return raw[:at] + raw[end:]
    if kind == "duplicate":
        return raw[:end] + raw[at:end] + raw[end:]
    return raw[:at] + data.draw(st.sampled_from([b"nan", b"inf", b"1e999", b"\xff\xfe", b"[[[[", b"=", b'"']))


# --- scenario TOML ---------------------------------------------------------------------------------------
def _load_scenario_bytes(tmp_path: Path, raw: bytes):
    path = tmp_path / "fz.toml"
    path.write_bytes(raw)
    TRIED["scenario"] += 1
    try:
        return load_scenario(path)
    except ScenarioError as exc:
        one_line(exc)
        return exc


@FUZZ
@given(field=st.sampled_from(FIELDS), value=hostile_value)
def test_scenario_with_one_hostile_field_is_valid_or_names_it(tmp_path, field, value):
    try:
        raw = VALID_SCENARIO + tomli_w.dumps({field: value}).encode()
    except (TypeError, ValueError):
        return  # not expressible in TOML (e.g. a mixed list in old TOML)
    if f"\n{field} =".encode() in VALID_SCENARIO or raw.count(f"{field} =".encode()) > 1:
        return  # a duplicate key: covered by the byte-level test
    out = _load_scenario_bytes(tmp_path, raw)
    if isinstance(out, ScenarioError):
        assert field in str(out) or "TOML" in str(out) or "price_initial_usd" in str(out), str(out)
    else:
        _assert_sane(out)


def _assert_sane(scenario: Scenario) -> None:
    """An accepted scenario holds no NaN, no infinity, no true/false where a number belongs."""
    def walk(v, where):
        if isinstance(v, float):
            assert math.isfinite(v), where
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(x, f"{where}.{k}")
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(x, f"{where}.{i}")
    for name, value in scenario.model_dump().items():
        walk(value, name)


@FUZZ
@given(data=st.data())
def test_damaged_scenario_bytes_load_or_fail_in_one_line(tmp_path, data):
    raw = _mutate(VALID_SCENARIO, data)
    out = _load_scenario_bytes(tmp_path, raw)
    if not isinstance(out, ScenarioError):
        _assert_sane(out)


@pytest.mark.parametrize("raw, names", [
    (b"months = nan\n", ["months", "not a number"]),
    (b'price_volatility_per_year = "nan"\n', ["price_volatility_per_year", "not a number"]),
    (b"price_volatility_per_year = inf\n", ["price_volatility_per_year"]),
    (b"n_firms = 99999999999999999999999\n", ["n_firms"]),
    (b"price_drift_per_year = 1e400\n", ["price_drift_per_year"]),
    (b"months = true\n", ["months", "not true/false"]),  # lax pydantic took it as 1
    (b"decision_rule_mix = {npv = inf}\n", ["decision_rule_mix.npv", "finite"]),  # no upper bound: took inf
    (b"decision_rule_mix = {npv = 1e308, myopic = 1e308}\n", ["decision_rule_mix", "overflows"]),
    (b"price_shocks = " + b"[" * 3000 + b"]" * 3000 + b"\n", ["nested too deeply"]),  # was a RecursionError
    (b'description = "caf\xe9"\n', ["not UTF-8"]),  # was a UnicodeDecodeError traceback
    (b"history_until = 1900-01-01\n", ["history_until"]),
    (b"start_date = 2023-02-30\n", ["not valid TOML"]),
])
def test_hand_made_scenario_inputs(tmp_path, raw, names):
    out = _load_scenario_bytes(tmp_path, raw)
    assert isinstance(out, ScenarioError), out
    for name in names:
        assert name in str(out)
    assert "<= 10" not in str(out) or "nan" not in str(out).lower()


def test_bom_and_crlf_scenarios_load(tmp_path):
    plain = _load_scenario_bytes(tmp_path, VALID_SCENARIO)
    assert _load_scenario_bytes(tmp_path, b"\xef\xbb\xbf" + VALID_SCENARIO) == plain
    assert _load_scenario_bytes(tmp_path, VALID_SCENARIO.replace(b"\n", b"\r\n")) == plain


# --- sweep TOML -----------------------------------------------------------------------------------------
SWEEP_KEYS = ["name", "base", "months", "replications", "master_seed", "common_random_numbers", "max_runs",
              "set", "design", "parameters", "record", "report"]


def _load_sweep_bytes(tmp_path: Path, raw: bytes):
    path = tmp_path / "fz_sweep.toml"
    path.write_bytes(raw)
    TRIED["sweep"] += 1
    try:
        return load_sweep(path)
    except SweepFileError as exc:
        one_line(exc)
        return exc


@FUZZ
@given(data=st.data())
def test_damaged_sweep_bytes_load_or_fail_in_one_line(tmp_path, data):
    _load_sweep_bytes(tmp_path, _mutate(VALID_SWEEP, data))


@FUZZ
@given(key=st.sampled_from(SWEEP_KEYS + ["parameters.power_price_multiplier", "design.n", "record.industry",
                                          "report.conditions", "set.n_firms"]), value=hostile_value)
def test_sweep_with_one_hostile_field_is_valid_or_names_it(tmp_path, key, value):
    head, _, tail = key.partition(".")
    top = f"{head}" if not tail else f"{tail}"
    body = {"name": "fz", "base": "bear-consolidation", "months": 2, "replications": 2,
            "set": {"n_firms": 16}, "parameters": {"power_price_multiplier": [1.0, 2.0]},
            "record": {"industry": "final"}}
    if tail:
        body.setdefault(head, {})
        body[head] = {**body[head], tail: value}
    else:
        body[head] = value
    try:
        raw = tomli_w.dumps(body).encode()
    except (TypeError, ValueError):
        return
    out = _load_sweep_bytes(tmp_path, raw)
    if isinstance(out, SweepFileError):
        assert top in str(out) or head in str(out) or "TOML" in str(out), str(out)
    else:
        assert out.n_runs >= 1
        for scenario in out.scenarios:
            _assert_sane(scenario)


@pytest.mark.parametrize("extra, names", [
    (b'[report]\nconditions = ["hhi_hashrate > 1.2.3"]\n', ["report.conditions", "1.2.3"]),  # was a ValueError
    (b'[report]\nconditions = ["hhi_hashrate > 1e999"]\n', ["report.conditions", "finite"]),
    (b'[design]\nmethod = "lhs"\nn = 4\n[parameters]\nai_pue = {min = nan, max = 2}\n', ["ai_pue", "finite"]),
    (b'[design]\nmethod = "lhs"\nn = 4\n[parameters]\nai_pue = {min = 1, max = inf}\n', ["ai_pue", "finite"]),
    (b"[parameters]\nai_pue = [nan]\n", ["ai_pue", "not a number"]),
    (b'[design]\nmethod = "sobol"\nn = 999999\nseed = 1\n[parameters]\nai_pue = {min = 1, max = 2}\n',
     ["max_runs"]),  # refused before a million scenarios are built
    (b"[parameters]\n\"price_shocks.999.change\" = [1]\n", ["price_shocks.999.change"]),
])
def test_hand_made_sweep_inputs(tmp_path, extra, names):
    base = b'base = "bear-consolidation"\nmonths = 2\nmax_runs = 1000\n[set]\nn_firms = 16\n'
    out = _load_sweep_bytes(tmp_path, base + extra)
    assert isinstance(out, SweepFileError), out
    for name in names:
        assert name in str(out)


# --- price CSV ------------------------------------------------------------------------------------------
def _load_csv_bytes(tmp_path: Path, raw: bytes):
    path = tmp_path / "fz.csv"
    path.write_bytes(raw)
    TRIED["price_csv"] += 1
    try:
        frame = load_price_csv(path)
    except DataError as exc:
        one_line(exc)
        return exc
    assert (frame["price_usd"] > 0).all() and frame["price_usd"].map(math.isfinite).all()
    assert frame["date"].is_monotonic_increasing and frame["date"].is_unique
    return frame


@FUZZ
@given(data=st.data())
def test_damaged_price_csv_loads_or_fails_in_one_line(tmp_path, data):
    _load_csv_bytes(tmp_path, _mutate(VALID_CSV, data))


cell = st.one_of(st.sampled_from(["nan", "inf", "-inf", "1e999", "-5", "0", "", " 7 ", "0x10", "1,5", "True",
                                  "2023-01-04", "2023-02-30", "99999-01-01", '"3"']),
                 st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=8))


@FUZZ
@given(rows=st.lists(st.tuples(cell, cell), min_size=0, max_size=6))
def test_price_csv_with_hostile_cells_loads_or_names_the_column(tmp_path, rows):
    text = "date,price_usd\n" + "".join(f"{a},{b}\n" for a, b in rows)
    out = _load_csv_bytes(tmp_path, text.encode("utf-8", "surrogatepass"))
    if isinstance(out, DataError):
        message = str(out)
        assert "fz.csv" in message
        assert ("date" in message or "price_usd" in message or "no data rows" in message or "CSV" in message
                or "columns" in message or "UTF-8" in message), message


@pytest.mark.parametrize("raw, text", [
    (b"\xef\xbb\xbf" + VALID_CSV, None),  # a BOM used to make the header '\ufeffdate'
    (VALID_CSV.replace(b"\n", b"\r\n"), None),
    (VALID_CSV + b"2023-01-06,caf\xe9\n", "not UTF-8"),
    (VALID_CSV + b"2023-01-06,1,2\n", "not a readable CSV"),
    (b",".join(b"c%d" % i for i in range(5000)) + b"\n", "columns are"),  # not a 5,000-name message
    (VALID_CSV + b"2023-01-06,nan\n", "price_usd"),
    (VALID_CSV + b"2023-01-06,1e999\n", "price_usd"),
])
def test_hand_made_price_csv_inputs(tmp_path, raw, text):
    out = _load_csv_bytes(tmp_path, raw)
    if text is None:
        assert len(out) == 3
    else:
        assert isinstance(out, DataError) and text in str(out) and len(str(out)) < 300


# --- through the command line ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, raw", [
    ("scenario", b"months = nan\n"),
    ("scenario", b'description = "caf\xe9"\n'),
    ("scenario", b"price_shocks = " + b"[" * 3000 + b"]" * 3000 + b"\n"),
    ("sweep", b'base = "bear-consolidation"\n[report]\nconditions = ["hhi_hashrate > 1.2.3"]\n'),
    ("sweep", b"\xff\xfe" + VALID_SWEEP),
    ("csv", VALID_CSV + b"2023-01-06,inf\n"),
    ("csv", VALID_CSV[:-3] + b"\xff\n"),
])
def test_cli_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, kind, raw):
    out = tmp_path / "out"
    if kind == "csv":
        (tmp_path / "p.csv").write_bytes(raw)
        (tmp_path / "s.toml").write_text(f'start_date = 2023-01-01\nmonths = 2\nn_firms = 16\nprice_model = "csv"\n'
                                         f'price_csv_path = "{tmp_path / "p.csv"}"\ninitial_network_hashrate_ehs = 250.0\n')
        argv = ["run", str(tmp_path / "s.toml"), "--out", str(out), "--quiet"]
    elif kind == "scenario":
        (tmp_path / "s.toml").write_bytes(raw)
        argv = ["run", str(tmp_path / "s.toml"), "--out", str(out), "--quiet"]
    else:
        (tmp_path / "w.toml").write_bytes(raw)
        argv = ["sweep", str(tmp_path / "w.toml"), "--out", str(out), "--workers", "1", "--quiet"]
    TRIED[f"cli_{kind}"] += 1
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("fz")) == sorted(
        p.name for p in tmp_path.iterdir() if p.name in ("s.toml", "w.toml", "p.csv"))
