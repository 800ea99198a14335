"""Command line: ``marketsim run | list | params | sweep | report | validate | viz``.

Bad input (unknown scenario, parameter out of range, unreadable file) prints one clear message
naming the field and what is allowed, exits with status 2, and writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from marketsim.errors import MarketsimError


def _add_run(sub) -> None:
    p = sub.add_parser("run", help="run one scenario and print its summary")
    p.add_argument("scenario", help="a shipped scenario name (see `marketsim list`) or a TOML file")
    p.add_argument("--months", type=int, help="run length in months")
    p.add_argument("--seed", type=int, default=None, help="random seed (same seed, same output)")
    p.add_argument("--firms", type=int, help="number of firms (n_firms)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario parameter (repeatable), e.g. --set price_volatility_per_year=0.8")
    p.add_argument("--out", help="folder for industry/firms/events.parquet and scenario.toml")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--check", action="store_true", default=None,
                   help="check the model's invariants (MW, cash, chain) after every step; stop at the first broken one")


def cmd_run(args) -> int:
    from marketsim.runner import run
    from marketsim.scenario import load_scenario, parse_override
    from marketsim.summary import summarize

    overrides = dict(parse_override(text) for text in args.overrides)
    if args.months is not None:
        overrides["months"] = args.months
    if args.firms is not None:
        overrides["n_firms"] = args.firms
    scenario = load_scenario(args.scenario, **overrides)
    seed = 0 if args.seed is None else args.seed
    result = run(scenario, seed=seed, check=args.check)
    if args.out:
        path = result.save(args.out)
        if not args.quiet:
            print(f"wrote {path}/industry.parquet, firms.parquet, events.parquet, scenario.toml")
    if not args.quiet:
        print(summarize(result))
    return 0


def cmd_list(args) -> int:
    import tomllib

    from marketsim.scenario import shipped_scenarios

    for name, path in shipped_scenarios().items():
        desc = tomllib.loads(path.read_text()).get("description", "")
        print(f"{name:24s} {desc}")
    return 0


def cmd_params(args) -> int:
    from marketsim.scenario import parameter_table

    for row in parameter_table():
        rng = f" [{row['range']}]" if row["range"] else ""
        print(f"{row['name']:42s} {row['default']:>14s}{rng}  {row['description']}")
    return 0


def cmd_viz(args) -> int:
    import os
    import subprocess
    from pathlib import Path

    app = Path(__file__).resolve().parent.parent / "viz" / "app.py"
    if not app.exists():
        raise MarketsimError(f"viz: the Solara app is not at {app}")
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}
    if args.sweep:
        sweep_dir = Path(args.sweep).resolve()
        if not sweep_dir.is_dir():
            raise MarketsimError(f"viz --sweep {args.sweep}: no such folder (the --out of `marketsim sweep`)")
        env["MARKETSIM_SWEEP_DIR"] = str(sweep_dir)
    print(f"marketsim dashboard: http://{args.host}:{args.port}/  (Ctrl-C to stop)", flush=True)
    print(f"sweep explorer:      http://{args.host}:{args.port}/explorer", flush=True)
    solara = Path(sys.executable).with_name("solara")
    # offline by design: no version check against PyPI, no telemetry, no browser launch
    cmd = [str(solara), "run", str(app), "--host", args.host, "--port", str(args.port), "--production",
           "--no-open", "--no-check-version"]
    return subprocess.call(cmd, env=env)


def _add_sweep(sub) -> None:
    p = sub.add_parser("sweep", help="run a sweep file: many parameter points x replications, into DIR")
    p.add_argument("sweep_file", help="a sweep TOML file, or a shipped sweep name (experiments/sweeps/)")
    p.add_argument("--out", required=True, help="result folder (manifest.json, runs/industry/events.parquet)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="local worker processes (default: all cores; 1 = in-process)")
    where.add_argument("--dask", metavar="ADDRESS", help="send runs to a Dask scheduler, e.g. tcp://host:8786")
    where.add_argument("--dask-local", type=int, metavar="N", help="start a Dask LocalCluster with N workers")
    p.add_argument("--resume", action="store_true",
                   help="continue a killed or partial sweep in DIR (re-running into DIR does the same)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_sweep(args) -> int:
    from marketsim.experiments import sweep

    result = sweep(args.sweep_file, args.out, workers=args.workers, dask=args.dask, dask_local=args.dask_local,
                   resume=args.resume, progress=not args.quiet)
    done = result.ok + result.failed
    print(f"{result.out}: {result.n_runs} runs ({result.skipped} already done, {result.ok} ok, "
          f"{result.failed} failed, {result.lost} lost) on {result.executor} in {result.elapsed_s:.1f} s"
          + (f", {result.runs_per_second:.2f} runs/s" if done else ""))
    for line in result.lost_errors[:10]:
        print(f"  lost {line}", file=sys.stderr)
    if result.lost:
        print(f"marketsim: {result.lost} runs were lost by the executor; run again with --resume",
              file=sys.stderr)
        return 1
    return 0


def cmd_report(args) -> int:
    from marketsim.experiments.report import write_report

    try:
        report = write_report(args.results_dir, args.out)
    except (KeyError, ValueError) as exc:
        raise MarketsimError(f"report: {exc}") from None
    print(f"wrote {report.out_dir}/report.md and {len(report.paths) - 1} more files")
    for note in report.notes:
        print(f"  note: {note}")
    return 0


def cmd_validate(args) -> int:
    from marketsim import pivot, validation

    report = validation.validate(args.out, seeds=tuple(args.seeds), n_firms=args.firms)
    cases = pivot.pivot_study(seed=args.seeds[0], n_firms=args.firms)
    with open(report.out_dir / "report.md", "a") as fh:
        fh.write("\n" + pivot.render_markdown(cases))
    m = report.metrics
    print(f"in-sample hashrate MAPE {m['hashrate_in_sample']['mape']:.1%}, max error "
          f"{m['hashrate_in_sample']['max_ape']:.1%}; revenue MAPE {m['revenue']['out-of-sample']['mape']:.1e} "
          f"(out-of-sample); public miners' AI profit "
          + ", ".join(f"{c.name} ${c.mean_profit_after_capex_usd_per_year / 1e9:.2f}B/yr" for c in cases.values())
          + f" vs projected ${pivot.PROJECTED_PROFIT_USD_PER_YEAR / 1e9:.1f}B/yr")
    print(f"wrote {report.out_dir}/report.md, metrics.json and {len(report.figures)} figures")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="marketsim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    sub.add_parser("list", help="list the shipped scenarios")
    sub.add_parser("params", help="every scenario parameter with its default and range")
    _add_sweep(sub)
    rep = sub.add_parser("report", help="summary table, figures, Sobol indices and PRIM boxes of a sweep")
    rep.add_argument("results_dir", help="a folder written by `marketsim sweep`")
    rep.add_argument("--out", help="report folder (default: RESULTS_DIR/report)")
    val = sub.add_parser("validate", help="replay history and write the validation report")
    val.add_argument("--out", default="validation", help="report folder (default: ./validation)")
    val.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="seeds of the replays")
    val.add_argument("--firms", type=int, default=200, help="firms in each replay")
    v = sub.add_parser("viz", help="start the Solara dashboard")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, default=8765)
    v.add_argument("--sweep", metavar="DIR", help="a sweep result folder for the explorer page to open")
    return parser


COMMANDS = {"validate": cmd_validate, "run": cmd_run, "list": cmd_list, "params": cmd_params, "viz": cmd_viz,
            "sweep": cmd_sweep, "report": cmd_report}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except MarketsimError as exc:
        print(f"marketsim: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("marketsim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
