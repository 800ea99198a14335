"""Regenerate the parameter and column tables in README.md from their one declaration.

Run `python tools/gen_docs.py` after changing a parameter or an output column; a test fails
while README.md is out of date.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from marketsim.metrics import COLUMN_DOCS  # noqa: E402
from marketsim.scenario import parameter_table  # noqa: E402


def params_markdown() -> str:
    lines = ["| parameter | default | allowed | meaning |", "|---|---|---|---|"]
    for row in parameter_table():
        lines.append(f"| `{row['name']}` | `{row['default']}` | {row['range']} | {row['description']} |")
    return "\n".join(lines)


def columns_markdown() -> str:
    lines = ["| column | meaning |", "|---|---|"]
    lines += [f"| `{name}` | {doc} |" for name, doc in COLUMN_DOCS.items()]
    return "\n".join(lines)


def render(readme: str) -> str:
    for tag, body in (("PARAMS", params_markdown()), ("COLUMNS", columns_markdown())):
        readme = re.sub(
            rf"<!-- {tag}:START -->.*?<!-- {tag}:END -->",
            lambda _m, tag=tag, body=body: f"<!-- {tag}:START -->\n{body}\n<!-- {tag}:END -->",
            readme,
            flags=re.S,
        )
    return readme


if __name__ == "__main__":
    path = ROOT / "README.md"
    path.write_text(render(path.read_text()))
    print(f"updated {path}")
