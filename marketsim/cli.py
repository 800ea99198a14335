"""Command line: ``marketsim run | list | params | sweep | report | validate | viz``.

Bad input (unknown scenario, parameter out of range, unreadable file) prints one clear message
naming the field and what is allowed, exits with status 2, and writes nothing. So does an OS
error (a read-only or full disk, a missing path) and a corrupt data file: one line, no
traceback; ``--debug`` (anywhere on the line) shows the traceback. Output folders are checked
before any long work starts (`marketsim.output`).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import traceback
from collections.abc import Sequence

from marketsim import process_setup
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


def _warn(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr)


def cmd_run(args) -> int:
    from marketsim import output
    from marketsim.runner import check_seed, inert_overrides, run
    from marketsim.scenario import load_scenario, parse_override
    from marketsim.summary import summarize

    process_setup.freeze_imports()  # this process is marketsim's: the libraries' objects out of the collector's walks

    seed = check_seed(0 if args.seed is None else args.seed, "--seed")
    overrides = dict(parse_override(text) for text in args.overrides)
    if args.months is not None:
        overrides["months"] = args.months
    if args.firms is not None:
        overrides["n_firms"] = args.firms
    scenario = load_scenario(args.scenario, **overrides)
    if args.out:  # refuse a path we must not replace before the run, not after it
        output.check_destination(args.out, "run")
        output.probe_writable(args.out)
    for line in inert_overrides(scenario, {k: v for k, v in overrides.items() if k != "n_firms"}):
        _warn(line)
    result = run(scenario, seed=seed, progress=False if args.quiet else None, check=args.check)
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
        allowed = row["range"]
        rng = f" [{allowed}]" if allowed else ""
        print(f"{row['name']:42s} {row['default']:>14s}{rng}  {row['description']}")
    return 0


def cmd_viz(args) -> int:
    """The dashboard: in a clone the source tree's viz/app.py (what the user edits), in an
    installed wheel the same files installed as the module ``marketsim.viz.app`` (pyproject.toml)."""
    import importlib.util
    import os
    import subprocess
    from pathlib import Path

    source = Path(__file__).resolve().parent.parent / "viz" / "app.py"
    if source.exists():
        app = str(source)
    elif importlib.util.find_spec("marketsim.viz") is not None:
        app = "marketsim.viz.app"
    else:
        raise MarketsimError(f"viz: the Solara app is neither at {source} nor installed as marketsim.viz")
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}
    if args.sweep:
        sweep_dir = Path(args.sweep).resolve()
        if not sweep_dir.is_dir():
            raise MarketsimError(f"viz --sweep {args.sweep}: no such folder (the --out of `marketsim sweep`)")
        env["MARKETSIM_SWEEP_DIR"] = str(sweep_dir)
    print(f"marketsim dashboard: http://{args.host}:{args.port}/  (Ctrl-C to stop)", flush=True)
    print(f"sweep explorer:      http://{args.host}:{args.port}/explorer", flush=True)
    # offline by design: no version check against PyPI, no telemetry, no browser launch
    cmd = [sys.executable, "-m", "solara", "run", app, "--host", args.host, "--port", str(args.port), "--production",
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
    import marketsim.runner  # noqa: F401 (runs go in this process with --workers 1: imported before the freeze)

    process_setup.freeze_imports()

    result = sweep(args.sweep_file, args.out, workers=args.workers, dask=args.dask, dask_local=args.dask_local,
                   resume=args.resume, progress=None if not args.quiet else False)
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
    from marketsim import output
    from marketsim.experiments.report import write_report

    if args.out is not None:
        output.check_destination(args.out, "report")
    try:
        report = write_report(args.results_dir, args.out)
    except (KeyError, ValueError) as exc:
        raise MarketsimError(f"report: {exc}") from None
    print(f"wrote {report.out_dir}/report.md and {len(report.paths) - 1} more files")
    for note in report.notes:
        print(f"  note: {note}")
    return 0


def cmd_validate(args) -> int:
    from marketsim import output, pivot, validation
    from marketsim.runner import check_seed

    process_setup.freeze_imports()

    for seed in args.seeds:
        check_seed(seed, "--seeds")
    if args.firms < 1:
        raise MarketsimError(f"--firms {args.firms}: expected a whole number >= 1")
    output.check_destination(args.out, "validation")
    output.probe_writable(args.out)
    cases = {}

    def appendix() -> str:
        means, by_seed = pivot.pivot_studies(args.seeds, n_firms=args.firms)
        cases.update(means)
        return "\n" + pivot.render_markdown(cases, by_seed)

    if args.workers < 1:
        raise MarketsimError(f"--workers {args.workers}: expected a whole number >= 1")
    report = validation.validate(args.out, seeds=tuple(args.seeds), n_firms=args.firms, appendix=appendix,
                                 workers=args.workers)
    m = report.metrics
    print(f"in-sample hashrate MAPE {m['hashrate_in_sample']['mape']:.1%}, max error "
          f"{m['hashrate_in_sample']['max_ape']:.1%}, end-2022 fleet {m['fleet_in_sample_end']['j_per_th']:.1f} J/TH "
          f"(survey ~{m['fleet_in_sample_end']['survey_j_per_th']:.0f}); revenue MAPE {m['revenue']['out-of-sample']['mape']:.1e} "
          f"(out-of-sample); public miners' AI profit (NOI less forgone mining, as report.md's table) "
          + ", ".join(f"{c.name} ${c.mean_profit_usd_per_year / 1e9:.2f}B/yr (NPV with capex ${c.npv_usd / 1e9:.1f}B)"
                      for c in cases.values())
          + f" vs projected ${pivot.PROJECTED_PROFIT_USD_PER_YEAR / 1e9:.1f}B/yr (NPV ${pivot.PROJECTED_NPV_USD / 1e9:.1f}B)")
    print(f"wrote {report.out_dir}/report.md, metrics.json and {len(report.figures)} figures")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="marketsim", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error (may also follow the command)")
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
    val.add_argument("--workers", type=int, default=1,
                     help="worker processes for the replays, as for a sweep (default 1: in this process)")
    v = sub.add_parser("viz", help="start the Solara dashboard")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, default=8765)
    v.add_argument("--sweep", metavar="DIR", help="a sweep result folder for the explorer page to open")
    return parser


COMMANDS = {"validate": cmd_validate, "run": cmd_run, "list": cmd_list, "params": cmd_params, "viz": cmd_viz,
            "sweep": cmd_sweep, "report": cmd_report}


def describe_os_error(exc: OSError) -> str:
    """``/path: No space left on device``: the path and the reason, without Python's noise."""
    from marketsim.output import os_reason

    where = exc.filename if exc.filename is not None else None
    if exc.filename2 is not None:
        where = f"{exc.filename} -> {exc.filename2}"
    reason = os_reason(exc)
    return f"{where}: {reason}" if where else reason


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a job scheduler's stop) turned into the same unwinding as Ctrl-C."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def _on_sigterm_unwind():
    """Python's default SIGTERM ends the process on the spot: a sweep's worker pool is then
    orphaned and keeps computing runs nobody collects. Raising instead lets every ``with`` block
    close (the pool cancels what has not started and its workers exit; finished runs stay in the
    store for ``--resume``). Returns the handler to put back (None off the main thread, where
    no handler may be set: tests call ``main`` from others)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    args = build_parser().parse_args(argv)
    previous = _on_sigterm_unwind()
    try:
        return COMMANDS[args.command](args)
    except Terminated:
        print("marketsim: terminated (SIGTERM); finished work is kept", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("marketsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `marketsim run ... | head`: the reader left; nothing more to say
        _silence_stdout()
        return 0
    except Exception as exc:
        if debug:
            traceback.print_exc()
        code, message = _classify(exc)
        print(f"marketsim: {message}", file=sys.stderr)
        if code != 2 and not debug:
            print("marketsim: this looks like a bug; run again with --debug for the traceback and report it",
                  file=sys.stderr)
        return code
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's exit flush does not raise BrokenPipeError again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pytest's captured stdout has no file descriptor
        pass


def _classify(exc: Exception) -> tuple[int, str]:
    """Exit status and message: 2 for the user's input and the OS (fixable by the user), 1 for a bug."""
    if isinstance(exc, MarketsimError):
        return 2, " ".join(line.strip() for line in str(exc).splitlines() if line.strip())  # one line
    if isinstance(exc, OSError):
        return 2, describe_os_error(exc)
    try:
        import pyarrow as pa

        if isinstance(exc, pa.ArrowException):
            return 2, f"a Parquet file is corrupt or truncated ({' '.join(str(exc).split())})"
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pass
    return 1, f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}"


if __name__ == "__main__":
    raise SystemExit(main())
