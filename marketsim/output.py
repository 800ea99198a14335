"""Output folders: the one writer that publishes a folder of results, and the rule for what it may replace.

Every command that writes a folder (``run --out``, ``sweep``, ``report``, ``validate``) goes
through here, so one rule protects a user's files everywhere:

* a path that does not exist, or an empty folder, is free;
* an existing folder is replaced only when its marker file (``.marketsim-output``: kind,
  package version, date) shows marketsim wrote it, and only by output of the same kind (a run
  never replaces a sweep's store);
* anything else is refused *before* any work starts, with one line naming the path and why:
  a folder without the marker, a file, a path under a file, the current folder, the
  repository's ``experiments/`` folder or one of its parents, a folder we cannot write in.

Why a marker and not "looks like our output": a folder that happens to contain a
``report.md`` may be the user's own; the marker is written only by `publish`, so its presence
is evidence, not a guess.

Publishing is atomic: the files are written into a temporary sibling folder (same file system,
so the final step is a ``rename``), the marker is added last, then an existing output is moved
aside, the new one renamed into place, and only then is the old one removed. A crash at any
point leaves either the old output or the new one at the path, never a half-written mix, and a
failed write removes its temporary folder. Temporary folders get the normal permissions of a
new folder (``mkdir`` under the user's umask), not the 0700 of ``tempfile.mkdtemp``.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from marketsim.errors import MarketsimError
from marketsim.version import __version__

MARKER = ".marketsim-output"
KINDS = ("run", "sweep", "report", "validation")
REPO_ROOT = Path(__file__).resolve().parent.parent
PROTECTED = (REPO_ROOT / "experiments", REPO_ROOT / "marketsim", REPO_ROOT / "tests", REPO_ROOT / "docs")


class OutputError(MarketsimError, ValueError):
    """An output path that marketsim must not write to (exit status 2 on the command line)."""


def read_marker(folder: str | Path) -> dict[str, Any] | None:
    """The marker of a folder marketsim wrote, or None (no marker, or not one of ours)."""
    path = Path(folder) / MARKER
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("written_by") != "marketsim" or data.get("kind") not in KINDS:
        return None
    return data


def marker_text(kind: str) -> str:
    data = {"written_by": "marketsim", "kind": kind, "package_version": __version__,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    return json.dumps(data, indent=1) + "\n"


def write_marker(folder: str | Path, kind: str) -> None:
    (Path(folder) / MARKER).write_text(marker_text(kind), encoding="utf-8")


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor or ".")


def _protected_reason(resolved: Path) -> str | None:
    if resolved == Path.cwd().resolve():
        return "is the current folder"
    if resolved == Path.home().resolve() or resolved == Path(resolved.anchor):
        return "is your home folder or the file-system root"
    for protected in PROTECTED:
        if resolved == protected or resolved in protected.parents:
            return "holds marketsim's own files (scenarios, code or docs)"
    return None


def destination_problem(path: str | Path, kind: str) -> str | None:
    """Why ``path`` may not receive an output of ``kind`` (None: it may). Pure check, writes nothing."""
    if kind not in KINDS:
        raise ValueError(f"output kind {kind!r}: expected one of {KINDS}")
    if str(path).strip() == "":
        return "is empty"
    p = Path(path)
    try:
        resolved = p.resolve()
    except (OSError, RuntimeError) as exc:  # symlink loops
        return f"cannot be resolved ({exc})"
    reason = _protected_reason(resolved)
    if reason:
        return reason
    existing = _nearest_existing(resolved)
    if existing != resolved:
        if not existing.is_dir():
            return f"is under {existing}, which is a file, not a folder"
        return None if os.access(existing, os.W_OK | os.X_OK) else f"cannot be created: no write permission in {existing}"
    if not resolved.is_dir():
        return "is a file, not a folder"
    if not os.access(resolved.parent, os.W_OK | os.X_OK):
        return f"cannot be replaced: no write permission in {resolved.parent}"
    try:
        empty = not any(resolved.iterdir())
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if empty:
        return None
    marker = read_marker(resolved)
    if marker is None:
        return f"exists and was not written by marketsim (no {MARKER} marker); choose another folder"
    if marker["kind"] != kind:
        return f"holds a marketsim {marker['kind']} output, not a {kind} output; choose another folder"
    return None


def check_destination(path: str | Path, kind: str, *, what: str = "--out") -> Path:
    """``path`` as a Path if an output of ``kind`` may be written there, else `OutputError` (one line)."""
    problem = destination_problem(path, kind)
    if problem:
        raise OutputError(f"{what} {path}: {problem}")
    return Path(path)


def probe_writable(path: str | Path, *, what: str = "--out") -> None:
    """Create and remove a temporary folder next to ``path``: catch a read-only disk or a full one
    before a long run, where ``os.access`` cannot see them (it says yes to root everywhere)."""
    parent = Path(path).resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = parent / f".{Path(path).name}.probe-{uuid.uuid4().hex[:8]}"
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        raise OutputError(f"{what} {path}: cannot write there ({os_reason(exc)})") from None


def os_reason(exc: OSError) -> str:
    """A short reason for an OS error, e.g. 'No space left on device'."""
    if exc.strerror:
        return exc.strerror
    if exc.errno is not None:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__


def new_folder(parent: Path, prefix: str) -> Path:
    """A fresh folder with normal permissions (umask applies), unlike ``tempfile.mkdtemp``'s 0700."""
    for _ in range(100):
        candidate = parent / f"{prefix}{uuid.uuid4().hex[:10]}"
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "could not create a temporary folder", str(parent))


@contextmanager
def staged(path: str | Path, kind: str, *, what: str = "--out") -> Iterator[Path]:
    """Write an output folder atomically: yield a temporary sibling, publish it when the block ends.

    ``with staged("out/run1", "run") as tmp: frame.to_parquet(tmp / "x.parquet")``. The
    destination is checked first (`check_destination`); an exception inside the block removes
    the temporary folder and leaves the destination as it was.
    """
    out = check_destination(path, kind, what=what)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = new_folder(out.parent, f".{out.name}.partial-")
    try:
        yield tmp
        write_marker(tmp, kind)
        publish(tmp, out, kind, what=what)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def publish(tmp: Path, out: Path, kind: str, *, what: str = "--out") -> None:
    """Swap the finished folder ``tmp`` in at ``out``; the old output goes only once the new one is in place."""
    check_destination(out, kind, what=what)  # again: something may have appeared during the run
    if not out.is_dir():
        os.replace(tmp, out)
        return
    if not any(out.iterdir()):
        out.rmdir()
        os.replace(tmp, out)
        return
    old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:10]}"
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
