"""Browser tests: Playwright driving Debian's chromium, headless, against live_server."""

from __future__ import annotations

import os
import shutil

import pytest


def _chromium() -> str | None:
    """The browser to drive: $CONCORD_CHROMIUM, else the system's chromium (Debian's in CI),
    else the one Playwright downloaded (`make test` fetches it where there is none)."""
    explicit = os.environ.get("CONCORD_CHROMIUM")
    if explicit:
        return explicit
    system = shutil.which("chromium") or shutil.which("chromium-browser")
    if system:
        return system
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        bundled = playwright.chromium.executable_path
    return bundled if os.path.exists(bundled) else None


CHROMIUM = _chromium()
# Flags that keep Chromium quiet on a machine with no network, running as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# live_server runs Django in a thread while Playwright's sync API runs an event loop here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    if CHROMIUM and os.path.exists(CHROMIUM):
        return
    skip = pytest.mark.skip(
        reason="no chromium: apt-get install chromium, or let `make test` download "
        "Playwright's (it needs the network once)"
    )
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": CHROMIUM_ARGS,
    }
