"""Join the benchmarks' latest tables into ``benchmarks/results/latest.md``, with the date and the machine.

    .venv/bin/python benchmarks/latest.py        (``make bench`` runs it after the benchmarks)
"""

from __future__ import annotations

from tables import RESULTS, machine_line

SECTIONS = ["model", "fixed_step", "sweep", "study"]


def main() -> None:
    parts = [f"# Latest benchmark figures\n\n{machine_line()}\n"]
    for name in SECTIONS:
        path = RESULTS / f"{name}.md"
        parts.append(path.read_text() if path.exists() else f"### {name}\n\n(not run: `benchmarks/bench_{name}.py`)\n")
    out = RESULTS / "latest.md"
    out.write_text("\n".join(parts))
    print(out.read_text())
    print(f"(written to {out})")


if __name__ == "__main__":
    main()
