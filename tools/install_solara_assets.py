"""Put Solara's browser assets where its CDN proxy looks for them, so the dashboard loads offline.

Run with the venv's interpreter after `pip install` (the Makefile does this):

    .venv/bin/python tools/install_solara_assets.py

`solara run` serves the browser side through its CDN proxy at
`/_solara/cdn/<npm package>@<version>/<file>`: the page's Vue app bundle, fonts, require.js and
font-awesome, and, loaded later by widgets, vue-grid-layout (solara.GridDraggable, which Mesa's
SolaraViz always uses), vega/vega-lite/vega-embed (solara.FigureAltair) and katex/mermaid
(solara.Markdown). The proxy first looks in
`<sys.prefix>/share/solara/cdn/<npm package>@<version>/<file>` and only fetches from
cdn.jsdelivr.net on a miss, so without this step the page stays on "Loading app" offline (and
Mesa's plot grid stays empty). Solara's Jupyter server extension serves the same directory.

This script reads the npm packages and versions the installed Solara asks for from its page
template (`solara/server/templates/solara.html.j2`), settings and widget sources, fetches each
one with `npm pack` (install time: the npm registry is reachable then) and unpacks the whole
package there, the same file tree jsdelivr serves. Idempotent: a package whose referenced files
are all present is skipped. Exits non-zero with a message if npm is missing or a pack fails.

The dashboard's charts need no npm package: Plotly's widget (plotly.js included) is in the plotly
wheel and reaches the page through anywidget, whose front end the anywidget wheel installs as a
notebook extension (``<prefix>/share/jupyter/nbextensions/anywidget``) that Solara serves itself.
``check_widget_frontends`` fails the set-up when either is missing, rather than leaving blank
charts in the browser.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import NoReturn

# How Solara's sources spell "the CDN root", followed by the rest of the URL, e.g.
#   {{cdn}}/@widgetti/solara-vuetify-app@10.1.1/dist/main{{ipywidget_major_version}}.css   (page template)
#   {{cdn}}{{assets.fontawesome_path}}                                                  (page template)
#   ${this.getCdn()}/@widgetti/vue-grid-layout@2.3.13-alpha.2/dist/vue-grid-layout.umd.js  (Vue widgets)
CDN_REFS = [
    re.compile(r"""\{\{\s*cdn\s*\}\}((?:[^"'`\s{]|\{\{[^}]*\}\})+)"""),
    re.compile(r"""\$\{this\.getCdn\(\)\}(/[^"'`\s$]+)"""),
]
# <package>@<version>/<file>, the package possibly scoped (@scope/name); the version is exact
# (10.1.1, 2.3.13-alpha.2) or a major-only range (vega@5), which jsdelivr and `npm pack` both
# resolve to the newest match. URLs built from runtime variables (echarts@${version}) are skipped.
PKG_PATH = re.compile(r"^/((?:@[^/@]+/)?[^/@]+)@(\d+(?:\.\d+){0,2}(?:-[\w.]+)?)/(.+)$")
# Solara sources that reference CDN assets, relative to the solara package: the page template
# (app bundle, fonts, require.js, font-awesome), the Vue widgets (solara.GridDraggable, which
# Mesa's SolaraViz uses for its component grid, and solara.FigureAltair -> vega) and
# solara.Markdown (katex, mermaid; Mesa's CommandConsole uses it).
SOURCE_GLOBS = ["server/templates/*.j2", "widgets/vue/*.vue", "components/*.vue", "components/*.py"]


def fail(msg: str) -> NoReturn:
    print(f"install_solara_assets: ERROR: {msg}", file=sys.stderr)
    sys.exit(1)


def major(dist: str) -> int | None:
    try:
        return int(importlib.metadata.version(dist).split(".")[0])
    except importlib.metadata.PackageNotFoundError:
        return None


def needed_files() -> tuple[str, Path, dict[tuple[str, str], list[str]], list[str]]:
    """(solara version, proxy cache dir, {(npm package, version): [file paths]}, skipped URLs)."""
    try:
        import solara
        import solara.server.settings as server_settings
    except ImportError as e:
        fail(f"solara is not installed in this interpreter ({sys.executable}): {e}")

    root = Path(solara.__file__).parent
    template = root / "server" / "templates" / "solara.html.j2"
    if not template.is_file():
        fail(f"Solara page template not found at {template}; this Solara version is not supported")

    widgets_major = major("ipywidgets")
    if widgets_major is None:
        fail("ipywidgets is not installed")
    vue3 = (major("ipyvue") or 0) >= 3  # the template's `vue3` switch (solara/server/server.py)
    assets = server_settings.assets
    substitutions = {
        "ipywidget_major_version": str(widgets_major),
        "assets.fontawesome_path": assets.fontawesome_path,
    }

    files: dict[tuple[str, str], list[str]] = {}
    skipped: set[str] = set()
    for source in sorted({p for pattern in SOURCE_GLOBS for p in root.glob(pattern)}):
        text = source.read_text(encoding="utf-8", errors="replace")
        for regex in CDN_REFS:
            for ref in regex.findall(text):
                unknown = [k.strip() for k in re.findall(r"\{\{([^}]*)\}\}", ref) if k.strip() not in substitutions]
                if unknown:
                    fail(f"unknown template variable(s) {unknown} in CDN URL {ref!r} of {source}")
                url = re.sub(r"\{\{([^}]*)\}\}", lambda m: substitutions[m.group(1).strip()], ref)
                m = PKG_PATH.match(url)
                if not m:
                    skipped.add(f"{source.relative_to(root)}: {url}")
                    continue
                package, version, path = m.groups()
                # The template has a Vue 2 branch (solara-vuetify-app) and a Vue 3 branch
                # (solara-vuetify3-app); only the one matching the installed ipyvue is served.
                if (package.endswith("/solara-vuetify3-app") and not vue3) or (package.endswith("/solara-vuetify-app") and vue3):
                    continue
                paths = files.setdefault((package, version), [])
                if path not in paths:
                    paths.append(path)
    if not any("/solara-vuetify" in package for package, _ in files):
        fail(f"found no Solara app bundle URL in {template}; this Solara version is not supported")
    return solara.__version__, Path(assets.proxy_cache_dir), files, sorted(skipped)


def npm_pack(npm: str, spec: str, workdir: Path) -> Path:
    try:
        proc = subprocess.run(
            [npm, "pack", spec, "--silent"],  # writes the tarball into cwd
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired:
        fail(f"`npm pack {spec}` timed out after 600 s")
    tarballs = sorted(workdir.glob("*.tgz"))
    if proc.returncode != 0 or len(tarballs) != 1:
        fail(
            f"`npm pack {spec}` failed (exit {proc.returncode}); is the npm registry reachable?\n"
            f"{proc.stdout}{proc.stderr}".rstrip()
        )
    return tarballs[0]


def unpack(tarball: Path, dest: Path) -> None:
    """Unpack the tarball's `package/` tree into dest, atomically (staging dir + rename)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            members = []
            for member in tar.getmembers():
                name = member.name.lstrip("./")
                if not name.startswith("package/") or not (member.isfile() or member.isdir()):
                    continue
                rel = name[len("package/") :]
                if not rel or rel.startswith("/") or ".." in Path(rel).parts:
                    continue
                member.name = rel
                members.append(member)
            tar.extractall(staging, members=members, filter="data")
        for p in [staging, *staging.rglob("*")]:  # npm tarballs can carry odd modes
            p.chmod(0o755 if p.is_dir() else 0o644)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def add_minified_aliases(dest: Path, paths: list[str]) -> None:
    """jsdelivr serves `x.min.js` / `x.min.css` for any `x.js` / `x.css` by minifying on the fly,
    and Solara relies on that (solara.Markdown loads `requirejs@2.3.6/require.min.js`, a file the
    npm package lacks). Serve the unminified file under the .min name instead."""
    for path in paths:
        target = dest / path
        m = re.fullmatch(r"(.+)\.min\.(js|css)", path)
        if m and not target.exists():
            original = dest / f"{m.group(1)}.{m.group(2)}"
            if original.is_file():
                shutil.copyfile(original, target)
                target.chmod(0o644)


# (pip distribution, file that must exist under sys.prefix or in the package): the charts' front ends
WIDGET_FRONTENDS = [("anywidget", "share/jupyter/nbextensions/anywidget/index.js"),
                    ("plotly", "plotly/package_data/widgetbundle.js")]


def check_widget_frontends() -> None:
    """The JavaScript of the chart widgets is installed (by their wheels) where it is served from."""
    for dist, rel in WIDGET_FRONTENDS:
        if major(dist) is None:
            fail(f"{dist} is not installed; the dashboard's charts need it (pip install -e .)")
        here = Path(sys.prefix) / rel
        if rel.startswith("share/"):
            found = here.is_file()
        else:
            found = any((Path(p) / rel).is_file() for p in sys.path if p)
        if not found:
            fail(f"{dist}: its browser code {rel} is missing; reinstall it (pip install --force-reinstall {dist})")
        print(f"  {dist}: browser code present ({rel})")


def main() -> int:
    check_widget_frontends()
    solara_version, cache_dir, files, skipped = needed_files()
    print(f"install_solara_assets: solara {solara_version}, CDN proxy cache {cache_dir}")
    if skipped:
        print("  not installed (version chosen at run time): " + ", ".join(skipped))
    todo = []
    for (package, version), paths in files.items():
        dest = cache_dir / f"{package}@{version}"
        if dest.is_dir():
            add_minified_aliases(dest, paths)
        missing = [p for p in paths if not (dest / p).is_file()]
        if missing:
            todo.append((package, version, dest, paths))
        else:
            print(f"  {package}@{version}: already present")
    if not todo:
        return 0

    npm = shutil.which("npm")
    if npm is None:
        fail(
            "npm is not installed, but it is needed once to fetch Solara's browser bundle "
            "(e.g. `apt-get install npm`); without it the dashboard cannot load offline"
        )
    for package, version, dest, paths in todo:
        spec = f"{package}@{version}"
        with tempfile.TemporaryDirectory(prefix="solara-assets-") as tmp:
            tarball = npm_pack(npm, spec, Path(tmp))
            unpack(tarball, dest)
        add_minified_aliases(dest, paths)
        missing = [p for p in paths if not (dest / p).is_file()]
        if missing:
            fail(f"{spec} was unpacked to {dest} but lacks {', '.join(missing)}")
        print(f"  {spec}: installed to {dest} ({', '.join(paths)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
