"""What the benchmarks share: the machine line, medians, and a markdown table written beside the print.

Figures are printed, never asserted: wall-clock limits in tests only make CI flaky. The machine
is usually shared, so the tables quote medians, and CPU seconds (``time.process_time``) beside
wall seconds: CPU time does not count the time this process waited for a core.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on every platform
        return "n/a"


def machine_line() -> str:
    return (f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · {os.cpu_count()} cores (nproc) · {cpu_model()} · "
            f"Python {platform.python_version()} · load average at the end {load_average()} (1/5/15 min)")


def median(values) -> float:
    return statistics.median(values)


def markdown(title: str, header: list[str], rows: list[list[str]], notes: str = "") -> str:
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + ("\n\n" + notes if notes else "") + "\n"


def plain(cells: list[str], width: int = 13) -> str:
    """One fixed-width text row (the first column wider), so rows printed as they come line up."""
    return cells[0].ljust(30) + "".join(c.rjust(width) for c in cells[1:])


def write_section(name: str, text: str) -> Path:
    """``results/<name>.md``: one benchmark's latest table; ``latest.md`` joins them (see ``latest.py``)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.md"
    path.write_text(text)
    return path


def size_args(doc: str, default_firms: list[int], repeat_help: str) -> argparse.Namespace:
    """The command line of a benchmark measured per population size: ``--firms``, ``--months``,
    ``--repeat``, and the hidden ``--child`` that measures one size in a process of its own."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--firms", type=int, nargs="+", default=default_firms)
    parser.add_argument("--months", type=int, default=120)
    parser.add_argument("--repeat", type=int, help=repeat_help)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def child_result(script: str, n_firms: int, months: int, repeat: int) -> dict:
    """``script --child`` for one size in a fresh process (its memory and caches its own), read
    back from the JSON it prints."""
    cmd = [sys.executable, script, "--child", "--firms", str(n_firms), "--months", str(months), "--repeat", str(repeat)]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
