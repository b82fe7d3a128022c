"""A real browser for tests: Debian's headless Chromium driven by Playwright.

Playwright's own browser download cannot reach the network here, so tests use the distribution's
``/usr/bin/chromium`` through ``executable_path``. When it is missing, the helper installs it if
it may (root with apt-get), else the test skips with the reason, or fails when
SEVENSTEP_REQUIRE_SERVICES=1 (CI must never pass a browser test by skipping it).

``watch`` records everything a page does that a static report must never do: open a dialog,
write to the console (a blocked inline script or image shows up here as a CSP violation), raise
a script error, or request anything but the page itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.services import require_module, unavailable

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
INSTALL = (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends",
                                   "chromium"])
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def _install() -> str | None:
    """Install Debian's chromium; returns why it failed, or None."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in INSTALL:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200)
        if done.returncode != 0:
            return f"`{' '.join(command)}` failed: {(done.stderr or done.stdout).strip()[-500:]}"
    return None


def chromium() -> Path:
    """The Chromium executable, installed on first use when this user may install packages."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() == 0 and shutil.which("apt-get"):
        problem = _install()
        if problem is None and CHROMIUM.exists():
            return CHROMIUM
        unavailable(f"{CHROMIUM} is missing and installing it failed: {problem}")
    unavailable(f"{CHROMIUM} is missing and this user cannot install it: run "
                "`apt-get install -y chromium` as root")
    raise AssertionError("unreachable")  # unavailable() skips or fails


@contextmanager
def launched() -> Iterator[object]:
    """A headless Chromium (a Playwright Browser) for the duration of the block."""
    executable = chromium()
    require_module("playwright")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=LAUNCH_ARGS,
                                             headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watch:
    """What a page did while it was open."""

    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def activity(self, own_url: str) -> list[str]:
        """Everything except loading the page itself: must be empty for a safe report."""
        return ([f"dialog: {d}" for d in self.dialogs] + [f"console: {c}" for c in self.console]
                + [f"page error: {e}" for e in self.errors]
                + [f"request: {r}" for r in self.requests if r != own_url])


@contextmanager
def watched_page(browser, path: Path, width: int = 1280) -> Iterator[tuple[object, Watch]]:
    """Open ``path`` in a fresh context that refuses every request but the page itself."""
    context = browser.new_context(viewport={"width": width, "height": 900},
                                  java_script_enabled=True)
    own_url = path.resolve().as_uri()
    watch = Watch()

    def route(request_route) -> None:
        watch.requests.append(request_route.request.url)
        if request_route.request.url == own_url:
            request_route.continue_()
        else:
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("dialog", lambda dialog: (watch.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("console", lambda message: watch.console.append(message.text))
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    try:
        page.goto(own_url, wait_until="load")
        page.wait_for_timeout(300)  # let a late onerror or timer fire, if anything were there
        yield page, watch
    finally:
        context.close()


def screenshot(page, name: str) -> Path:
    """Save a full-page PNG under test-artifacts/ (kept by CI, ignored by git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path
