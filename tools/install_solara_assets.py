"""Put Solara's browser assets where its CDN proxy looks for them, so the dashboard loads offline.

Run with the venv's interpreter after `pip install` (the Makefile does this):

    .venv/bin/python tools/install_solara_assets.py

`solara run` serves the page's front end (the Vue app bundle, require.js, font-awesome) through
its CDN proxy at `/_solara/cdn/<npm package>@<version>/<file>`. The proxy first looks in
`<sys.prefix>/share/solara/cdn/<npm package>@<version>/<file>` and only fetches from
cdn.jsdelivr.net on a miss, so without this step the page stays on "Loading app" offline.

This script reads the npm packages and versions the installed Solara actually asks for from its
page template (`solara/server/templates/solara.html.j2`) and settings, fetches each one with
`npm pack` (install time: the npm registry is reachable then) and unpacks the whole package
there, which is the same file tree jsdelivr serves. Idempotent: a package whose referenced files
are all present is skipped. Exits non-zero with a message if npm is missing or a pack fails.
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

# `{{cdn}}` followed by the rest of the URL in the template, e.g.
#   {{cdn}}/@widgetti/solara-vuetify-app@10.1.1/dist/main{{ipywidget_major_version}}.css
#   {{cdn}}/requirejs@2.3.6/require.js
#   {{cdn}}{{assets.fontawesome_path}}
CDN_REF = re.compile(r"""\{\{\s*cdn\s*\}\}((?:[^"'\s{]|\{\{[^}]*\}\})+)""")
# <package>@<exact version>/<file>, the package possibly scoped (@scope/name)
PKG_PATH = re.compile(r"^/?((?:@[^/@]+/)?[^/@]+)@(\d+\.\d+\.\d+(?:[-+][\w.]+)?)/(.+)$")


def fail(msg: str) -> "None":
    print(f"install_solara_assets: ERROR: {msg}", file=sys.stderr)
    sys.exit(1)


def major(dist: str) -> int | None:
    try:
        return int(importlib.metadata.version(dist).split(".")[0])
    except importlib.metadata.PackageNotFoundError:
        return None


def needed_files() -> tuple[str, Path, dict[tuple[str, str], list[str]]]:
    """(solara version, proxy cache dir, {(npm package, version): [file paths in the package]})."""
    try:
        import solara
        import solara.server.settings as server_settings
    except ImportError as e:
        fail(f"solara is not installed in this interpreter ({sys.executable}): {e}")

    template = Path(solara.__file__).parent / "server" / "templates" / "solara.html.j2"
    if not template.is_file():
        fail(f"Solara page template not found at {template}; this Solara version is not supported")
    text = template.read_text(encoding="utf-8")

    widgets_major = major("ipywidgets")
    if widgets_major is None:
        fail("ipywidgets is not installed")
    vue3 = (major("ipyvue") or 0) >= 3  # the template's `vue3` switch (solara/server/server.py)
    assets = server_settings.assets
    substitutions = {
        "ipywidget_major_version": str(widgets_major),
        "assets.fontawesome_path": assets.fontawesome_path,
    }

    def substitute(m: re.Match) -> str:
        key = m.group(1).strip()
        if key not in substitutions:
            fail(f"unknown template variable {{{{{key}}}}} in a CDN URL of {template}")
        return substitutions[key]

    files: dict[tuple[str, str], list[str]] = {}
    for ref in CDN_REF.findall(text):
        url = re.sub(r"\{\{([^}]*)\}\}", substitute, ref)
        m = PKG_PATH.match(url)
        if not m:
            fail(f"cannot parse CDN URL {url!r} from {template} as <package>@<version>/<file>")
        package, version, path = m.groups()
        # The template has a Vue 2 branch (solara-vuetify-app) and a Vue 3 branch
        # (solara-vuetify3-app); only the one for the installed ipyvue is ever served.
        if (package.endswith("/solara-vuetify3-app") and not vue3) or (package.endswith("/solara-vuetify-app") and vue3):
            continue
        files.setdefault((package, version), [])
        if path not in files[(package, version)]:
            files[(package, version)].append(path)
    if not files:
        fail(f"no CDN URLs found in {template}; this Solara version is not supported")
    return solara.__version__, Path(assets.proxy_cache_dir), files


def npm_pack(npm: str, spec: str, workdir: Path) -> Path:
    try:
        proc = subprocess.run(
            [npm, "pack", spec, "--silent", "--pack-destination", str(workdir)],
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


def main() -> int:
    solara_version, cache_dir, files = needed_files()
    print(f"install_solara_assets: solara {solara_version}, CDN proxy cache {cache_dir}")
    todo = []
    for (package, version), paths in files.items():
        dest = cache_dir / f"{package}@{version}"
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
        missing = [p for p in paths if not (dest / p).is_file()]
        if missing:
            fail(f"{spec} was unpacked to {dest} but lacks {', '.join(missing)}")
        print(f"  {spec}: installed to {dest} ({', '.join(paths)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
