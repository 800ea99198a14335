"""Sweep files: a base scenario, the parameters to vary and how, replications, what to record.

A sweep file is TOML, validated like a scenario (pydantic, one declaration, errors naming the
field, the value and what is allowed) and then *resolved* into a `SweepPlan`: every design
point turned into a validated `Scenario`, every run given its seed. Nothing runs and nothing is
written until the whole file has passed, so a bad file costs no partial output.

```toml
name = "conversion-capex"
base = "ai-boom-bust"            # shipped scenario name, or a path (relative to this file)
months = 60                      # optional: run length (else the base's)
replications = 8                 # runs per design point, each with its own seed
master_seed = 2024               # the seeds: SeedSequence(master_seed).spawn(n_runs)

[set]                            # fixed overrides of the base, for every run
n_firms = 100

[design]
method = "grid"                  # grid | lhs | sobol | saltelli
# n = 32                         # points (lhs, sobol) or base samples (saltelli: n * (d + 2) points)

[parameters]                     # grid: lists (or {min, max, num}); samplers: {min, max[, scale, integer]},
                                 # and lhs/sobol cross lists with the sample (every point at each value)
conversion_capex_usd_per_mw = [3e6, 4e6, 5e6]
ai_demand_max_mw = {min = 1000, max = 5000, num = 3}
"price_shocks.1.change" = [0.0, -0.25, -0.5]   # a dotted path into a list/table field of the base

[record]
industry = "every_step"          # or "final": only the last row of each run
firms = false                    # per-firm snapshots (firms.parquet); off makes runs faster
# firms_table = false            # with firms = true: the firm-level outcomes only, no firms.parquet
events = true

[report]                         # optional: what `marketsim report` summarises
outcomes = ["hhi_hashrate", "mw_ai"]
conditions = ["hhi_hashrate > 0.25"]     # scenario discovery (PRIM), when ema_workbench is installed
# outcomes_at = 2030-12-31               # the date of the <column>_at_date outcomes (default: the end)
# paired = "ai_conversion_allowed"       # a two-valued parameter: paired differences (needs common_random_numbers)
```

Run ids are ``point_id * replications + replication``; with ``common_random_numbers = true``
replication ``r`` uses the same seed at every point (paired comparisons), else every run has
its own spawned seed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field, replace
import datetime as dt
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from marketsim.errors import ScenarioError
from marketsim.experiments import design
from marketsim.experiments.design import Range
from marketsim.metrics import INDUSTRY_COLUMNS
from marketsim.scenario import (
    Scenario, _is_nan, _shown, load_scenario, load_scenario_dict, read_toml, shipped_scenarios,
)
from marketsim.shipped_files import shipped_dir
from marketsim.version import __version__

SWEEP_DIR = shipped_dir() / "sweeps"
FORMAT = "marketsim-sweep/1"
RUN_COLUMNS = ["run_id", "point_id", "replication", "seed", "status", "error"]
FLOW_COLUMNS = ["revenue_mining_usd", "revenue_ai_usd", "cost_usd", "profit_usd", "capex_usd", "issuance_btc",
                "fees_btc", "acquisitions_usd"]  # summed over the run as total_<column>
LIVE_MW = ["mw_mining", "mw_idle", "mw_converting", "mw_ai", "mw_ai_empty"]
AI_MW = ["mw_converting", "mw_ai", "mw_ai_empty"]  # MW a firm has turned (or is turning) to AI
# industry columns also reported at the [report] outcomes_at date, as <column>_at_date
AT_DATE_COLUMNS = ["hhi_hashrate", "top5_share_hashrate", "hhi_mw", "top5_share_mw", "bankruptcies_cum",
                   "acquisitions_cum", "network_hashrate_ehs", "hashprice_usd_per_ph_day"]
# per-run firm-level study outcomes (runs.firm_outcomes; NaN unless [record] firms = true)
FIRM_OUTCOMES = ["converters", "converter_survival_share", "miner_survival_share", "converter_survival_advantage",
                 "converter_bankruptcy_share",
                 "miner_bankruptcy_share", "mw_converted_share_public"]
# the final outcomes of runs.parquet (see runs.final_outcomes): what [report] may name
FINAL_OUTCOMES = list(dict.fromkeys([c for c in INDUSTRY_COLUMNS if c not in ("step", "date")]
                                    + [f"total_{c}" for c in FLOW_COLUMNS] + ["converted_share_mw", "steps", "halted"]
                                    + [f"{c}_at_date" for c in AT_DATE_COLUMNS] + FIRM_OUTCOMES))
DEFAULT_OUTCOMES = ["hhi_hashrate", "top5_share_mw", "exits_cum", "bankruptcies_cum", "mw_ai",
                    "converted_share_mw", "network_hashrate_ehs", "total_profit_usd"]
DEFAULT_CONDITIONS = ["hhi_hashrate > 0.25", "converted_share_mw > 0.5"]
CONDITION_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(>=|<=|>|<)\s*(-?[0-9.eE+-]+)\s*$")


class SweepFileError(ScenarioError):
    """A sweep file names a bad field or value (exit status 2 on the command line)."""


class DesignSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: Literal["grid", "lhs", "sobol", "saltelli"] = "grid"
    n: int | None = Field(None, ge=1, le=1_000_000, description="points (lhs, sobol) or base samples (saltelli)")
    seed: int | None = Field(None, ge=0, description="sampler seed (default: master_seed)")


class RecordSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    industry: Literal["every_step", "final"] = "every_step"
    firms: bool = False
    firm_every: int = Field(1, ge=1, le=10_000, description="with firms = true: a snapshot every k steps")
    firms_table: bool = Field(True, description="with firms = true: write firms.parquet (false: only the firm-level "
                                               "outcomes of runs.parquet, a lighter sweep)")
    events: bool = True


class ReportSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcomes: list[str] = Field(default_factory=lambda: list(DEFAULT_OUTCOMES), min_length=1)
    conditions: list[str] = Field(default_factory=lambda: list(DEFAULT_CONDITIONS))
    heatmap: list[str] | None = Field(None, min_length=2, max_length=2, description="two swept parameters")
    outcomes_at: dt.date | None = Field(
        None, description="date of the <column>_at_date outcomes: the last step on or before it (None: the end)")
    paired: str | None = Field(
        None, description="a swept parameter with two values: paired differences over common random numbers")


class SweepFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "sweep"
    description: str = ""
    base: str = "baseline"
    months: int | None = Field(None, ge=1, le=1200)
    replications: int = Field(1, ge=1, le=100_000)
    master_seed: int = Field(0, ge=0, le=2**63 - 1)
    common_random_numbers: bool = False
    max_runs: int = Field(1_000_000, ge=1, description="refuse designs larger than this")
    set: dict[str, Any] = Field(default_factory=dict)
    design: DesignSpec = Field(default_factory=DesignSpec)
    parameters: dict[str, list[Any] | Range] = Field(default_factory=dict)
    record: RecordSpec = Field(default_factory=RecordSpec)
    report: ReportSpec = Field(default_factory=ReportSpec)

    @model_validator(mode="after")
    def _design_fits_parameters(self) -> SweepFile:
        method = self.design.method
        for name, spec in self.parameters.items():
            if method == "grid":
                if isinstance(spec, Range) and spec.num is None:
                    raise ValueError(f"parameters.{name}: a grid needs a list of values or {{min, max, num}}")
                if isinstance(spec, list) and not spec:
                    raise ValueError(f"parameters.{name}: the list of values is empty")
            elif isinstance(spec, list):  # crossed with the sampled points (e.g. a counterfactual switch)
                if method == "saltelli":
                    raise ValueError(f"parameters.{name}: a saltelli design samples ranges only (Sobol indices "
                                     "need its exact point layout); give {min = ..., max = ...}, not a list")
                if not spec:
                    raise ValueError(f"parameters.{name}: the list of values is empty")
            elif spec.num is not None:
                raise ValueError(f"parameters.{name}.num: only a grid takes num")
        if method != "grid":
            if self.design.n is None:
                raise ValueError(f"design.n: design.method = {method!r} needs the number of points n")
            if not any(isinstance(spec, Range) for spec in self.parameters.values()):
                raise ValueError(f"parameters: design.method = {method!r} needs at least one range")
        elif self.design.n is not None:
            raise ValueError("design.n: a grid takes no n (its size is the product of the value lists)")
        return self


@dataclass(frozen=True)
class RunSpec:
    """One run: everything a worker needs, picklable, nothing else."""

    run_id: int
    point_id: int
    replication: int
    seed: int
    params: dict[str, Any]
    scenario: Scenario
    record: dict[str, Any]


@dataclass
class SweepPlan:
    """A validated sweep: design points resolved to scenarios, seeds assigned."""

    sweep: SweepFile
    source: str
    text: str
    base: Scenario
    parameters: list[str]
    points: list[dict[str, Any]]
    scenarios: list[Scenario]
    seeds: list[int]
    fingerprint: str = ""
    conditions: list[tuple[str, str, float]] = field(default_factory=list)

    @property
    def n_runs(self) -> int:
        return len(self.points) * self.sweep.replications

    def spec(self, run_id: int) -> RunSpec:
        point_id, rep = divmod(run_id, self.sweep.replications)
        record = self.sweep.record.model_dump() | {"outcomes_at": self.sweep.report.outcomes_at}
        return RunSpec(run_id, point_id, rep, self.seeds[run_id], dict(self.points[point_id]),
                       self.scenarios[point_id], record)

    def specs(self, skip: set[int] | frozenset[int] = frozenset()) -> list[RunSpec]:
        return [self.spec(i) for i in range(self.n_runs) if i not in skip]


# --- loading ----------------------------------------------------------------------------------------
def _fail(source: str, lines: list[str]) -> SweepFileError:
    """One line: ``invalid sweep file SOURCE: field = value: what is wrong; ...``."""
    return SweepFileError(f"invalid sweep file {source}: " + "; ".join(" ".join(line.split()) for line in lines))


def _format_validation(exc: ValidationError) -> list[str]:
    lines = []
    errors = exc.errors()
    union_branches = {str(e["loc"][:2]) for e in errors if "Range" in [str(p) for p in e["loc"]]}
    for err in errors:
        loc = [str(p) for p in err["loc"]]
        # pydantic names the union branch it tried (list[any] / Range): drop those from the path
        loc = [p for p in loc if p not in ("list[any]", "Range") and not p.startswith("function-after[")]
        if (err["type"] == "list_type" and isinstance(err.get("input"), dict)
                and str(err["loc"][:2]) in union_branches):
            continue  # a table given for a parameter is a range: the range's own errors say what is wrong
        where = ".".join(loc) or "(sweep)"
        value = err.get("input")
        shown = _shown(value)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):  # a model's / a range's
            msg = "unknown field"
        elif _is_nan(value):
            msg = "not a number (NaN)"
        lines.append(f"{where} = {shown}: {msg}" if loc else msg)
    # a union error repeats itself once per branch: keep each line once
    return list(dict.fromkeys(lines))


def find_sweep(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.exists():
        return path
    shipped = SWEEP_DIR / f"{name_or_path}.toml"
    if shipped.exists():
        return shipped
    names = sorted(p.stem for p in SWEEP_DIR.glob("*.toml")) if SWEEP_DIR.is_dir() else []
    raise SweepFileError(f"sweep file {str(name_or_path)!r}: no such file, and not a shipped sweep "
                         f"(shipped: {', '.join(names)})")


def load_sweep(name_or_path: str | Path, **overrides: Any) -> SweepPlan:
    """Read, validate and resolve a sweep file (path, or a name in ``experiments/sweeps/``)."""
    path = find_sweep(name_or_path)
    data = read_toml(path, "sweep file", SweepFileError)
    text = path.read_bytes().decode("utf-8-sig")
    data.setdefault("name", path.stem)
    data.update(overrides)
    return plan_sweep(data, source=str(path), text=text, base_dir=path.parent)


def plan_sweep(data: dict[str, Any], *, source: str = "(dict)", text: str = "", base_dir: Path | None = None) -> SweepPlan:
    try:
        sweep = SweepFile.model_validate(data)
    except ValidationError as exc:
        raise _fail(source, _format_validation(exc)) from None
    base = _load_base(sweep, source, base_dir)
    base_dict = base.to_dict()
    names = list(sweep.parameters)
    _check_names(sweep, names, base_dict, source)
    ranges = _ranges(sweep, base_dict, source)
    for n_points in (_count_points(sweep), None):  # count first: a huge design is refused before it is built
        if n_points is None:
            points = _design_points(sweep, ranges)
            n_points = len(points)
        n_runs = n_points * sweep.replications
        if n_runs > sweep.max_runs:
            raise _fail(source, [f"max_runs = {sweep.max_runs}: the design has {n_points} points x "
                                 f"{sweep.replications} replications = {n_runs} runs; raise max_runs if you mean it"])
    scenarios = [_scenario_at(base_dict, point, source) for point in points]
    seeds = run_seeds(sweep.master_seed, n_runs, sweep.replications, sweep.common_random_numbers)
    conditions = [_parse_condition(c, source) for c in sweep.report.conditions]
    for where, name in ([(f"report.outcomes.{i}", o) for i, o in enumerate(sweep.report.outcomes)]
                        + [(f"report.conditions.{i}", c[0]) for i, c in enumerate(conditions)]):
        if name not in FINAL_OUTCOMES:
            raise _fail(source, [f"{where} = {name!r}: not an outcome; choose from {', '.join(FINAL_OUTCOMES)}"])
    if sweep.report.heatmap:
        for i, p in enumerate(sweep.report.heatmap):
            if p not in names:
                raise _fail(source, [f"report.heatmap.{i} = {p!r}: not a swept parameter ({', '.join(names)})"])
    if sweep.report.paired is not None:
        _check_paired(sweep, names, points, source)
    plan = SweepPlan(sweep, source, text, base, names, points, scenarios, seeds, conditions=conditions)
    plan.fingerprint = fingerprint(plan)
    return plan


def _check_paired(sweep: SweepFile, names: list[str], points: list[dict[str, Any]], source: str) -> None:
    """``[report] paired`` names a swept parameter with exactly two values, under common random numbers."""
    p = sweep.report.paired
    if p not in names:
        raise _fail(source, [f"report.paired = {p!r}: not a swept parameter ({', '.join(names)})"])
    values = {json.dumps(pt[p], sort_keys=True, default=str) for pt in points}
    if len(values) != 2:
        raise _fail(source, [f"report.paired = {p!r}: it takes {len(values)} values; pairing needs exactly two"])
    if not sweep.common_random_numbers:
        raise _fail(source, [f"report.paired = {p!r}: pairs need common_random_numbers = true"])


def run_seeds(master_seed: int, n_runs: int, replications: int, common: bool) -> list[int]:
    """Seeds spawned from one master seed: the same whatever executor or order runs them."""
    children = np.random.SeedSequence(master_seed).spawn(replications if common else n_runs)
    seeds = [int(c.generate_state(1)[0]) for c in children]
    return [seeds[i % replications] for i in range(n_runs)] if common else seeds


def _load_base(sweep: SweepFile, source: str, base_dir: Path | None) -> Scenario:
    base = sweep.base
    if base not in shipped_scenarios() and base_dir is not None and not Path(base).is_absolute():
        candidate = base_dir / base
        if candidate.exists():
            base = str(candidate)
    fixed = dict(sweep.set)
    if sweep.months is not None:
        fixed["months"] = sweep.months
    fixed["firm_record_every"] = sweep.record.firm_every if sweep.record.firms else 0
    for key in fixed:
        if key not in Scenario.model_fields:
            raise _fail(source, [f"set.{key}: unknown parameter (see `marketsim params`)"])
    try:
        return load_scenario(base, **fixed)
    except ScenarioError as exc:
        raise _fail(source, [f"base = {sweep.base!r} with [set]: {exc}".replace("\n", "\n  ")]) from None


def _split(name: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in name.split(".")]


def _check_names(sweep: SweepFile, names: list[str], base: dict[str, Any], source: str) -> None:
    reserved = set(RUN_COLUMNS) | set(INDUSTRY_COLUMNS) | {"name", "description", "firm_record_every"}
    for name in names:
        path = _split(name)
        head = path[0]
        if head not in Scenario.model_fields or name in reserved:
            raise _fail(source, [f"parameters.{name}: unknown parameter (see `marketsim params`)"
                                 if head not in Scenario.model_fields else f"parameters.{name}: cannot be swept"])
        if head in sweep.set:
            raise _fail(source, [f"parameters.{name}: also fixed in [set]; choose one"])
        try:
            _get(base, path)
        except (KeyError, IndexError, TypeError):
            raise _fail(source, [f"parameters.{name}: the base scenario has no {name} "
                                 f"({head} = {base[head]!r})"]) from None


def _get(data: Any, path: list[str | int]) -> Any:
    for p in path:
        data = data[p]
    return data


def _set(data: dict[str, Any], path: list[str | int], value: Any) -> None:
    target = data
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value


def _ranges(sweep: SweepFile, base: dict[str, Any], source: str) -> dict[str, Range]:
    out = {}
    for name, spec in sweep.parameters.items():
        if not isinstance(spec, Range):
            continue
        current = _get(base, _split(name))
        integer = spec.integer if spec.integer is not None else isinstance(current, int) and not isinstance(current, bool)
        for end in ("min", "max"):
            value = getattr(spec, end)
            _scenario_at(base, {name: int(value) if integer else value}, source, where=f"parameters.{name}.{end}")
        out[name] = replace(spec, integer=integer)
    return out


def _count_points(sweep: SweepFile) -> int:
    """Design points, counted without building them (an upper bound for integer grids)."""
    method = sweep.design.method
    if method == "grid":
        return math.prod(spec.num if isinstance(spec, Range) else len(spec) for spec in sweep.parameters.values())
    n = sweep.design.n or 0
    ranged = [spec for spec in sweep.parameters.values() if isinstance(spec, Range)]
    crossed = math.prod(len(spec) for spec in sweep.parameters.values() if isinstance(spec, list))
    return (n * (len(ranged) + 2) if method == "saltelli" else n) * crossed


def _design_points(sweep: SweepFile, ranges: dict[str, Range]) -> list[dict[str, Any]]:
    method = sweep.design.method
    seed = sweep.design.seed if sweep.design.seed is not None else sweep.master_seed
    if method == "grid":
        values = {}
        for name, spec in sweep.parameters.items():
            if isinstance(spec, Range):
                values[name] = ranges[name].evenly_spaced()
            else:
                values[name] = spec
        return design.grid(values)
    n = sweep.design.n
    assert n is not None
    sampler = {"lhs": design.latin_hypercube, "sobol": design.sobol, "saltelli": design.saltelli}[method]
    sampled = sampler(ranges, n, seed)
    # list-valued parameters are crossed with the sample: every sampled point at each listed value,
    # the listed parameter varying fastest, so paired points are neighbours
    listed = {name: spec for name, spec in sweep.parameters.items() if isinstance(spec, list)}
    if not listed:
        return sampled
    return [{name: point[name] if name in point else cross[name] for name in sweep.parameters}
            for point in sampled for cross in design.grid(listed)]


def _scenario_at(base: dict[str, Any], point: dict[str, Any], source: str, where: str | None = None) -> Scenario:
    data = {k: (copy.deepcopy(v) if isinstance(v, (list, dict)) else v) for k, v in base.items()}
    for name, value in point.items():
        _set(data, _split(name), value)
    try:
        return load_scenario_dict(data, source=source)
    except ScenarioError as exc:
        detail = [str(exc).removeprefix(f"invalid scenario {source}: ")]
        label = where or "parameters: the point " + ", ".join(f"{k} = {v!r}" for k, v in point.items())
        raise _fail(source, [f"{label}: {line}" for line in detail]) from None


def _parse_condition(text: str, source: str) -> tuple[str, str, float]:
    m = CONDITION_RE.match(text)
    if not m:
        raise _fail(source, [f"report.conditions: {text!r}: expected 'outcome > number' (>, >=, <, <=)"])
    try:
        threshold = float(m.group(3))
    except ValueError:
        threshold = float("nan")
    if not math.isfinite(threshold):
        raise _fail(source, [f"report.conditions: {text!r}: the threshold {m.group(3)!r} is not a finite number"])
    return m.group(1), m.group(2), threshold


def fingerprint(plan: SweepPlan) -> str:
    """Hash of what decides the results: scenarios, seeds, record options, package version."""
    payload = {
        "format": FORMAT,
        "version": __version__,
        "parameters": plan.parameters,
        "points": plan.points,
        "scenarios": [s.model_dump(mode="json") for s in plan.scenarios],
        "seeds": plan.seeds,
        "replications": plan.sweep.replications,
        "record": plan.sweep.record.model_dump(),
    }
    if plan.sweep.report.outcomes_at is not None:  # only then: older sweeps keep their fingerprint
        payload["outcomes_at"] = plan.sweep.report.outcomes_at.isoformat()
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
