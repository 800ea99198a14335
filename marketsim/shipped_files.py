"""Where the shipped scenario and sweep files are: in a clone, and in an installed package.

Users read and copy the shipped TOML files in the repository's ``experiments/`` folder, so they
stay there. A wheel installed without ``-e`` (a pip user, a container, a Dask worker on another
machine) has no source tree, so the build also installs that folder inside the package as
``marketsim/shipped/`` (``pyproject.toml``: ``package-dir`` maps ``marketsim.shipped`` to
``experiments``). This module is the one place that knows both locations; everything else asks it.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
INSTALLED_DIR = PACKAGE_DIR / "shipped"  # present in an installed wheel
SOURCE_TREE_DIR = PACKAGE_DIR.parent / "experiments"  # present in a clone (editable install)


def shipped_dir() -> Path:
    """The folder holding the shipped scenarios (``*.toml``), ``sweeps/`` and ``calibration/``.

    The installed copy wins when it exists: in a clone it does not, and the clone's
    ``experiments/`` is what the user edits and expects to run.
    """
    return INSTALLED_DIR if INSTALLED_DIR.is_dir() else SOURCE_TREE_DIR
