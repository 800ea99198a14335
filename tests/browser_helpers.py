"""Helpers for browser tests of the Solara dashboard (not a test module itself).

Everything runs offline: the browser is Debian's /usr/bin/chromium (installed with apt-get when
missing, never downloaded by Playwright), and `solara run` serves Solara's front end from the
venv's CDN proxy cache that tools/install_solara_assets.py fills at setup time.

Typical use::

    from playwright.sync_api import sync_playwright
    from browser_helpers import RequestLog, ensure_chromium, free_port, launch_browser, solara_server
    # (tests/ has no __init__.py; pytest's default import mode puts tests/ on sys.path)

    ensure_chromium()
    port = free_port()
    with solara_server(app_path, port) as url, sync_playwright() as pw:
        browser = launch_browser(pw)
        page = browser.new_page()
        requests = RequestLog(page)  # attach before goto
        page.goto(url + "/")
        page.get_by_role("button", name="Step").wait_for(timeout=60_000)
        ...
        assert requests.external == [] and requests.failed == []
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Debian's chromium still resolves accounts.google.com, update.googleapis.com and
    # content-autofill.googleapis.com in the background despite the flags above (seen with
    # strace); resolve nothing but the local server, so the browser cannot reach the internet.
    # Page requests to other hosts are still reported by RequestLog (as external and failed).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]
# `solara run` lives next to the interpreter running the tests (the project's venv).
SOLARA = str(Path(sys.executable).with_name("solara"))


def ensure_chromium() -> str:
    """Return the path of Debian's chromium, installing it with apt-get if it is missing.

    Calls pytest.fail (with the apt-get output) when it is missing and cannot be installed.
    """
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    if shutil.which("apt-get") is None:
        pytest.fail(f"{CHROMIUM} is missing and apt-get is unavailable; install Chromium (Debian package `chromium`)")
    if os.geteuid() != 0:
        pytest.fail(f"{CHROMIUM} is missing; install it with `sudo apt-get install chromium` (tests are not root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log = []
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        log.append(f"$ {' '.join(cmd)} (exit {proc.returncode})\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        if proc.returncode != 0:
            break
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing and `apt-get install chromium` did not provide it:\n" + "\n".join(log))
    return CHROMIUM


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_local_url(url: str) -> bool:
    """True for requests that stay on this machine (the Solara server, data: and blob: URLs)."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "chrome", "chrome-extension"):
        return True
    return parts.hostname in ("127.0.0.1", "localhost", "::1")


class RequestLog:
    """Records what a Playwright page fetches: `external` (any request leaving this machine)
    and `failed` ((url, status or error) for network failures and HTTP responses >= 400)."""

    def __init__(self, page) -> None:
        self.urls: list[str] = []
        self.external: list[str] = []
        self.failed: list[tuple[str, object]] = []
        page.on("request", self._on_request)
        page.on("requestfailed", lambda r: self.failed.append((r.url, r.failure)))
        page.on("response", lambda r: self.failed.append((r.url, r.status)) if r.status >= 400 else None)

    def _on_request(self, request) -> None:
        self.urls.append(request.url)
        if not is_local_url(request.url):
            self.external.append(request.url)


def _tail(path: Path, limit: int = 6000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "<no output>"
    return text[-limit:] or "<no output>"


@contextlib.contextmanager
def solara_server(
    app_path: str | os.PathLike,
    port: int,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
    extra_args: tuple[str, ...] = (),
    cwd: str | os.PathLike | None = None,
) -> Iterator[str]:
    """Run `solara run <app_path>` on 127.0.0.1:<port> in production mode; yield its base URL.
    ``cwd``: the server's working folder (default: the app's), against which relative paths the
    page is given resolve.

    The server runs in its own process group, which is killed on exit. If it does not answer
    HTTP within `timeout` seconds (or exits early), pytest.fail reports the server's output.
    `env` entries are added to (and override) the current environment.
    """
    full_env = {
        **os.environ,
        # no server-side telemetry call-outs (api.ipify.org, api.mixpanel.com at start)
        "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
        # The CDN proxy fetches files missing from <venv>/share/solara/cdn from this URL.
        # Point it at a closed local port so a missing asset fails (a 404 in the browser,
        # see RequestLog.failed) instead of silently coming from the internet when online.
        "SOLARA_ASSETS_CDN": "http://127.0.0.1:9/npm/",
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    cmd = [
        SOLARA, "run", str(app_path),
        "--host", "127.0.0.1", "--port", str(port),
        "--production", "--no-open",
        # otherwise `solara run` synchronously asks pypi.org for the latest version at start
        "--no-check-version",
        *extra_args,
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with tempfile.NamedTemporaryFile(prefix="solara-server-", suffix=".log", delete=False) as log:
        log_path = Path(log.name)
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=str(Path(cwd) if cwd is not None else Path(app_path).resolve().parent),
            start_new_session=True,  # own process group, so all its children die with it
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f"`{' '.join(cmd)}` exited with code {proc.returncode} before serving:\n{_tail(log_path)}")
            try:
                with urllib.request.urlopen(f"{url}/", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"`{' '.join(cmd)}` did not answer on {url} within {timeout:.0f} s:\n{_tail(log_path)}")
            time.sleep(0.25)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log_path.unlink(missing_ok=True)


def launch_browser(playwright, **kwargs):
    """Launch headless Debian chromium through Playwright (no Playwright-managed browser)."""
    ensure_chromium()
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        **kwargs,
    )
